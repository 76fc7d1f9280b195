"""Anthropic Messages API wire format: /v1/messages (+ SSE), /v1/messages/count_tokens, /v1/models."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .common import (
    Rejection,
    Wire,
    count_words,
    estimate_tokens,
    json_response,
    model_endpoint,
    new_id,
    plain_endpoint,
    read_json_object,
    search_spans,
    split_fragments,
    split_text,
    usage_value,
)
from .script import Script
from .sse import send_events

KIND = "anthropic"
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}

# The SDK picks its exception class from the HTTP status; error.type mirrors the real API's table.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_DEFAULT_MESSAGES = {
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    404: "Not found",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    504: "Request timed out",
    529: "Overloaded",
}
_ROLES = ("user", "assistant", "system")
# Fields that carry prompt tokens; count_tokens and message usage share this so they agree.
_PROMPT_FIELDS = ("system", "messages", "tools")
MODELS = [
    {
        "type": "model",
        "id": "claude-sonnet-4-6",
        "display_name": "Claude Sonnet 4.6",
        "created_at": "2026-02-17T00:00:00Z",
        "max_input_tokens": 1_000_000,
        "max_tokens": 64_000,
    },
    {
        "type": "model",
        "id": "claude-haiku-4-5",
        "display_name": "Claude Haiku 4.5",
        "created_at": "2025-10-15T00:00:00Z",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    },
]


def error_response(rejection: Rejection, *, request_prefix: str = "req_fake") -> web.Response:
    status = rejection.status
    error_type = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message = rejection.message or _DEFAULT_MESSAGES.get(status, "Invalid request")
    request_id = new_id(request_prefix)
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    return json_response(body, status=status, headers={"request-id": request_id})


def input_tokens_estimate(payload: dict[str, Any]) -> int:
    """The fake's token count for a Messages/count_tokens body; tests can call it to predict usage."""
    return estimate_tokens(payload, _PROMPT_FIELDS)


def _check_auth(request: web.Request) -> None:
    bearer = request.headers.get("Authorization", "")
    has_bearer = bearer.startswith("Bearer ") and bool(bearer[len("Bearer ") :].strip())
    if not (request.headers.get("x-api-key", "").strip() or has_bearer):
        raise Rejection(401, "invalid x-api-key")


def _check_version(request: web.Request) -> None:
    if not request.headers.get("anthropic-version"):
        raise Rejection(400, "anthropic-version: header is required")


async def _read_body(request: web.Request) -> dict[str, Any]:
    _check_auth(request)
    _check_version(request)
    payload = await read_json_object(request, "There was an error parsing the body of your request")
    if "model" not in payload:
        raise Rejection(400, "model: Field required")
    if not isinstance(payload["model"], str):
        raise Rejection(400, "model: Input should be a valid string")
    check_request(payload, file_sources=FILES_BETA in _betas(request))
    return payload


# The beta that lets a document or image block name an uploaded file (`source: {type: file, file_id}`).
FILES_BETA = "files-api-2025-04-14"


def _betas(request: web.Request) -> set[str]:
    return {b.strip() for b in request.headers.get("anthropic-beta", "").split(",") if b.strip()}


def check_request(payload: dict[str, Any], *, file_sources: bool = False) -> None:
    """Validate a Messages body past its ``model`` (cloud platforms carry the model in the URL, and have
    no Files API: ``file_sources`` only on Anthropic's own API with the files beta)."""
    _check_messages(payload, file_sources)
    _check_history(payload)
    if "system" in payload and not isinstance(payload["system"], str | list):
        raise Rejection(400, "system: Input should be a valid string or list")
    if "tools" in payload:
        _check_tools(payload["tools"])


