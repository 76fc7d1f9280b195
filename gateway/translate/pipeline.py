"""Cross-format requests: client -> hub -> provider format (pure); the answers come back through the
data plane's relays (`gateway/dataplane/translated.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from gateway.core.formats import Format
from gateway.translate import Untranslatable, gemini, openai_chat

SSE = b"text/event-stream; charset=utf-8"
JSON = b"application/json"
ANTHROPIC_VERSION = "2023-06-01"  # what Anthropic requires of every call; a translated call has none


@dataclass(frozen=True, slots=True)
class Translated:
    """A request ready for the provider, and what translating its answer back needs."""

    path: str  # appended to the provider's base_url
    body: bytes
    hub: dict[str, Any]  # the request in the hub (Anthropic) shape
    stream: bool
    tool_names: dict[str, str] | None  # the provider's (shortened) tool name -> the client's


def check_request(client: Format, obj: dict[str, Any]) -> None:
    """What the client's own API would require; a translated call must not fail later, upstream, instead."""
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Untranslatable("messages: a non-empty list of messages is required", "messages")
    if client is Format.ANTHROPIC and not isinstance(obj.get("max_tokens"), int):
        raise Untranslatable("max_tokens: Field required (an integer)", "max_tokens")


def to_hub(client: Format, obj: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """The client's request in the hub (Anthropic Messages) shape, addressed to the upstream model."""
    if client is Format.OPENAI:
        return openai_chat.openai_request_to_anthropic(obj, upstream_model)
    return {**obj, "model": upstream_model}


def build_request(client: Format, target: Format, obj: dict[str, Any], upstream_model: str) -> Translated:
    """Raises Untranslatable when the request is incomplete or the target cannot express it."""
    check_request(client, obj)
    hub = to_hub(client, obj, upstream_model)
    stream = hub.get("stream") is True
    if target is Format.OPENAI:
        body = openai_chat.anthropic_request_to_openai(hub, upstream_model)
        return Translated(
            "/chat/completions", orjson.dumps(body), hub, stream, openai_chat.tool_name_map(hub)
        )
    if target is Format.GEMINI:
        body = gemini.anthropic_request_to_gemini(hub)
        # One path segment whatever the client named: `/`, `..`, `?` must not reach another endpoint.
        model = quote(upstream_model, safe="")
        path = gemini.GEMINI_PATHS["stream" if stream else "generate"].format(model=model)
        return Translated(path, orjson.dumps(body), hub, stream, gemini.gemini_tool_names(hub))
    return Translated("/v1/messages", orjson.dumps(hub), hub, stream, None)
