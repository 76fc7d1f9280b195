"""The dashboard's pages. Each reads what the admin API reads (the log store through `query`, the live
table through `describe`, budgets through `state_views`) and renders it; nothing here writes."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.admin import state_views
from gateway.admin.dashboard import auth
from gateway.admin.dashboard.overview import DEFAULT_RANGE, RANGES, overview_data
from gateway.admin.dashboard.render import page
from gateway.admin.describe import describe
from gateway.admin.guard import COOKIE, Access, dashboard_access
from gateway.admin.sources import AdminSources
from gateway.observe.logstore import query
from gateway.observe.record import ENDPOINT_KINDS
from gateway.policy.state import StoreUnavailable
from gateway.pricing.catalogue import Catalogue, Entry, catalogue_for, pricing

# The /api/logs filters the logs form offers, in the form's order.
LOG_FILTERS = (
    "gateway", "route", "provider", "model", "status", "token", "endpoint", "cache", "since", "until",
    "guardrail",
)  # fmt: skip
MAX_LOGIN_BODY = 8192
STATE_TIMEOUT = 2.0

CHARTS = [
    {
        "id": "traffic",
        "title": "Requests and errors",
        "unit": "count",
        "series": [
            {"key": "requests", "label": "Requests", "color": "#4f6bed"},
            {"key": "errors", "label": "Errors", "color": "#e5484d"},
        ],
    },
    {
        "id": "tokens",
        "title": "Tokens",
        "unit": "count",
        "series": [
            {"key": "input_tokens", "label": "Input", "color": "#12a594"},
            {"key": "output_tokens", "label": "Output", "color": "#f5a524"},
        ],
    },
    {
        "id": "cost",
        "title": "Cost",
        "unit": "usd",
        "series": [{"key": "cost_usd", "label": "Cost (USD)", "color": "#8e4ec6"}],
    },
    {
        "id": "latency",
        "title": "Latency",
        "unit": "ms",
        "series": [
            {"key": "latency_ms_p50", "label": "p50", "color": "#0090ff"},
            {"key": "latency_ms_p95", "label": "p95", "color": "#e54666"},
        ],
    },
]


def detail_url(ident: str) -> str:
    return "/dashboard/logs/" + quote(ident, safe="")


class Views:
    def __init__(self, src: AdminSources) -> None:
        self.src = src
        self.login_throttle = auth.LoginThrottle()

    # Access ------------------------------------------------------------------------------------------

    def refuse(self, request: Request, access: Access) -> Response:
        """The guard's answer to a browser it does not let in: the login form, or the denied page."""
        if access is Access.LOGIN:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/dashboard/login?" + urlencode({"next": here}), 303)
        return page("denied.html", self.context(request, ""), 403)

    def context(self, request: Request, active: str, **values: Any) -> dict[str, Any]:
        table = self.src.live.table
        return {
            "active": active,
            "config_version": table.version,
            "can_logout": bool(table.server.admin_token) and COOKIE in request.cookies,
            **values,
        }

    async def login(self, request: Request) -> Response:
        token = self.src.admin_token
        if request.method == "GET":
            target = auth.safe_next(request.query_params.get("next"))
            if not token or dashboard_access(request, token) is Access.OK:
                return RedirectResponse(target, 303)
            return page("login.html", self.context(request, "", next=target, error=None))
        form = await _form(request)
        if form is None:
            ctx = self.context(request, "", next="/dashboard", error="The form could not be read.")
            return page("login.html", ctx, 400)
        target = auth.safe_next(form.get("next"))
        if not token:
            return RedirectResponse(target, 303)
        client = request.client.host if request.client else ""
        wait = self.login_throttle.retry_after(client)
        if wait is not None:  # refused unchecked: a guess made now says nothing
            error = f"Too many failed logins. Try again in {wait} seconds."
            answer = page("login.html", self.context(request, "", next=target, error=error), 429)
            answer.headers["retry-after"] = str(wait)
            return answer
        if not auth.token_matches(form.get("token", ""), token):
            self.login_throttle.failed(client)
            error = "That is not the admin token (server.admin_token)."
            return page("login.html", self.context(request, "", next=target, error=error), 401)
        self.login_throttle.succeeded(client)
        response = RedirectResponse(target, 303)
        auth.set_session(response, request, token)
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/dashboard/login", 303)
        auth.clear_session(response)
        return response

    # Pages -------------------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        r = RANGES.get(request.query_params.get("range", ""), RANGES[DEFAULT_RANGE])
        ctx = self.context(request, "overview", range=r, ranges=list(RANGES.values()))
        try:
            data = await asyncio.to_thread(overview_data, self.src.requests.backend, r, time.time())
        except Exception as exc:  # the database: unreachable, locked, ... say so on the page
            return page("overview.html", {**ctx, "data": None, "error": self._store_error(exc)}, 503)
        chart_data = {"columns": data["charts"], "charts": CHARTS, "step": r.step}
        return page("overview.html", {**ctx, "data": data, "chart_data": chart_data, "error": None})

    async def logs(self, request: Request) -> Response:
        form = {k: request.query_params.get(k, "").strip() for k in LOG_FILTERS}
        form["metadata"] = _metadata_text(request)
        cursor = request.query_params.get("cursor", "")
        # Not in the form, but kept across pages when a link sets it.
        paging = {k: request.query_params[k] for k in ("limit",) if request.query_params.get(k)}
        ctx = self.context(request, "logs", form=form, suggest=self._suggestions(), older=None, newest=None)
        ctx["endpoints"] = list(ENDPOINT_KINDS)
        try:
            params = {**_log_params(form), **paging}
            answer = await asyncio.to_thread(
                query.page, self.src.requests.backend, {**params, **({"cursor": cursor} if cursor else {})}
            )
        except query.BadQuery as exc:
            return page("logs.html", {**ctx, "rows": [], "error": str(exc)}, 400)
        except Exception as exc:
            return page("logs.html", {**ctx, "rows": [], "error": self._store_error(exc)}, 503)
        kept = {**{k: v for k, v in form.items() if v}, **paging}
        if answer["next_cursor"]:
            ctx["older"] = "/dashboard/logs?" + urlencode({**kept, "cursor": answer["next_cursor"]})
        if cursor:
            ctx["newest"] = "/dashboard/logs?" + urlencode(kept)
        rows = [{**r, "href": detail_url(r["id"])} for r in answer["data"]]
        return page("logs.html", {**ctx, "rows": rows, "error": None})

    async def record(self, request: Request) -> Response:
        ident = request.path_params["id"]
        ctx = self.context(request, "logs", ident=ident)
        try:
            found = await asyncio.to_thread(query.one, self.src.requests.backend, ident)
        except Exception as exc:
            return page("record.html", {**ctx, "record": None, "error": self._store_error(exc)}, 503)
        if found is None:
            error = "No such request in the log (it may be past retention)."
            return page("record.html", {**ctx, "record": None, "error": error}, 404)
        attempts = timeline(found["attempts"])
        return page("record.html", {**ctx, "record": found, "attempts": attempts, "error": None})

    async def config(self, request: Request) -> Response:
        table = self.src.live.table  # one snapshot for everything on the page
        budgets: list[dict[str, Any]] = []
        budgets_error = None
        try:
            async with asyncio.timeout(STATE_TIMEOUT):
                budgets = await state_views.budgets(self.src.store(table), table)
        except (StoreUnavailable, TimeoutError) as exc:
            budgets_error = f"state store unavailable: {exc or f'no answer within {STATE_TIMEOUT:g}s'}"
        ctx = self.context(
            request,
            "config",
            status=self.src.live.status(),
            table=describe(table),
            budgets=budgets,
            budgets_error=budgets_error,
            circuits=self.src.circuits(),
            logs=self.src.requests.health(),
        )
        return page("config.html", ctx)

    async def models(self, request: Request) -> Response:
        """The model catalogue of one gateway (the names GET /v1/models lists), per provider."""
        table = self.src.live.table
        found = await catalogue_for(table)
        names = list(found.gateways)
        form = {k: request.query_params.get(k, "").strip() for k in ("gateway", "provider", "q")}
        gateway = form["gateway"] or ("default" if "default" in found.gateways else names[0])
        ctx = self.context(request, "models", form={**form, "gateway": gateway}, gateways=names)
        ctx["providers"] = sorted(table.providers)
        if gateway not in found.gateways:
            error = f"No gateway named {gateway!r}."
            return page("models.html", {**ctx, "configured": [], "groups": [], "error": error}, 404)
        return page("models.html", {**ctx, **models_view(found, gateway, form["provider"], form["q"])})

    # Helpers -----------------------------------------------------------------------------------------

    def _store_error(self, exc: Exception) -> str:
        return f"The log store ({self.src.requests.backend.name}) did not answer: {exc}"

    def _suggestions(self) -> dict[str, list[str]]:
        table = self.src.live.table
        return {
            "gateway": sorted(table.gateways),
            "route": sorted(table.routes),
            "provider": sorted(table.providers),
            "token": sorted({t.name for g in table.gateways.values() for t in g.tokens}),
            "guardrail": sorted(table.guardrails),
            "model": sorted(table.models.exact),
            "status": ["2xx", "4xx", "5xx", "200", "429", "500"],
            "since": ["15m", "1h", "24h", "7d"],
            "until": [],
        }


