"""The admin app gateway/app.py mounts: the admin API and the dashboard, behind the one guard."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp

from gateway.admin import api, dashboard
from gateway.admin.guard import AdminGuard
from gateway.admin.sources import AdminSources


def admin_app(src: AdminSources) -> ASGIApp:
    views = dashboard.Views(src)
    app = Starlette(routes=[*dashboard.routes(views), *api.routes(src)])
    return AdminGuard(app, lambda: src.admin_token, views.refuse)
