"""OpenAI Chat Completions, and any OpenAI-compatible server: {base_url}/chat/completions."""

from __future__ import annotations

from typing import Any

from gateway.core.formats import Format
from gateway.core.usage import Usage, as_int
from gateway.providers.base import ProviderType


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


class OpenAIType(ProviderType):
    """OpenAI's API, and the base of every OpenAI-compatible type (Azure, the presets)."""

    name = "openai"
    format = Format.OPENAI
    display = "OpenAI"
    client_key_hint = "the Authorization: Bearer header"
    paths = {"chat": "/chat/completions"}
    default_base_url = "https://api.openai.com/v1"
    pricing_id: str | None = "openai"

    def read_usage(self, usage: Usage, obj: dict[str, Any]) -> None:
        read_usage(usage, obj)


TYPE = OpenAIType()
