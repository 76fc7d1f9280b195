"""The dashboard's pages over plain HTTP against a gateway with real traffic: what each page shows,
escaping of logged values, filters, errors, and that no secret reaches any page."""

from __future__ import annotations

import html
import json
import re

import anthropic
import httpx

from tests.admin.dashboard.conftest import ADMIN_TOKEN, TrafficFactory, records, wait_for_records
from tests.conftest import STORED_KEY, GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script

PAGES = ("/dashboard", "/dashboard?range=1h", "/dashboard?range=7d", "/dashboard/logs", "/dashboard/config")


def chart_data(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    assert found, "the overview embeds its chart data"
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_overview_cards_charts_and_tops(make_traffic: TrafficFactory) -> None:
    t = make_traffic()
    for range_key in ("1h", "24h", "7d"):
        page = httpx.get(t.gw.url + "/dashboard", params={"range": range_key})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        data = chart_data(page.text)
        columns = data["columns"]
        assert isinstance(columns, dict)
        assert sum(columns["requests"]) == t.requests and sum(columns["errors"]) == t.errors
        assert sum(columns["input_tokens"]) > 0 and sum(columns["cost_usd"]) > 0
        assert any(v is not None for v in columns["latency_ms_p95"])
        assert len(columns["x"]) == len(columns["requests"]) > 20
        card = re.search(r'data-card="requests">.*?card-value">([^<]+)<', page.text, re.S)
        assert card and card.group(1) == str(t.requests)
    # Top models and routes, by requests.
    assert re.search(r'class="name">claude-metered</span>', page.text)
    assert re.search(r'class="name">coding</span>', page.text)
    # One cache HIT out of the cacheable requests.
    assert re.search(r'data-card="cache">.*?card-value">\d+\.\d%<', page.text, re.S)


def test_logs_table_filters_and_detail(make_traffic: TrafficFactory) -> None:
    t = make_traffic()
    page = httpx.get(t.gw.url + "/dashboard/logs").text
    assert page.count('class="row-link"') == t.requests
    failing = httpx.get(t.gw.url + "/dashboard/logs", params={"status": "5xx"}).text
    assert re.findall(r'data-id="([^"]+)"', failing) == [t.failed_id]
    red = httpx.get(t.gw.url + "/dashboard/logs", params={"metadata": "team=red"}).text
    assert red.count('class="row-link"') == 2
    # The /api/logs spelling works too, and fills the free-text field.
    blue = httpx.get(t.gw.url + "/dashboard/logs", params={"metadata.team": "blue"}).text
    assert blue.count('class="row-link"') == 1 and 'value="team=blue"' in blue
    assert httpx.get(t.gw.url + "/dashboard/logs", params={"provider": "openai"}).text.count("row-link") == 2
    chat = httpx.get(t.gw.url + "/dashboard/logs", params={"endpoint": "chat"}).text
    assert chat.count("row-link") == 1 and '<option value="chat" selected>' in chat
    assert re.findall(r'<td class="endpoint">(\w+)</td>', chat) == ["chat"]
    assert (
        httpx.get(t.gw.url + "/dashboard/logs", params={"endpoint": "messages"}).text.count("row-link") == 5
    )
    # Pagination: two per page through the same filters, "older" follows next_cursor.
    first = httpx.get(t.gw.url + "/dashboard/logs", params={"limit": "2"}).text
    seen = re.findall(r'data-id="([^"]+)"', first)
    older = re.search(r'href="([^"]+)" rel="next"', first)
    while older:
        nxt = httpx.get(t.gw.url + html.unescape(older.group(1))).text
        assert nxt.count('class="row-link"') <= 2
        seen += re.findall(r'data-id="([^"]+)"', nxt)
        older = re.search(r'href="([^"]+)" rel="next"', nxt)
    assert len(seen) == len(set(seen)) == t.requests
    # Detail: the fallback's two attempts, the metadata, and the logged bodies.
    detail = httpx.get(t.gw.url + f"/dashboard/logs/{t.fallback_id}").text
    attempts = re.search(r'<table class="table attempts".*?</table>', detail, re.S)
    assert (
        attempts
        and "anthropic/claude-metered" in attempts.group(0)
        and "openai/gpt-metered" in attempts.group(0)
    )
    assert attempts.group(0).count("<tr>") == 3  # the head row and two attempts
    assert "Fix my code." in detail and "Request body" in detail and "Response body" in detail
    assert '<dd id="endpoint">messages</dd>' in detail
    red_id = re.findall(r'data-id="([^"]+)"', red)[0]
    assert re.search(r"<dt>team</dt><dd>red</dd>", httpx.get(t.gw.url + f"/dashboard/logs/{red_id}").text)


def test_bad_filters_and_unknown_records_answer_with_a_page(make_traffic: TrafficFactory) -> None:
    t = make_traffic()
    bad = httpx.get(t.gw.url + "/dashboard/logs", params={"since": "last tuesday"})
    assert bad.status_code == 400 and "is not a time" in bad.text
    meta = httpx.get(t.gw.url + "/dashboard/logs", params={"metadata": "no-equals-sign"})
    assert meta.status_code == 400 and "key=value" in meta.text
    missing = httpx.get(t.gw.url + "/dashboard/logs/nope")
    assert missing.status_code == 404 and "No such request" in missing.text
    assert httpx.get(t.gw.url + "/dashboard/logs", params={"cursor": "garbage!"}).status_code == 400


def test_config_page_lists_gateways_routes_providers_budgets(make_traffic: TrafficFactory) -> None:
    t = make_traffic()
    page = httpx.get(t.gw.url + "/dashboard/config").text
    version = httpx.get(t.gw.url + "/readyz").json()["config_version"]
    assert f'id="config-version">{version}<' in page
    for name in ("<strong>default</strong>", "<strong>platform</strong>", "dynamic/coding"):
        assert name in page
    assert "<strong>anthropic</strong>" in page and "<strong>openai</strong>" in page
    budgets = re.search(r'id="budgets">.*?</section>', page, re.S)
    assert budgets and "team-monthly" in budgets.group(0)
    spent = httpx.get(t.gw.url + "/api/budgets").json()["data"][0]["counters"][0]["spent_usd"]
    assert spent != "0" and spent in budgets.group(0).replace("$", "")
    circuits = re.search(r'id="circuits">.*?</section>', page, re.S)
    assert circuits and "anthropic/claude-metered" in circuits.group(0)


def test_config_page_says_when_the_state_store_is_down(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    extra = """
budgets:
  b1: { usd: 10, period: day }
state: { store: "redis://127.0.0.1:9/0", on_unavailable: open }
"""
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra))
    page = httpx.get(gw.url + "/dashboard/config", timeout=20)
    assert page.status_code == 200
    budgets = re.search(r'id="budgets">.*?</section>', page.text, re.S)
    assert budgets and "state store unavailable" in budgets.group(0) and "b1" in budgets.group(0)


