"""Who sees the dashboard: the admin API's rule, plus the login form's session cookie for browsers."""

from __future__ import annotations

import re
import time

import httpx
from starlette.testclient import TestClient

from gateway.admin.dashboard.auth import (
    LOGIN_FAILURES_PER_CLIENT,
    LOGIN_WINDOW,
    LoginThrottle,
    token_matches,
)
from gateway.admin.guard import same_secret
from tests.admin.dashboard.conftest import ADMIN_TOKEN
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream

SERVER = f"server: {{ admin_token: {ADMIN_TOKEN} }}\n"


def test_token_login_cookie_and_bearer(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, SERVER))
    with httpx.Client(base_url=gw.url) as browser:
        # No credentials: every page sends the browser to the login form, remembering where it was.
        for path in ("/dashboard", "/dashboard/logs?status=5xx", "/dashboard/logs/x", "/dashboard/config"):
            answer = browser.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/dashboard/login?next=%2Fdashboard")
        form = browser.get("/dashboard/login?next=%2Fdashboard%2Fconfig")
        assert form.status_code == 200 and 'type="password" name="token"' in form.text
        assert 'name="next" value="/dashboard/config"' in form.text
        # A wrong token: the form again, an error, no cookie.
        wrong = browser.post("/dashboard/login", data={"token": "not-it", "next": "/dashboard/config"})
        assert wrong.status_code == 401 and "not the admin token" in wrong.text
        assert "set-cookie" not in wrong.headers and "not-it" not in wrong.text
        assert browser.get("/dashboard").status_code == 303
        # The right one: a session cookie (not the token itself) and back to where the user was going.
        right = browser.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": "/dashboard/config"})
        assert right.status_code == 303 and right.headers["location"] == "/dashboard/config"
        cookie = right.headers["set-cookie"]
        assert re.search(r"(?i)httponly", cookie) and re.search(r"(?i)samesite=strict", cookie)
        assert "Path=/dashboard" in cookie and ADMIN_TOKEN not in cookie
        page = browser.get("/dashboard/config")
        assert page.status_code == 200 and "<strong>default</strong>" in page.text
        assert ">Log out</button>" in page.text
        # The cookie opens the dashboard only, never the admin API.
        assert browser.get("/api/config").status_code == 401
        # Logging in while logged in just goes on; logging out ends the session.
        assert browser.get("/dashboard/login").status_code == 303
        out = browser.post("/dashboard/logout")
        assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
        assert browser.get("/dashboard").status_code == 303
    # Bearer works as for the admin API; a wrong one does not.
    ok = httpx.get(gw.url + "/dashboard", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200 and "Overview" in ok.text
    assert httpx.get(gw.url + "/dashboard", headers={"authorization": "Bearer nope"}).status_code == 303
    # A forged cookie (the raw token, or anything else) is no session.
    for forged in (ADMIN_TOKEN, "0" * 64):
        answer = httpx.get(gw.url + "/dashboard", cookies={"gateway_dashboard": forged})
        assert answer.status_code == 303
    # Static files hold no data and the login page needs them.
    assert httpx.get(gw.url + "/dashboard/static/dashboard.css").status_code == 200


def test_login_never_redirects_off_the_dashboard(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, SERVER))
    for target in (
        "https://evil.example/",
        "//evil.example/dashboard",
        "/api/config",
        "/dashboard//evil",
        "/dashboard/../api/config",
    ):
        answer = httpx.post(gw.url + "/dashboard/login", data={"token": ADMIN_TOKEN, "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard", target
    # Only a small urlencoded form is read.
    big = httpx.post(gw.url + "/dashboard/login", data={"token": "x" * 10_000})
    assert big.status_code == 400
    assert httpx.post(gw.url + "/dashboard/login", json={"token": ADMIN_TOKEN}).status_code == 400


def test_without_a_token_only_loopback_clients_get_in(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up))
    assert httpx.get(gw.url + "/dashboard").status_code == 200  # the test talks over loopback
    # No form to fill in: the login page goes straight on.
    assert httpx.get(gw.url + "/dashboard/login").status_code == 303
    admin = gw.app.admin
    with TestClient(admin, client=("203.0.113.9", 50000)) as remote:
        for path in ("/dashboard", "/dashboard/logs", "/dashboard/config"):
            answer = remote.get(path, follow_redirects=False)
            assert answer.status_code == 403 and "loopback only" in answer.text.lower(), path
        assert remote.get("/dashboard", headers={"authorization": "Bearer x"}).status_code == 403
    with TestClient(admin, client=("127.0.0.1", 50000)) as local:
        assert local.get("/dashboard/config").status_code == 200


def test_failed_logins_are_throttled_per_client(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, SERVER))
    views = gw.app.admin.dashboard_refusal.__self__  # the dashboard's Views, which hold the throttle
    throttle: LoginThrottle = views.login_throttle
    login = gw.url + "/dashboard/login"
    for attempt in range(LOGIN_FAILURES_PER_CLIENT):
        assert httpx.post(login, data={"token": f"guess-{attempt}"}).status_code == 401, attempt
    # Past the limit every attempt is refused unchecked, the right token too: a guess gains nothing.
    for token in ("guess-again", ADMIN_TOKEN):
        refused = httpx.post(login, data={"token": token})
        assert refused.status_code == 429, token
        wait = int(refused.headers["retry-after"])
        assert 0 < wait <= LOGIN_WINDOW and f"Try again in {wait} seconds" in refused.text
        assert "set-cookie" not in refused.headers and token not in refused.text
    # Bearer access (the API, the dashboard) is not throttled: the admin is never locked out.
    bearer = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    assert httpx.get(gw.url + "/dashboard", headers=bearer).status_code == 200
    # Another client address is still checked as usual.
    with TestClient(gw.app.admin, client=("203.0.113.9", 50000)) as remote:
        assert remote.post("/dashboard/login", data={"token": "nope"}).status_code == 401
        ok = remote.post("/dashboard/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
        assert ok.status_code == 303
    # Once the failures age out of the window, the right token works again (a short window, to wait less).
    throttle.window = 1.0
    time.sleep(1.1)
    again = httpx.post(login, data={"token": ADMIN_TOKEN})
    assert again.status_code == 303 and "set-cookie" in again.headers


def test_login_throttle_window_and_overall_limit() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_client=3, overall=5, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("a") is None
        throttle.failed("a")
        now[0] += 10
    assert throttle.retry_after("a") == 60 - 30  # until the oldest failure leaves the window
    assert throttle.retry_after("b") is None
    # A success forgets the client's failures (it knew the token), not the overall count.
    throttle.failed("b")
    throttle.succeeded("b")
    assert throttle.retry_after("b") is None
    # Failures from many addresses add up: past `overall`, everyone waits.
    throttle.failed("c")
    assert throttle.retry_after("d") == 30
    assert throttle.retry_after("a") == 30
    now[0] += 30  # the first failure ages out: one slot free overall, "a" has two failures left
    assert throttle.retry_after("d") is None and throttle.retry_after("a") is None
    # Memory stays bounded however many addresses fail.
    for n in range(1000):
        now[0] += 61
        throttle.failed(f"client-{n}")
    assert len(throttle._clients) <= 5 + 1 and len(throttle._all) <= 5


def test_token_comparison_is_constant_time_in_length_too() -> None:
    """The admin token is compared as digests of one size: a wrong length takes the same path as a
    wrong character (the raw compare_digest returns early on a length mismatch)."""
    assert same_secret(ADMIN_TOKEN, ADMIN_TOKEN)
    for wrong in ("", ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", ADMIN_TOKEN.upper(), "\udcff"):
        assert not same_secret(wrong, ADMIN_TOKEN)
    assert not token_matches(ADMIN_TOKEN, "")  # no token configured: no login at all
