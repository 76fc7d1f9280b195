"""OpenAI Responses API wire format: /v1/responses (+ SSE), the id endpoints and input_tokens.

As strict as the real API where a gateway could get it wrong: Bearer auth, unknown top-level fields
(`Unknown parameter: 'x'.`), input item types and their content parts, a `function_call_output` whose
`call_id` no earlier `function_call` made (and a `function_call` left without its output), reasoning
items whose `encrypted_content` this fake did not mint, tool shapes (function, custom, web_search,
namespace), `include` values, `store` / `previous_response_id` (unknown id -> 404).

Scripted by `Script` like the other fakes: text, tool_calls (-> `function_call` items, or
`custom_tool_call` when the request declared that name as a custom tool, with `namespace` when it sits
in a namespace tool), thinking (-> a reasoning item with a summary, and `encrypted_content` when the
request includes `reasoning.encrypted_content`), usage (`input_tokens`, `cached_tokens`, `output_tokens`,
`reasoning_tokens`), stop_reason (`max_output_tokens` / `content_filter` -> status incomplete). A
mid-stream `error_event_after` sends `response.failed` (or a bare `error` event when the script's
`error_event_type` is "error").

Every response the fake answered with `store` not false is kept in ``FakeState.store`` (cleared by
``reset()``), which GET/DELETE `/v1/responses/{id}`, `/cancel` and `/input_items` read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from . import openai_wire
from .common import (
    Handler,
    Rejection,
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
from .state import STATE_KEY

SSE_HEADERS = openai_wire.SSE_HEADERS
error_response = openai_wire.error_response

# Top-level fields of POST /v1/responses (the SDK's ResponseCreateParams, plus `stream` and the
# `client_metadata` Codex sends, which the real API takes though the SDK does not list it).
KNOWN_FIELDS = frozenset(
    {
        "access_programs",
        "background",
        "background_options",
        "client_metadata",
        "context_management",
        "conversation",
        "image",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)
_INPUT_TOKEN_FIELDS = frozenset(
    {
        "conversation",
        "input",
        "instructions",
        "model",
        "parallel_tool_calls",
        "previous_response_id",
        "reasoning",
        "text",
        "tool_choice",
        "tools",
        "truncation",
    }
)
INCLUDABLE = frozenset(
    {
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    }
)
_PROMPT_FIELDS = ("instructions", "input", "tools")
_INPUT_ROLES = ("user", "system", "developer")
_USER_PARTS = ("input_text", "input_image", "input_file")
_ASSISTANT_PARTS = ("output_text", "refusal")
_ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    "item_reference",
)
# Input items the real API takes that no gateway makes: accepted here without a closer look.
_OTHER_ITEM_TYPES = (
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "web_search_call",
    "tool_search_call",
    "tool_search_output",
    "additional_tools",
    "configuration_update",
    "compaction",
    "compaction_trigger",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "program",
    "program_output",
)
_TOOL_TYPES = ("function", "custom", "web_search", "web_search_2025_08_26", "namespace")
# Hosted tools the real API takes that no gateway makes: accepted here without a closer look.
_OTHER_TOOL_TYPES = (
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "file_search",
    "computer",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "local_shell",
    "shell",
    "apply_patch",
    "mcp",
    "tool_search",
)
_INCOMPLETE_REASONS = ("max_output_tokens", "content_filter")
# Signs the encrypted_content this fake mints, so one it did not mint (another server's) is refused.
_SECRET = secrets.token_bytes(32)
ENCRYPTED_PREFIX = "gAAAAfake"


def prompt_tokens_estimate(payload: dict[str, Any]) -> int:
    """The fake's input token count for a request body; tests can call it to predict usage."""
    return estimate_tokens(payload, _PROMPT_FIELDS)


