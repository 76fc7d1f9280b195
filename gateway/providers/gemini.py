"""Gemini API (generateContent): auth, usage; calls are translated (gateway/translate/gemini.py) or native."""

from __future__ import annotations

from typing import Any

from gateway.core.formats import Format
from gateway.core.usage import Usage, as_int

FORMAT = Format.GEMINI
PATHS: dict[str, str] = {}
DISPLAY = "Gemini"
CLIENT_KEY_HINT = "the x-goog-api-key header"


def auth_headers(secret: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-goog-api-key", secret.encode())]


def client_auth_headers(header: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"x-goog-api-key", value)]


def read_usage(usage: Usage, obj: dict[str, Any]) -> None:
    u = obj.get("usageMetadata")
    if not isinstance(u, dict):
        return
    prompt = as_int(u.get("promptTokenCount"))
    cached = as_int(u.get("cachedContentTokenCount")) or 0
    if prompt is not None:
        usage.input_tokens = max(prompt - cached, 0)
        usage.cache_read_tokens = cached
    out = as_int(u.get("candidatesTokenCount"))
    thoughts = as_int(u.get("thoughtsTokenCount")) or 0
    if out is not None:
        usage.output_tokens = out + thoughts
