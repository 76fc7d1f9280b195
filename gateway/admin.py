"""Operator endpoints outside the gateways' base URLs: health, readiness, reload, the compiled table."""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from gateway.app import Gateway

from gateway.table import Leaf, RoutingTable


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
        "providers": {
            p.name: {"type": p.type, "base_url": p.base_url, "served": p.format is not None}
            for p in table.providers.values()
        },
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
            }
            for g in table.gateways.values()
        },
        "routes": {
            r.name: (r.node.target if isinstance(r.node, Leaf) else type(r.node).__name__.lower())
            for r in table.routes.values()
        },
        "warnings": list(table.warnings),
    }


def admin_app(gw: Gateway) -> Starlette:
    def denied() -> Response:
        return JSONResponse({"error": "admin endpoints need Authorization: Bearer <server.admin_token>"}, 401)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        status = gw.live.status()
        if gw.draining:
            return JSONResponse({"status": "draining", **status}, 503)
        return JSONResponse({"status": "ready", **status})

    async def reload(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        result = await gw.live.reload()
        return JSONResponse(result.to_json(), 200 if result.ok else 422)

    async def config(request: Request) -> Response:
        if not authorized(request, gw.live.table.server.admin_token):
            return denied()
        return JSONResponse(describe(gw.live.table))

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/api/reload", reload, methods=["POST"]),
            Route("/api/config", config),
        ]
    )
