"""Builds the aiohttp application for one provider: routes, request recording, envelopes, disconnects."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .common import Handler, Rejection, Wire
from .script import RecordedAnswer, RecordedRequest
from .state import GENERATION_KEY, RECORDED_KEY, STATE_KEY, FakeState

# Gateways forward big prompts (images, PDFs); aiohttp's 1 MiB default would answer 413 first.
_MAX_BODY = 64 * 1024 * 1024


def build_app(wire: Wire, state: FakeState) -> web.Application:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # A multipart upload is read by its handler as it streams in (files_wire), not here: the fake
        # can then tell when its first bytes arrived. It is recorded without its body.
        streamed = request.content_type == "multipart/form-data"
        body = b"" if streamed else await request.read()
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=_lowercase_headers(request),
            body=body,
            raw_path=request.raw_path,
        )
        request[RECORDED_KEY] = recorded
        request[GENERATION_KEY] = state.record(recorded)
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            return wire.error(Rejection(404, _not_found_message(wire, request)))
        except web.HTTPMethodNotAllowed:
            return wire.error(Rejection(405, f"Method {request.method} not allowed for {request.path}"))
        except asyncio.CancelledError:
            # The runner cancels handlers when the client goes away (handler_cancellation=True).
            state.note_disconnect(request[GENERATION_KEY], request[RECORDED_KEY])
            raise
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            headers = {name.lower(): value for name, value in response.headers.items()}
            state.record_answer(RecordedAnswer(response.status, headers, response.body))
        return response

    app = web.Application(middlewares=[middleware], client_max_size=_MAX_BODY)
    app[STATE_KEY] = state
    app.add_routes(wire.routes())
    return app


def _lowercase_headers(request: web.Request) -> dict[str, str]:
    # Repeated headers are joined the HTTP way rather than silently keeping only one of them.
    names = dict.fromkeys(name.lower() for name in request.headers)
    return {name: ", ".join(request.headers.getall(name)) for name in names}


def _not_found_message(wire: Wire, request: web.Request) -> str:
    if wire.kind == "openai":
        return f"Invalid URL ({request.method} {request.path})"
    return "Not Found"
