"""Operator endpoints outside the gateways' base URLs: health, readiness, reload, the compiled table."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from gateway.app import Gateway

from gateway.admin import state_views
from gateway.observe.logstore import query
from gateway.observe.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.policy.state import StoreUnavailable
from gateway.policy.state.store import display_url
from gateway.pricing.prices import format_usd
from gateway.routing.table import Leaf, RoutingTable


def is_loopback(request: Request) -> bool:
    host = request.scope.get("client", ("", 0))[0] if request.scope.get("client") else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def authorized(request: Request, admin_token: str) -> bool:
    """Bearer server.admin_token (constant-time); with no token set, loopback clients only."""
    if not admin_token:
        return is_loopback(request)
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), admin_token.encode()
    )


def describe(table: RoutingTable) -> dict[str, Any]:
    """The compiled table for people: secrets masked, nothing that could authenticate."""
    return {
        "version": table.version,
        "files": list(table.files),
        "server": {
            "listen": f"{table.server.host}:{table.server.port}",
            "admin_token": "(set)" if table.server.admin_token else "(none: loopback only)",
            "max_body": table.server.max_body,
            "workers": table.server.workers,
        },
        "providers": {p.name: {"type": p.type, "base_url": p.base_url} for p in table.providers.values()},
        "keys": {
            k.name: {"provider": k.provider, "secret": k.masked, "available": k.available}
            for k in table.keys.values()
        },
        "models": {**dict(table.models.exact), **{g: t for g, _, t in table.models.globs}},
        "gateways": {
            g.name: {
                "auth": g.auth,
                "tokens": [t.name for t in g.tokens],
                "allow": list(g.allow_text) if g.allow_text is not None else "all",
                "provider_keys": list(g.provider_keys),
                "budgets": list(g.budgets),
                "rate_limits": [r.describe() for r in g.rate_limits],
                "cache_ttl": g.cache_ttl,
            }
            for g in table.gateways.values()
        },
        "budgets": {
            b.name: {"usd": format_usd(b.usd), "period": b.period, "by": b.by, "warn_at": b.warn_at}
            for b in table.budgets.values()
        },
        "state": {"store": display_url(table.state.store), "on_unavailable": table.state.on_unavailable},
        "routes": {
            r.name: (r.node.target if isinstance(r.node, Leaf) else type(r.node).__name__.lower())
            for r in table.routes.values()
        },
        "warnings": list(table.warnings),
    }


_EXPLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "gateway": (str,),
    "metadata": (dict,),
    "headers": (dict,),
    "token": (str, type(None)),
    "stream": (bool,),
    "has_tools": (bool,),
    "has_images": (bool,),
    "input_tokens": (int,),
}


def explain_request_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("model"), str):
        return "model (a string) is required"
    for name, value in body.items():
        types = _EXPLAIN_TYPES.get(name)
        if types is None:
            return f"unknown field {name!r} (known: {', '.join(_EXPLAIN_TYPES)})"
        if not isinstance(value, types) or (name == "input_tokens" and isinstance(value, bool)):
            return f"{name} has the wrong type"
    if any(not isinstance(v, str) for v in body.get("headers", {}).values()):
        return "headers values must be strings"
    return None


def explain_answer(table: RoutingTable, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /api/explain: the decision for a described request, without calling any upstream."""
    from gateway.routing.plan import Unresolved, explain_decision, make_facts

    gateway = body.get("gateway", "default")
    facts = make_facts(
        table,
        gateway,
        body["model"],
        metadata=body.get("metadata") or {},
        headers=body.get("headers") or {},
        token=body.get("token"),
        stream=body.get("stream", False),
        has_tools=body.get("has_tools", False),
        has_images=body.get("has_images", False),
        input_tokens=body.get("input_tokens", 0),
    )
    try:
        result = explain_decision(table, gateway, body["model"], facts)
    except Unresolved as exc:
        return 404, {"error": exc.message, "lines": exc.lines}
    decision = result.decision
    return 200, {
        "lines": result.lines,
        "candidates": [
            {"target": c.leaf.target, "route": c.route, "on": list(c.on) if c.on is not None else None}
            for c in decision.candidates
        ],
        "splits": [
            {
                "route": s.route,
                "sticky": s.sticky,
                "chosen": s.chosen,
                "how": s.how,
                "branches": [
                    {"weight": b.weight, "p": round(b.probability, 4), "target": b.target} for b in s.branches
                ],
            }
            for s in decision.splits
        ],
    }


def admin_app(gw: Gateway) -> Starlette:
    def denied() -> Response:
        return JSONResponse({"error": "admin endpoints need Authorization: Bearer <server.admin_token>"}, 401)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        table = gw.live.table
        state = await state_views.store_health(gw.data.admission.store(table), table)
        status = {
            **gw.live.status(),
            "circuits": gw.data.breakers.snapshot(),
            "state": state,
            "logs": gw.requests.health(),
        }
        if gw.draining:
            return JSONResponse({"status": "draining", **status}, 503)
        if not state["ok"] and table.state.on_unavailable == "closed":
            # Requests under a budget or rate limit are refused until the store is back.
            return JSONResponse({"status": "state store unavailable", **status}, 503)
        return JSONResponse({"status": "ready", **status})

    async def logs(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        return await _log_query(query.page, dict(request.query_params))

    async def log_record(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        ident = request.path_params["id"]
        found = await asyncio.to_thread(query.one, gw.requests.backend, ident)
        if found is None:
            return JSONResponse({"error": f"no request {ident!r} in the log (it may be past retention)"}, 404)
        return JSONResponse(found)

    async def analytics(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        return await _log_query(query.analytics, dict(request.query_params))

    async def _log_query(run: Any, params: dict[str, str]) -> Response:
        try:
            return JSONResponse(await asyncio.to_thread(run, gw.requests.backend, params))
        except query.BadQuery as exc:
            return JSONResponse({"error": str(exc)}, 400)
        except Exception as exc:  # the database: unreachable, locked, ... say so, don't crash
            return JSONResponse({"error": f"log store {gw.requests.backend.name}: {exc}"}, 503)

    async def budgets(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        return await _state_view(state_views.budgets)

    async def limits(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        return await _state_view(state_views.limits)

    async def _state_view(view: Any) -> Response:
        table = gw.live.table
        try:
            return JSONResponse({"data": await view(gw.data.admission.store(table), table)})
        except StoreUnavailable as exc:
            return JSONResponse({"error": str(exc)}, 503)

    async def reload(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        result = await gw.live.reload()
        return JSONResponse(result.to_json(), 200 if result.ok else 422)

    async def config(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        return JSONResponse(describe(gw.live.table))

    async def metrics(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        return Response(await gw.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def explain(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        problem = explain_request_problem(body)
        if problem:
            return JSONResponse({"error": problem}, 400)
        status, answer = explain_answer(gw.live.table, body)
        return JSONResponse(answer, status)

    from gateway.admin import dashboard  # here, not at the top: the dashboard imports this module

    return Starlette(
        routes=[
            *dashboard.routes(gw),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/api/reload", reload, methods=["POST"]),
            Route("/api/config", config),
            Route("/api/explain", explain, methods=["POST"]),
            Route("/api/budgets", budgets),
            Route("/api/logs", logs),
            Route("/api/logs/{id}", log_record),
            Route("/api/analytics", analytics),
            Route("/api/limits", limits),
            Route("/metrics", metrics),
        ]
    )
