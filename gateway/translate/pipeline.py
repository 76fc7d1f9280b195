"""Cross-format requests: client -> hub -> provider format (pure); the answers come back through the
data plane's relays (`gateway/dataplane/translated.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from gateway.core.formats import Format
from gateway.translate import Untranslatable, gemini, openai_chat, responses, shapes

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
    # A Responses client's request (its history expanded), which its answer echoes and names tools by.
    client_request: dict[str, Any] | None = None


def check_request(client: Format, obj: dict[str, Any], operation: str = "messages") -> None:
    """What the client's own API would require, in the types the converters read: a translated call must
    fail here with a 400 naming the field, not later in a converter or upstream."""
    shapes.check_request(client, obj, operation)


def to_hub(
    client: Format,
    obj: dict[str, Any],
    upstream_model: str,
    target: Format = Format.ANTHROPIC,
    *,
    web_search: bool = False,
) -> dict[str, Any]:
    """The client's request in the hub (Anthropic Messages) shape, addressed to the upstream model.
    `target`: the provider's wire format (whose carried reasoning a Responses request may replay);
    `web_search`: the provider runs Anthropic's web_search server tool."""
    if client is Format.OPENAI:
        return openai_chat.openai_request_to_anthropic(obj, upstream_model)
    if client is Format.RESPONSES:
        return responses.responses_request_to_anthropic(
            obj, upstream_model, family=target.value, web_search=web_search
        )
    return {**obj, "model": upstream_model}


def build_request(
    client: Format, target: Format, obj: dict[str, Any], upstream_model: str, *, web_search: bool = False
) -> Translated:
    """Raises Untranslatable when the request is incomplete or the target cannot express it."""
    check_request(client, obj)
    hub = to_hub(client, obj, upstream_model, target, web_search=web_search)
    stream = hub.get("stream") is True
    request = obj if client is Format.RESPONSES else None
    if target is Format.OPENAI:
        body = openai_chat.anthropic_request_to_openai(hub, upstream_model)
        names = openai_chat.tool_name_map(hub)
        return Translated("/chat/completions", dumps(body), hub, stream, names, request)
    if target is Format.GEMINI:
        body = gemini.anthropic_request_to_gemini(hub)
        # One path segment whatever the client named: `/`, `..`, `?` must not reach another endpoint.
        model = quote(upstream_model, safe="")
        path = gemini.GEMINI_PATHS["stream" if stream else "generate"].format(model=model)
        return Translated(path, dumps(body), hub, stream, gemini.gemini_tool_names(hub), request)
    return Translated("/v1/messages", dumps(hub), hub, stream, None, request)


def dumps(body: Any) -> bytes:
    """A translated body as JSON; one that cannot be written (nested past orjson's limit) is a 400."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        raise Untranslatable(
            "request body nests too deep to be translated (orjson writes at most 254 levels)"
        ) from None
