"""POST /api/explain through a running gateway: admin auth, the decision, and no upstream call."""

from __future__ import annotations

import httpx

from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream

ROUTES = """
server: { admin_token: adm-explain-77 }
routes:
  support:
    switch:
      - when: { metadata.tier: enterprise }
        to: { fallback: [anthropic/claude-sonnet-4-5, openai/gpt-5.2] }
    default:
      split:
        - { weight: 90, to: anthropic/claude-haiku-4-5 }
        - { weight: 10, to: openai/gpt-5-mini }
      sticky: metadata.user
"""
AUTH = {"authorization": "Bearer adm-explain-77"}


def test_api_explain(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra=ROUTES))
    url = gw.url + "/api/explain"
    assert httpx.post(url, json={"model": "dynamic/support"}).status_code == 401

    resp = httpx.post(
        url, headers=AUTH, json={"model": "dynamic/support", "metadata": {"tier": "enterprise"}}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["candidates"] == [
        {
            "target": "anthropic/claude-sonnet-4-5",
            "route": "support",
            "on": ["429", "5xx", "timeout", "connect"],
        },
        {"target": "openai/gpt-5.2", "route": "support", "on": None},
    ]
    assert body["splits"] == [] and body["lines"][-1].startswith("-> anthropic/claude-sonnet-4-5, then")

    resp = httpx.post(url, headers=AUTH, json={"model": "dynamic/support", "metadata": {"user": "u1"}})
    split = resp.json()["splits"][0]
    assert [(b["target"], b["p"]) for b in split["branches"]] == [
        ("anthropic/claude-haiku-4-5", 0.9),
        ("openai/gpt-5-mini", 0.1),
    ]
    assert split["sticky"] == "metadata.user" and 'sticky metadata.user="u1"' in split["how"]
    again = httpx.post(url, headers=AUTH, json={"model": "dynamic/support", "metadata": {"user": "u1"}})
    assert again.json()["candidates"] == resp.json()["candidates"]

    missing = httpx.post(url, headers=AUTH, json={"model": "nope"})
    assert missing.status_code == 404 and "unknown model 'nope'" in missing.json()["error"]
    assert httpx.post(url, headers=AUTH, json={"metadata": {}}).status_code == 400
    assert httpx.post(url, headers=AUTH, json={"model": "fast", "stream": "yes"}).status_code == 400
    assert httpx.post(url, headers=AUTH, content=b"not json").status_code == 400
    assert anthropic_up.requests == [] and openai_up.requests == []


def test_budget_and_limit_views_need_the_admin_token(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            extra="""
server: { admin_token: adm-views-31 }
budgets:
  monthly: { usd: 25, period: month, by: metadata.team, warn_at: 0.9 }
""",
            gateway="""
gateways:
  default: { auth: none, rate_limits: [{ requests: 5, per: 1m }] }
""",
        )
    )
    for path in ("/api/budgets", "/api/limits"):
        assert httpx.get(gw.url + path).status_code == 401
    auth = {"authorization": "Bearer adm-views-31"}
    (budget,) = httpx.get(gw.url + "/api/budgets", headers=auth).json()["data"]
    assert budget["name"] == "monthly" and budget["limit_usd"] == "25" and budget["by"] == "metadata.team"
    assert budget["current_period"].count("-") == 1 and budget["reset"].endswith("T00:00:00Z")
    assert budget["counters"] == []
    (limit,) = httpx.get(gw.url + "/api/limits", headers=auth).json()["data"]
    assert limit == {
        "gateway": "default",
        "limit": "5 requests per 1m",
        "requests": 5,
        "per": "1m",
        "by": None,
        "windows": [],
    }


def test_the_store_password_never_shows(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    from tests.gateway_server import free_port

    canary = "redis-canary-pass-4417"
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            extra=f"""
state: {{ store: "redis://:{canary}@127.0.0.1:{free_port()}/0" }}
budgets:
  monthly: {{ usd: 25, period: month }}
""",
            gateway="""
gateways:
  default: { auth: none, budgets: [monthly] }
""",
        )
    )
    config = httpx.get(gw.url + "/api/config").json()
    assert config["state"]["store"].startswith("redis://:***@127.0.0.1:")
    ready = httpx.get(gw.url + "/readyz")
    refused = httpx.post(
        gw.url + "/v1/messages",
        json={"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert ready.status_code == 503 and refused.status_code == 503
    budgets = httpx.get(gw.url + "/api/budgets")
    assert budgets.status_code == 503
    shown = [str(config), ready.text, refused.text, budgets.text, str(gw.records(wait_for=1))]
    assert all(canary not in text for text in shown)
