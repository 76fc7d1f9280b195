"""Google Gemini wire format: /v1beta/models/{model}:generateContent, :streamGenerateContent, :countTokens."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

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
    split_text,
    usage_value,
)
from .script import Script
from .sse import send_events

KIND = "gemini"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
# Google terminates each SSE event with CRLF CRLF; parsers that only split on "\n\n" break on it.
EVENT_END = b"\r\n\r\n"
_PROMPT_FIELDS = ("systemInstruction", "contents", "tools")
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    403: "Method doesn't allow unregistered callers (callers without established identity). Please use API "
    "Key or other form of API consumer identity to call this API.",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
MODELS = [
    {
        "name": "models/gemini-2.5-flash",
        "version": "001",
        "displayName": "Gemini 2.5 Flash",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    },
    {
        "name": "models/gemini-2.5-pro",
        "version": "001",
        "displayName": "Gemini 2.5 Pro",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    },
]


def error_response(rejection: Rejection) -> web.Response:
    status = rejection.status
    error: dict[str, Any] = {
        "code": status,
        "message": rejection.message
        or _DEFAULT_MESSAGES.get(status, "Request contains an invalid argument."),
        "status": google_status(status),
    }
    if status == 429:
        # The API says which quota ran out and when to come back in the body, with no retry-after header.
        error["details"] = _QUOTA_DETAILS
    return json_response({"error": error}, status=status)


_QUOTA_DETAILS = [
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                "quotaValue": "10",
            }
        ],
    },
    {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [
            {
                "description": "Learn more about Gemini API quotas",
                "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
            }
        ],
    },
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"},
]


def google_status(status: int) -> str:
    """Google's canonical status name for an HTTP status (AI Studio and Vertex alike)."""
    return _STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")


def prompt_tokens_estimate(payload: dict[str, Any]) -> int:
    """The fake's promptTokenCount for a request body; tests can call it to predict usage."""
    return estimate_tokens(payload, _PROMPT_FIELDS)


def _check_auth(request: web.Request) -> None:
    if not (request.headers.get("x-goog-api-key", "").strip() or request.query.get("key", "").strip()):
        raise Rejection(403)