def check_generation(payload: dict[str, Any]) -> bool:
    """Validate ``max_tokens`` and ``stream`` of a Messages body; returns whether it asks for a stream."""
    if "max_tokens" not in payload:
        raise Rejection(400, "max_tokens: Field required")
    max_tokens = payload["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise Rejection(400, "max_tokens: Input should be a valid integer")
    if max_tokens < 0:
        raise Rejection(400, "max_tokens: Input should be greater than or equal to 0")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise Rejection(400, "stream: Input should be a valid boolean")
    return stream


def _check_messages(payload: dict[str, Any], file_sources: bool) -> None:
    if "messages" not in payload:
        raise Rejection(400, "messages: Field required")
    messages = payload["messages"]
    if not isinstance(messages, list):
        raise Rejection(400, "messages: Input should be a valid list")
    if not messages:
        raise Rejection(400, "messages: at least one message is required")
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            raise Rejection(400, f"{where}: Input should be a valid dictionary")
        if message.get("role") not in _ROLES:
            raise Rejection(400, f"{where}.role: Input should be 'user', 'assistant' or 'system'")
        if "content" not in message:
            raise Rejection(400, f"{where}.content: Field required")
        content = message["content"]
        if not isinstance(content, str | list):
            raise Rejection(400, f"{where}.content: Input should be a valid string or list")
        is_final_assistant = index == len(messages) - 1 and message["role"] == "assistant"
        if not content and not is_final_assistant:
            raise Rejection(
                400,
                f"{where}: all messages must have non-empty content except for the optional final "
                "assistant message",
            )
        if isinstance(content, list):
            _check_blocks(content, where, file_sources)


def _check_blocks(blocks: list[Any], where: str, file_sources: bool) -> None:
    for position, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise Rejection(400, f"{where}.content.{position}.type: Field required")
        # A classic proxy bug (empty string turned into an empty block) that the real API rejects.
        if block["type"] == "text" and not block.get("text"):
            raise Rejection(400, "messages: text content blocks must be non-empty")
        if block["type"] in ("document", "image"):
            _check_source(block, f"{where}.content.{position}", file_sources)
        elif block["type"] == "tool_result" and isinstance(block.get("content"), list):
            _check_blocks(block["content"], f"{where}.content.{position}", file_sources)


def _check_source(block: dict[str, Any], where: str, file_sources: bool) -> None:
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "file":
        return
    kind = block["type"]
    if not file_sources:
        # Without the files beta (and on every cloud platform) `file` is not a source type at all.
        tags = "'base64', 'content', 'text', 'url'" if kind == "document" else "'base64', 'url'"
        raise Rejection(
            400,
            f"{where}.{kind}.source: Input tag 'file' found using 'type' does not match any of the "
            f"expected tags: {tags}",
        )
    file_id = source.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise Rejection(400, f"{where}.{kind}.source.file.file_id: Field required")
    if not file_id.startswith("file_"):
        raise Rejection(404, f"File not found: {file_id}")


_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_THINKING_FIRST = (
    "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When "
    "`thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the "
    "lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from "
    "previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return content if isinstance(content, list) else []


def _check_history(payload: dict[str, Any]) -> None:
    """The rules a conversation that changed provider breaks first: tool ids, tool_use/tool_result pairing,
    thinking signatures (only Anthropic's own are valid) and, with thinking on, the tool loop's last
    assistant turn starting with its thinking."""
    messages = payload["messages"]
    pending: list[str] = []  # tool_use ids of the previous assistant message
    for index, message in enumerate(messages):
        blocks = _blocks(message)
        if message["role"] == "user":
            results = [b.get("tool_use_id") for b in blocks if b["type"] == "tool_result"]
            for position, block in enumerate(blocks):
                if block["type"] == "tool_result" and block.get("tool_use_id") not in pending:
                    raise Rejection(
                        400,
                        f"messages.{index}.content.{position}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` block must "
                        "have a corresponding `tool_use` block in the previous message.",
                    )
            missing = [tool_id for tool_id in pending if tool_id not in results]
            if missing:
                raise _unanswered(index - 1, missing)
            pending = []
            continue
        if pending:
            raise _unanswered(index - 1, pending)
        pending = []
        for position, block in enumerate(blocks):
            where = f"messages.{index}.content.{position}"
            if block["type"] == "tool_use":
                tool_id = block.get("id")
                if not isinstance(tool_id, str) or not _TOOL_ID.match(tool_id):
                    raise Rejection(
                        400, f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                    )
                pending.append(tool_id)
            elif block["type"] == "thinking" and block.get("signature") != thinking_signature(
                str(block.get("thinking", ""))
            ):
                raise Rejection(400, f"{where}: Invalid `signature` in `thinking` block")
    # Calls left pending here belong to a final assistant message (a prefill), which may hold them.
    _check_thinking_first(payload)


def _unanswered(index: int, ids: list[str]) -> Rejection:
    return Rejection(
        400,
        f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block in the next "
        "message.",
    )


def _check_thinking_first(payload: dict[str, Any]) -> None:
    thinking = payload.get("thinking")
    # Budgeted thinking always thinks first; adaptive thinking may skip a turn, so it is not held to it.
    if not (isinstance(thinking, dict) and thinking.get("type") == "enabled"):
        return
    messages = payload["messages"]
    last = messages[-1]
    if last["role"] != "user" or not any(b["type"] == "tool_result" for b in _blocks(last)):
        return
    # The tool loop's assistant turn: the message holding the tool_use the last results answer.
    index = len(messages) - 2
    if index < 0 or messages[index]["role"] != "assistant":
        return
    blocks = _blocks(messages[index])
    if blocks and blocks[0]["type"] not in ("thinking", "redacted_thinking"):
        raise Rejection(400, _THINKING_FIRST.format(index=index, found=blocks[0]["type"]))


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise Rejection(400, "tools: Input should be a valid list")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise Rejection(400, f"tools.{index}.name: Field required")
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith(("web_search_", "web_fetch_")):
            if kind not in _SERVER_TOOLS:
                raise Rejection(400, f"tools.{index}.type: Input tag '{kind}' does not match any known tag")
            if tool["name"] != _SERVER_TOOLS[kind]:
                raise Rejection(400, f"tools.{index}.name: Input should be '{_SERVER_TOOLS[kind]}'")


# The versioned web server tools the fake knows, and the name each must carry.
_SERVER_TOOLS = {
    "web_search_20250305": "web_search",
    "web_search_20260209": "web_search",
    "web_fetch_20250910": "web_fetch",
    "web_fetch_20260209": "web_fetch",
}


def searches_on(payload: dict[str, Any]) -> bool:
    tools = payload.get("tools")
    return any(
        isinstance(t, dict) and str(t.get("type", "")).startswith("web_search_")
        for t in (tools if isinstance(tools, list) else ())
    )


def _search_blocks(text: str | None, script: Script) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The scripted searches as server_tool_use + web_search_tool_result pairs, and the reply text as
    blocks, each cited substring its own block with a web_search_result_location citation."""
    pairs: list[dict[str, Any]] = []
    for search in script.searches:
        tool_id = new_id("srvtoolu_fake")
        pairs.append(
            {
                "type": "server_tool_use",
                "id": tool_id,
                "name": "web_search",
                "input": {"query": search["query"]},
            }
        )
        page = {
            "type": "web_search_result",
            "url": search["url"],
            "title": search["title"],
            "encrypted_content": "enc-" + search["url"],
            "page_age": None,
        }
        pairs.append({"type": "web_search_tool_result", "tool_use_id": tool_id, "content": [page]})
    texts: list[dict[str, Any]] = []
    at = 0
    text = text or ""
    for start, end, search in search_spans(text, script.searches):
        if start < at:
            continue
        if start > at:
            texts.append({"type": "text", "text": text[at:start]})
        citation = {
            "type": "web_search_result_location",
            "url": search["url"],
            "title": search["title"],
            "encrypted_index": "idx-" + search["url"],
            "cited_text": text[start:end],
        }
        texts.append({"type": "text", "text": text[start:end], "citations": [citation]})
        at = end
    if at < len(text):
        texts.append({"type": "text", "text": text[at:]})
    return pairs, texts


@dataclass(frozen=True)
class Reply:
    """One computed reply; rendered either as a Message or as its SSE event sequence."""

    message_id: str
    model: str
    blocks: list[dict[str, Any]]
    stop_reason: str
    usage: dict[str, Any]


def plan_reply(
    payload: dict[str, Any],
    script: Script,
    *,
    model: str | None = None,
    id_prefix: str = "msg_fake",
    kind: str = KIND,
) -> Reply:
    """The reply the fake gives ``payload`` under ``script`` (``model`` defaults to the body's;
    ``kind`` names the upstream in the default text, so tests can tell which fake answered)."""
    blocks: list[dict[str, Any]] = []
    if script.thinking is not None:
        blocks.append({"type": "thinking", "thinking": script.thinking, "signature": _signature(script)})
    text = script.reply_text(kind)
    searched = searches_on(payload) and bool(script.searches)
    if searched:
        pairs, texts = _search_blocks(text, script)
        blocks.extend(pairs + texts)
    elif text:
        blocks.append({"type": "text", "text": text})
    for call in script.tool_calls:
        tool_id = call.get("id") or new_id("toolu_fake")
        blocks.append(
            {"type": "tool_use", "id": tool_id, "name": call["name"], "input": call.get("input", {})}
        )
    tool_json = " ".join(orjson.dumps(call.get("input", {})).decode() for call in script.tool_calls)
    usage = script.usage
    server_use = {"server_tool_use": {"web_search_requests": len(script.searches)}} if searched else {}
    return Reply(
        message_id=new_id(id_prefix),
        model=payload["model"] if model is None else model,
        blocks=blocks,
        stop_reason=script.stop_reason or ("tool_use" if script.tool_calls else "end_turn"),
        usage={
            "input_tokens": usage_value(usage, "input_tokens", input_tokens_estimate(payload)),
            "cache_creation_input_tokens": usage_value(usage, "cache_creation_input_tokens", 0),
            "cache_read_input_tokens": usage_value(usage, "cache_read_input_tokens", 0),
            # Output counts thinking too, as on the real API.
            "output_tokens": usage_value(
                usage, "output_tokens", max(1, count_words(text, script.thinking, tool_json))
            ),
            **server_use,
        },
    )


def _signature(script: Script) -> str:
    return thinking_signature(script.thinking or "")


def thinking_signature(thinking: str) -> str:
    """The signature the fake gives a thinking text, and the only one it accepts back for it (Anthropic
    refuses a signature it did not issue for that block). Deterministic so tests can assert it survives a
    gateway byte for byte."""
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:32]


def message(reply: Reply) -> dict[str, Any]:
    """The reply as a Messages API Message object."""
    return {
        "id": reply.message_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": reply.blocks,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": reply.usage,
    }


def sse_frame(payload: dict[str, Any]) -> bytes:
    """One Anthropic SSE event (``event:`` line named after the payload's type)."""
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def stream_events(reply: Reply, script: Script, *, pings: bool = True) -> list[dict[str, Any]]:
    """The reply as its sequence of stream event payloads, in the order the real API sends them."""
    start_usage = {**reply.usage, "output_tokens": 1}
    start = {**message(reply), "content": [], "stop_reason": None, "usage": start_usage}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    ping = [{"type": "ping"}] if pings else []
    for index, block in enumerate(reply.blocks):
        block_events = _block_events(index, block, script.text_chunks, script.argument_chunks)
        if index == 0:
            # The real API pings right after the first block opens.
            block_events[1:1] = ping
        events.extend(block_events)
    if not reply.blocks:
        events.extend(ping)
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": reply.usage,
        }
    )
    events.append({"type": "message_stop"})
    return events


def _block_events(
    index: int, block: dict[str, Any], text_chunks: int, argument_chunks: int | None = None
) -> list[dict[str, Any]]:
    kind = block["type"]
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": p} for p in split_text(block["thinking"], text_chunks)
        ]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        start = {"type": "text", "text": ""}
        # A cited block's citations come first, then its text (as the real API streams them).
        deltas = [{"type": "citations_delta", "citation": c} for c in block.get("citations", ())]
        deltas += [{"type": "text_delta", "text": piece} for piece in split_text(block["text"], text_chunks)]
    elif kind == "web_search_tool_result":
        start, deltas = block, []  # server tool results arrive whole in the start event
    else:
        start = {**block, "input": {}}
        partial = orjson.dumps(block["input"]).decode()
        deltas = [
            {"type": "input_json_delta", "partial_json": p} for p in split_fragments(partial, argument_chunks)
        ]
    events = [{"type": "content_block_start", "index": index, "content_block": start}]
    events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
    events.append({"type": "content_block_stop", "index": index})
    return events


