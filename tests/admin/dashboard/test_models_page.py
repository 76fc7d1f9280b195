"""The dashboard's Models page: a gateway's model catalogue per provider with prices and context windows,
over plain HTTP (contents, filters, escaping, access) and in Debian's Chromium (nav link, a phone-sized
screen without sideways scrolling, no console error)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.admin.dashboard.browser import SCREENSHOTS, chromium
from tests.admin.dashboard.conftest import ADMIN_TOKEN
from tests.conftest import GatewayFactory

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CONFIG = """\
version: 1
providers:
  anthropic: { type: anthropic }
  bedrock:   { type: bedrock, region: us-east-1 }
  groq:      { type: groq }
  ollama:    { type: ollama }
models:
  fast: anthropic/claude-haiku-4-5
routes:
  coding: { fallback: [anthropic/claude-opus-4-8, bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0] }
pricing:
  "ollama/<b>llama</b>": { input: 0, output: 0 }
gateways:
  default: {}
  narrow: { allow: [fast, "groq/*"] }
"""


def rows(page: str, section: str) -> list[str]:
    found = re.search(rf'id="{section}".*?</section>', page, re.S)
    assert found, section
    return re.findall(r'<tr data-model="([^"]+)"', found.group(0))


def test_models_page_lists_the_catalogue(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(CONFIG)
    answer = httpx.get(gw.url + "/dashboard/models", timeout=30)
    assert answer.status_code == 200 and "script-src 'self'" in answer.headers["content-security-policy"]
    page = answer.text
    assert 'href="/dashboard/models" aria-current="page"' in page
    assert rows(page, "configured") == [
        "fast",
        "dynamic/coding",
        "anthropic/claude-haiku-4-5",
        "anthropic/claude-opus-4-8",
        "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
    ]
    # fast: Claude Haiku 4.5's context window and prices; the route has no single target.
    fast = re.search(r'<tr data-model="fast">(.*?)</tr>', page, re.S)
    assert fast and "anthropic/claude-haiku-4-5" in fast.group(1)
    assert (
        'title="200,000 tokens">200k<' in fast.group(1) and "$1<" in fast.group(1) and "$5<" in fast.group(1)
    )
    assert "decided per request" in page
    bedrock = rows(page, "provider-bedrock")
    assert "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0" in bedrock and len(bedrock) > 50
    assert len(rows(page, "provider-groq")) > 10 and rows(page, "provider-anthropic")
    # A pricing: key with markup is a name like any other: escaped, never markup.
    assert rows(page, "provider-ollama") == [html.escape("ollama/<b>llama</b>", quote=True)]
    assert "<b>llama</b>" not in page
    # The long list starts closed, the short ones open.
    assert re.search(r'id="provider-bedrock".*?<details>', page, re.S)
    assert re.search(r'id="provider-ollama".*?<details open>', page, re.S)


def test_models_page_filters(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(CONFIG)
    page = httpx.get(gw.url + "/dashboard/models", params={"provider": "bedrock", "q": "sonnet-4-5"}).text
    assert rows(page, "configured") == ["bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"]
    found = rows(page, "provider-bedrock")
    assert found and all("sonnet-4-5" in r for r in found)
    assert 'id="provider-groq"' not in page
    narrow = httpx.get(gw.url + "/dashboard/models", params={"gateway": "narrow"}).text
    assert rows(narrow, "configured") == ["fast"]
    assert rows(narrow, "provider-bedrock") == [] and len(rows(narrow, "provider-groq")) > 10
    missing = httpx.get(gw.url + "/dashboard/models", params={"gateway": "<nope>"})
    assert missing.status_code == 404 and "&lt;nope&gt;" in missing.text


def test_models_page_needs_the_admin_token(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(CONFIG + f"server: {{ admin_token: {ADMIN_TOKEN} }}\n")
    away = httpx.get(gw.url + "/dashboard/models")
    assert away.status_code == 303 and away.headers["location"].startswith("/dashboard/login")
    ok = httpx.get(gw.url + "/dashboard/models", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200 and ADMIN_TOKEN not in ok.text


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = chromium()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield launched
        launched.close()


PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def test_models_page_in_a_browser(browser: Browser, make_gateway: GatewayFactory) -> None:
    gw = make_gateway(CONFIG)
    visit(browser, gw.url, "models", {"viewport": {"width": 1280, "height": 900}})
    visit(browser, gw.url, "phone-models", PHONE)


def visit(browser: Browser, url: str, name: str, context: dict[str, Any]) -> None:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url + "/dashboard/logs")
    page.click("nav.nav >> text=Models")
    page.wait_for_url("**/dashboard/models")
    assert page.locator("#configured tbody tr").count() == 5
    # A closed provider opens on a tap, and its rows are then visible.
    page.locator("#provider-bedrock summary").click()
    assert page.locator("#provider-bedrock tbody tr").first.is_visible()
    page.select_option('select[name="provider"]', "groq")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboard/models?*provider=groq*")
    assert page.locator("section[data-provider]").count() == 1
    page.goto(url + "/dashboard/models")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    ctx.close()
    assert problems == [], problems
