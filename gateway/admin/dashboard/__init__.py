"""The web dashboard at /dashboard: overview charts, the request log, one request, the live config,
the model catalogue.

`routes(gw)` gives the Starlette routes the admin app mounts. Pages are rendered on the server from the
package's own templates; the static files (stylesheet, chart code, the vendored uPlot) are served by the
gateway itself, so the dashboard needs nothing from outside the process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.admin.dashboard.render import PACKAGE, STATIC
from gateway.admin.dashboard.views import Views

if TYPE_CHECKING:
    from gateway.app import Gateway

__all__ = ["routes"]


def routes(gw: Gateway) -> list[BaseRoute]:
    views = Views(gw)
    guarded = views.guarded
    return [
        Route("/dashboard", guarded(views.overview)),
        Route("/dashboard/logs", guarded(views.logs)),
        Route("/dashboard/logs/{id}", guarded(views.record)),
        Route("/dashboard/config", guarded(views.config)),
        Route("/dashboard/models", guarded(views.models)),
        Route("/dashboard/login", views.login, methods=["GET", "POST"]),
        Route("/dashboard/logout", views.logout, methods=["POST"]),
        # Public on purpose: the stylesheet and chart code hold no data, and the login page needs them.
        Mount("/dashboard/static", app=StaticFiles(packages=[(PACKAGE, STATIC)]), name="dashboard-static"),
    ]