def _error_frame(request_id: str) -> bytes:
    error = {"type": "overloaded_error", "message": "Overloaded"}
    return sse_frame({"type": "error", "error": error, "request_id": request_id})


async def answer(
    request: web.Request,
    script: Script,
    reply: Reply,
    *,
    stream: bool,
    request_id: str,
) -> web.StreamResponse:
    """Send ``reply`` as a Message (JSON) or as SSE, with the script's stream controls."""
    if stream:
        headers = {**SSE_HEADERS, "request-id": request_id}
        frames = [sse_frame(event) for event in stream_events(reply, script)]
        return await send_events(
            request,
            frames,
            script,
            headers=headers,
            error_frame=_error_frame(request_id),
            malformed_frame=b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n',
        )
    return json_response(message(reply), status=script.status or 200, headers={"request-id": request_id})


@model_endpoint(error_response)
async def messages(request: web.Request, script: Script) -> web.StreamResponse:
    payload = await _read_body(request)
    stream = check_generation(payload)
    reply = plan_reply(payload, script)
    return await answer(request, script, reply, stream=stream, request_id=new_id("req_fake"))


@model_endpoint(error_response)
async def count_tokens(request: web.Request, script: Script) -> web.StreamResponse:
    # Same body as /v1/messages minus max_tokens, which count_tokens does not require.
    payload = await _read_body(request)
    body = {"input_tokens": input_tokens_estimate(payload)}
    return json_response(body, status=script.status or 200, headers={"request-id": new_id("req_fake")})


@plain_endpoint(error_response)
async def list_models(request: web.Request) -> web.StreamResponse:
    _check_auth(request)
    body = {"data": MODELS, "has_more": False, "first_id": MODELS[0]["id"], "last_id": MODELS[-1]["id"]}
    return json_response(body, headers={"request-id": new_id("req_fake")})


@plain_endpoint(error_response)
async def get_model(request: web.Request) -> web.StreamResponse:
    _check_auth(request)
    model_id = request.match_info["model_id"]
    for model in MODELS:
        if model["id"] == model_id:
            return json_response(model, headers={"request-id": new_id("req_fake")})
    raise Rejection(404, f"model: {model_id}")


def routes() -> list[web.RouteDef]:
    from . import files_wire  # it builds on this module's envelope and auth

    return [
        *files_wire.anthropic_routes(),
        web.post("/v1/messages", messages),
        web.post("/v1/messages/count_tokens", count_tokens),
        web.get("/v1/models", list_models),
        web.get("/v1/models/{model_id}", get_model),
    ]


WIRE = Wire(kind=KIND, base_path="", routes=routes, error=error_response)
