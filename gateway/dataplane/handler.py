"""The data plane: model calls, model lists and native passthrough, per gateway, on raw ASGI."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import yarl

from gateway.config.units import parse_duration
from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.http import (
    BodyTooLarge,
    ClientGone,
    Headers,
    Message,
    Receive,
    Recorder,
    Scope,
    Send,
    header_map,
    read_body,
    send_response,
)
from gateway.core.redact import redact
from gateway.core.usage import Usage
from gateway.dataplane import exchange as proxy
from gateway.dataplane.auth import Caller, authenticate, stored_key, upstream_auth
from gateway.dataplane.body import replace_top_level_string
from gateway.dataplane.circuit import Breakers
from gateway.dataplane.failover import DEFAULT_ON, RetryBudget, backoff, failure_matches
from gateway.dataplane.upstream import UpstreamPool
from gateway.observe.accesslog import RequestIds
from gateway.observe.record import Attempt, RequestRecord, ms
from gateway.policy import cache
from gateway.policy.admission import Admission, Ask, Ticket
from gateway.policy.state import StoreUnavailable
from gateway.pricing import catalogue
from gateway.pricing.prices import Prices, cost, format_usd
from gateway.providers import (
    CLOUD_TYPES,
    Adapter,
    Decoder,
    adapter_for,
    bedrock,
    minted,
    model_url,
    presets,
    vertex,
    wire_format,
)
from gateway.providers import gemini as gemini_adapter
from gateway.providers.credentials import CloudCredentials
from gateway.routing import plan as routing
from gateway.routing.table import Gateway, Leaf, Provider, RoutingTable
from gateway.translate import Untranslatable, gemini, openai_chat, pipeline
from gateway.translate.tokens import estimate_input_tokens

# (path under a gateway's base URL) -> (client format, operation)
MODEL_ENDPOINTS = {
    "/v1/messages": (Format.ANTHROPIC, "messages"),
    "/v1/messages/count_tokens": (Format.ANTHROPIC, "count_tokens"),
    "/v1/chat/completions": (Format.OPENAI, "chat"),
}


_UNSET = object()


def _usd(value: Decimal | None) -> str | None:
    return format_usd(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class Call:
    """What a model call asked for, as parsed once: the same for every attempt."""

    operation: str  # messages, count_tokens, chat
    obj: dict[str, Any]  # the parsed body (never mutated: attempts make their own copies)
    body: bytes  # the body as the client sent it
    model: str  # the model name as the client sent it


@dataclass(slots=True)
class Request:
    """Per-request state, filled in as the request goes; becomes the access-log line."""

    id: str
    scope: Scope
    table: RoutingTable
    gateway: Gateway
    format: Format
    started: float
    headers: dict[bytes, bytes]
    caller: Caller | None = None
    route: str | None = None
    target: str | None = None
    client_model: str | None = None
    stream: bool = False
    status: int = 0
    error: str | None = None
    key: str | None = None
    ttfb_ms: float | None = None
    usage: Usage | None = None
    exchange: proxy.Exchange | None = None  # the upstream exchange, once one has started
    attempts: list[Attempt] = field(default_factory=list)  # every upstream try, in order
    timeout: float | None = None  # x-gateway-timeout: can only shorten the configured total
    max_attempts: int | None = None  # x-gateway-max-attempts: can only lower what config allows
    ticket: Ticket | None = None  # what the request holds in the state store (limits, budgets)
    request_body: bytes | None = None  # kept for the log when the gateway logs bodies
    response: Recorder | None = None  # what the client was sent, likewise
    cache: str | None = None  # HIT, MISS or BYPASS when the cache applies
    final_cost: object = _UNSET  # Decimal | None once computed (see DataPlane._final_cost)

    def response_headers(self, in_flight: bool = True) -> list[tuple[bytes, bytes]]:
        """Gateway headers; `in_flight`: an upstream attempt not yet recorded is being answered."""
        out = [
            (b"x-gateway-request-id", self.id.encode()),
            (b"x-gateway-config-version", self.table.version.encode()),
        ]
        if self.target:
            provider = self.target.partition("/")[0]
            out.append((b"x-gateway-provider", provider.encode()))
            out.append((b"x-gateway-model", self.target.encode()))
            count = len(self.attempts) + (1 if in_flight else 0)
            if count:
                out.append((b"x-gateway-attempts", str(count).encode()))
        if self.route:
            out.append((b"x-gateway-route", self.route.encode()))
        if self.cache:
            out.append((b"x-gateway-cache", self.cache.encode()))
        if self.ticket is not None and self.ticket.warnings:
            out.append((b"x-gateway-budget-warning", "; ".join(self.ticket.warnings).encode()))
        return out


class DataPlane:
    def __init__(self, pool: UpstreamPool, credentials: CloudCredentials | None = None) -> None:
        self.pool = pool
        self.credentials = credentials or CloudCredentials()  # Bedrock signatures, Vertex access tokens
        self.ids = RequestIds()
        self.budget = RetryBudget()
        # Called with each request's record once it is done (on the event loop: they must be quick).
        # The access log is one of them.
        self.observers: list[Callable[[RequestRecord], None]] = []
        self.prices = Prices()
        self.admission = Admission(self.prices)  # rate limits, limit gates and budgets
        self.breakers = Breakers()  # per target: eject one that keeps failing, for a growing cooldown
        self.rand = random.random  # jitter; replaceable for tests

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, table: RoutingTable, gateway: Gateway, path: str
    ) -> None:
        headers = header_map(scope)
        endpoint = MODEL_ENDPOINTS.get(path)
        fmt = (
            endpoint[0]
            if endpoint
            else (Format.ANTHROPIC if b"anthropic-version" in headers else Format.OPENAI)
        )
        req = Request(self.ids.next(), scope, table, gateway, fmt, time.perf_counter(), headers)
        task = asyncio.current_task()
        assert task is not None
        watcher: asyncio.Task[None] | None = None
        gone = False

        async def watch_disconnect() -> None:
            nonlocal gone
            message = await receive()
            # A client that closes after its last byte (SDKs do, at once) has not left early.
            done = req.exchange is not None and req.exchange.complete
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
                elif path == "/v1/models":
                    req.caller = authenticate(gateway, headers)
                    query = scope.get("query_string", b"")
                    models = await catalogue.models_answer(table, gateway, fmt, query)
                    req.status = 200
                    await send_response(send, 200, models, req.response_headers())
                else:
                    plan = self.passthrough_plan(req, path)
                    body = await self._read(receive, table)
                    watcher = asyncio.ensure_future(watch_disconnect())
                    await self.passthrough(req, plan, body, self._capture(req, body, send))
            except GatewayError as exc:
                await self._fail(req, exc, send)
            except ClientGone:
                req.status, req.error = 499, "client disconnected"
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()
            self._client_left(req)
        finally:
            if watcher is not None:
                watcher.cancel()
            if req.ticket is not None:
                self._settle(req)
            self._log(req)

    @staticmethod
    def _capture(req: Request, body: bytes, send: Send) -> Send:
        """With `logs.bodies`, keep the request body and a copy of the answer for the log record."""
        bodies = req.gateway.log_bodies
        if not (req.table.logs.bodies if bodies is None else bodies):
            return send
        req.request_body = body
        req.response = Recorder(send, LOGGED_BODY_LIMIT)
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
        if req.final_cost is _UNSET:
            price = self.prices.price(req.table, req.target) if req.usage and req.target else None
            req.final_cost = cost(price, req.usage) if price is not None and req.usage is not None else None
        return req.final_cost  # type: ignore[return-value]

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

    # -- model calls -------------------------------------------------------------------------------------

    async def model_call(self, req: Request, operation: str, body: bytes, send: Send) -> None:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise GatewayError(
                "invalid_request_error", f"request body is not valid JSON: {exc}", code="invalid_json"
            ) from None
        if not isinstance(obj, dict):
            raise GatewayError(
                "invalid_request_error", "request body must be a JSON object", code="invalid_json"
            )
        model = obj.get("model")
        if not isinstance(model, str) or not model:
            raise GatewayError(
                "invalid_request_error",
                "model: a model name is required (a string)",
                code="missing_required_parameter",
                param="model",
            )
        req.client_model = model
        req.stream = obj.get("stream") is True
        req.timeout, req.max_attempts = _overrides(req.headers)
        call = Call(operation, obj, body, model)
        ticket = req.ticket = Ticket()
        ask = self._ask(req, call)
        await self.admission.gateway_limits(ticket, ask)
        cacheable = operation != "count_tokens"
        policy = cache.policy(req.gateway, req.headers, operation, obj) if cacheable else None
        answered, send, recorder = await self._try_cache(req, policy, send)
        if answered:
            return
        found = await self.admission.plan(ticket, ask, self.rand)
        if ticket.report.requests or ticket.report.tokens:
            send = _with_rate_headers(send, ticket)
        await self._attempts(req, call, [(c.route, c.leaf, c.on) for c in found], send)
        if recorder is not None and policy is not None:
            await self._store_answer(req, recorder, policy)

    async def _try_cache(
        self, req: Request, policy: cache.Policy | None, send: Send
    ) -> tuple[bool, Send, Recorder | None]:
        """(answered from the cache, the send to answer with, the recorder that keeps a miss's answer)."""
        if policy is None:
            return False, send, None
        if policy.mode == "bypass":
            req.cache = "BYPASS"
            return False, send, None
        req.cache = "MISS"
        entry = await self._cached(req, policy.key)
        if entry is None:
            recorder = Recorder(send)
            return False, recorder, recorder
        req.cache, req.status, req.usage = "HIT", entry.status, entry.usage
        req.target, req.route = entry.target, entry.route
        report = req.ticket.report.headers() if req.ticket is not None else []
        await cache.replay(send, entry, req.response_headers() + report)
        return True, send, None

    def _ask(self, req: Request, call: Call) -> Ask:
        made: list[routing.Facts] = []

        def facts() -> routing.Facts:
            """Built once, and only if a route, limit or budget needs them."""
            if not made:
                made.append(
                    routing.make_facts(
                        req.table,
                        req.gateway.name,
                        call.model,
                        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in req.headers.items()},
                        token=req.caller.token.name if req.caller and req.caller.token else None,
                        stream=req.stream,
                        has_tools=bool(call.obj.get("tools")),
                        has_images=b"image" in call.body and _has_images(call.obj),
                        input_tokens=len(call.body) // 3,  # tokens.py's estimate for text, without a walk
                    )
                )
            return made[0]

        token = req.caller.token.name if req.caller and req.caller.token else None
        priced = call.operation != "count_tokens"
        return Ask(req.table, req.gateway, token, req.format, call.model, call.obj, facts, priced)

    async def _cached(self, req: Request, key: str) -> cache.Entry | None:
        try:
            data = await self.admission.store(req.table).cache_get(key)
        except StoreUnavailable:
            return None  # an unreachable cache is a miss, never an error
        return cache.Entry.decode(data) if data is not None else None

    async def _store_answer(self, req: Request, recorder: Recorder, policy: cache.Policy) -> None:
        """Keep a complete 200 answer (never an error, a cut stream or an oversized one)."""
        if not (recorder.complete and recorder.status == 200 and req.status == 200 and req.error is None):
            return
        if recorder.too_large:
            return
        entry = cache.Entry(
            200, recorder.content_type, recorder.chunks, req.target, req.route, req.usage or Usage()
        )
        with contextlib.suppress(StoreUnavailable):  # not kept this time; the answer was sent
            await self.admission.store(req.table).cache_put(policy.key, entry.encode(), policy.ttl)

    async def _attempts(
        self,
        req: Request,
        call: Call,
        candidates: list[tuple[str | None, Leaf, tuple[str, ...] | None]],
        send: Send,
    ) -> None:
        """Try each candidate (and its retries) until one answers; errors are held back while a next
        attempt exists, so the client sees one answer: the first success, or the last failure."""
        budget = self.budget
        budget.active += 1
        # Ejected targets are skipped; the filter never empties the list (the last one stands).
        candidates = self.breakers.filter(candidates, key=lambda c: _breaker_key(c[1]))
        try:
            for index, (route, leaf, on) in enumerate(candidates):
                req.route = route
                if await self._try_candidate(req, call, leaf, on, index == len(candidates) - 1, send):
                    return
        finally:
            budget.active -= 1

    async def _try_candidate(
        self,
        req: Request,
        call: Call,
        leaf: Leaf,
        on: tuple[str, ...] | None,
        last: bool,
        send: Send,
    ) -> bool:
        """One candidate with its retries. True when the client has its answer; False to fall back."""
        budget = self.budget
        fallback_on = () if last else (on or ())
        attempt = 0
        while True:
            # Reserve a retry slot before the attempt, so concurrent failures cannot all retry at once.
            final = req.max_attempts is not None and len(req.attempts) + 1 >= req.max_attempts
            if final:
                fallback_on = ()
            may_retry = not final and attempt < leaf.retries and budget.allows()
            if may_retry:
                budget.retrying += 1
            try:
                hold = (DEFAULT_ON if may_retry else ()) + fallback_on
                retry_on = (lambda status, h=hold: failure_matches(h, status)) if hold else None
                started = time.perf_counter()
                error: GatewayError | None = None
                try:
                    ex = await self._call_leaf(req, call, leaf, send, retry_on)
                except GatewayError as exc:
                    req.attempts.append(_attempt(leaf, exc.status, exc.message, started, req.started))
                    if exc.cause is not None:
                        self.breakers.record(_breaker_key(leaf), ok=False)
                    if not failure_matches(hold, None, exc.cause):
                        raise
                    error, status, cause, advised = exc, None, exc.cause, None
                else:
                    req.attempts.append(
                        _attempt(
                            leaf, ex.status if ex else 200, ex.error if ex else None, started, req.started
                        )
                    )
                    if ex is not None:
                        # 5xx and broken streams count against a target; 4xx (429 too) is not its fault.
                        broken = ex.streamed and ex.error is not None and ex.status < 400
                        self.breakers.record(_breaker_key(leaf), ok=ex.status < 500 and not broken)
                    if ex is None or ex.held is None:
                        return True
                    status, cause, advised = ex.status, None, ex.retry_after
                if may_retry and failure_matches(DEFAULT_ON, status, cause):
                    wait = backoff(attempt, advised, self.rand)
                    if wait is not None:
                        await asyncio.sleep(wait)
                        attempt += 1
                        continue
                if failure_matches(fallback_on, status, cause):
                    return False
                # Nothing left to try here or after: the client gets the failure that was held back.
                if error is not None:
                    raise error
                assert ex is not None and ex.held is not None
                await proxy.send_held(send, *ex.held)
                req.status, req.ttfb_ms, req.usage, req.error = ex.status, ex.ttfb_ms, ex.usage, ex.error
                return True
            finally:
                if may_retry:
                    budget.retrying -= 1

    async def _call_leaf(
        self,
        req: Request,
        call: Call,
        leaf: Leaf,
        send: Send,
        retry_on: Callable[[int], bool] | None,
    ) -> proxy.Exchange | None:
        """One upstream call for one target; None when the gateway answered itself (a local estimate)."""
        provider = req.table.providers[leaf.provider]
        req.target = leaf.target
        fmt = wire_format(provider, leaf.model)
        if fmt is not req.format:
            return await self.translated_call(req, call, provider, leaf, send, retry_on, fmt)
        adapter = adapter_for(provider)
        path = adapter.PATHS.get(call.operation)
        if path is None:
            raise GatewayError(
                "invalid_request_error", f"provider {provider.name!r} has no {call.operation} endpoint"
            )
        auth, req.key = upstream_auth(req.table, req.gateway, leaf, req.caller or Caller(None, None), adapter)
        metered = req.ticket is not None and req.ticket.metered
        body = _apply_plan(call, leaf, fmt, metered, provider.type)
        headers = proxy.upstream_headers(req.scope["headers"], auth, provider)
        relay = proxy.PassthroughRelay(adapter, req.format, req.id)
        if provider.type in CLOUD_TYPES:
            return await self.cloud_call(
                req, call.operation, provider, leaf, relay, headers, body, send, auth, retry_on
            )
        query = req.scope.get("query_string", b"")
        if provider.type == "azure-openai":  # the URL names the deployment and the api-version
            url = model_url(provider, path, leaf.model)
        else:
            url = provider.base_url + path + ("?" + query.decode("latin-1") if query else "")
        return await self._exchange(
            req, provider, relay, "POST", url, headers, body, send, leaf.timeout, auth, retry_on
        )

    async def cloud_call(
        self,
        req: Request,
        operation: str,
        provider: Provider,
        leaf: Leaf,
        relay: proxy.Relay,
        headers: dict[str, str],
        body: bytes,
        send: Send,
        auth: Headers,
        retry_on: Callable[[int], bool] | None,
    ) -> proxy.Exchange:
        """An Anthropic Messages call to Claude on Bedrock or Vertex AI (or a Converse model on Bedrock):
        the cloud's URL and body, and a decoder for its answer."""
        decoder: Decoder
        try:
            if provider.type == "bedrock":
                prepared = bedrock.request(
                    provider, leaf.model, operation, body, headers.get("anthropic-beta")
                )
                url, body = prepared.url, prepared.body
                decoder = bedrock.Decoder(leaf.model, req.id, prepared)
            else:
                url, body = vertex.claude_request(provider, leaf.model, operation, body)
                decoder = vertex.Decoder(req.id)
        except Untranslatable as exc:
            raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
        headers["content-type"] = "application/json"
        return await self._exchange(
            req, provider, relay, "POST", url, headers, body, send, leaf.timeout, auth, retry_on, decoder
        )

    async def translated_call(
        self,
        req: Request,
        call: Call,
        provider: Provider,
        leaf: Leaf,
        send: Send,
        retry_on: Callable[[int], bool] | None,
        fmt: Format,
    ) -> proxy.Exchange | None:
        """A client in one format, a provider in another: translate through the hub, both ways."""
        adapter = adapter_for(provider)
        obj = {**call.obj, **leaf.params} if leaf.params else call.obj
        try:
            if call.operation == "count_tokens":
                return await self.count_tokens(req, obj, provider, leaf, send, retry_on, fmt)
            translated = pipeline.build_request(req.format, fmt, obj, leaf.model)
        except Untranslatable as exc:
            raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
        auth, req.key = upstream_auth(req.table, req.gateway, leaf, req.caller or Caller(None, None), adapter)
        headers = pipeline.upstream_headers(fmt, provider, auth)
        options = obj.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        relay = pipeline.TranslationRelay(req.format, fmt, call.model, req.id, translated, include_usage)
        if provider.type in CLOUD_TYPES and fmt is Format.ANTHROPIC:
            return await self.cloud_call(
                req, call.operation, provider, leaf, relay, headers, translated.body, send, auth, retry_on
            )
        url = model_url(provider, translated.path, leaf.model)
        body = presets.clean_body(provider.type, translated.body)  # fields the preset's API rejects
        return await self._exchange(
            req, provider, relay, "POST", url, headers, body, send, leaf.timeout, auth, retry_on
        )

    async def count_tokens(
        self,
        req: Request,
        obj: dict[str, Any],
        provider: Provider,
        leaf: Leaf,
        send: Send,
        retry_on: Callable[[int], bool] | None,
        fmt: Format,
    ) -> proxy.Exchange | None:
        """count_tokens for a non-Anthropic model: Gemini's countTokens, else an offline estimate."""
        hub = pipeline.to_hub(req.format, {**obj, "max_tokens": obj.get("max_tokens", 1)}, leaf.model)
        if fmt is Format.GEMINI:
            adapter = adapter_for(provider)
            auth, req.key = upstream_auth(
                req.table, req.gateway, leaf, req.caller or Caller(None, None), adapter
            )
            gemini_body = gemini.anthropic_request_to_gemini(hub)
            if provider.type == "vertex":  # Vertex counts contents, system and tools as they are
                counted = {
                    k: gemini_body[k] for k in ("contents", "systemInstruction", "tools") if k in gemini_body
                }
                body = orjson.dumps(counted)
            else:  # AI Studio wants the whole request, model included
                body = orjson.dumps(gemini.count_tokens_request(gemini_body, model=leaf.model))
            url = model_url(provider, gemini.GEMINI_PATHS["count"].format(model=leaf.model), leaf.model)
            relay = pipeline.CountTokensRelay(req.id)
            headers = pipeline.upstream_headers(fmt, provider, auth)
            return await self._exchange(
                req, provider, relay, "POST", url, headers, body, send, leaf.timeout, auth, retry_on
            )
        # OpenAI has no count endpoint: an offline estimate that errs high, said so in a header.
        req.status = 200
        answer = orjson.dumps({"input_tokens": estimate_input_tokens(hub)})
        await send_response(
            send, 200, answer, [*req.response_headers(), (b"x-gateway-token-count", b"estimate")]
        )
        return None

    async def _exchange(
        self,
        req: Request,
        provider: Provider,
        relay: proxy.Relay,
        method: str,
        url: str | yarl.URL,
        headers: dict[str, str],
        body: bytes,
        send: Send,
        total: float | None,
        auth: Headers,
        retry_on: Callable[[int], bool] | None = None,
        decoder: Decoder | None = None,
    ) -> proxy.Exchange:
        req.exchange = proxy.Exchange()
        if req.timeout is not None:
            total = min(total or provider.timeouts.total, req.timeout)
        if not auth and minted(provider):  # signed, or a minted token, once the body is final
            key = stored_key(req.table, req.key or "")
            headers = await self.credentials.authorize(provider, key, method, str(url), headers, body)
        try:
            result = await proxy.exchange(
                self.pool,
                provider,
                relay,
                req.format,
                method,
                url,
                headers,
                body,
                send,
                req.response_headers(),
                req.id,
                total,
                req.exchange,
                tuple(s.encode("latin-1") for s in _secrets(auth) if len(s) >= 8),
                retry_on,
                self._coster(req),
                decoder,
            )
        except GatewayError as exc:
            exc.message = redact(exc.message, _secrets(auth))
            raise
        if result.error:
            result.error = redact(result.error, _secrets(auth))
        if result.held is None:
            req.status = result.status
            req.ttfb_ms = result.ttfb_ms
            req.usage = result.usage
            req.error = result.error
        return result

    def _coster(self, req: Request) -> Callable[[Usage], str | None]:
        """Cost of this attempt's usage, for x-gateway-cost-usd; None when the model has no known price."""

        def cost_of(usage: Usage) -> str | None:
            price = self.prices.price(req.table, req.target) if req.target else None
            return format_usd(cost(price, usage)) if price is not None else None

        return cost_of

    # -- native passthrough ------------------------------------------------------------------------------

    def passthrough_plan(self, req: Request, path: str) -> tuple[Provider, Adapter, yarl.URL, Headers]:
        """Check a native call before its body is read: provider, adapter, upstream URL, auth headers."""
        name = path.lstrip("/").partition("/")[0]
        provider = req.table.providers.get(name)
        if provider is None:
            raise GatewayError(
                "not_found_error",
                f"no endpoint {path!r} on gateway {req.gateway.name!r}: model "
                "calls go to /v1/messages or /v1/chat/completions, native calls to "
                "/<provider>/<path> for a configured provider",
                code="not_found",
            )
        req.format = provider.format
        req.target = f"{provider.name}/"
        req.caller = authenticate(req.gateway, req.headers)
        rest = _passthrough_path(req.scope, path)
        adapter = adapter_for(provider)
        auth, req.key = upstream_auth(req.table, req.gateway, Leaf(provider.name, ""), req.caller, adapter)
        query = req.scope.get("query_string", b"").decode("latin-1")
        url = yarl.URL(provider.base_url + rest + ("?" + query if query else ""), encoded=True)
        return provider, adapter, url, auth

    async def passthrough(
        self, req: Request, plan: tuple[Provider, Adapter, yarl.URL, Headers], body: bytes, send: Send
    ) -> None:
        provider, adapter, url, auth = plan
        obj: Any = None
        if body[:1] == b"{":  # which model (for the log and budgets), streamed or not
            try:
                obj = orjson.loads(body)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                if isinstance(obj.get("model"), str):
                    req.client_model = obj["model"]
                    req.target = f"{provider.name}/{obj['model']}"
                req.stream = obj.get("stream") is True
        obj = obj if isinstance(obj, dict) else {}
        base_path = yarl.URL(provider.base_url).raw_path.rstrip("/")
        relay = self._native_relay(req, provider, adapter, url.raw_path[len(base_path) :])
        ask = await self._native_limits(req, provider, obj)
        policy = None
        if req.scope["method"] == "POST" and obj:
            policy = cache.policy(req.gateway, req.headers, f"{provider.name}{url.raw_path}", obj)
        answered, send, recorder = await self._try_cache(req, policy, send)
        if answered:
            return
        if ask is not None:
            await self._native_budget(req, provider, ask)
        if req.ticket is not None and (req.ticket.report.requests or req.ticket.report.tokens):
            send = _with_rate_headers(send, req.ticket)
        headers = proxy.upstream_headers(req.scope["headers"], auth, provider)
        await self._exchange(
            req,
            provider,
            relay,
            req.scope["method"],
            url,
            headers,
            body,
            send,
            None,
            auth,
        )
        if recorder is not None and policy is not None:
            await self._store_answer(req, recorder, policy)

    def _native_relay(self, req: Request, provider: Provider, adapter: Adapter, path: str) -> proxy.Relay:
        """The relay of a native call; a cloud's call names its model in the URL, not the body, and a
        Bedrock answer needs decoding (a copy of it) for its usage to be read."""
        if provider.type == "bedrock":
            native = bedrock.native_call(path)
            if native is not None:
                model, call = native
                req.client_model, req.target = model, f"{provider.name}/{model}"
                return proxy.PassthroughRelay(
                    adapter, req.format, req.id, lambda: bedrock.Decoder(model, req.id, call)
                )
        elif provider.type == "vertex":
            found = vertex.native_model(path)
            if found is not None:
                req.client_model, req.target = found[0], f"{provider.name}/{found[0]}"
                if found[1] is Format.GEMINI:  # usage in Gemini's shape
                    return proxy.PassthroughRelay(gemini_adapter, Format.GEMINI, req.id)
        return proxy.PassthroughRelay(adapter, req.format, req.id)

    async def _native_limits(self, req: Request, provider: Provider, obj: dict[str, Any]) -> Ask | None:
        """The gateway's rate limits apply to native calls too. Returns the request for admission when
        it is a POST under a budget (priced by `_native_budget` once the cache has had its say)."""
        gateway = req.gateway
        token = req.caller.token if req.caller else None
        under_budget = bool(gateway.budgets or (token and token.budgets)) and req.scope["method"] == "POST"
        if not gateway.rate_limits and not under_budget:
            return None
        ticket = req.ticket = Ticket()
        ask = self._ask(req, Call("native", obj, b"", req.client_model or ""))
        await self.admission.gateway_limits(ticket, ask)
        return ask if under_budget else None

    async def _native_budget(self, req: Request, provider: Provider, ask: Ask) -> None:
        """A native POST under a budget must name its model, so that it can be priced."""
        assert req.ticket is not None
        if not ask.model:
            raise GatewayError(
                "permission_error",
                "this gateway has a budget, so a native call must name its `model` in a JSON body "
                "(it is priced before it is sent)",
            )
        await self.admission.direct(req.ticket, ask, Leaf(provider.name, ask.model))

    # -- access log --------------------------------------------------------------------------------------

    def _log(self, req: Request) -> None:
        """One record per request, for every observer (the access log, metrics, tracing, the log store)."""
        if not self.observers:
            return
        usage = req.usage
        provider, _, model = (req.target or "").partition("/")
        record = RequestRecord(
            ts=time.time(),  # formatted by the writers, off the event loop
            id=req.id,
            gateway=req.gateway.name,
            method=req.scope["method"],
            path=req.scope["path"],
            route=req.route,
            provider=provider or None,
            model=model or None,
            client_model=req.client_model,
            status=req.status,
            stream=req.stream,
            latency_ms=ms(time.perf_counter() - req.started),
            ttfb_ms=round(req.ttfb_ms, 3) if req.ttfb_ms is not None else None,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            cache_read_tokens=usage.cache_read_tokens if usage else None,
            cache_write_tokens=usage.cache_write_tokens if usage else None,
            token=req.caller.token.name if req.caller and req.caller.token else None,
            key=req.key,
            cost_usd=_usd(self._final_cost(req)) if usage else None,
            cache=req.cache,
            state_error=req.ticket.unavailable if req.ticket else None,
            config_version=req.table.version,
            attempts=req.attempts,
            error=req.error,
        )
        if req.caller is not None or any(h in req.headers for h in _METADATA_HEADERS):
            record.metadata = _metadata(req)
        parent = req.headers.get(b"traceparent")
        if parent is not None:  # for OpenTelemetry: the request's span continues the client's trace
            record.traceparent = parent.decode("latin-1")
        if req.request_body is not None:
            secrets = _client_secrets(req)
            record.request_body = redact(req.request_body.decode("utf-8", "replace"), secrets)
            sent = req.response
            if sent is not None:
                text = (
                    "(over 1 MiB: not kept)"
                    if sent.too_large
                    else b"".join(sent.chunks).decode("utf-8", "replace")
                )
                record.response_body = redact(text, secrets)
        for observe in self.observers:
            observe(record)


