"""One upstream call for one target: same format (byte-exact), translated through the hub, or a
count_tokens that the gateway answers itself; prepared by the target's provider type, then exchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.http import Headers, Send, send_response
from gateway.core.redact import redact
from gateway.core.usage import Usage
from gateway.dataplane import exchange as proxy
from gateway.dataplane import translated as relays
from gateway.dataplane.auth import stored_key, upstream_auth
from gateway.dataplane.body import planned_body
from gateway.dataplane.request import Call, Request
from gateway.dataplane.upstream import UpstreamPool
from gateway.pricing.prices import Prices, cost, format_usd
from gateway.providers import base
from gateway.providers.credentials import CloudCredentials
from gateway.providers.registry import type_of
from gateway.routing.table import Leaf, Provider
from gateway.translate import Untranslatable, gemini, pipeline
from gateway.translate.tokens import estimate_input_tokens

RetryOn = Callable[[int], bool] | None


class UpstreamCalls:
    def __init__(self, pool: UpstreamPool, credentials: CloudCredentials, prices: Prices) -> None:
        self.pool = pool
        self.credentials = credentials  # Bedrock signatures, Vertex and Entra ID tokens
        self.prices = prices

    async def call(
        self, req: Request, call: Call, leaf: Leaf, send: Send, retry_on: RetryOn
    ) -> proxy.Exchange | None:
        """One upstream call for one target; None when the gateway answered itself (a local estimate)."""
        provider = req.table.providers[leaf.provider]
        req.target = leaf.target
        ptype = type_of(provider)
        fmt = ptype.wire_format(provider, leaf.model)
        if fmt is not req.format:
            return await self.translated(req, call, provider, leaf, send, retry_on)
        path = ptype.paths.get(call.operation)
        if path is None:
            raise GatewayError(
                "invalid_request_error", f"provider {provider.name!r} has no {call.operation} endpoint"
            )
        auth, req.key = upstream_auth(req.table, req.gateway, leaf, req.caller_or_anonymous, ptype)
        metered = req.ticket is not None and req.ticket.metered
        body = planned_body(call, leaf, fmt, metered)
        body = ptype.clean(body, {**call.obj, **leaf.params} if leaf.params else call.obj)
        headers = proxy.upstream_headers(req.scope["headers"], auth, provider)
        query = req.scope.get("query_string", b"").decode("latin-1")
        model_call = base.Call(
            leaf.model, call.operation, path, body, req.id, query, headers.get("anthropic-beta")
        )
        relay = proxy.PassthroughRelay(ptype, req.format, req.id)
        return await self.prepared(req, provider, model_call, relay, headers, auth, leaf, retry_on, send)

    async def translated(
        self, req: Request, call: Call, provider: Provider, leaf: Leaf, send: Send, retry_on: RetryOn
    ) -> proxy.Exchange | None:
        """A client in one format, a provider in another: translate through the hub, both ways."""
        ptype = type_of(provider)
        fmt = ptype.wire_format(provider, leaf.model)
        obj = {**call.obj, **leaf.params} if leaf.params else call.obj
        try:
            if call.operation == "count_tokens":
                return await self.count_tokens(req, obj, provider, leaf, send, retry_on)
            translated = pipeline.build_request(req.format, fmt, obj, leaf.model)
        except Untranslatable as exc:
            raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
        auth, req.key = upstream_auth(req.table, req.gateway, leaf, req.caller_or_anonymous, ptype)
        headers = relays.upstream_headers(fmt, provider, auth)
        options = obj.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        relay = relays.TranslationRelay(req.format, fmt, call.model, req.id, translated, include_usage)
        body = ptype.clean(translated.body)  # fields the preset's API rejects
        model_call = base.Call(
            leaf.model, call.operation, translated.path, body, req.id, "", headers.get("anthropic-beta")
        )
        return await self.prepared(req, provider, model_call, relay, headers, auth, leaf, retry_on, send)

    async def count_tokens(
        self,
        req: Request,
        obj: dict[str, Any],
        provider: Provider,
        leaf: Leaf,
        send: Send,
        retry_on: RetryOn,
    ) -> proxy.Exchange | None:
        """count_tokens for a non-Anthropic model: Gemini's countTokens, else an offline estimate."""
        ptype = type_of(provider)
        hub = pipeline.to_hub(req.format, {**obj, "max_tokens": obj.get("max_tokens", 1)}, leaf.model)
        if ptype.wire_format(provider, leaf.model) is Format.GEMINI:
            auth, req.key = upstream_auth(req.table, req.gateway, leaf, req.caller_or_anonymous, ptype)
            body = ptype.count_body(gemini.anthropic_request_to_gemini(hub), leaf.model)
            path = gemini.GEMINI_PATHS["count"].format(model=leaf.model)
            headers = relays.upstream_headers(Format.GEMINI, provider, auth)
            model_call = base.Call(leaf.model, "count_tokens", path, body, req.id)
            relay = relays.CountTokensRelay(req.id)
            return await self.prepared(req, provider, model_call, relay, headers, auth, leaf, retry_on, send)
        # OpenAI has no count endpoint: an offline estimate that errs high, said so in a header.
        req.status = 200
        answer = orjson.dumps({"input_tokens": estimate_input_tokens(hub)})
        await send_response(
            send, 200, answer, [*req.response_headers(), (b"x-gateway-token-count", b"estimate")]
        )
        return None

    async def prepared(
        self,
        req: Request,
        provider: Provider,
        model_call: base.Call,
        relay: proxy.Relay,
        headers: dict[str, str],
        auth: Headers,
        leaf: Leaf,
        retry_on: RetryOn,
        send: Send,
    ) -> proxy.Exchange:
        """Place the call where its provider type wants it, then exchange it."""
        try:
            prepared = type_of(provider).prepare(provider, model_call)
        except Untranslatable as exc:
            raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
        if prepared.json_body:
            headers["content-type"] = "application/json"
        upstream = proxy.UpstreamRequest(
            provider, "POST", prepared.url, headers, prepared.body, leaf.timeout, prepared.decoder
        )
        reply = proxy.Reply(
            send, relay, req.format, req.id, req.response_headers(), retry_on, self.coster(req)
        )
        return await self.exchange(req, upstream, reply, auth)

    async def exchange(
        self, req: Request, upstream: proxy.UpstreamRequest, reply: proxy.Reply, auth: Headers
    ) -> proxy.Exchange:
        """Sign or mint credentials once the body is final, run the exchange, keep secrets out of errors."""
        provider = upstream.provider
        req.exchange = proxy.Exchange()
        total = upstream.total
        if req.timeout is not None:
            total = min(total or provider.timeouts.total, req.timeout)
        headers = upstream.headers
        if not auth and type_of(provider).minted(provider):
            key = stored_key(req.table, req.key or "")
            headers = await self.credentials.authorize(
                provider, key, upstream.method, str(upstream.url), headers, upstream.body
            )
        secrets = _secrets(auth)
        upstream = proxy.UpstreamRequest(
            provider,
            upstream.method,
            upstream.url,
            headers,
            upstream.body,
            total,
            upstream.decoder,
            tuple(s.encode("latin-1") for s in secrets if len(s) >= 8),
        )
        try:
            result = await proxy.exchange(self.pool, upstream, reply, req.exchange)
        except GatewayError as exc:
            exc.message = redact(exc.message, secrets)
            raise
        if result.error:
            result.error = redact(result.error, secrets)
        if result.held is None:
            req.adopt(result)
        return result

    def coster(self, req: Request) -> Callable[[Usage], str | None]:
        """Cost of this attempt's usage, for x-gateway-cost-usd; None when the model has no known price."""

        def cost_of(usage: Usage) -> str | None:
            price = self.prices.price(req.table, req.target) if req.target else None
            return format_usd(cost(price, usage)) if price is not None else None

        return cost_of


def _secrets(auth: Headers) -> list[str]:
    return [value.decode("latin-1").removeprefix("Bearer ") for _, value in auth]
