"""Operator endpoints outside the gateways' base URLs: health, readiness, reload, the compiled table,
the request log, analytics, budgets, limits, explain and metrics. Who may call them is decided before
they run, by gateway/admin/guard.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.admin import openapi, state_views
from gateway.admin.describe import describe
from gateway.admin.explain import explain_answer, explain_request_problem
from gateway.admin.sources import AdminSources
from gateway.observe.logstore import query
from gateway.observe.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.policy.state import Store, StoreUnavailable
from gateway.routing.table import RoutingTable

StateView = Callable[[Store, RoutingTable], Awaitable[list[dict[str, Any]]]]


def routes(src: AdminSources) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi.document())

    async def readyz(request: Request) -> Response:
        table = src.live.table
        state = await state_views.store_health(src.store(table), table)
        status = {
            **src.live.status(),
            "circuits": src.circuits(),
            "state": state,
            "logs": src.requests.health(),
        }
        if src.draining():
            return JSONResponse({"status": "draining", **status}, 503)
        if not state["ok"] and table.state.on_unavailable == "closed":
            # Requests under a budget or rate limit are refused until the store is back.
            return JSONResponse({"status": "state store unavailable", **status}, 503)
        return JSONResponse({"status": "ready", **status})

    async def logs(request: Request) -> Response:
        return await _log_query(query.page, dict(request.query_params))

    async def log_record(request: Request) -> Response:
        ident = request.path_params["id"]
        found = await asyncio.to_thread(query.one, src.requests.backend, ident)
        if found is None:
            return JSONResponse({"error": f"no request {ident!r} in the log (it may be past retention)"}, 404)
        return JSONResponse(found)

    async def analytics(request: Request) -> Response:
        return await _log_query(query.analytics, dict(request.query_params))

    async def _log_query(run: Any, params: dict[str, str]) -> Response:
        try:
            return JSONResponse(await asyncio.to_thread(run, src.requests.backend, params))
        except query.BadQuery as exc:
            return JSONResponse({"error": str(exc)}, 400)
        except Exception as exc:  # the database: unreachable, locked, ... say so, don't crash
            return JSONResponse({"error": f"log store {src.requests.backend.name}: {exc}"}, 503)

    async def budgets(request: Request) -> Response:
        return await _state_view(state_views.budgets)

    async def limits(request: Request) -> Response:
        return await _state_view(state_views.limits)

    async def _state_view(view: StateView) -> Response:
        table = src.live.table
        try:
            return JSONResponse({"data": await view(src.store(table), table)})
        except StoreUnavailable as exc:
            return JSONResponse({"error": str(exc)}, 503)

    async def reload(request: Request) -> Response:
        result = await src.live.reload_everywhere()
        return JSONResponse(result.to_json(), 200 if result.ok else 422)

    async def config(request: Request) -> Response:
        return JSONResponse(describe(src.live.table))

    async def metrics(request: Request) -> Response:
        return Response(await src.metrics(), media_type=METRICS_CONTENT_TYPE)

    async def explain(request: Request) -> Response:
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # json.loads recurses: a deeply nested body is just bad
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        problem = explain_request_problem(body)
        if problem:
            return JSONResponse({"error": problem}, 400)
        status, answer = explain_answer(src.live.table, body)
        return JSONResponse(answer, status)

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/openapi.json", openapi_json),
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
