"""Which requests the admin app answers: the FIRST path segment decides, never a string prefix, so a
provider named `apis`, `metrics-eu` or `dashboards` keeps its passthrough `/<provider>/...`."""

from __future__ import annotations

import enum


class Area(enum.Enum):
    OPEN = "open"  # /healthz, /readyz, /openapi.json: probes and the API's description, no credentials
    API = "api"  # /api/..., /metrics: Bearer server.admin_token (or loopback with no token)
    DASHBOARD = "dashboard"  # /dashboard/...: the API's rule, or the dashboard session cookie
    DASHBOARD_PUBLIC = "dashboard_public"  # the login form, logout and the static files


_BY_SEGMENT = {
    "healthz": Area.OPEN,
    "readyz": Area.OPEN,
    "openapi.json": Area.OPEN,
    "api": Area.API,
    "metrics": Area.API,
    "dashboard": Area.DASHBOARD,
}
# Below /dashboard: reachable without a session (the login page needs the stylesheet).
_DASHBOARD_PUBLIC = frozenset({"login", "logout", "static"})


def area(path: str) -> Area | None:
    """The admin area serving `path`, or None when it belongs to the data plane. Every request asks
    this, so it slices instead of splitting: one slash only, `//api` is not /api."""
    end = path.find("/", 1)
    found = _BY_SEGMENT.get(path[1:end] if end > 0 else path[1:])
    if found is Area.DASHBOARD and end > 0:
        after = path.find("/", end + 1)
        if (path[end + 1 : after] if after > 0 else path[end + 1 :]) in _DASHBOARD_PUBLIC:
            return Area.DASHBOARD_PUBLIC
    return found
