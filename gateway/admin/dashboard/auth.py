"""The dashboard's login form side of access: the session cookie it sets and clears, and where a login
may lead. Who gets in is decided by gateway/admin/guard.py (Bearer, loopback or this cookie)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from gateway.admin.guard import COOKIE, COOKIE_PATH, same_secret, session_value

COOKIE_MAX_AGE = 12 * 3600
# Failed logins allowed per window: from one client address, and from all of them together (an attacker
# with many addresses). Past either, every attempt is refused unchecked until the oldest failure ages out,
# so guessing gains nothing; the admin keeps Bearer access to /api/... and the dashboard meanwhile.
LOGIN_FAILURES_PER_CLIENT = 5
LOGIN_FAILURES_OVERALL = 50
LOGIN_WINDOW = 300.0


def token_matches(presented: str, admin_token: str) -> bool:
    return bool(admin_token) and same_secret(presented, admin_token)


class LoginThrottle:
    """Counts failed logins in a sliding window, per client address and overall. Memory stays bounded:
    at most `overall` failures are live at once, so at most that many clients are remembered."""

    def __init__(
        self,
        per_client: int = LOGIN_FAILURES_PER_CLIENT,
        overall: int = LOGIN_FAILURES_OVERALL,
        window: float = LOGIN_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self.window = window
        self.clock = clock
        self._clients: dict[str, deque[float]] = {}
        self._all: deque[float] = deque(maxlen=overall)

    def retry_after(self, client: str) -> int | None:
        """Seconds this client must wait before its next attempt is checked, or None when it may try."""
        now = self.clock()
        cutoff = now - self.window
        while self._all and self._all[0] <= cutoff:
            self._all.popleft()
        waits = []
        mine = self._clients.get(client)
        if mine is not None:
            while mine and mine[0] <= cutoff:
                mine.popleft()
            if not mine:
                del self._clients[client]
            elif len(mine) >= self.per_client:
                waits.append(mine[0] + self.window - now)
        if len(self._all) >= self.overall:
            waits.append(self._all[0] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, client: str) -> None:
        now = self.clock()
        if len(self._clients) >= self.overall:
            # Only clients with a failure still in the window matter, and there are at most `overall`.
            cutoff = now - self.window
            for name in [name for name, times in self._clients.items() if times[-1] <= cutoff]:
                del self._clients[name]
        self._clients.setdefault(client, deque(maxlen=self.per_client)).append(now)
        self._all.append(now)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


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