LOGGED_BODY_LIMIT = 1024 * 1024
_METADATA_HEADERS = tuple(h.encode() for h in routing.METADATA_HEADERS)


def _metadata(req: Request) -> dict[str, Any]:
    """The request's metadata as routing sees it: the header's, overridden by the token's."""
    merged: dict[str, Any] = routing.header_metadata(
        next((req.headers[h] for h in _METADATA_HEADERS if h in req.headers), None)
    )
    token = req.caller.token if req.caller is not None else None
    if token is not None:
        merged.update(token.metadata)
    return merged


def _client_secrets(req: Request) -> list[str]:
    """Every credential the client sent and every stored key: none may reach a logged body."""
    found = [
        value.decode("latin-1").removeprefix("Bearer ").strip()
        for name, value in req.headers.items()
        if name
        in (b"authorization", b"x-api-key", b"x-goog-api-key", b"x-gateway-key", b"cf-aig-authorization")
    ]
    return found + [k.secret for k in req.table.keys.values() if k.secret]


def _overrides(headers: dict[bytes, bytes]) -> tuple[float | None, int | None]:
    """x-gateway-timeout (`30s`, or seconds) and x-gateway-max-attempts; both only tighten config."""
    timeout = max_attempts = None
    raw = headers.get(b"x-gateway-timeout")
    if raw:
        text = raw.decode("latin-1").strip()
        try:
            timeout = float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text)
        except ValueError:
            timeout = None
        if timeout is None or timeout <= 0:
            raise GatewayError(
                "invalid_request_error",
                f"x-gateway-timeout: {text!r} is not a duration "
                "(use e.g. 30s, 1500ms or a number of seconds)",
            )
    raw = headers.get(b"x-gateway-max-attempts")
    if raw:
        text = raw.decode("latin-1").strip()
        if not text.isdigit() or int(text) < 1:
            raise GatewayError(
                "invalid_request_error", f"x-gateway-max-attempts: {text!r} must be an integer >= 1"
            )
        max_attempts = int(text)
    return timeout, max_attempts


