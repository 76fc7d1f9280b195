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
    # An OpenAI Chat search model was asked to search (web_search_options): one billed search call,
    # which its answer does not report.
    searched: bool = False


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
    default_max_tokens: int = openai_chat.DEFAULT_MAX_TOKENS,
) -> dict[str, Any]:
    """The client's request in the hub (Anthropic Messages) shape, addressed to the upstream model.
    `target`: the provider's wire format (whose carried reasoning a Responses request may replay);
    `web_search`: the provider runs Anthropic's web_search server tool; `default_max_tokens`: the hub's
    `max_tokens` when the client set no output cap (the model's maximum where the caller knows it)."""
    if client is Format.OPENAI:
        return openai_chat.openai_request_to_anthropic(
            obj, upstream_model, default_max_tokens=default_max_tokens
        )
    if client is Format.RESPONSES:
        return responses.responses_request_to_anthropic(
            obj,
            upstream_model,
            family=target.value,
            web_search=web_search,
            default_max_tokens=default_max_tokens,
        )
    return {**obj, "model": upstream_model}


def build_request(
    client: Format,
    target: Format,
    obj: dict[str, Any],
    upstream_model: str,
    *,
    web_search: bool = False,
    default_max_tokens: int = openai_chat.DEFAULT_MAX_TOKENS,
) -> Translated:
    """Raises Untranslatable when the request is incomplete or the target cannot express it.
    `default_max_tokens`: the output cap of a call to an Anthropic-shaped target (which requires one)
    when the client set none; OpenAI and Gemini targets then get no cap, as the client asked."""
    check_request(client, obj)
    hub = to_hub(
        client, obj, upstream_model, target, web_search=web_search, default_max_tokens=default_max_tokens
    )
    stream = hub.get("stream") is True
    request = obj if client is Format.RESPONSES else None
    # Without a cap from the client, OpenAI and Gemini use the model's own maximum: so does the call.
    uncapped = not has_output_cap(client, obj)
    if target is Format.OPENAI:
        body = openai_chat.anthropic_request_to_openai(hub, upstream_model)
        if uncapped:
            body.pop("max_completion_tokens", None)
        names = openai_chat.tool_name_map(hub)
        searched = "web_search_options" in body
        return Translated("/chat/completions", dumps(body), hub, stream, names, request, searched)
    if target is Format.RESPONSES:
        # A model served only by the Responses API (an OpenAI provider's `responses_models`).
        body = responses.anthropic_request_to_responses(hub, upstream_model)
        if uncapped:
            body.pop("max_output_tokens", None)
        return Translated("/responses", dumps(body), hub, stream, openai_chat.tool_name_map(hub), request)
    if target is Format.GEMINI:
        body = gemini.anthropic_request_to_gemini(hub)
        config = body.get("generationConfig")
        if uncapped and isinstance(config, dict):
            config.pop("maxOutputTokens", None)
            if not config:
                del body["generationConfig"]
        # One path segment whatever the client named: `/`, `..`, `?` must not reach another endpoint.
        model = quote(upstream_model, safe="")
        path = gemini.GEMINI_PATHS["stream" if stream else "generate"].format(model=model)
        return Translated(path, dumps(body), hub, stream, gemini.gemini_tool_names(hub), request)
    # Reasoning an OpenAI Responses model gave this conversation rides in thinking signatures that only
    # OpenAI reads (a fallback or a split after such a turn): Anthropic refuses it, so it goes here.
    hub = openai_chat.thinking_off_for_foreign_loop(openai_chat.drop_unsigned_thinking(hub))
    return Translated("/v1/messages", dumps(hub), hub, stream, None, request)


def has_output_cap(client: Format, obj: dict[str, Any]) -> bool:
    """Whether the client's request caps its answer's length (as its converter to the hub reads it);
    an Anthropic client always does (max_tokens is required)."""
    if client is Format.OPENAI:
        return any(isinstance(obj.get(name), int) for name in ("max_completion_tokens", "max_tokens"))
    if client is Format.RESPONSES:
        cap = obj.get("max_output_tokens")
        return isinstance(cap, int) and cap > 0
    return True


def dumps(body: Any) -> bytes:
    """A translated body as JSON; one that cannot be written (nested past orjson's limit) is a 400."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        raise Untranslatable(
            "request body nests too deep to be translated (orjson writes at most 254 levels)"
        ) from None
