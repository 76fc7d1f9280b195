"""Gemini API (generateContent): auth, usage; calls are translated (gateway/translate/gemini) or native."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.formats import Format
from gateway.core.usage import Usage, as_int
from gateway.providers.base import Headers, ProviderType
from gateway.translate import gemini


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
    candidates = obj.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates else None
    searches = gemini.grounding_searches(gemini.grounding(candidate))
    if searches:
        usage.web_search_requests = searches


class GeminiType(ProviderType):
    name = "gemini"
    format = Format.GEMINI
    display = "Gemini"
    client_key_hint = "the x-goog-api-key header"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    pricing_id = "google"
    tracing_system = "gcp.gemini"

    def auth_headers(self, secret: str) -> Headers:
        return [(b"x-goog-api-key", secret.encode())]

    def client_auth_headers(self, header: bytes, value: bytes) -> Headers:
        return [(b"x-goog-api-key", value)]

    def read_usage(self, usage: Usage, obj: dict[str, Any]) -> None:
        read_usage(usage, obj)

    def count_body(self, request: dict[str, Any], model: str) -> bytes:
        """AI Studio's countTokens takes the whole request, model included."""
        return orjson.dumps(gemini.count_tokens_request(request, model=model))


TYPE = GeminiType()