def _with_rate_headers(send: Send, ticket: Ticket) -> Send:
    """The gateway's x-ratelimit-* headers replace any the upstream sent (they describe its own key)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", ()) if not k.startswith(b"x-ratelimit-")]
            message = {**message, "headers": kept + ticket.report.headers()}
        await send(message)

    return sending


def _has_images(obj: dict[str, Any]) -> bool:
    for message in obj.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") in ("image", "image_url"):
                    return True
    return False


def _breaker_key(leaf: Leaf) -> str:
    return f"{leaf.target}#key:{leaf.key}" if leaf.key else leaf.target


def _attempt(leaf: Leaf, status: int, error: str | None, started: float, request: float) -> Attempt:
    now = time.perf_counter()
    return Attempt(leaf.target, status, error, start_ms=ms(started - request), duration_ms=ms(now - started))


def _secrets(auth: Headers) -> list[str]:
    return [value.decode("latin-1").removeprefix("Bearer ") for _, value in auth]


def _passthrough_path(scope: Scope, path: str) -> str:
    """The still-encoded path after /<provider>, refusing anything that could climb out of base_url."""
    raw = (scope.get("raw_path") or path.encode()).decode("latin-1").partition("?")[0]
    if scope["path"].startswith("/g/"):
        raw = "/" + raw[3:].partition("/")[2]  # drop /g/<name>
    _, sep, tail = raw[1:].partition("/")  # drop /<provider>
    rest = "/" + tail if sep else ""
    lowered = rest.lower()
    if (
        any(s.replace("%2e", ".") in (".", "..") for s in lowered.split("/"))
        or "%2f" in lowered
        or "%5c" in lowered
        or "\\" in rest
    ):
        raise GatewayError(
            "invalid_request_error", "dot segments and encoded slashes are not allowed in passthrough paths"
        )
    return rest


def _apply_plan(call: Call, leaf: Leaf, fmt: Format, metered: bool = False, ptype: str = "") -> bytes:
    """The body sent upstream: byte-exact, but for the model name (when resolution changed it), params,
    for Anthropic, thinking blocks without a signature, for a metered OpenAI stream, usage, and for an
    OpenAI-compatible preset, the request fields its API rejects."""
    body = _planned_body(call, leaf, fmt, metered)
    if presets.unsupported_in(ptype, {**call.obj, **leaf.params} if leaf.params else call.obj):
        return presets.clean_body(ptype, body)
    return body


def _planned_body(call: Call, leaf: Leaf, fmt: Format, metered: bool) -> bytes:
    body, obj, model = call.body, call.obj, call.model
    if metered and fmt is Format.OPENAI and obj.get("stream") is True:
        options = obj.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage") is True):
            # Budgets and token limits need the real usage, which an OpenAI stream only reports when
            # asked: the client gets one more chunk (empty `choices`, the usage), as OpenAI documents.
            extra = {**(options if isinstance(options, dict) else {}), "include_usage": True}
            return orjson.dumps({**obj, **leaf.params, "model": leaf.model, "stream_options": extra})
    if fmt is Format.ANTHROPIC and (b'"signature":""' in body or b'"signature": ""' in body):
        # A conversation that was served by another provider (a fallback, a split) carries that
        # provider's reasoning as unsigned thinking blocks; Anthropic rejects them, so they go.
        cleaned = openai_chat.drop_unsigned_thinking(obj)
        if cleaned is not obj:
            return orjson.dumps({**cleaned, **leaf.params, "model": leaf.model})
    if leaf.params:
        return orjson.dumps({**obj, **leaf.params, "model": leaf.model})
    if leaf.model != model:
        return replace_top_level_string(body, "model", model, leaf.model)
    return body