def test_logged_markup_is_shown_escaped_and_never_evaluated(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    payload = "<script>alert(1)</script>{{ 7*7 }}{% raw %}"
    gw = make_gateway(standard_config(anthropic_up, openai_up, "logs: { bodies: true }"))
    anthropic_up.push(Script(text=payload))
    sdk = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    sdk.messages.create(
        model="claude-" + payload,
        max_tokens=10,
        messages=[{"role": "user", "content": payload}],
        extra_headers={"x-gateway-metadata": json.dumps({payload: payload})},
    )
    (record,) = wait_for_records(gw, {}, 1)
    assert payload in record["model"]
    pages = [
        httpx.get(gw.url + "/dashboard").text,
        httpx.get(gw.url + "/dashboard/logs").text,
        httpx.get(gw.url + f"/dashboard/logs/{record['id']}").text,
        # Query parameters echoed back into the filter form.
        httpx.get(gw.url + "/dashboard/logs", params={"model": payload, "metadata": f"k={payload}"}).text,
    ]
    for page in pages:
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}{% raw %}" in page
        assert "&lt;/script&gt;49" not in page


def test_no_secret_reaches_any_page(make_traffic: TrafficFactory) -> None:
    t = make_traffic(ADMIN_TOKEN)
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    ids = [r["id"] for r in records(t.gw, auth)]
    urls = [*PAGES, "/dashboard/login", *(f"/dashboard/logs/{i}" for i in ids)]
    for url in urls:
        for headers in (auth, {}):
            answer = httpx.get(t.gw.url + url, headers=headers, follow_redirects=True)
            assert STORED_KEY not in answer.text and ADMIN_TOKEN not in answer.text, url
            assert ADMIN_TOKEN not in str(answer.url)
            assert STORED_KEY not in str(answer.headers) and ADMIN_TOKEN not in str(answer.headers)


def test_request_detail_shows_guardrail_hits_never_the_matched_text(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    canary = "canary.dash@example.org"
    extra = """
logs: { bodies: true }
guardrails:
  pii: { check: { builtin: [email] }, action: redact }
  watch: { check: { regex: ['ticket-[0-9]{4}'] }, action: flag }
"""
    gateways = "gateways:\n  default: { auth: none, guardrails: [pii, watch] }\n"
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra, gateway=gateways))
    sdk = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    sdk.messages.create(
        model="claude-haiku-4-5",
        max_tokens=10,
        messages=[{"role": "user", "content": f"mail {canary} about ticket-1234"}],
    )
    sdk.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    hit, plain = sorted(wait_for_records(gw, {}, 2), key=lambda r: not r.get("guardrails"))
    detail = httpx.get(gw.url + f"/dashboard/logs/{hit['id']}").text
    found = re.search(r'<dd id="guardrails">(.*?)</dd>', detail, re.S)
    assert found and re.sub(r"<[^>]+>", "", found.group(0)) == "pii (input: redact), watch (input: flag)"
    assert "[REDACTED:email]" in detail  # the logged body holds the redaction
    other = re.search(
        r'<dd id="guardrails">(.*?)</dd>', httpx.get(gw.url + f"/dashboard/logs/{plain['id']}").text
    )
    assert other and other.group(1) == "\u2013"  # the page's dash for none
    listed = httpx.get(gw.url + "/dashboard/logs", params={"guardrail": "watch"}).text
    assert re.findall(r'data-id="([^"]+)"', listed) == [hit["id"]]
    for url in ("/dashboard", "/dashboard/logs", f"/dashboard/logs/{hit['id']}"):
        assert canary not in httpx.get(gw.url + url).text