async def read_payload(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (no auth check: Vertex AI authenticates differently)."""
    return await read_json_object(request, "Invalid JSON payload received. Unexpected token.")


async def _read_body(request: web.Request) -> dict[str, Any]:
    _check_auth(request)
    return await read_payload(request)


def _check_contents(payload: dict[str, Any], request_name: str) -> None:
    contents = payload.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Rejection(400, f"* {request_name}.contents: contents is not specified\n")
    for index, content in enumerate(contents):
        if not isinstance(content, dict):
            raise Rejection(400, f"Invalid value at 'contents[{index}]', expected an object.")
        # Only user and model exist; "assistant"/"system" leaking through a gateway fails here.
        if content.get("role") not in (None, "", "user", "model"):
            raise Rejection(400, "Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise Rejection(
                400, f"* {request_name}.contents[{index}].parts: contents.parts must not be empty.\n"
            )


# A Tool holds one kind each; both spellings (proto JSON accepts snake and camel case).
_TOOL_KINDS = frozenset(
    {
        "functionDeclarations",
        "function_declarations",
        "google_search",
        "googleSearch",
        "url_context",
        "urlContext",
        "code_execution",
        "codeExecution",
        "googleSearchRetrieval",
        "google_search_retrieval",
    }
)


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise Rejection(400, "Invalid value at 'tools', expected a list.")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise Rejection(400, f"Invalid value at 'tools[{index}]', expected an object.")
        for key, value in tool.items():
            if key not in _TOOL_KINDS:
                raise Rejection(
                    400,
                    f"Invalid JSON payload received. Unknown name \"{key}\" at 'tools[{index}]': "
                    "Cannot find field.",
                )
            if key in ("google_search", "googleSearch", "url_context", "urlContext") and value != {}:
                # The fake takes these empty, as the gateway sends them (time-range filters aside).
                raise Rejection(400, f"Invalid value at 'tools[{index}].{key}'.")


def _searches_on(payload: dict[str, Any]) -> bool:
    return any(
        isinstance(t, dict) and ("google_search" in t or "googleSearch" in t)
        for t in payload.get("tools") or ()
    )


def _grounding(text: str, script: Script) -> dict[str, Any]:
    """groundingMetadata for the scripted searches: queries, pages, and the supported segments as UTF-8
    byte offsets (as Gemini counts them)."""
    spans = search_spans(text, script.searches)
    return {
        "webSearchQueries": [s["query"] for s in script.searches],
        "searchEntryPoint": {"renderedContent": "<div>fake search suggestions</div>"},
        "groundingChunks": [{"web": {"uri": s["url"], "title": s["title"]}} for s in script.searches],
        "groundingSupports": [
            {
                "segment": {
                    "startIndex": len(text[:start].encode()),
                    "endIndex": len(text[:end].encode()),
                    "text": text[start:end],
                },
                "groundingChunkIndices": [script.searches.index(found)],
            }
            for start, end, found in spans
        ],
    }


# Google's documented stand-ins for function calls Gemini did not make (history from other models).
PLACEHOLDER_SIGNATURES = ("skip_thought_signature_validator", "context_engineering_is_the_way_to_go")
_MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, "
    "function call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
_CORRUPTED_SIGNATURE = "Corrupted thought signature."


def signs_calls(model: str) -> bool:
    """Gemini 3 signs its function calls and validates the signatures sent back."""
    return model.startswith("gemini-3")


def call_signature(call: dict[str, Any]) -> str:
    """The thoughtSignature the fake gives a functionCall: standard base64 of bytes bound to the call's
    name and arguments, so a signature moved to another call or altered fails validation."""
    digest = hashlib.sha256(orjson.dumps(call, option=orjson.OPT_SORT_KEYS)).digest()[:24]
    return base64.b64encode(b"fake-gemini-thought:" + digest).decode()


def _check_signatures(payload: dict[str, Any], model: str) -> None:
    """Gemini 3's rule: in the current turn (every content after the last user content that is not only
    function responses), the first functionCall of each model step carries its thoughtSignature."""
    if not signs_calls(model):
        return
    contents = payload["contents"]
    start = 0
    for index, content in enumerate(contents):
        parts = content.get("parts") or []
        if content.get("role") == "user" and any(
            isinstance(part, dict) and "functionResponse" not in part for part in parts
        ):
            start = index + 1
    for index in range(start, len(contents)):
        content = contents[index]
        if content.get("role") != "model":
            continue
        calls = [part for part in content["parts"] if isinstance(part, dict) and "functionCall" in part]
        if not calls:
            continue
        first = calls[0]
        signature = first.get("thoughtSignature")
        if not isinstance(signature, str) or not signature:
            name = (first.get("functionCall") or {}).get("name", "")
            raise Rejection(400, _MISSING_SIGNATURE.format(name=name, position=index + 1))
        for part in calls:
            signature = part.get("thoughtSignature")
            if signature is None or signature in PLACEHOLDER_SIGNATURES:
                continue
            if signature != call_signature(part["functionCall"]):
                raise Rejection(400, _CORRUPTED_SIGNATURE)


@dataclass(frozen=True)
class _Reply:
    response_id: str
    model: str
    text: str | None
    calls: list[dict[str, Any]]
    thought: str | None
    finish_reason: str
    usage: dict[str, int]
    grounding: dict[str, Any] | None = None


def _plan_reply(model: str, payload: dict[str, Any], script: Script, kind: str = KIND) -> _Reply:
    text = script.reply_text(kind)
    calls = [{"name": call["name"], "args": call.get("input", {})} for call in script.tool_calls]
    args = " ".join(orjson.dumps(call["args"]).decode() for call in calls)
    usage = script.usage
    prompt = usage_value(usage, "promptTokenCount", prompt_tokens_estimate(payload))
    candidates = usage_value(usage, "candidatesTokenCount", max(1, count_words(text, args)))
    thoughts = usage_value(usage, "thoughtsTokenCount", 0)
    metadata = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    if "cachedContentTokenCount" in usage:
        metadata["cachedContentTokenCount"] = usage["cachedContentTokenCount"]
    if thoughts:
        metadata["thoughtsTokenCount"] = thoughts
    metadata["totalTokenCount"] = prompt + candidates + thoughts
    return _Reply(
        response_id=new_id("fake"),
        model=model,
        text=text,
        calls=calls,
        thought=script.thinking,
        # Gemini reports STOP for function calls too; there is no tool-specific finish reason.
        finish_reason=script.stop_reason or "STOP",
        usage=metadata,
        grounding=_grounding(text or "", script) if script.searches and _searches_on(payload) else None,
    )


def _response(reply: _Reply, parts: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if final:
        candidate["finishReason"] = reply.finish_reason
        if reply.grounding is not None:
            candidate["groundingMetadata"] = reply.grounding
    # Streams carry a running usageMetadata; only the last chunk has the complete numbers.
    usage = reply.usage if final else {"promptTokenCount": reply.usage["promptTokenCount"]}
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": reply.model,
        "responseId": reply.response_id,
    }


def _call_parts(reply: _Reply) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"functionCall": call} for call in reply.calls]
    if parts and signs_calls(reply.model):
        # Gemini 3 signs the first call of a step only (parallel calls share it).
        parts[0]["thoughtSignature"] = call_signature(reply.calls[0])
    return parts


def _thought_parts(reply: _Reply) -> list[dict[str, Any]]:
    # Thought summaries (includeThoughts) come first, marked `thought`.
    return [{"text": reply.thought, "thought": True}] if reply.thought else []


def _all_parts(reply: _Reply) -> list[dict[str, Any]]:
    parts = _thought_parts(reply)
    parts.extend([{"text": reply.text}] if reply.text else [])
    parts.extend(_call_parts(reply))
    return parts


def _stream_chunks(reply: _Reply, script: Script) -> list[dict[str, Any]]:
    pieces = [_thought_parts(reply)] if reply.thought else []
    pieces += [[{"text": piece}] for piece in split_text(reply.text or "", script.text_chunks)]
    # A functionCall always arrives whole, in one chunk.
    if reply.calls:
        pieces.append(_call_parts(reply))
    if not pieces:
        pieces.append([{"text": ""}])
    return [_response(reply, parts, final=i == len(pieces) - 1) for i, parts in enumerate(pieces)]


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + EVENT_END


_STREAM_ERROR = _event(
    {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }
)


def _model(request: web.Request) -> str:
    # The route captures "{model}:{action}" as one segment.
    return request.match_info["target"].rpartition(":")[0]


class Answer(Protocol):
    """Answers one model action for an authenticated request; ``kind`` names the upstream in the text."""

    async def __call__(
        self, request: web.Request, script: Script, payload: dict[str, Any], model: str, *, kind: str = ...
    ) -> web.StreamResponse: ...


async def answer_generate_content(
    request: web.Request, script: Script, payload: dict[str, Any], model: str, *, kind: str = KIND
) -> web.StreamResponse:
    _check_contents(payload, "GenerateContentRequest")
    _check_tools(payload.get("tools"))
    _check_signatures(payload, model)
    reply = _plan_reply(model, payload, script, kind)
    return json_response(_response(reply, _all_parts(reply), final=True), status=script.status or 200)


async def answer_stream_generate_content(
    request: web.Request, script: Script, payload: dict[str, Any], model: str, *, kind: str = KIND
) -> web.StreamResponse:
    _check_contents(payload, "GenerateContentRequest")
    _check_tools(payload.get("tools"))
    _check_signatures(payload, model)
    chunks = _stream_chunks(_plan_reply(model, payload, script, kind), script)
    if request.query.get("alt") != "sse":
        # Without alt=sse Google streams one JSON array instead of events.
        return json_response(chunks, status=script.status or 200)
    frames = [_event(chunk) for chunk in chunks]
    return await send_events(request, frames, script, headers=SSE_HEADERS, error_frame=_STREAM_ERROR)


async def answer_count_tokens(
    request: web.Request, script: Script, payload: dict[str, Any], model: str, *, kind: str = KIND
) -> web.StreamResponse:
    # countTokens takes either bare contents or a whole generateContentRequest.
    inner = payload.get("generateContentRequest")
    if isinstance(inner, dict):
        _check_contents(inner, "GenerateContentRequest")
        payload = inner
    else:
        _check_contents(payload, "CountTokensRequest")
    return json_response({"totalTokens": prompt_tokens_estimate(payload)}, status=script.status or 200)


ANSWERS: dict[str, Answer] = {
    "generateContent": answer_generate_content,
    "streamGenerateContent": answer_stream_generate_content,
    "countTokens": answer_count_tokens,
}


@model_endpoint(error_response)
async def generate_content(request: web.Request, script: Script) -> web.StreamResponse:
    return await answer_generate_content(request, script, await _read_body(request), _model(request))


@model_endpoint(error_response)
async def stream_generate_content(request: web.Request, script: Script) -> web.StreamResponse:
    return await answer_stream_generate_content(request, script, await _read_body(request), _model(request))


@model_endpoint(error_response)
async def count_tokens(request: web.Request, script: Script) -> web.StreamResponse:
    return await answer_count_tokens(request, script, await _read_body(request), _model(request))


@model_endpoint(error_response)
async def embed_content(request: web.Request, script: Script) -> web.StreamResponse:
    return embedding_fakes.gemini_embed(await _read_body(request), _model(request), batch=False)


@model_endpoint(error_response)
async def batch_embed_contents(request: web.Request, script: Script) -> web.StreamResponse:
    return embedding_fakes.gemini_embed(await _read_body(request), _model(request), batch=True)


_ACTIONS = {
    "embedContent": embed_content,
    "batchEmbedContents": batch_embed_contents,
    "generateContent": generate_content,
    "streamGenerateContent": stream_generate_content,
    "countTokens": count_tokens,
}


@plain_endpoint(error_response)
async def model_action(request: web.Request) -> web.StreamResponse:
    # aiohttp cannot split "{model}:{action}" inside one path segment, so split it here.
    model, _, action = request.match_info["target"].rpartition(":")
    handler = _ACTIONS.get(action)
    if not model or handler is None:
        raise Rejection(404, f"Unknown method {action or request.match_info['target']!r}.")
    return await handler(request)


@plain_endpoint(error_response)
async def list_models(request: web.Request) -> web.StreamResponse:
    _check_auth(request)
    return json_response({"models": MODELS})


@plain_endpoint(error_response)
async def get_model(request: web.Request) -> web.StreamResponse:
    _check_auth(request)
    name = f"models/{request.match_info['target']}"
    for model in MODELS:
        if model["name"] == name:
            return json_response(model)
    raise Rejection(404, f"models/{request.match_info['target']} is not found for API version v1beta.")


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1beta/models/{target}", model_action),
        web.get("/v1beta/models", list_models),
        web.get("/v1beta/models/{target}", get_model),
    ]


WIRE = Wire(kind=KIND, base_path="/v1beta", routes=routes, error=error_response)
