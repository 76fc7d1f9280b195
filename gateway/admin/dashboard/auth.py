"""The dashboard's login form side of access: the session cookie it sets and clears, and where a login
may lead. Who gets in is decided by gateway/admin/guard.py (Bearer, loopback or this cookie)."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from gateway.admin.guard import COOKIE, COOKIE_PATH, session_value

COOKIE_MAX_AGE = 12 * 3600


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