MODELS_OPEN = 40  # a provider's list starts open on the Models page when it is at most this long


def models_view(found: Catalogue, gateway: str, provider: str, text: str) -> dict[str, Any]:
    """The Models page's data: the names from config, then each provider's catalogue (filtered by
    provider and by a substring of the name)."""
    needle = text.lower()

    def row(e: Entry) -> dict[str, Any]:
        return {"entry": e, "pricing": pricing(e.price) if e.price is not None else None}

    def keep(e: Entry) -> bool:
        if provider and e.provider != provider:
            return False
        return not needle or needle in e.id.lower() or needle in (e.name or "").lower()

    entries = found.gateways[gateway].entries
    configured = [row(e) for e in entries if e.kind != "catalogue" and keep(e)]
    groups = []
    for name, p in found.providers.items():
        if provider and name != provider:
            continue
        rows = [row(e) for e in entries if e.kind == "catalogue" and e.provider == name and keep(e)]
        groups.append(
            {
                "name": name,
                "type": p.type,
                "source": p.source,
                "rows": rows,
                "open": bool(provider or needle) or len(rows) <= MODELS_OPEN,
            }
        )
    return {"configured": configured, "groups": groups, "error": None}


def timeline(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each attempt's place on a bar of the whole: attempts run one after another."""
    durations = [max(0.0, float(a.get("duration_ms") or 0)) for a in attempts]
    total = sum(durations) or 1.0
    out, start = [], 0.0
    for a, d in zip(attempts, durations, strict=True):
        out.append({**a, "offset": round(start / total, 4), "share": round(d / total, 4)})
        start += d
    return out


def _log_params(form: dict[str, str]) -> dict[str, str]:
    """The form as /api/logs parameters; `metadata` is free text `key=value`."""
    params = {k: v for k, v in form.items() if v and k != "metadata"}
    if form["metadata"]:
        key, eq, value = form["metadata"].partition("=")
        if not (eq and key.strip()):
            raise query.BadQuery("metadata: write key=value, e.g. team=red")
        params[f"metadata.{key.strip()}"] = value.strip()
    return params


def _metadata_text(request: Request) -> str:
    """The form's free-text `key=value`, or the /api/logs style `metadata.<key>=<value>` parameter."""
    text = request.query_params.get("metadata", "").strip()
    if text:
        return text
    for key, value in request.query_params.items():
        if key.startswith("metadata.") and len(key) > len("metadata.") and value:
            return f"{key[len('metadata.') :]}={value}"
    return ""


async def _form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form (the login), read without a multipart dependency and with a size cap."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BODY:
            return None
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return None
