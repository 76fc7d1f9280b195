"""Who may see the dashboard: the admin API's rule (Bearer server.admin_token; with no token, loopback
clients only), plus a session cookie that the login form sets, because a browser cannot send a header.

The cookie holds an HMAC of the admin token, not the token: a leaked cookie opens the dashboard (read
only) but not the admin API, and it stops working as soon as the token changes."""

from __future__ import annotations

import enum
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from gateway.admin import api as admin

COOKIE = "gateway_dashboard"
COOKIE_PATH = "/dashboard"  # never sent to the data plane or the admin API
COOKIE_MAX_AGE = 12 * 3600
_CONTEXT = b"llm-gateway dashboard session v1"


class Access(enum.Enum):
    OK = "ok"
    LOGIN = "login"  # a token is configured and none valid came: show the login form
    DENIED = "denied"  # no token is configured and the client is not on loopback


def session_value(admin_token: str) -> str:
    return hmac.new(admin_token.encode(), _CONTEXT, hashlib.sha256).hexdigest()


def check(request: Request, admin_token: str) -> Access:
    if admin.authorized(request, admin_token):
        return Access.OK
    if not admin_token:
        return Access.DENIED
    presented = request.cookies.get(COOKIE, "")
    if presented and hmac.compare_digest(presented.encode(), session_value(admin_token).encode()):
        return Access.OK
    return Access.LOGIN


def token_matches(presented: str, admin_token: str) -> bool:
    return bool(admin_token) and hmac.compare_digest(presented.encode(), admin_token.encode())


def set_session(response: Response, request: Request, admin_token: str) -> None:
    response.set_cookie(
        COOKIE,
        session_value(admin_token),
        max_age=COOKIE_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # a Secure cookie would be dropped on plain-http loopback
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def safe_next(target: str | None) -> str:
    """Where to go after login: a dashboard path only (never another site: no open redirect)."""
    if target and target.startswith("/dashboard") and not any(bad in target for bad in ("//", "\\", "..")):
        return target
    return "/dashboard"
