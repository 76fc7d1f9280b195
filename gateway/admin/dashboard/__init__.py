"""The web dashboard at /dashboard: overview charts, the request log, one request, the live config,
the model catalogue.

`routes(views)` gives the Starlette routes the admin app mounts; gateway/admin/guard.py lets a request
reach them (and answers the others with `views.refuse`). Pages are rendered on the server from the
package's own templates; the static files (stylesheet, chart code, the vendored uPlot) are served by the
gateway itself, so the dashboard needs nothing from outside the process."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.admin.dashboard.render import PACKAGE, STATIC
from gateway.admin.dashboard.views import Views

__all__ = ["Views", "routes"]


def routes(views: Views) -> list[BaseRoute]:
    return [
        Route("/dashboard", views.overview),
        Route("/dashboard/logs", views.logs),
        Route("/dashboard/logs/{id}", views.record),
        Route("/dashboard/config", views.config),
        Route("/dashboard/models", views.models),
        # Open to all (gateway/admin/paths.py): the login form must be reachable without a session.
        Route("/dashboard/login", views.login, methods=["GET", "POST"]),
        Route("/dashboard/logout", views.logout, methods=["POST"]),
        # Public on purpose: the stylesheet and chart code hold no data, and the login page needs them.
        Mount("/dashboard/static", app=StaticFiles(packages=[(PACKAGE, STATIC)]), name="dashboard-static"),
    ]
