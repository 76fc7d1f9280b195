"""The admin guard, in process: every admin route but the probes and the login side of the dashboard is
refused to a caller without credentials, and the token is read from the live table on each request."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from gateway.admin.guard import AdminGuard, session_value
from gateway.admin.paths import Area, area
from gateway.app import Gateway
from gateway.config.compiler import compile_config
from gateway.config.reload import LiveConfig

CONFIG = """
version: 1
server: {{ admin_token: {token} }}
providers:
  anthropic: {{ type: anthropic, base_url: "http://127.0.0.1:9" }}
gateways:
  default: {{ auth: none }}
"""
TOKEN = "adm-guard-0042"
REMOTE = ("203.0.113.9", 50000)
LOCAL = ("127.0.0.1", 50000)


@pytest.fixture
def gateway() -> Iterator[Callable[[Path, str], Gateway]]:
    """gateway(folder, admin_token) -> an in-process Gateway with its request log (in memory) open."""
    started: list[Gateway] = []

    def factory(folder: Path, token: str) -> Gateway:
        write(folder, token)
        gw = Gateway(LiveConfig(folder, compile_config(folder)), watch=False, default_log_store="memory")
        gw.requests.start()  # creates the log's tables
        started.append(gw)
        return gw

    yield factory
    for gw in started:
        gw.requests.stop()


def write(folder: Path, token: str) -> None:
    (folder / "gateway.yaml").write_text(textwrap.dedent(CONFIG.format(token=token or '""')))


def admin_requests(gw: Gateway) -> list[tuple[str, str]]:
    """(method, path) for every route the admin app serves, a sample path for parameters."""
    assert isinstance(gw.admin, AdminGuard)
    found = []
    for route in gw.admin.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            found.append(("GET", route.path + "/dashboard.css"))
        elif isinstance(route, Route):
            path = route.path.replace("{id}", "some-id")
            found.extend((m, path) for m in sorted(route.methods or {"GET"}) if m != "HEAD")
    return found


def test_every_admin_route_is_guarded(gateway: Callable[[Path, str], Gateway], tmp_path: Path) -> None:
    gw = gateway(tmp_path, TOKEN)
    routes = admin_requests(gw)
    assert {area(p) for _, p in routes} == set(Area)  # the list covers every area
    with TestClient(gw.admin, client=LOCAL) as client:
        for method, path in routes:
            bare = client.request(method, path, follow_redirects=False)
            allowed = client.request(
                method, path, headers={"authorization": f"Bearer {TOKEN}"}, follow_redirects=False
            )
            where = area(path)
            if where is Area.API:
                assert bare.status_code == 401, (method, path)
                assert bare.json() == {
                    "error": "admin endpoints need Authorization: Bearer <server.admin_token>"
                }
            elif where is Area.DASHBOARD:
                assert bare.status_code == 303, (method, path)
                assert bare.headers["location"].startswith("/dashboard/login?next=%2Fdashboard")
            else:  # probes, the login form, logout and static files are open
                assert bare.status_code not in (401, 403), (method, path)
            assert allowed.status_code not in (401, 403), (method, path)
            assert not (where is Area.DASHBOARD and allowed.status_code == 303), (method, path)


@pytest.mark.parametrize("path", ["/api/config", "/metrics", "/api/unknown", "/dashboard", "/dashboard/x"])
def test_without_a_token_only_loopback_gets_in(
    gateway: Callable[[Path, str], Gateway], tmp_path: Path, path: str
) -> None:
    gw = gateway(tmp_path, "")
    with TestClient(gw.admin, client=REMOTE) as remote:
        refused = remote.get(path, headers={"authorization": "Bearer x"}, follow_redirects=False)
        assert refused.status_code == (403 if path.startswith("/dashboard") else 401)
        assert remote.get("/healthz").status_code == 200
    with TestClient(gw.admin, client=LOCAL) as local:
        assert local.get(path, follow_redirects=False).status_code not in (401, 403)


def test_the_live_token_decides(gateway: Callable[[Path, str], Gateway], tmp_path: Path) -> None:
    gw = gateway(tmp_path, TOKEN)
    old = {"authorization": f"Bearer {TOKEN}"}
    new = {"authorization": "Bearer adm-guard-rotated"}
    with TestClient(gw.admin, client=REMOTE) as client:
        assert client.get("/api/config", headers=old).status_code == 200
        client.cookies.set("gateway_dashboard", session_value(TOKEN), path="/dashboard")
        assert client.get("/dashboard/config", follow_redirects=False).status_code == 200
        write(tmp_path, "adm-guard-rotated")
        assert gw.live.apply(gw.live.compile()).ok
        assert client.get("/api/config", headers=old).status_code == 401
        assert client.get("/api/config", headers=new).status_code == 200
        # The old session was an HMAC of the old token: it ends with it.
        assert client.get("/dashboard/config", follow_redirects=False).status_code == 303
