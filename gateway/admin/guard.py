"""The admin app's one door: every /api/..., /metrics and /dashboard/... request is authorized here,
before any endpoint runs, against the LIVE table's server.admin_token (read per request, so a reload that
changes the token takes effect at once). Endpoints hold no auth checks.

The rule: Bearer server.admin_token, compared in constant time; with no token set, loopback clients
only. The dashboard also takes a session cookie that its login form sets, because a browser cannot send
a header. The cookie holds an HMAC of the token, not the token: a leaked cookie opens the dashboard (read
only) but not the admin API, and it stops working as soon as the token changes."""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.admin.paths import Area, area

COOKIE = "gateway_dashboard"
COOKIE_PATH = "/dashboard"  # never sent to the data plane or the admin API
_CONTEXT = b"llm-gateway dashboard session v1"
DENIED_MESSAGE = "admin endpoints need Authorization: Bearer <server.admin_token>"


class Access(enum.Enum):
    OK = "ok"
    LOGIN = "login"  # a token is configured and none valid came: show the login form
    DENIED = "denied"  # no token is configured and the client is not on loopback


# How the dashboard answers a browser it does not let in (LOGIN or DENIED): its own pages, so the
# guard stays below the dashboard and imports nothing of it.
DashboardRefusal = Callable[[Request, Access], Response]


def is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


def same_secret(presented: str, secret: str) -> bool:
    """Constant time, length included: digests of equal size are compared, never the raw strings."""
    return hmac.compare_digest(
        hashlib.sha256(presented.encode(errors="surrogateescape")).digest(),
        hashlib.sha256(secret.encode()).digest(),
    )


def authorized(request: Request, admin_token: str) -> bool:
    """Bearer server.admin_token (constant-time); with no token set, loopback clients only."""
    if not admin_token:
        return is_loopback(request.scope)
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and same_secret(presented.strip(), admin_token)


def session_value(admin_token: str) -> str:
    return hmac.new(admin_token.encode(), _CONTEXT, hashlib.sha256).hexdigest()


def dashboard_access(request: Request, admin_token: str) -> Access:
    if authorized(request, admin_token):
        return Access.OK
    if not admin_token:
        return Access.DENIED
    presented = request.cookies.get(COOKIE, "")
    if presented and same_secret(presented, session_value(admin_token)):
        return Access.OK
    return Access.LOGIN


def api_denied() -> Response:
    return JSONResponse({"error": DENIED_MESSAGE}, 401)


class AdminGuard:
    """ASGI middleware around the admin app: refuses what the caller may not see, passes the rest."""

    def __init__(self, app: ASGIApp, admin_token: Callable[[], str], dashboard_refusal: DashboardRefusal):
        self.app = app
        self.admin_token = admin_token
        self.dashboard_refusal = dashboard_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> Response | None:
        """The answer for a caller who may not pass, or None when they may."""
        where = area(request.scope["path"])  # the raw ASGI path, as the app dispatched it
        if where is Area.API:
            return None if authorized(request, self.admin_token()) else api_denied()
        if where is Area.DASHBOARD:
            access = dashboard_access(request, self.admin_token())
            return None if access is Access.OK else self.dashboard_refusal(request, access)
        return None  # probes, the login form, static files
