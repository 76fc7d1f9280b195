"""Helpers every provider module uses: rejections, endpoint wrappers, JSON bodies, token estimates."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .script import Script
from .state import STATE_KEY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ScriptedHandler = Callable[[web.Request, Script], Awaitable[web.StreamResponse]]
# Checks a request before any script is consumed; raises Rejection to refuse it.
FrontDoor = Callable[[web.Request], Awaitable[None]]


class Rejection(Exception):
    """Raised by validators; each provider renders it in its own error envelope."""

    def __init__(
        self, status: int, message: str | None = None, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message
        self.param = param
        self.code = code


ErrorFactory = Callable[[Rejection], web.Response]


@dataclass(frozen=True)
class Wire:
    """What the server needs to know about one provider."""

    kind: str
    # Path prefix a gateway's base_url must carry ("" for Anthropic, whose SDK adds /v1 itself).
    base_path: str
    routes: Callable[[], list[web.RouteDef]]
    error: ErrorFactory
    # Builds the per-test settings object (``FakeUpstream.settings``); None for providers without any.
    settings: Callable[[], Any] | None = None


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def json_response(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    merged = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=orjson.dumps(payload), status=status, headers=merged)


def exact_body_response(script: Script) -> web.Response:
    """The scripted body verbatim; JSON content-type unless the script names its own."""
    assert script.body is not None
    body = script.body if isinstance(script.body, bytes) else orjson.dumps(script.body)
    headers = dict(script.headers)
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return web.Response(body=body, status=script.status or 200, headers=headers)


def model_endpoint(
    error: ErrorFactory, front_door: FrontDoor | None = None
) -> Callable[[ScriptedHandler], Handler]:
    """Wrap a model endpoint: consume one script, apply delay/overrides, render rejections.

    Scripted ``body``/error ``status`` win over validation on purpose: a test that scripts a 529
    wants a 529 whatever the request looked like (inspect ``fake.requests`` to check the request).
    ``front_door`` (cloud providers: auth, project, region) runs first and may raise a Rejection; a
    request it rejects never reaches the model, so it consumes no script.
    """

    def decorate(handler: ScriptedHandler) -> Handler:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            if front_door is not None:
                try:
                    await front_door(request)
                except Rejection as rejection:
                    return error(rejection)
            script = request.app[STATE_KEY].take_script()
            if script.delay > 0:
                await asyncio.sleep(script.delay)
            if script.body is not None:
                return exact_body_response(script)
            response: web.StreamResponse
            if script.status is not None and script.status >= 400:
                response = error(Rejection(script.status, script.error_message, code=script.error_code))
            else:
                try:
                    response = await handler(request, script)
                except Rejection as rejection:
                    response = error(rejection)
            # Streams were already sent with the script's headers; everything else gets them here.
            if not response.prepared:
                response.headers.update(script.headers)
            return response

        return endpoint

    return decorate


def plain_endpoint(error: ErrorFactory) -> Callable[[Handler], Handler]:
    """Wrap a non-model endpoint (listings): no script consumed, rejections rendered."""

    def decorate(handler: Handler) -> Handler:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except Rejection as rejection:
                return error(rejection)

        return endpoint

    return decorate


async def read_json_object(request: web.Request, invalid_message: str) -> dict[str, Any]:
    """The body as a JSON object, or a 400 rejection with the provider's wording."""
    raw = await request.read()
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Rejection(400, invalid_message) from None
    if not isinstance(payload, dict):
        raise Rejection(400, invalid_message)
    return payload


def loads(raw: bytes, invalid_message: str) -> Any:
    """JSON for a fake that keeps what it reads and writes it back later (files, batches): a body nested
    deeper than orjson writes (254 levels; the fuzzer sends up to 1,100) is refused like unparseable
    JSON, never a fake's 500."""
    try:
        payload = orjson.loads(raw)
        orjson.dumps(payload)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        raise Rejection(400, invalid_message) from None
    return payload


def estimate_tokens(payload: Mapping[str, Any], fields: tuple[str, ...]) -> int:
    """Deterministic stand-in for a tokenizer: ~4 bytes per token of the prompt-bearing fields.

    Key-sorted so the same prompt gives the same count whatever the key order on the wire.
    """
    subset = {name: payload[name] for name in fields if name in payload}
    return max(1, len(orjson.dumps(subset, option=orjson.OPT_SORT_KEYS)) // 4)


def count_words(*texts: str | None) -> int:
    return sum(len(text.split()) for text in texts if text)


def split_text(text: str, parts: int) -> list[str]:
    """Split into at most ``parts`` non-empty, contiguous pieces (none for empty text)."""
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    size = math.ceil(len(text) / parts)
    return [text[start : start + size] for start in range(0, len(text), size)]


def split_fragments(text: str, parts: int | None = None) -> list[str]:
    """At least two pieces (when possible), so clients must really concatenate partial JSON; `parts`:
    as many as that (Script.argument_chunks)."""
    return split_text(text, parts if parts is not None else max(2, math.ceil(len(text) / 24)))


def usage_value(usage: Mapping[str, int], key: str, default: int) -> int:
    value = usage.get(key)
    return default if value is None else int(value)


def search_spans(text: str, searches: list[dict[str, str]]) -> list[tuple[int, int, dict[str, str]]]:
    """Where each scripted search's `cite` sits in the reply text: (start, end, search), characters,
    in text order; a cite not in the text cites nothing."""
    spans = []
    for search in searches:
        start = text.find(search.get("cite") or "\0")
        if start >= 0:
            spans.append((start, start + len(search["cite"]), search))
    return sorted(spans, key=lambda s: s[0])
