"""One upstream call for one target: same format (byte-exact), translated through the hub, or a
count_tokens that the gateway answers itself; prepared by the target's provider type, then exchanged."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.http import Headers, Send, send_response
from gateway.core.redact import redact
from gateway.core.usage import Usage
from gateway.dataplane import embeddings, guardrails
from gateway.dataplane import exchange as proxy
from gateway.dataplane import translated as relays
from gateway.dataplane.auth import stored_key, upstream_auth
from gateway.dataplane.body import planned_body
from gateway.dataplane.capability import wire_for
from gateway.dataplane.guarded import guarded
from gateway.dataplane.http1 import StreamedBody
from gateway.dataplane.request import Call, Request
from gateway.dataplane.responses import (
    Owner,
    ResponsesState,
    UnmeteredRelay,
    estimate_responses_tokens,
    not_found,
    owner_leaf,
    without_carriers,
)
from gateway.dataplane.upstream import UpstreamPool
from gateway.pricing import limits
from gateway.pricing.prices import Prices, cost, format_usd
from gateway.providers import base, server_tools
from gateway.providers.base import ProviderType
from gateway.providers.credentials import CloudCredentials
from gateway.providers.registry import type_of
from gateway.routing.table import Leaf, Provider
from gateway.translate import Untranslatable, gemini, pipeline
from gateway.translate.tokens import estimate_input_tokens

RetryOn = Callable[[int], bool] | None
# The answers a client reads as a model's text and tool calls: what output guardrails look at.
GUARDED_OPERATIONS = frozenset({"messages", "chat", "responses"})
GUARDED_FORMATS = frozenset({Format.ANTHROPIC, Format.OPENAI, Format.RESPONSES})
# A body the provider type must rewrite (Bedrock, Vertex, a preset's clean-up) that orjson cannot write.
TOO_DEEP = "request body nests too deep for the gateway to rewrite it for this provider"


@dataclass(frozen=True, slots=True)
class Target:
    """One attempt's target: the route's leaf, its provider and type, the format the call speaks
    upstream, and how the answer reaches the client."""

    leaf: Leaf
    provider: Provider
    ptype: ProviderType
    wire: Format
    send: Send
    retry_on: RetryOn


class UpstreamCalls:
    def __init__(
        self, pool: UpstreamPool, credentials: CloudCredentials, prices: Prices, responses: ResponsesState
    ) -> None:
        self.pool = pool
        self.credentials = credentials  # Bedrock signatures, Vertex and Entra ID tokens
        self.prices = prices
        self.responses = responses  # the Responses API's state: ids' owners, the gateway's own responses

    async def call(
        self, req: Request, call: Call, leaf: Leaf, send: Send, retry_on: RetryOn
    ) -> proxy.Exchange | None:
        """One upstream call for one target; None when the gateway answered itself (a local estimate)."""
        provider = req.table.providers[leaf.provider]
        req.target = leaf.target
        ptype = type_of(provider)
        wire = wire_for(req.format, provider, ptype, leaf.model)
        if call.operation == "embeddings":
            api = embeddings.api_for(req.table, leaf)
            assert api is not None  # capability.admissible let only targets that embed through
            if api != "openai":
                target = Target(leaf, provider, ptype, Format.OPENAI, send, retry_on)
                auth = self._auth(req, target)
                return await embeddings.translated(
                    req, call, target, api, auth, self.run_exchange, self.coster(req)
                )
            embeddings.check_same_format(call, leaf.model)
            wire = Format.OPENAI  # an OpenAI-format server's /embeddings: forwarded as is
        target = Target(leaf, provider, ptype, wire, send, retry_on)
        if target.wire is not req.format:
            return await self.translated(req, call, target)
        path = ptype.paths.get(call.operation)
        if path is None:
            raise GatewayError(
                "invalid_request_error", f"provider {provider.name!r} has no {call.operation} endpoint"
            )
        auth = self._auth(req, target)
        if req.format is Format.RESPONSES:
            call = without_carriers(call)
        metered = req.ticket is not None and req.ticket.metered
        sent_model = ptype.body_model(provider, leaf.model, call.operation)
        planned = leaf if sent_model == leaf.model else dataclasses.replace(leaf, model=sent_model)
        body = planned_body(call, planned, target.wire, metered)
        try:
            body = ptype.clean(body, {**call.obj, **leaf.params} if leaf.params else call.obj)
        except orjson.JSONEncodeError:
            raise GatewayError("invalid_request_error", TOO_DEEP) from None
        headers = proxy.upstream_headers(req.scope["headers"], auth, provider)
        query = req.scope.get("query_string", b"").decode("latin-1")
        model_call = base.Call(
            leaf.model, call.operation, path, body, req.id, query, headers.get("anthropic-beta")
        )
        if req.format is Format.RESPONSES and call.operation == "responses":
            # The answer's id is remembered as this provider's (and key's) before the client sees it.
            owned = self.responses.owned_relay(req, call, ptype, target)
            return await self.prepared(req, owned.target, model_call, owned.relay, headers, auth)
        relay = proxy.PassthroughRelay(ptype, req.format, req.id)
        return await self.prepared(req, target, model_call, relay, headers, auth)

    async def translated(self, req: Request, call: Call, target: Target) -> proxy.Exchange | None:
        """A client in one format, a provider in another: translate through the hub, both ways."""
        leaf = target.leaf
        obj = {**call.obj, **leaf.params} if leaf.params else call.obj
        try:
            if call.operation == "count_tokens":
                return await self.count_tokens(req, obj, target)
            if call.operation == "input_tokens":  # the Responses API's count, for a translated target
                await self.estimate(req, estimate_responses_tokens(obj), target)
                return None
            # A Responses client's web_search goes where the target can search (server_tools.py).
            reach = server_tools.Reach(target.ptype.name, target.wire, model=leaf.model)
            search = server_tools.runs(Format.RESPONSES, "web_search", reach)
            # A client without an output cap gets the model's own maximum, as from the real API.
            default = limits.default_output_tokens(leaf.model, stream=obj.get("stream") is True)
            translated = pipeline.build_request(
                req.format, target.wire, obj, leaf.model, web_search=search, default_max_tokens=default
            )
        except Untranslatable as exc:
            raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
        auth = self._auth(req, target)
        headers = relays.upstream_headers(target.wire, target.provider, auth)
        options = obj.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        relay = relays.TranslationRelay(
            req.format, target.wire, call.model, req.id, translated, include_usage
        )
        body = target.ptype.clean(translated.body)  # fields the preset's API rejects
        model_call = base.Call(
            leaf.model, call.operation, translated.path, body, req.id, "", headers.get("anthropic-beta")
        )
        if req.format is Format.RESPONSES and call.operation == "responses":
            req.response_id = relay.response_id
            if obj.get("store") is not False:
                # The answer is kept (for previous_response_id, GET) before the client is sent its end.
                target = dataclasses.replace(
                    target, send=self.responses.keeping(req, relay, obj, target.send)
                )
        return await self.prepared(req, target, model_call, relay, headers, auth)

    async def count_tokens(self, req: Request, obj: dict[str, Any], target: Target) -> proxy.Exchange | None:
        """count_tokens for a non-Anthropic model: Gemini's countTokens, else an offline estimate."""
        model = target.leaf.model
        pipeline.check_request(req.format, obj, "count_tokens")
        hub = pipeline.to_hub(req.format, {**obj, "max_tokens": obj.get("max_tokens", 1)}, model)
        if target.wire is Format.GEMINI:
            auth = self._auth(req, target)
            body = target.ptype.count_body(gemini.anthropic_request_to_gemini(hub), model)
            path = gemini.GEMINI_PATHS["count"].format(model=quote(model, safe=""))  # one segment
            headers = relays.upstream_headers(Format.GEMINI, target.provider, auth)
            model_call = base.Call(model, "count_tokens", path, body, req.id)
            relay = relays.CountTokensRelay(req.id)
            return await self.prepared(req, target, model_call, relay, headers, auth)
        # OpenAI has no count endpoint: an offline estimate that errs high, said so in a header.
        await self.estimate(req, estimate_input_tokens(hub), target)
        return None

    @staticmethod
    async def estimate(req: Request, tokens: int, target: Target) -> None:
        """An offline token count, said so in a header (Anthropic's shape and the Responses API's
        `input_tokens` count share the key; the latter's object name is added for it)."""
        req.status = 200
        answer: dict[str, object] = {"input_tokens": tokens}
        if req.format is Format.RESPONSES:
            answer = {"object": "response.input_tokens", "input_tokens": tokens}
        await send_response(
            target.send,
            200,
            orjson.dumps(answer),
            [*req.response_headers(), (b"x-gateway-token-count", b"estimate")],
        )

    async def response_id(
        self, req: Request, owner: Owner, response_id: str, sub: str, body: bytes, send: Send
    ) -> None:
        """An id endpoint for an upstream id: to the provider, with the key, that answered it."""
        provider = req.table.providers.get(owner.provider)
        if provider is None:  # the provider left the config since: nobody can resolve the id now
            raise not_found(response_id)
        leaf = owner_leaf(owner)
        req.target = leaf.target
        ptype = type_of(provider)
        target = Target(leaf, provider, ptype, Format.RESPONSES, send, None)
        auth = self._auth(req, target)
        path = f"/responses/{response_id}" + (f"/{sub}" if sub else "")
        query = req.scope.get("query_string", b"").decode("latin-1")
        method = req.scope["method"]
        try:
            call = base.Call(leaf.model, "response_id", path, body, req.id, query)
            prepared = ptype.prepare(provider, call)
        except Untranslatable as exc:
            raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
        headers = proxy.upstream_headers(req.scope["headers"], auth, provider)
        if method != "POST":
            headers.pop("content-type", None)
        upstream = proxy.UpstreamRequest(
            provider, method, prepared.url, headers, body if method == "POST" else b"", leaf.timeout
        )
        relay: proxy.Relay = UnmeteredRelay(ptype, Format.RESPONSES, req.id, ending=None)
        if method == "GET" and not sub:
            # A Response the upstream stored is read again unredacted: the output guardrails apply to
            # it as to the answer that created it.
            relay = _output_guarded(req, "responses", relay)
        reply = proxy.Reply(send, relay, Format.RESPONSES, req.id, req.response_headers())
        await self.exchange(req, upstream, reply, auth)

    @staticmethod
    def _auth(req: Request, target: Target) -> Headers:
        """The target's auth headers; the request's record learns which key they came from."""
        auth, req.key = upstream_auth(
            req.table, req.gateway, target.leaf, req.caller_or_anonymous, target.ptype
        )
        return auth

    async def prepared(
        self,
        req: Request,
        target: Target,
        model_call: base.Call,
        relay: proxy.Relay,
        headers: dict[str, str],
        auth: Headers,
    ) -> proxy.Exchange:
        """Place the call where its provider type wants it, then exchange it."""
        try:
            prepared = target.ptype.prepare(target.provider, model_call)
        except Untranslatable as exc:
            raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
        except orjson.JSONEncodeError:
            raise GatewayError("invalid_request_error", TOO_DEEP) from None
        if prepared.json_body:
            headers["content-type"] = "application/json"
        relay = _output_guarded(req, model_call.operation, relay)
        upstream = proxy.UpstreamRequest(
            target.provider,
            "POST",
            prepared.url,
            headers,
            prepared.body,
            target.leaf.timeout,
            prepared.decoder,
        )
        reply = proxy.Reply(
            target.send, relay, req.format, req.id, req.response_headers(), target.retry_on, self.coster(req)
        )
        return await self.exchange(req, upstream, reply, auth)

    async def exchange(
        self, req: Request, upstream: proxy.UpstreamRequest, reply: proxy.Reply, auth: Headers
    ) -> proxy.Exchange:
        """Run the request's exchange: the client's answer is this exchange's (unless held back)."""
        req.exchange = proxy.Exchange()
        result = await self.run_exchange(req, upstream, reply, auth, req.exchange)
        if result.held is None:
            req.adopt(result)
        return result

    async def run_exchange(
        self,
        req: Request,
        upstream: proxy.UpstreamRequest,
        reply: proxy.Reply,
        auth: Headers,
        result: proxy.Exchange,
    ) -> proxy.Exchange:
        """Sign or mint credentials once the body is final, run the exchange, keep secrets out of errors.
        `upstream` is completed here: its total deadline, its signed headers, the secrets it carries."""
        provider = upstream.provider
        keepalive = req.table.server.stream_keepalive
        if keepalive != reply.keepalive:
            reply = dataclasses.replace(reply, keepalive=keepalive)
        if req.timeout is not None:
            upstream.total = min(upstream.total or provider.timeouts.total, req.timeout)
        if not auth and type_of(provider).minted(provider):
            key = stored_key(req.table, req.key or "")
            upstream.headers = await self.credentials.authorize(
                provider,
                key,
                upstream.method,
                str(upstream.url),
                upstream.headers,
                _signed_body(upstream.body),
            )
        secrets = _secrets(auth)
        upstream.secrets = tuple(s.encode("latin-1") for s in secrets if len(s) >= 8)
        try:
            result = await proxy.exchange(self.pool, upstream, reply, result)
        except GatewayError as exc:
            exc.message = redact(exc.message, secrets)
            raise
        if result.error:
            result.error = redact(result.error, secrets)
        return result

    def coster(self, req: Request) -> Callable[[Usage], str | None]:
        """Cost of this attempt's usage, for x-gateway-cost-usd; None when the model has no known price."""

        def cost_of(usage: Usage) -> str | None:
            price = self.prices.price(req.table, req.target) if req.target else None
            if price is None:
                return None
            # Only a whole 200 answer is priced here, and it is the client's: the request's cost, kept
            # so that the budget and the log do not compute it again.
            req.final_cost = value = cost(price, usage)
            req.cost_text = format_usd(value)
            return req.cost_text

        return cost_of


def _signed_body(body: bytes | StreamedBody) -> bytes:
    # A streamed upload goes only to bearer-token clouds (Azure's Entra ID), which sign no body.
    return body if isinstance(body, bytes) else b""


def _secrets(auth: Headers) -> list[str]:
    return [value.decode("latin-1").removeprefix("Bearer ") for _, value in auth]


def _output_guarded(req: Request, operation: str, relay: proxy.Relay) -> proxy.Relay:
    """The relay, checked by the gateway's output guardrails (on: output or both) when it carries a
    model's answer; the relay itself otherwise (no cost on a gateway without them)."""
    if not req.gateway.guardrails or operation not in GUARDED_OPERATIONS or req.format not in GUARDED_FORMATS:
        return relay
    rails = {g.name: g for g in req.gateway.guardrails if g.output and g.matcher is not None}
    if not rails:
        return relay

    def report(name: str, action: str) -> None:
        guardrails.record_hit(req, rails[name], "output", action)  # never the matched text

    return guarded(relay, req.format, req.id, tuple(rails.values()), report)
