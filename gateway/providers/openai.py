"""OpenAI Chat Completions, and any OpenAI-compatible server: {base_url}/chat/completions."""

from __future__ import annotations

from typing import Any

from gateway.core.formats import Format
from gateway.core.usage import Usage, as_int

FORMAT = Format.OPENAI
PATHS = {"chat": "/chat/completions"}
DISPLAY = "OpenAI"
CLIENT_KEY_HINT = "the Authorization: Bearer header"


def auth_headers(secret: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", b"Bearer " + secret.encode())]


def client_auth_headers(header: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", b"Bearer " + value)]


def read_usage(usage: Usage, obj: dict[str, Any]) -> None:
    """From a chat.completion or the final usage chunk; prompt_tokens includes cached tokens."""
    u = obj.get("usage")
    if not isinstance(u, dict):
        return
    prompt = as_int(u.get("prompt_tokens"))
    details = u.get("prompt_tokens_details") or {}
    cached = as_int(details.get("cached_tokens")) or 0
    written = as_int(details.get("cache_write_tokens")) or 0
    if prompt is not None:
        usage.input_tokens = max(prompt - cached - written, 0)
        usage.cache_read_tokens = cached
        usage.cache_write_tokens = written
    completion = as_int(u.get("completion_tokens"))
    if completion is not None:
        usage.output_tokens = completion
