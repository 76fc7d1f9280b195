"""OpenAI Chat Completions wire format: /v1/chat/completions (+ SSE) and /v1/models.

The same server also answers the Responses API (/v1/responses and its id endpoints): responses_wire.py.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from . import embeddings as embedding_fakes
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

KIND = "openai"
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_PROMPT_FIELDS = ("messages", "tools")
_BAD_KEY = (
    "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
)
_DEFAULT_MESSAGES = {
    401: _BAD_KEY,
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}
_MAX_ID_LENGTH = 40
_DEFAULT_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
MODELS = [
    {"id": "gpt-5", "object": "model", "created": 1754000000, "owned_by": "openai"},
    {"id": "gpt-5-mini", "object": "model", "created": 1754000000, "owned_by": "openai"},
]
# Chat Completions' search models: the only ones that take web_search_options, and they always search.
_SEARCH_MODEL = re.compile(r"-search-(?:preview|api)(?:$|-)")
_SEARCH_OPTIONS = frozenset({"user_location", "search_context_size"})


def error_response(rejection: Rejection) -> web.Response:
    status = rejection.status
    if status == 429:
        error_type = "requests"
    elif status >= 500:
        error_type = "server_error"
    else:
        error_type = "invalid_request_error"
    error = {
        "message": rejection.message or _DEFAULT_MESSAGES.get(status, "Invalid request."),
        "type": error_type,
        "param": rejection.param,
        "code": rejection.code or _DEFAULT_CODES.get(status),
    }
    return json_response({"error": error}, status=status, headers={"x-request-id": new_id("req_fake")})


def prompt_tokens_estimate(payload: dict[str, Any]) -> int:
    """The fake's prompt token count for a request body; tests can call it to predict usage."""
    return estimate_tokens(payload, _PROMPT_FIELDS)


def _check_auth(request: web.Request) -> None:
    header = request.headers.get("Authorization", "")
    if not (header.startswith("Bearer ") and header[len("Bearer ") :].strip()):
        raise Rejection(401, _BAD_KEY, code="invalid_api_key")


async def _read_body(request: web.Request) -> dict[str, Any]:
    _check_auth(request)
    return await read_payload(request)