def mint_encrypted(item_id: str, summary: str) -> str:
    """The opaque reasoning blob this fake hands out (and alone accepts back)."""
    body = base64.urlsafe_b64encode(orjson.dumps({"id": item_id, "summary": summary})).decode().rstrip("=")
    mac = hmac.new(_SECRET, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{ENCRYPTED_PREFIX}{body}.{mac}"


def _minted(blob: str) -> bool:
    if not blob.startswith(ENCRYPTED_PREFIX) or "." not in blob:
        return False
    body, mac = blob[len(ENCRYPTED_PREFIX) :].rsplit(".", 1)
    expected = hmac.new(_SECRET, body.encode(), hashlib.sha256).hexdigest()[:32]
    return hmac.compare_digest(mac, expected)


# -- validation -----------------------------------------------------------------------------------


def check_auth(request: web.Request) -> None:
    """OpenAI's: a Bearer key."""
    header = request.headers.get("Authorization", "")
    if not (header.startswith("Bearer ") and header[len("Bearer ") :].strip()):
        raise Rejection(401, openai_wire._BAD_KEY, code="invalid_api_key")


Auth = Callable[[web.Request], None]
# The auth check of the server a route belongs to (OpenAI's, or Azure's front door): see `routes`.
AUTH_KEY = web.RequestKey("responses_auth", Auth)


def _check(request: web.Request) -> None:
    request.get(AUTH_KEY, check_auth)(request)


def _invalid_value(value: Any, allowed: tuple[str, ...], param: str) -> Rejection:
    names = [f"'{name}'" for name in allowed]
    listed = ", ".join(names[:-1]) + f", and {names[-1]}" if len(names) > 2 else " and ".join(names)
    return Rejection(
        400, f"Invalid value: '{value}'. Supported values are: {listed}.", param=param, code="invalid_value"
    )


def _missing(param: str) -> Rejection:
    return Rejection(
        400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _type_error(param: str, expected: str) -> Rejection:
    return Rejection(
        400, f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type"
    )


@dataclass
class _Stored:
    """One response the fake answered with store on: what it was asked (items) and what it said."""

    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    # The whole conversation up to and including this response's output (for previous_response_id).
    history: list[dict[str, Any]] = field(default_factory=list)


def _store(request: web.Request) -> dict[str, _Stored]:
    store: dict[str, _Stored] = request.app[STATE_KEY].store
    return store


async def read_payload(request: web.Request, *, fields: frozenset[str] = KNOWN_FIELDS) -> dict[str, Any]:
    """The body, checked as the real API checks it (auth aside: Azure checks its own header)."""
    payload = await read_json_object(
        request,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly.)",
    )
    for name in payload:
        if name not in fields:
            raise Rejection(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    if not isinstance(payload.get("model"), str) or not payload["model"]:
        raise _missing("model")
    include = payload.get("include") or []
    if not isinstance(include, list):
        raise _type_error("include", "an array")
    for index, value in enumerate(include):
        if not isinstance(value, str):  # the fuzzer sends objects here; the real API says 400
            raise _type_error(f"include[{index}]", "a string")
        if value not in INCLUDABLE:
            raise _invalid_value(value, tuple(sorted(INCLUDABLE)), f"include[{index}]")
    _check_tools(payload.get("tools"))
    if payload.get("stream_options") is not None and payload.get("stream") is not True:
        raise Rejection(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    if payload.get("background") is True and payload.get("store") is False:
        raise Rejection(
            400, "Background mode requires 'store' to be true.", param="background", code="invalid_value"
        )
    max_output = payload.get("max_output_tokens")
    if max_output is not None and (not isinstance(max_output, int) or max_output < 16):
        raise Rejection(
            400,
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got "
            f"{max_output} instead.",
            param="max_output_tokens",
            code="integer_below_min_value",
        )
    return payload


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _type_error("tools", "an array")
    for index, tool in enumerate(tools):
        _check_tool(tool, f"tools[{index}]", nested=False)


def _check_tool(tool: Any, where: str, *, nested: bool) -> None:
    if not isinstance(tool, dict):
        raise _type_error(where, "an object")
    kind = tool.get("type")
    allowed = ("function",) if nested else (*_TOOL_TYPES, *_OTHER_TOOL_TYPES)
    if kind not in allowed:
        raise _invalid_value(kind, allowed, f"{where}.type")
    if kind in ("function", "custom", "namespace"):
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _missing(f"{where}.name")
        if len(name) > 64 or not all(char.isalnum() or char in "_-" for char in name):
            raise Rejection(
                400,
                f"Invalid '{where}.name': string does not match pattern. Expected a string that matches the "
                "pattern '^[a-zA-Z0-9_-]+$'.",
                param=f"{where}.name",
                code="invalid_value",
            )
    if kind == "function":
        known = {"type", "name", "description", "parameters", "strict", "defer_loading", "allowed_callers"}
        known |= {"output_schema"}
        for key in tool:
            if key not in known:
                raise Rejection(
                    400,
                    f"Unknown parameter: '{where}.{key}'.",
                    param=f"{where}.{key}",
                    code="unknown_parameter",
                )
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _type_error(f"{where}.parameters", "an object")
        if tool.get("strict") is True and isinstance(parameters, dict):
            _check_strict_schema(parameters, f"{where}.parameters")
    elif kind == "custom":
        fmt = tool.get("format")
        if fmt is not None:
            if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "grammar"):
                raise _invalid_value(
                    (fmt or {}).get("type") if isinstance(fmt, dict) else fmt,
                    ("text", "grammar"),
                    f"{where}.format.type",
                )
            if fmt["type"] == "grammar" and fmt.get("syntax") not in ("lark", "regex"):
                raise _invalid_value(fmt.get("syntax"), ("lark", "regex"), f"{where}.format.syntax")
    elif kind in ("web_search", "web_search_2025_08_26"):
        _check_web_search(tool, where)
    elif kind == "namespace":
        if not isinstance(tool.get("description"), str):
            raise _missing(f"{where}.description")
        inner = tool.get("tools")
        if not isinstance(inner, list) or not inner:
            raise _missing(f"{where}.tools")
        for position, function in enumerate(inner):
            _check_tool(function, f"{where}.tools[{position}]", nested=True)


_WEB_SEARCH_KEYS = frozenset(
    {"type", "filters", "user_location", "search_context_size", "external_web_access"}
)
_LOCATION_KEYS = frozenset({"type", "city", "region", "country", "timezone"})


def _check_web_search(tool: dict[str, Any], where: str) -> None:
    for key in tool:
        if key not in _WEB_SEARCH_KEYS:
            raise Rejection(
                400, f"Unknown parameter: '{where}.{key}'.", param=f"{where}.{key}", code="unknown_parameter"
            )
    filters = tool.get("filters")
    if filters is not None:
        if not isinstance(filters, dict) or set(filters) - {"allowed_domains"}:
            raise Rejection(
                400, f"Invalid '{where}.filters'.", param=f"{where}.filters", code="invalid_value"
            )
        domains = filters.get("allowed_domains")
        if domains is not None and not (
            isinstance(domains, list) and all(isinstance(d, str) for d in domains)
        ):
            raise _type_error(f"{where}.filters.allowed_domains", "an array of strings")
    location = tool.get("user_location")
    if location is not None:
        if not isinstance(location, dict) or set(location) - _LOCATION_KEYS:
            raise Rejection(400, f"Invalid '{where}.user_location'.", param=f"{where}.user_location")
        if location.get("type", "approximate") != "approximate":
            raise _invalid_value(location.get("type"), ("approximate",), f"{where}.user_location.type")
    size = tool.get("search_context_size")
    if size is not None and size not in ("low", "medium", "high"):
        raise _invalid_value(size, ("low", "medium", "high"), f"{where}.search_context_size")


def _searches_on(payload: dict[str, Any]) -> bool:
    return any(
        isinstance(t, dict) and t.get("type") in ("web_search", "web_search_2025_08_26")
        for t in payload.get("tools") or ()
    )


def _check_strict_schema(schema: dict[str, Any], where: str) -> None:
    # Strict mode wants every object closed and every property required, as the real API checks.
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            raise Rejection(
                400,
                "Invalid schema for function: In context=(), 'additionalProperties' is required to be "
                "supplied and to be false.",
                param=where,
                code="invalid_function_parameters",
            )
        required = schema.get("required") or []
        missing = [name for name in properties if name not in required]
        if missing:
            raise Rejection(
                400,
                "Invalid schema for function: In context=(), 'required' is required to be supplied and to be "
                f"an array including every key in properties. Missing '{missing[0]}'.",
                param=where,
                code="invalid_function_parameters",
            )
        for value in properties.values():
            if isinstance(value, dict):
                _check_strict_schema(value, where)
    items = schema.get("items")
    if isinstance(items, dict):
        _check_strict_schema(items, where)


def _input_items(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """`input` as a list of items (a string is one user message)."""
    raw = payload.get("input")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise _type_error("input", "one of a string or an array")
    return raw


def _check_items(items: list[Any], history: list[dict[str, Any]], stored: dict[str, _Stored]) -> None:
    """Item types, parts and the call_id pairing, over the history a previous_response_id brings."""
    calls: set[str] = {
        item["call_id"] for item in history if item.get("type") in ("function_call", "custom_tool_call")
    }
    answered: set[str] = {
        item["call_id"]
        for item in history
        if item.get("type") in ("function_call_output", "custom_tool_call_output")
    }
    stored_items = {item.get("id") for entry in stored.values() for item in entry.history}
    open_calls: list[tuple[str, int]] = [(call_id, -1) for call_id in calls if call_id not in answered]
    for index, item in enumerate(items):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise _type_error(where, "an object")
        kind = item.get("type", "message" if "role" in item else None)
        if kind in _OTHER_ITEM_TYPES:
            continue
        if kind not in _ITEM_TYPES:
            raise _invalid_value(kind, (*_ITEM_TYPES, *_OTHER_ITEM_TYPES), f"{where}.type")
        if kind == "message":
            _check_message(item, where)
        elif kind in ("function_call", "custom_tool_call"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise _missing(f"{where}.call_id")
            if not isinstance(item.get("name"), str):
                raise _missing(f"{where}.name")
            payload_key = "arguments" if kind == "function_call" else "input"
            if not isinstance(item.get(payload_key), str):
                raise _missing(f"{where}.{payload_key}")
            calls.add(call_id)
            open_calls.append((call_id, index))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise _missing(f"{where}.call_id")
            if "output" not in item:
                raise _missing(f"{where}.output")
            if call_id not in calls:
                what = "function" if kind == "function_call_output" else "custom tool"
                raise Rejection(
                    400,
                    f"No tool call found for {what} call output with call_id {call_id}.",
                    param="input",
                )
            open_calls = [(open_id, at) for open_id, at in open_calls if open_id != call_id]
        elif kind == "reasoning":
            _check_reasoning(item, where, stored_items)
        elif kind == "item_reference" and not _stored(item.get("id"), stored_items):
            raise Rejection(404, f"Item with id '{item.get('id')}' not found.", param=where)
    # A call the input (or the history) made must be answered before the model can go on.
    for call_id, _at in open_calls:
        raise Rejection(400, f"No tool output found for function call {call_id}.", param="input")


def _check_message(item: dict[str, Any], where: str) -> None:
    role = item.get("role")
    if role not in (*_INPUT_ROLES, "assistant"):
        raise _invalid_value(role, ("user", "system", "developer", "assistant"), f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _missing(f"{where}.content")
    # Assistant turns replayed as output items carry output_text; easy messages may carry input_text.
    output_item = role == "assistant" and (
        item.get("type") == "message" and ("id" in item or "status" in item)
    )
    allowed = _ASSISTANT_PARTS if role == "assistant" and output_item else _USER_PARTS
    if role == "assistant" and not output_item:
        allowed = (*_ASSISTANT_PARTS, "input_text")
    for position, part in enumerate(content):
        at = f"{where}.content[{position}]"
        if not isinstance(part, dict):
            raise _type_error(at, "an object")
        kind = part.get("type")
        if kind not in allowed:
            raise _invalid_value(kind, allowed, f"{at}.type")
        if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise _missing(f"{at}.text")
        if kind == "refusal" and not isinstance(part.get("refusal"), str):
            raise _missing(f"{at}.refusal")
        if kind == "input_image":
            url = part.get("image_url")
            if not (isinstance(url, str) or isinstance(part.get("file_id"), str)):
                raise Rejection(
                    400, f"Invalid '{at}': one of 'image_url' or 'file_id' must be provided.", param=at
                )
            if isinstance(url, str) and not url.startswith(("http://", "https://", "data:image/")):
                raise Rejection(
                    400,
                    f"Invalid '{at}.image_url'. Expected a base64-encoded data URL with an image MIME type "
                    "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got unsupported MIME type.",
                    param=f"{at}.image_url",
                    code="invalid_value",
                )
            if part.get("detail", "auto") not in ("auto", "low", "high", "original"):
                raise _invalid_value(part.get("detail"), ("auto", "low", "high", "original"), f"{at}.detail")
        if kind == "input_file":
            data = part.get("file_data")
            if not any(isinstance(part.get(key), str) for key in ("file_data", "file_id", "file_url")):
                raise Rejection(
                    400,
                    f"Invalid '{at}': one of 'file_data', 'file_id' or 'file_url' must be provided.",
                    param=at,
                )
            if isinstance(data, str) and not isinstance(part.get("filename"), str):
                raise _missing(f"{at}.filename")


def _stored(item_id: Any, stored_items: set[Any]) -> bool:
    # An id of the wrong type (the fuzzer sends objects) is simply not one the fake keeps.
    return isinstance(item_id, str | None) and item_id in stored_items


def _check_reasoning(item: dict[str, Any], where: str, stored_items: set[Any]) -> None:
    summary = item.get("summary")
    if not isinstance(summary, list):
        raise _missing(f"{where}.summary")
    for position, part in enumerate(summary):
        if not isinstance(part, dict) or part.get("type") != "summary_text":
            raise _invalid_value(
                part.get("type") if isinstance(part, dict) else part,
                ("summary_text",),
                f"{where}.summary[{position}].type",
            )
    blob = item.get("encrypted_content")
    if blob is not None:
        if not isinstance(blob, str) or not _minted(blob):
            raise Rejection(
                400,
                f"The encrypted content for item {item.get('id') or where} could not be verified. Reason: "
                "Encrypted content could not be decrypted or parsed.",
                param=where,
                code="invalid_encrypted_content",
            )
        return
    if not _stored(item.get("id"), stored_items):
        raise Rejection(
            404,
            f"Item with id '{item.get('id')}' not found. Items are not persisted when `store` is set to "
            "false. Try again with `store` set to true, or remove this item from your input.",
            param="input",
        )


# -- the answer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    response_id: str
    created: float
    status: str
    incomplete_reason: str | None
    output: list[dict[str, Any]]
    usage: dict[str, Any]
    # Texts streamed piece by piece: reasoning summary and message text (None when absent).
    thinking: str | None
    text: str | None


def _declared(payload: dict[str, Any]) -> tuple[set[str], dict[str, str]]:
    """Names of custom tools, and function name -> namespace for functions inside namespace tools."""
    custom: set[str] = set()
    namespaces: dict[str, str] = {}
    for tool in payload.get("tools") or []:
        if tool.get("type") == "custom":
            custom.add(tool["name"])
        elif tool.get("type") == "namespace":
            for function in tool["tools"]:
                namespaces[function["name"]] = tool["name"]
    return custom, namespaces


def _plan(payload: dict[str, Any], script: Script) -> _Plan:
    response_id = new_id("resp_fake")
    include = payload.get("include") or []
    output: list[dict[str, Any]] = []
    if script.thinking is not None:
        reasoning_id = new_id("rs_fake")
        output.append(
            {
                "id": reasoning_id,
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": script.thinking}] if script.thinking else [],
                "encrypted_content": mint_encrypted(reasoning_id, script.thinking)
                if "reasoning.encrypted_content" in include
                else None,
            }
        )
    text = script.reply_text("openai")
    searched = _searches_on(payload) and bool(script.searches)
    for search in script.searches if searched else ():
        action: dict[str, Any] = {"type": "search", "query": search["query"]}
        if "web_search_call.action.sources" in include:
            action["sources"] = [{"type": "url", "url": search["url"]}]
        output.append(
            {"id": new_id("ws_fake"), "type": "web_search_call", "status": "completed", "action": action}
        )
    if text is not None:
        annotations = [
            {
                "type": "url_citation",
                "start_index": start,
                "end_index": end,
                "url": found["url"],
                "title": found["title"],
            }
            for start, end, found in (search_spans(text, script.searches) if searched else ())
        ]
        output.append(
            {
                "id": new_id("msg_fake"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "annotations": annotations, "logprobs": [], "text": text}
                ],
            }
        )
    custom, namespaces = _declared(payload)
    arguments: list[str] = []
    for call in script.tool_calls:
        call_input = call.get("input", {})
        if call["name"] in custom:
            raw = call_input if isinstance(call_input, str) else orjson.dumps(call_input).decode()
            item: dict[str, Any] = {"type": "custom_tool_call", "input": raw}
        else:
            raw = orjson.dumps(call_input).decode()
            item = {"type": "function_call", "arguments": raw}
        arguments.append(raw)
        item.update(
            id=new_id("fc_fake" if item["type"] == "function_call" else "ctc_fake"),
            call_id=call.get("id") or new_id("call_fake"),
            name=call["name"],
            status="completed",
        )
        if call["name"] in namespaces:
            item["namespace"] = namespaces[call["name"]]
        if item["type"] == "custom_tool_call":
            del item["status"]
        output.append(item)
    usage = script.usage
    cached = usage_value(usage, "cached_tokens", 0)
    reasoning = usage_value(usage, "reasoning_tokens", count_words(script.thinking))
    # Inclusive accounting: input_tokens already holds the cached ones, output_tokens the reasoning ones.
    prompt = usage_value(usage, "input_tokens", max(prompt_tokens_estimate(payload), cached))
    completion = usage_value(usage, "output_tokens", max(1, count_words(text, *arguments)) + reasoning)
    reason = script.stop_reason if script.stop_reason in _INCOMPLETE_REASONS else None
    if reason is not None:
        for item in output:
            if item["type"] == "message":
                item["status"] = "incomplete"
    return _Plan(
        response_id=response_id,
        created=float(int(time.time())),
        status="incomplete" if reason else "completed",
        incomplete_reason=reason,
        output=output,
        usage={
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + completion,
        },
        thinking=script.thinking,
        text=text,
    )


def _response_object(
    payload: dict[str, Any],
    plan: _Plan,
    *,
    status: str,
    output: list[dict[str, Any]],
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    reasoning = payload.get("reasoning") or {}
    finished = status in ("completed", "incomplete", "failed")
    return {
        "id": plan.response_id,
        "object": "response",
        "created_at": plan.created,
        "status": status,
        "background": bool(payload.get("background")),
        "completed_at": float(int(time.time())) if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": plan.incomplete_reason} if status == "incomplete" else None,
        "instructions": payload.get("instructions"),
        "max_output_tokens": payload.get("max_output_tokens"),
        "max_tool_calls": payload.get("max_tool_calls"),
        "model": payload["model"],
        "output": output,
        "parallel_tool_calls": payload.get("parallel_tool_calls", True),
        "previous_response_id": payload.get("previous_response_id"),
        "prompt_cache_key": payload.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": payload.get("safety_identifier"),
        "service_tier": "default",
        "store": payload.get("store", True) is not False,
        "temperature": payload.get("temperature", 1.0),
        "text": payload.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": payload.get("tool_choice", "auto"),
        "tools": payload.get("tools") or [],
        "top_logprobs": payload.get("top_logprobs", 0),
        "top_p": payload.get("top_p", 1.0),
        "truncation": payload.get("truncation", "disabled"),
        "usage": plan.usage if finished and status != "failed" else None,
        "user": payload.get("user"),
        "metadata": payload.get("metadata") or {},
    }


def _event(kind: str, sequence: int, **fields: Any) -> bytes:
    body = {"type": kind, "sequence_number": sequence, **fields}
    return f"event: {kind}\n".encode() + b"data: " + orjson.dumps(body) + b"\n\n"


def _events(payload: dict[str, Any], plan: _Plan, script: Script) -> list[tuple[str, dict[str, Any]]]:
    """The stream as (type, fields) pairs in the real API's order; sequence numbers added later."""
    events: list[tuple[str, dict[str, Any]]] = []
    start = _response_object(payload, plan, status="in_progress", output=[])
    events.append(("response.created", {"response": start}))
    events.append(("response.in_progress", {"response": start}))
    for index, item in enumerate(plan.output):
        base = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            events.append(
                ("response.output_item.added", {"output_index": index, "item": {**item, "summary": []}})
            )
            for summary_index, part in enumerate(item["summary"]):
                at = {**base, "summary_index": summary_index}
                events.append(
                    (
                        "response.reasoning_summary_part.added",
                        {**at, "part": {"type": "summary_text", "text": ""}},
                    )
                )
                for piece in split_text(part["text"], script.text_chunks):
                    events.append(("response.reasoning_summary_text.delta", {**at, "delta": piece}))
                events.append(("response.reasoning_summary_text.done", {**at, "text": part["text"]}))
                events.append(("response.reasoning_summary_part.done", {**at, "part": part}))
        elif item["type"] == "message":
            added = {**item, "status": "in_progress", "content": []}
            events.append(("response.output_item.added", {"output_index": index, "item": added}))
            text = item["content"][0]["text"]
            at = {**base, "content_index": 0}
            empty_part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            events.append(("response.content_part.added", {**at, "part": empty_part}))
            for piece in split_text(text, script.text_chunks):
                events.append(("response.output_text.delta", {**at, "delta": piece, "logprobs": []}))
            for n, annotation in enumerate(item["content"][0]["annotations"]):
                fields = {**at, "annotation_index": n, "annotation": annotation}
                events.append(("response.output_text.annotation.added", fields))
            events.append(("response.output_text.done", {**at, "text": text, "logprobs": []}))
            events.append(("response.content_part.done", {**at, "part": item["content"][0]}))
        elif item["type"] == "function_call":
            added = {**item, "status": "in_progress", "arguments": ""}
            events.append(("response.output_item.added", {"output_index": index, "item": added}))
            for fragment in split_fragments(item["arguments"], script.argument_chunks):
                events.append(("response.function_call_arguments.delta", {**base, "delta": fragment}))
            events.append(("response.function_call_arguments.done", {**base, "arguments": item["arguments"]}))
        elif item["type"] == "web_search_call":
            added = {**item, "status": "in_progress", "action": {"type": "search"}}
            events.append(("response.output_item.added", {"output_index": index, "item": added}))
            for stage in ("in_progress", "searching", "completed"):
                events.append((f"response.web_search_call.{stage}", base))
        else:  # custom_tool_call
            events.append(
                ("response.output_item.added", {"output_index": index, "item": {**item, "input": ""}})
            )
            for fragment in split_fragments(item["input"]):
                events.append(("response.custom_tool_call_input.delta", {**base, "delta": fragment}))
            events.append(("response.custom_tool_call_input.done", {**base, "input": item["input"]}))
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    final = _response_object(payload, plan, status=plan.status, output=plan.output)
    events.append((f"response.{plan.status}", {"response": final}))
    return events


def _failure_frame(payload: dict[str, Any], plan: _Plan, script: Script, sequence: int) -> bytes:
    message = "An error occurred while processing your request. You can retry your request."
    if script.error_event_type == "error":
        return _event("error", sequence, code="server_error", message=message, param=None)
    error = {"code": "server_error", "message": message}
    failed = _response_object(payload, plan, status="failed", output=[], error=error)
    return _event("response.failed", sequence, response=failed)


def _malformed_frame() -> bytes:
    return b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": "cu\n\n'


def _remember(
    request: web.Request,
    payload: dict[str, Any],
    items: list[dict[str, Any]],
    history: list[dict[str, Any]],
    response: dict[str, Any],
) -> None:
    if payload.get("store") is False:
        return
    with_ids = [
        item
        if "id" in item
        else {**item, "id": new_id("msg_fake" if item.get("type", "message") == "message" else "item_fake")}
        for item in items
    ]
    _store(request)[response["id"]] = _Stored(
        response=response, input_items=with_ids, history=[*history, *with_ids, *response["output"]]
    )


def _previous(request: web.Request, payload: dict[str, Any]) -> list[dict[str, Any]]:
    previous = payload.get("previous_response_id")
    if previous is None:
        return []
    stored = _store(request).get(previous)
    if stored is None:
        raise Rejection(
            404,
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return stored.history


async def answer(request: web.Request, script: Script, payload: dict[str, Any]) -> web.StreamResponse:
    """A response or its event stream for a checked payload (shared with the Azure fake)."""
    history = _previous(request, payload)
    items = _input_items(payload)
    _check_items(items, history, _store(request))
    plan = _plan(payload, script)
    headers = {"x-request-id": new_id("req_fake"), "openai-processing-ms": "1"}
    final = _response_object(payload, plan, status=plan.status, output=plan.output)
    if payload.get("stream") is True:
        pairs = _events(payload, plan, script)
        frames = [_event(kind, sequence, **fields) for sequence, (kind, fields) in enumerate(pairs)]
        failure = _failure_frame(payload, plan, script, script.error_event_after or 0)
        stopped_early = any(
            mark is not None and mark < len(frames)
            for mark in (script.cut_after, script.end_after, script.malformed_after, script.error_event_after)
        )
        if not stopped_early:
            _remember(request, payload, items, history, final)
        return await send_events(
            request,
            frames,
            script,
            headers={**SSE_HEADERS, **headers},
            error_frame=failure,
            malformed_frame=_malformed_frame(),
        )
    _remember(request, payload, items, history, final)
    return json_response(final, status=script.status or 200, headers=headers)


@model_endpoint(error_response)
async def create(request: web.Request, script: Script) -> web.StreamResponse:
    _check(request)
    return await answer(request, script, await read_payload(request))


# -- the id endpoints -----------------------------------------------------------------------------


def _find(request: web.Request) -> _Stored:
    _check(request)
    response_id = request.match_info["response_id"]
    stored = _store(request).get(response_id)
    if stored is None:
        raise Rejection(404, f"Response with id '{response_id}' not found.", param="response_id")
    return stored


def _headers() -> dict[str, str]:
    return {"x-request-id": new_id("req_fake")}


@plain_endpoint(error_response)
async def retrieve(request: web.Request) -> web.StreamResponse:
    return json_response(_find(request).response, headers=_headers())


@plain_endpoint(error_response)
async def delete(request: web.Request) -> web.StreamResponse:
    stored = _find(request)
    del _store(request)[stored.response["id"]]
    return json_response(
        {"id": stored.response["id"], "object": "response", "deleted": True}, headers=_headers()
    )


@plain_endpoint(error_response)
async def cancel(request: web.Request) -> web.StreamResponse:
    stored = _find(request)
    if not stored.response.get("background"):
        raise Rejection(400, "Only responses created with background=true can be cancelled.", param=None)
    # Background responses finish at once here, so a cancel finds them done and changes nothing.
    return json_response(stored.response, headers=_headers())


@plain_endpoint(error_response)
async def input_items(request: web.Request) -> web.StreamResponse:
    stored = _find(request)
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise _invalid_value(order, ("asc", "desc"), "order")
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        raise _type_error("limit", "an integer") from None
    if not 1 <= limit <= 100:
        raise Rejection(400, "Invalid 'limit': expected a value between 1 and 100.", param="limit")
    items = list(stored.input_items)
    if order == "desc":
        items.reverse()
    after = request.query.get("after")
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
    return json_response(body, headers=_headers())


@plain_endpoint(error_response)
async def input_tokens(request: web.Request) -> web.StreamResponse:
    _check(request)
    payload = await read_payload(request, fields=_INPUT_TOKEN_FIELDS)
    history = _previous(request, payload)
    _check_items(_input_items(payload), history, _store(request))
    count = prompt_tokens_estimate(payload)
    return json_response({"object": "response.input_tokens", "input_tokens": count}, headers=_headers())


def routes(prefix: str = "/v1", auth: Auth = check_auth, *, create_route: bool = True) -> list[web.RouteDef]:
    """The Responses API's routes under `prefix`, checking `auth` (Azure: its api-key or Entra ID front
    door); `create_route=False` leaves POST {prefix}/responses to the caller (Azure checks the
    deployment the body names)."""

    def authed(handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            request[AUTH_KEY] = auth
            return await handler(request)

        return run

    found = [
        web.post(f"{prefix}/responses/input_tokens", authed(input_tokens)),
        web.get(f"{prefix}/responses/{{response_id}}", authed(retrieve)),
        web.delete(f"{prefix}/responses/{{response_id}}", authed(delete)),
        web.post(f"{prefix}/responses/{{response_id}}/cancel", authed(cancel)),
        web.get(f"{prefix}/responses/{{response_id}}/input_items", authed(input_items)),
    ]
    return [web.post(f"{prefix}/responses", authed(create)), *found] if create_route else found
