"""Anthropic Messages API: https://api.anthropic.com/v1/messages."""

from __future__ import annotations

from typing import Any

from gateway.core.formats import Format
from gateway.core.usage import Usage, as_int
from gateway.providers.base import Headers, ProviderType


def read_usage(usage: Usage, obj: dict[str, Any]) -> None:
    """From a Message, a message_start event or a message_delta event (cumulative: overwrite, never add)."""
    kind = obj.get("type")
    u = obj.get("message", {}).get("usage") if kind == "message_start" else obj.get("usage")
    if not isinstance(u, dict):
        return
    for field, name in (
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_input_tokens", "cache_read_tokens"),
        ("cache_creation_input_tokens", "cache_write_tokens"),
    ):
        value = as_int(u.get(field))
        if value is not None:
            setattr(usage, name, value)
    server = u.get("server_tool_use")
    searches = as_int(server.get("web_search_requests")) if isinstance(server, dict) else None
    if searches is not None:
        usage.web_search_requests = searches


class AnthropicType(ProviderType):
    name = "anthropic"
    format = Format.ANTHROPIC
    display = "Anthropic"
    client_key_hint = "the x-api-key header"
    paths = {"messages": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}
    default_base_url = "https://api.anthropic.com"
    pricing_id = "anthropic"

    def auth_headers(self, secret: str) -> Headers:
        return [(b"x-api-key", secret.encode())]

    def client_auth_headers(self, header: bytes, value: bytes) -> Headers:
        """The client's own credential, in the header it came in (OAuth tokens travel as Bearer)."""
        if header == b"authorization":
            return [(b"authorization", b"Bearer " + value)]
        return [(b"x-api-key", value)]

    def read_usage(self, usage: Usage, obj: dict[str, Any]) -> None:
        read_usage(usage, obj)


TYPE = AnthropicType()