async def read_payload(request: web.Request) -> dict[str, Any]:
    """The request body, checked as the real API checks it (auth aside: Azure checks its own header)."""
    payload = await read_json_object(
        request,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly.)",
    )
    if not isinstance(payload.get("model"), str) or not payload["model"]:
        raise Rejection(400, "you must provide a model parameter")
    if "messages" not in payload:
        raise Rejection(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    messages = payload["messages"]
    if not isinstance(messages, list) or not messages:
        raise Rejection(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
            "array instead.",
            param="messages",
            code="empty_array",
        )
    _check_messages(messages)
    if payload.get("max_tokens") is not None and payload.get("max_completion_tokens") is not None:
        raise Rejection(
            400,
            "max_tokens and max_completion_tokens cannot both be set. Use max_completion_tokens.",
            param="max_tokens",
            code="invalid_value",
        )
    _check_search(payload)
    if payload.get("stream_options") is not None and payload.get("stream") is not True:
        raise Rejection(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    return payload


def search_model(model: str) -> bool:
    return _SEARCH_MODEL.search(model) is not None


def _check_search(payload: dict[str, Any]) -> None:
    options = payload.get("web_search_options")
    if options is None:
        return
    if not search_model(str(payload["model"])):
        # What the real API answers a model that cannot search.
        raise Rejection(
            400,
            "Web search options not supported with this model.",
            param="web_search_options",
            code="invalid_request_error",
        )
    if not isinstance(options, dict):
        raise Rejection(
            400, "Invalid type for 'web_search_options': expected an object.", param="web_search_options"
        )
    for key in options:
        if key not in _SEARCH_OPTIONS:
            raise Rejection(
                400,
                f"Unrecognized request argument supplied: web_search_options.{key}",
                param=f"web_search_options.{key}",
            )
    location = options.get("user_location")
    if location is not None and (
        not isinstance(location, dict)
        or location.get("type") != "approximate"
        or not isinstance(location.get("approximate"), dict)
    ):
        raise Rejection(
            400,
            "Invalid 'web_search_options.user_location': expected type 'approximate' with an "
            "'approximate' object.",
            param="web_search_options.user_location",
        )
    if options.get("search_context_size", "medium") not in ("low", "medium", "high"):
        raise Rejection(
            400,
            "Invalid 'web_search_options.search_context_size'.",
            param="web_search_options.search_context_size",
        )


def _annotations(text: str | None, script: Script) -> list[dict[str, Any]]:
    """A search model's url_citation annotations for the scripted searches' cites in the text."""
    return [
        {
            "type": "url_citation",
            "url_citation": {
                "start_index": start,
                "end_index": end,
                "url": found["url"],
                "title": found["title"],
            },
        }
        for start, end, found in search_spans(text or "", script.searches)
    ]


def _check_messages(messages: list[Any]) -> None:
    # Tool-call ids an assistant turn asked for that still await their `tool` messages.
    pending: list[str] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise Rejection(400, f"Invalid type for '{where}': expected an object.", param=where)
        role = message.get("role")
        if role not in _ROLES:
            raise Rejection(
                400,
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                "'tool', and 'developer'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        if role == "tool":
            tool_call_id = message.get("tool_call_id")
            if not isinstance(tool_call_id, str):
                raise Rejection(
                    400,
                    "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.",
                    param=f"{where}.tool_call_id",
                    code="missing_required_parameter",
                )
            if tool_call_id not in pending:
                raise Rejection(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    param=f"{where}.role",
                )
            _check_id_length(tool_call_id, f"{where}.tool_call_id")
            pending.remove(tool_call_id)
        elif pending:
            raise _unanswered(pending, index - 1)
        if message.get("content") is None and role not in ("assistant", "function"):
            raise Rejection(
                400,
                f"Missing required parameter: '{where}.content'.",
                param=f"{where}.content",
                code="missing_required_parameter",
            )
        if role == "assistant":
            pending = _tool_call_ids(message.get("tool_calls") or [], where)
    if pending:
        raise _unanswered(pending, len(messages) - 1)


def _tool_call_ids(tool_calls: Any, where: str) -> list[str]:
    if not isinstance(tool_calls, list):
        raise Rejection(400, f"Invalid type for '{where}.tool_calls': expected an array.", param=where)
    ids: list[str] = []
    for position, call in enumerate(tool_calls):
        call_id = call.get("id") if isinstance(call, dict) else None
        if not isinstance(call_id, str) or not call_id:
            param = f"{where}.tool_calls[{position}].id"
            raise Rejection(
                400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
            )
        _check_id_length(call_id, f"{where}.tool_calls[{position}].id")
        ids.append(call_id)
    return ids


def _check_id_length(value: str, param: str) -> None:
    # OpenAI caps tool call ids at 40 characters; ids minted elsewhere (other providers, gateways) often
    # exceed it, and the real API refuses the whole request.
    if len(value) > _MAX_ID_LENGTH:
        raise Rejection(
            400,
            f"Invalid '{param}': string too long. Expected a string with maximum length {_MAX_ID_LENGTH}, "
            f"but got a string with length {len(value)} instead.",
            param=param,
            code="string_above_max_length",
        )


def _unanswered(pending: list[str], index: int) -> Rejection:
    return Rejection(
        400,
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
        param=f"messages.[{index}].role",
    )


@dataclass(frozen=True)
class _Reply:
    completion_id: str
    created: int
    model: str
    text: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    usage: dict[str, Any]
    annotations: list[dict[str, Any]]


def _plan_reply(payload: dict[str, Any], script: Script) -> _Reply:
    text = script.reply_text(KIND)
    tool_calls = [
        {
            "id": call.get("id") or new_id("call_fake"),
            "type": "function",
            "function": {"name": call["name"], "arguments": orjson.dumps(call.get("input", {})).decode()},
        }
        for call in script.tool_calls
    ]
    arguments = " ".join(call["function"]["arguments"] for call in tool_calls)
    usage = script.usage
    cached = usage_value(usage, "cached_tokens", 0)
    reasoning = usage_value(usage, "reasoning_tokens", 0)
    # Inclusive accounting: prompt_tokens already contains the cached tokens.
    prompt = usage_value(usage, "prompt_tokens", max(prompt_tokens_estimate(payload), cached))
    completion = usage_value(usage, "completion_tokens", max(1, count_words(text, arguments)) + reasoning)
    return _Reply(
        completion_id=new_id("chatcmpl-fake"),
        created=int(time.time()),
        model=payload["model"],
        text=text,
        tool_calls=tool_calls,
        finish_reason=script.stop_reason or ("tool_calls" if tool_calls else "stop"),
        annotations=_annotations(text, script) if search_model(str(payload["model"])) else [],
        usage={
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    )


def _completion(reply: _Reply) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text,
        "refusal": None,
        "annotations": reply.annotations,
    }
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return {
        "id": reply.completion_id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": reply.usage,
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _stream_frames(reply: _Reply, script: Script, include_usage: bool) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": reply.completion_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if include_usage:
            # With include_usage the real API sends an explicit null on every chunk but the last.
            body["usage"] = None
        return _data(body)

    # role only once: the SDK's stream helper concatenates repeated string fields.
    first_content = "" if reply.text is not None else None
    frames = [chunk({"role": "assistant", "content": first_content, "refusal": None})]
    frames.extend(chunk({"content": piece}) for piece in split_text(reply.text or "", script.text_chunks))
    if reply.annotations:
        # A search model streams its citations after the text they point into.
        frames.append(chunk({"annotations": reply.annotations}))
    for index, call in enumerate(reply.tool_calls):
        # id/name only in the first delta of each index, arguments as 2+ fragments afterwards.
        opening = {"index": index, "id": call["id"], "type": "function"}
        opening["function"] = {"name": call["function"]["name"], "arguments": ""}
        frames.append(chunk({"tool_calls": [opening]}))
        for fragment in split_fragments(call["function"]["arguments"], script.argument_chunks):
            frames.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
    frames.append(chunk({}, reply.finish_reason))
    if include_usage:
        usage_chunk = {
            "id": reply.completion_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": reply.usage,
        }
        frames.append(_data(usage_chunk))
    frames.append(b"data: [DONE]\n\n")
    return frames


_STREAM_ERROR = _data(
    {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
)


@model_endpoint(error_response)
async def chat_completions(request: web.Request, script: Script) -> web.StreamResponse:
    return await answer(request, script, await _read_body(request))


async def answer(request: web.Request, script: Script, payload: dict[str, Any]) -> web.StreamResponse:
    """A chat.completion or its stream for a validated payload (shared with the Azure fake)."""
    reply = _plan_reply(payload, script)
    headers = {"x-request-id": new_id("req_fake"), "openai-processing-ms": "1"}
    if payload.get("stream") is True:
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        frames = _stream_frames(reply, script, include_usage)
        return await send_events(
            request, frames, script, headers={**SSE_HEADERS, **headers}, error_frame=_STREAM_ERROR
        )
    return json_response(_completion(reply), status=script.status or 200, headers=headers)


@plain_endpoint(error_response)
async def list_models(request: web.Request) -> web.StreamResponse:
    _check_auth(request)
    return json_response({"object": "list", "data": MODELS}, headers={"x-request-id": new_id("req_fake")})


@plain_endpoint(error_response)
async def get_model(request: web.Request) -> web.StreamResponse:
    _check_auth(request)
    model_id = request.match_info["model_id"]
    for model in MODELS:
        if model["id"] == model_id:
            return json_response(model, headers={"x-request-id": new_id("req_fake")})
    raise Rejection(404, f"The model '{model_id}' does not exist", param="model", code="model_not_found")


@model_endpoint(error_response)
async def embeddings(request: web.Request, script: Script) -> web.StreamResponse:
    payload = await _read_embedding_body(request)
    return embedding_fakes.openai_answer(payload, payload["model"])


async def _read_embedding_body(request: web.Request) -> dict[str, Any]:
    _check_auth(request)
    return await read_embedding_payload(request)


async def read_embedding_payload(request: web.Request) -> dict[str, Any]:
    payload = await read_json_object(request, "We could not parse the JSON body of your request.")
    if not isinstance(payload.get("model"), str) or not payload["model"]:
        raise Rejection(400, "you must provide a model parameter")
    if "input" not in payload:
        raise Rejection(
            400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    return payload


def routes() -> list[web.RouteDef]:
    from . import files_wire, responses_wire  # they build on this module's envelope and auth

    return [
        *files_wire.openai_routes(),
        web.post("/v1/chat/completions", chat_completions),
        web.post("/v1/embeddings", embeddings),
        web.get("/v1/models", list_models),
        web.get("/v1/models/{model_id}", get_model),
        *responses_wire.routes(),
    ]


WIRE = Wire(kind=KIND, base_path="/v1", routes=routes, error=error_response)
