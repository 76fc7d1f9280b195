"""Native passthrough: `/<provider>/<path>` to that provider's base_url + path, with its stored key.
The same sequence as a model call (limits, cache, budget, exchange, cache) on a body the gateway does
not translate; its model and usage are read on the side, for the log and budgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yarl

from gateway.core.errors import GatewayError
from gateway.core.http import Headers, Scope, Send
from gateway.dataplane import exchange as proxy
from gateway.dataplane.auth import authenticate, upstream_auth
from gateway.dataplane.caching import Caching
from gateway.dataplane.model_call import ask_for, with_rate_headers
from gateway.dataplane.request import Call, Request
from gateway.dataplane.upstream_call import UpstreamCalls
from gateway.policy import cache
from gateway.policy.admission import Admission, Ask, Ticket
from gateway.providers.registry import BY_FORMAT, type_of
from gateway.routing.table import Leaf, Provider


@dataclass(frozen=True, slots=True)
class NativePlan:
    """A native call checked before its body is read."""

    provider: Provider
    url: yarl.URL
    auth: Headers


class Passthrough:
    def __init__(self, admission: Admission, caching: Caching, calls: UpstreamCalls) -> None:
        self.admission = admission
        self.caching = caching
        self.calls = calls

    def plan(self, req: Request, path: str) -> NativePlan:
        """Check a native call before its body is read: provider, upstream URL, auth headers."""
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
        if req.scope["method"] in ("POST", "PUT", "PATCH") and any(g.input for g in req.gateway.guardrails):
            # A native body can be any provider's shape (uploads, batches, its own formats): input
            # guardrails cannot promise to read it, so it does not get past them unread.
            raise GatewayError(
                "permission_error",
                f"native calls with a body are off on gateway {req.gateway.name!r}: its input guardrails "
                "cannot read a provider's native body; send model calls to /v1/messages, "
                "/v1/chat/completions, /v1/responses or /v1/embeddings",
                code="guardrail_passthrough",
            )
        rest = _passthrough_path(req.scope, path)
        auth, req.key = upstream_auth(
            req.table, req.gateway, Leaf(provider.name, ""), req.caller, type_of(provider)
        )
        query = req.scope.get("query_string", b"").decode("latin-1")
        url = yarl.URL(provider.base_url + rest + ("?" + query if query else ""), encoded=True)
        return NativePlan(provider, url, auth)

    async def __call__(self, req: Request, plan: NativePlan, body: bytes, send: Send) -> None:
        provider = plan.provider
        obj = _body_object(req, provider, body)
        base_path = yarl.URL(provider.base_url).raw_path.rstrip("/")
        relay = _relay(req, provider, plan.url.raw_path[len(base_path) :])
        ask = await self._limits(req, obj)
        policy = None
        if req.scope["method"] == "POST" and obj:
            policy = cache.policy(req.gateway, req.headers, f"{provider.name}{plan.url.raw_path}", obj)
        answered, send, recorder = await self.caching.answer(req, policy, send)
        if answered:
            return
        if ask is not None:
            await self._budget(req, provider, ask)
        if req.ticket is not None and (req.ticket.report.requests or req.ticket.report.tokens):
            send = with_rate_headers(send, req.ticket)
        headers = proxy.upstream_headers(req.scope["headers"], plan.auth, provider)
        upstream = proxy.UpstreamRequest(provider, req.scope["method"], plan.url, headers, body)
        reply = proxy.Reply(
            send, relay, req.format, req.id, req.response_headers(), cost=self.calls.coster(req)
        )
        await self.calls.exchange(req, upstream, reply, plan.auth)
        await self.caching.keep(req, recorder, policy)

    async def _limits(self, req: Request, obj: dict[str, Any]) -> Ask | None:
        """The gateway's rate limits apply to native calls too. Returns the request for admission when
        it is a POST under a budget (priced by `_budget` once the cache has had its say)."""
        gateway = req.gateway
        token = req.caller.token if req.caller else None
        under_budget = bool(gateway.budgets or (token and token.budgets)) and req.scope["method"] == "POST"
        if not gateway.rate_limits and not under_budget:
            return None
        ticket = req.ticket = Ticket()
        ask = ask_for(req, Call("native", obj, b"", req.client_model or ""))
        await self.admission.gateway_limits(ticket, ask)
        return ask if under_budget else None

    async def _budget(self, req: Request, provider: Provider, ask: Ask) -> None:
        """A native POST under a budget must name its model, so that it can be priced."""
        assert req.ticket is not None
        if not ask.model:
            raise GatewayError(
                "permission_error",
                "this gateway has a budget, so a native call must name its `model` in a JSON body "
                "(it is priced before it is sent)",
            )
        await self.admission.direct(req.ticket, ask, Leaf(provider.name, ask.model))


def _body_object(req: Request, provider: Provider, body: bytes) -> dict[str, Any]:
    """A JSON body's model (for the log and budgets) and whether it streams."""
    obj: Any = None
    if body[:1] == b"{":
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            if isinstance(obj.get("model"), str):
                req.client_model = obj["model"]
                req.target = f"{provider.name}/{obj['model']}"
            req.stream = obj.get("stream") is True
    return obj if isinstance(obj, dict) else {}


def _relay(req: Request, provider: Provider, path: str) -> proxy.Relay:
    """The relay of a native call; a cloud's call names its model in the URL, not the body, and may
    need a decoded copy of its answer (Bedrock's event-stream) for its usage to be read."""
    ptype = type_of(provider)
    native = ptype.native(path)
    ending = proxy.ending_for_path(path)  # the stream's terminal event, if the path is a known stream
    if native is None:
        return proxy.PassthroughRelay(ptype, req.format, req.id, ending=ending)
    req.client_model, req.target = native.model, f"{provider.name}/{native.model}"
    decoder = native.decoder
    if decoder is not None:
        return proxy.PassthroughRelay(ptype, req.format, req.id, lambda: decoder(req.id), ending)
    reader = ptype if native.format is provider.format else BY_FORMAT[native.format]
    return proxy.PassthroughRelay(reader, native.format, req.id, ending=ending)


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
