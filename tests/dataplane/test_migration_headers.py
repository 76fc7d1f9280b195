"""Headers of Cloudflare AI Gateway and Portkey work as aliases of ours, for people migrating."""

from __future__ import annotations

import time

import anthropic
import httpx
import pytest

from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script

TOKEN = "gw-migration-token-2291"


@pytest.fixture
def gw_url(make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> str:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            """
routes:
  tiered:
    switch:
      - when: { metadata.tier: enterprise }
        to: anthropic/claude-opus-4-8
    default: anthropic/claude-haiku-4-5
""",
            gateway=f"""
gateways:
  default: {{ auth: none }}
  team:
    auth: tokens
    tokens: [{{ name: app, secret: {TOKEN}, metadata: {{ team: web }} }}]
""",
        )
    )
    return gw.url


def test_cf_aig_authorization_carries_the_gateway_token(gw_url: str, anthropic_up: FakeUpstream) -> None:
    anthropic_up.push(Script(text="ok"))
    sdk = anthropic_client(
        gw_url, "/g/team", key="unused", default_headers={"cf-aig-authorization": f"Bearer {TOKEN}"}
    )
    sdk.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    sent = anthropic_up.requests[-1].headers
    assert not any(k.lower().startswith("cf-aig-") for k in sent)  # never forwarded
    assert sent.get("x-api-key") == STORED_KEY
    wrong = anthropic_client(
        gw_url, "/g/team", key="unused", default_headers={"cf-aig-authorization": "nope"}
    )
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


@pytest.mark.parametrize("header", ["cf-aig-metadata", "x-portkey-metadata", "x-gateway-metadata"])
def test_metadata_aliases_route_and_are_logged(gw_url: str, anthropic_up: FakeUpstream, header: str) -> None:
    anthropic_up.push(Script(text="ok"))
    r = httpx.post(
        gw_url + "/v1/messages",
        json={"model": "dynamic/tiered", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01", header: '{"tier": "enterprise"}'},
    )
    assert r.status_code == 200 and r.headers["x-gateway-model"] == "anthropic/claude-opus-4-8"
    assert not any(k.lower() == header for k in anthropic_up.requests[-1].headers)
    url = gw_url + f"/api/logs/{r.headers['x-gateway-request-id']}"
    deadline = time.monotonic() + 5
    while (record := httpx.get(url)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.05)  # the log store writes in batches
    assert record.json()["metadata"] == {"tier": "enterprise"}


def test_cf_aig_cache_ttl_turns_the_cache_on(gw_url: str, anthropic_up: FakeUpstream) -> None:
    anthropic_up.push(Script(text="cached once"))
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "cache me"}],
    }
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "cf-aig-cache-ttl": "60"}
    first = httpx.post(gw_url + "/v1/messages", json=body, headers=headers)
    second = httpx.post(gw_url + "/v1/messages", json=body, headers=headers)
    assert [first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]] == ["MISS", "HIT"]
    assert second.json() == first.json() and len(anthropic_up.requests) == 1
