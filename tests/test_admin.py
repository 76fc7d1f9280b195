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
