"""The data plane on raw ASGI: one request's lifecycle (auth, body, disconnects, the record), dispatched
to a model call, the model list or native passthrough."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import orjson

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.http import (
    BodyTooLarge,
    ClientGone,
    Receive,
    Recorder,
    Scope,
    Send,
    header_map,
    read_body,
    send_response,
)
from gateway.core.redact import redact
from gateway.dataplane import files, prompts, record, responses
from gateway.dataplane.attempts import Attempts
from gateway.dataplane.auth import authenticate
from gateway.dataplane.caching import Caching
from gateway.dataplane.circuit import Breakers
from gateway.dataplane.failover import MAX_RETRY_AFTER, RetryBudget
from gateway.dataplane.file_owners import FileOwners
from gateway.dataplane.model_call import ModelCalls
from gateway.dataplane.passthrough import Passthrough
from gateway.dataplane.request import UNSET, Request
from gateway.dataplane.responses import ResponsesState
from gateway.dataplane.upstream import UpstreamPool
from gateway.dataplane.upstream_call import UpstreamCalls
from gateway.observe.accesslog import RequestIds
from gateway.observe.record import RequestRecord, endpoint_of
from gateway.policy.admission import Admission
from gateway.policy.state import StoreUnavailable
from gateway.pricing import catalogue
from gateway.pricing.prices import Prices, cost
from gateway.providers.credentials import CloudCredentials
from gateway.routing.table import Gateway, RoutingTable
from gateway.translate.sse import stream_error

# (path under a gateway's base URL) -> (client format, operation)
MODEL_ENDPOINTS = {
    "/v1/messages": (Format.ANTHROPIC, "messages"),
    "/v1/messages/count_tokens": (Format.ANTHROPIC, "count_tokens"),
    "/v1/chat/completions": (Format.OPENAI, "chat"),
    "/compat/chat/completions": (Format.OPENAI, "chat"),  # Cloudflare AI Gateway's unified endpoint
    "/v1/responses": (Format.RESPONSES, "responses"),
    "/v1/responses/input_tokens": (Format.RESPONSES, "input_tokens"),
    "/v1/embeddings": (Format.OPENAI, "embeddings"),
}
# Seconds a shed client is told to wait: in-flight calls free their slots continually.
SHED_RETRY_AFTER = b"1"


class DataPlane:
    def __init__(self, pool: UpstreamPool, credentials: CloudCredentials | None = None) -> None:
        self.pool = pool
        self.ids = RequestIds()
        # Called with each request's record once it is done (on the event loop: they must be quick).
        # The access log is one of them.
        self.observers: list[Callable[[RequestRecord], None]] = []
        self.stopping = False  # a stop was asked for: a cancellation now is the drain window's end
        self.prices = Prices()
        # Rate limits, limit gates and budgets; a hold's lease covers the longest retry wait.
        self.admission = Admission(self.prices, MAX_RETRY_AFTER)
        self.breakers = Breakers()  # per target: eject one that keeps failing, for a growing cooldown
        self.budget = RetryBudget()
        self.responses = ResponsesState(self.admission)  # the Responses API's ids and kept responses
        self.files = FileOwners(self.admission)  # which provider and key created each file id
        self.calls = UpstreamCalls(pool, credentials or CloudCredentials(), self.prices, self.responses)
        self.attempts = Attempts(self.calls.call, self.breakers, self.budget)
        caching = Caching(self.admission)
        self.model_call = ModelCalls(self.admission, caching, self.attempts, self.responses, self.files.owner)
        self.passthrough = Passthrough(self.admission, caching, self.calls)
        self.file_calls = files.Files(self.admission, self.calls, self.files)
        # Model and passthrough calls being answered, against server.max_in_flight. A plain int: it is
        # only touched on the event loop, between awaits.
        self.in_flight = 0
        self.shed = 0  # calls refused at the gate (for /metrics)

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, table: RoutingTable, gateway: Gateway, path: str
    ) -> None:
        headers = header_map(scope)
        endpoint = MODEL_ENDPOINTS.get(path)
        by_id = endpoint is None and path.startswith(responses.ID_PATH)
        prompt = prompts.match(path) if endpoint is None and not by_id else None
        call = prompts.CALLS.get(prompt[1]) if prompt is not None else None
        fmt = (
            endpoint[0]
            if endpoint
            else Format.RESPONSES
            if by_id
            else call[0]
            if call
            else (Format.ANTHROPIC if b"anthropic-version" in headers else Format.OPENAI)
        )
        req = Request(self.ids.next(), scope, table, gateway, fmt, time.perf_counter(), headers)
        req.endpoint = endpoint_of(path)
        # The model list, the prompt list and a prompt's render are cheap and answered from the table:
        # only calls that hold an upstream are gated.
        gated = path != "/v1/models" and (prompt is None or call is not None)
        if gated:
            if self.in_flight >= table.server.max_in_flight:
                await self._shed(req, send)
                return
            self.in_flight += 1
        task = asyncio.current_task()
        assert task is not None
        watcher: asyncio.Task[None] | None = None
        gone = False

        async def watch_disconnect() -> None:
            nonlocal gone
            message = await receive()
            # A client that closes after its last byte or its stream's closing event (SDKs do, at
            # once) has not left early.
            ex = req.exchange
            done = ex is not None and (ex.complete or ex.finished)
            if message["type"] == "http.disconnect" and req.status == 0 and not done:
                gone = True
                task.cancel()

        try:
            try:
                if endpoint is not None:
                    if scope["method"] != "POST":
                        raise GatewayError("invalid_request_error", f"{path} takes POST", status=405)
                    req.caller = authenticate(gateway, headers)
                    body = await self._read(receive, table)
                    watcher = asyncio.ensure_future(watch_disconnect())
                    await self.model_call(req, endpoint[1], body, self._capture(req, body, send))
                elif prompt is not None and call is None:
                    await self._prompt_answer(req, prompt, path, receive, send)
                elif prompt is not None and call is not None:
                    req.caller = authenticate(gateway, headers)
                    if scope["method"] != "POST":
                        raise GatewayError("invalid_request_error", f"{path} takes POST", status=405)
                    found = prompts.find(table, gateway, prompt[0])
                    req.prompt, req.endpoint = found.name, call[1]
                    req.scope = {**scope, "headers": prompts.call_headers(scope["headers"], call[0])}
                    req.headers = header_map(req.scope)
                    variables, overrides = prompts.read(await self._read(receive, table))
                    body = orjson.dumps(prompts.build(table, found, call[1], variables, overrides))
                    watcher = asyncio.ensure_future(watch_disconnect())
                    await self.model_call(req, call[1], body, self._capture(req, body, send))
                elif by_id:
                    response_id, sub = responses.parse_id_path(path, scope["method"])
                    req.response_id = response_id
                    req.caller = authenticate(gateway, headers)
                    body = await self._read(receive, table)
                    watcher = asyncio.ensure_future(watch_disconnect())
                    await self._response_id(req, response_id, sub, body, self._capture(req, body, send))
                elif files.match(path):

                    def watch() -> None:
                        nonlocal watcher
                        watcher = asyncio.ensure_future(watch_disconnect())

                    await self.file_calls(req, path, receive, send, lambda: self._read(receive, table), watch)
                elif path == "/v1/models":
                    req.caller = authenticate(gateway, headers)
                    query = scope.get("query_string", b"")
                    models = await catalogue.models_answer(table, gateway, fmt, query)
                    req.status = 200
                    await send_response(send, 200, models, req.response_headers())
                else:
                    plan = self.passthrough.plan(req, path)
                    body = await self._read(receive, table)
                    watcher = asyncio.ensure_future(watch_disconnect())
                    await self.passthrough(req, plan, body, self._capture(req, body, send))
            except GatewayError as exc:
                await self._fail(req, exc, send)
            except ClientGone:
                req.status, req.error = 499, "client disconnected"
        except asyncio.CancelledError:
            if not gone and not self.stopping:
                raise
            task.uncancel()
            if gone:
                self._client_left(req)
            else:
                # The server's drain window ended with this request still running (uvicorn cancels
                # what is left): the client is told so in its format, and the record says so.
                await self._cut_by_shutdown(req, send)
        finally:
            if gated:
                self.in_flight -= 1
            # After the last byte the watcher's receive() returns by itself (the response is complete):
            # letting it end is cheaper than throwing a cancellation into it.
            if watcher is not None and not (req.exchange is not None and req.exchange.complete):
                watcher.cancel()
            if req.ticket is not None:
                self._settle(req)
            self._log(req)

    async def _prompt_answer(
        self, req: Request, prompt: tuple[str | None, str], path: str, receive: Receive, send: Send
    ) -> None:
        """GET /v1/prompts and POST /v1/prompts/<name>/render: answered from the table, nothing called."""
        req.caller = authenticate(req.gateway, req.headers)
        name, action = prompt
        method = req.scope["method"]
        if action == "list":
            if method != "GET":
                raise GatewayError("invalid_request_error", f"{path} takes GET", status=405)
            answer = prompts.listing(req.table, req.gateway)
        else:
            if method != "POST":
                raise GatewayError("invalid_request_error", f"{path} takes POST", status=405)
            found = prompts.find(req.table, req.gateway, name)
            req.prompt = found.name
            if action != "render":
                raise GatewayError("not_found_error", f"no endpoint {path}", code="not_found")
            variables, overrides = prompts.read(await self._read(receive, req.table))
            answer = prompts.render_answer(req.table, req.gateway, found, variables, overrides)
        req.status = 200
        await send_response(send, 200, answer, req.response_headers())

    async def _response_id(self, req: Request, response_id: str, sub: str, body: bytes, send: Send) -> None:
        """GET/DELETE /v1/responses/{id}, its cancel and input_items: a gateway id from the gateway's
        own store, an upstream id at the provider (and with the key) that answered it."""
        if responses.is_gateway_response_id(response_id):
            await responses.answer_kept(self.responses, req, response_id, sub, send)
            return
        try:
            owner = await self.responses.owner(req.table, response_id)
        except StoreUnavailable as exc:
            raise GatewayError(
                "overloaded_error", f"the state store that keeps responses is unreachable ({exc})", status=503
            ) from None
        if owner is None:
            raise responses.not_found(response_id)
        await self.calls.response_id(req, owner, response_id, sub, body, send)

    async def _cut_by_shutdown(self, req: Request, send: Send) -> None:
        ex = req.exchange
        message = "the gateway is shutting down: this request outlasted its drain window (server.drain)"
        if ex is not None:
            req.ttfb_ms, req.usage = ex.ttfb_ms, ex.usage
        req.error = message
        try:
            if ex is not None and ex.complete:
                return  # the client had its last byte
            if ex is not None and ex.streamed:
                req.status = ex.status or 200
                tail = b"" if ex.finished else stream_error(req.format, "overloaded_error", message, req.id)
                await send({"type": "http.response.body", "body": tail})
            else:
                await self._fail(req, GatewayError("overloaded_error", message, status=503), send)
        except OSError:
            pass  # the connection went too: the record still says what happened

    @staticmethod
    def _capture(req: Request, body: bytes, send: Send) -> Send:
        """With `logs.bodies`, keep the request body and a copy of the answer for the log record."""
        bodies = req.gateway.log_bodies
        if not (req.table.logs.bodies if bodies is None else bodies):
            return send
        req.request_body = body
        req.response = Recorder(send, record.LOGGED_BODY_LIMIT)
        return req.response

    @staticmethod
    def _client_left(req: Request) -> None:
        """Log what the upstream had done by the time the client went away (usage, its own error)."""
        req.status, req.error = 499, "client disconnected"
        ex = req.exchange
        if ex is not None:
            req.ttfb_ms, req.usage = ex.ttfb_ms, ex.usage
            if ex.upstream_error:
                req.error = redact(f"client disconnected after the upstream reported: {ex.upstream_error}")

    async def _read(self, receive: Receive, table: RoutingTable) -> bytes:
        try:
            return await read_body(receive, table.server.max_body)
        except BodyTooLarge:
            raise GatewayError(
                "request_too_large", f"request body is over server.max_body ({table.server.max_body} bytes)"
            ) from None

    async def _shed(self, req: Request, send: Send) -> None:
        """Past server.max_in_flight: refuse at once (queueing would only grow memory and latency),
        with 503 and retry-after in the client's envelope, and a record like any other answer."""
        self.shed += 1
        limit = req.table.server.max_in_flight
        error = GatewayError(
            "overloaded_error",
            f"the gateway is at server.max_in_flight ({limit} calls in flight); retry shortly",
            status=503,
            code="overloaded",
            headers=[(b"retry-after", SHED_RETRY_AFTER)],
        )
        try:
            await self._fail(req, error, send)
        finally:
            self._log(req)

    async def _fail(self, req: Request, exc: GatewayError, send: Send) -> None:
        req.status = exc.status
        req.error = exc.message
        body = exc.body(req.format, req.id)
        headers = req.response_headers(in_flight=False) + exc.headers
        if req.ticket is not None:
            headers += req.ticket.report.headers()
        await send_response(send, exc.status, body, headers)

    def _final_cost(self, req: Request) -> Decimal | None:
        """The request's cost from its final usage (0 for a cache hit; None without a price), computed
        once for the budget settlement and the log."""
        if req.cache == "HIT":
            return Decimal(0)
        if req.final_cost is UNSET:
            price = self.prices.price(req.table, req.target) if req.usage and req.target else None
            req.final_cost = cost(price, req.usage) if price is not None and req.usage is not None else None
        value: Decimal | None = req.final_cost
        return value

    def _settle(self, req: Request) -> None:
        """Budgets and token windows learn what the request really used (a cache hit used nothing)."""
        assert req.ticket is not None
        usage = req.usage if req.cache != "HIT" else None
        spent = self._final_cost(req) if usage is not None else None
        # Answered: the upstream said 200 (the client may have left after its last byte, or mid-stream).
        answered = req.cache != "HIT" and (
            req.status == 200 or (req.exchange is not None and req.exchange.status == 200)
        )
        self.admission.settle(req.ticket, spent, usage, answered=answered)

    def _log(self, req: Request) -> None:
        """One record per request, for every observer (the access log, metrics, tracing, the log store)."""
        if not self.observers:
            return
        finished = record.build(req, self._final_cost(req) if req.usage else None)
        for observe in self.observers:
            observe(finished)
