"""The dashboard in a real browser against a gateway with real traffic: charts drawn from the embedded
data, cards, filtering the log, a detail page reached by clicking, the config page, a phone-sized
screen without sideways scrolling, the login form's cookie, and no console error (a CSP violation would
be one). Screenshots go to test-output/screenshots/ (docs/dashboard.png, in the README, is one of them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anthropic
import pytest

from tests.admin.dashboard.browser import SCREENSHOTS, chromium
from tests.admin.dashboard.conftest import ADMIN_TOKEN, TrafficFactory, wait_for_records
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHARTS = ("traffic", "tokens", "cost", "latency")
PAGES = ("/dashboard", "/dashboard/logs", "/dashboard/config")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = chromium()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield launched
        launched.close()


class Watched:
    """A page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Browser, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], self.problems


def shot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_pages_in_a_browser(browser: Browser, make_traffic: TrafficFactory) -> None:
    t = make_traffic()
    w = Watched(browser, viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = w.page

    # Overview: the cards count the traffic, every chart is drawn from data that has it.
    page.goto(t.gw.url + "/dashboard?range=1h")
    assert page.locator('[data-card="requests"] .card-value').inner_text() == str(t.requests)
    assert page.locator('[data-card="errors"] .card-value').inner_text() == str(t.errors)
    data = page.evaluate("JSON.parse(document.getElementById('chart-data').textContent)")
    assert sum(data["columns"]["requests"]) == t.requests
    assert sum(v for v in data["columns"]["cost_usd"]) > 0
    for chart in CHARTS:
        canvas = page.locator(f"#chart-{chart} canvas")
        canvas.wait_for()
        box = canvas.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100, chart
    # The top models' bars got their width from the script (no inline styles under the CSP).
    bar = page.locator(".top-table [data-share]").first.bounding_box()
    assert bar and bar["width"] > 0
    assert page.locator(".top-table .name", has_text="claude-metered").count() == 1
    shot(page, "overview")
    page.click("nav.segmented >> text=7d")
    assert page.url.endswith("range=7d")
    page.locator("#chart-traffic canvas").wait_for()
    assert page.locator('[data-card="requests"] .card-value').inner_text() == str(t.requests)

    # Logs: every request, then only the failing one through the filter form.
    page.click("nav.nav >> text=Logs")
    assert page.locator("#logs tbody tr").count() == t.requests
    shot(page, "logs")
    page.fill('input[name="status"]', "5xx")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboard/logs?*status=5xx*")
    rows = page.locator("#logs tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-id") == t.failed_id
    assert page.locator('input[name="status"]').input_value() == "5xx"
    shot(page, "logs-5xx")
    # By endpoint: the one Chat Completions call among the Messages calls.
    page.fill('input[name="status"]', "")
    page.select_option('select[name="endpoint"]', "chat")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboard/logs?*endpoint=chat*")
    assert rows.count() == 1 and rows.first.locator("td.endpoint").inner_text() == "chat"
    assert page.locator('select[name="endpoint"]').input_value() == "chat"

    # Detail: reached by clicking the fallback request's row; its attempts, in order.
    page.click("text=Clear")
    page.locator(f'#logs tr[data-id="{t.fallback_id}"] a.row-link').click()
    page.wait_for_url(f"**/dashboard/logs/{t.fallback_id}")
    attempts = page.locator("#attempts tbody tr")
    assert attempts.count() == 2
    assert "anthropic/claude-metered" in attempts.nth(0).inner_text()
    assert "openai/gpt-metered" in attempts.nth(1).inner_text()
    assert page.locator("#attempts [data-share]").nth(1).bounding_box()["width"] > 0  # type: ignore[index]
    assert page.locator("pre.body").count() == 2
    assert page.locator("#endpoint").inner_text() == "messages"
    shot(page, "detail")

    # Config: the gateways, routes and budgets of the live table.
    page.click("nav.nav >> text=Config")
    gateways = page.locator("#gateways tbody tr")
    assert gateways.count() == 2
    assert {gateways.nth(i).locator("td").first.inner_text() for i in range(2)} == {"default", "platform"}
    assert "dynamic/coding" in page.locator("#routes").inner_text()
    assert "team-monthly" in page.locator("#budgets").inner_text()
    shot(page, "config")
    w.close()

    # A phone: nothing makes the page scroll sideways (wide tables scroll inside their panel).
    phone = Watched(
        browser, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    for path in PAGES:
        phone.page.goto(t.gw.url + path)
        if path == "/dashboard":
            phone.page.locator("#chart-latency canvas").wait_for()
            box = phone.page.locator("#chart-traffic canvas").bounding_box()
            assert box and 200 < box["width"] <= 390
        overflow = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a 390px phone"
        shot(phone.page, "phone-" + {"/dashboard": "overview"}.get(path, path.rsplit("/", 1)[1]))
    phone.close()


def test_login_in_a_browser(browser: Browser, make_traffic: TrafficFactory) -> None:
    t = make_traffic(ADMIN_TOKEN)
    w = Watched(browser)
    page = w.page
    page.goto(t.gw.url + "/dashboard/logs?status=5xx")
    assert "/dashboard/login" in page.url
    shot(page, "login")
    page.fill('input[name="token"]', "wrong")
    page.click("button[type=submit]")
    assert "not the admin token" in page.inner_text(".banner")
    w.problems.clear()  # the 401 answer is logged by the browser as a failed resource
    page.fill('input[name="token"]', ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/logs?status=5xx")
    assert page.locator("#logs tbody tr").count() == 1
    (cookie,) = w.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
    assert ADMIN_TOKEN not in cookie["value"] and ADMIN_TOKEN not in page.content()
    page.click("text=Log out")
    page.wait_for_url("**/dashboard/login")
    assert w.context.cookies() == []
    w.close()


def test_guardrail_hits_in_a_browser(
    browser: Browser, make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    canary = "canary.browser@example.org"
    extra = "guardrails:\n  pii: { check: { builtin: [email] }, action: redact }\n"
    gateways = "gateways:\n  default: { auth: none, guardrails: [pii] }\n"
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra, gateway=gateways))
    sdk = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    for text in (f"mail {canary}", "nothing to see"):
        sdk.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": text}]
        )
    wait_for_records(gw, {}, 2)
    w = Watched(browser, viewport={"width": 1280, "height": 900})
    page = w.page
    page.goto(gw.url + "/dashboard/logs")
    page.fill('input[name="guardrail"]', "pii")
    page.click("form.filters button[type=submit]")
    rows = page.locator("#logs tr[data-id] a.row-link")
    assert rows.count() == 1
    rows.first.click()
    page.wait_for_url("**/dashboard/logs/*")
    assert page.locator("#guardrails").inner_text() == "pii (input: redact)"
    assert canary not in page.content()
    shot(page, "record-guardrails")
    w.close()
