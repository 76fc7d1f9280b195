"""Gateway tokens, provider_keys order, allow lists: over HTTP with the official SDKs."""

from __future__ import annotations

import hashlib

import anthropic
import httpx
import openai
import pytest

from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream

TEAM_TOKEN = "gw-team-token-canary-7f3a"
OTHER_TOKEN = "gw-other-token-canary-19c2"

GATEWAYS = f"""
gateways:
  default: {{ auth: none }}
  team:
    auth: tokens
    tokens:
      - {{ name: team-bot, secret: "{TEAM_TOKEN}", metadata: {{ team: t1 }} }}
      - {{ name: hashed, sha256: "{hashlib.sha256(OTHER_TOKEN.encode()).hexdigest()}" }}
    allow: [fast, "claude-*"]
    provider_keys: [stored]
  byok:
    auth: tokens
    tokens: [{{ name: dev, secret: "{TEAM_TOKEN}" }}]
    provider_keys: [request, stored]
"""


@pytest.fixture
def gw(make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream):  # type: ignore[no-untyped-def]
    return make_gateway(standard_config(anthropic_up, openai_up, gateway=GATEWAYS))


def test_gateway_token_in_any_of_the_three_headers(gw, anthropic_up: FakeUpstream) -> None:  # type: ignore[no-untyped-def]
    base = gw.url + "/g/team"
    msg = {"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    # Claude Code with ANTHROPIC_AUTH_TOKEN: Authorization: Bearer
    anthropic_client(base, key=None, auth_token=TEAM_TOKEN).messages.create(**msg)
    for headers in ({"x-api-key": OTHER_TOKEN}, {"x-gateway-key": TEAM_TOKEN}):
        resp = httpx.post(
            base + "/v1/messages", json=msg, headers={"anthropic-version": "2023-06-01", **headers}
        )
        assert resp.status_code == 200, resp.text
    for req in anthropic_up.requests:  # the gateway token never travels upstream
        assert req.headers["x-api-key"] == STORED_KEY
        assert TEAM_TOKEN not in str(req.headers) and OTHER_TOKEN not in str(req.headers)
    assert [r["token"] for r in gw.records(3)] == ["team-bot", "hashed", "team-bot"]


def test_wrong_or_missing_token_is_a_401_in_the_clients_envelope(gw, anthropic_up: FakeUpstream) -> None:  # type: ignore[no-untyped-def]
    base = gw.url + "/g/team"
    with pytest.raises(anthropic.AuthenticationError) as info:
        anthropic_client(base, key="wrong").messages.create(
            model="fast", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert "invalid gateway token for gateway 'team'" in str(info.value)
    with pytest.raises(openai.AuthenticationError) as oinfo:
        openai_client(base, key="wrong").chat.completions.create(
            model="gpt-5.2", messages=[{"role": "user", "content": "hi"}]
        )
    assert oinfo.value.code == "invalid_api_key"
    resp = httpx.post(base + "/v1/messages", json={"model": "fast"}, headers={"authorization": "Basic abc"})
    assert resp.status_code == 401 and "requires a gateway token" in resp.json()["error"]["message"]
    resp = httpx.get(base + "/v1/models")
    assert resp.status_code == 401
    assert anthropic_up.requests == []


def test_allow_list_limits_models(gw) -> None:  # type: ignore[no-untyped-def]
    client = openai_client(gw, "/g/team/v1", key=TEAM_TOKEN)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="gpt-5.2", messages=[{"role": "user", "content": "hi"}])
    assert "not allowed on gateway 'team' (allow: fast, claude-*)" in str(info.value)
    assert [m.id for m in client.models.list()] == ["fast"]


def test_provider_keys_request_first_with_a_token_and_a_client_key(  # type: ignore[no-untyped-def]
    gw, anthropic_up: FakeUpstream
) -> None:
    base = gw.url + "/g/byok/v1/messages"
    msg = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"anthropic-version": "2023-06-01", "x-gateway-key": TEAM_TOKEN}
    httpx.post(base, json=msg, headers={**headers, "x-api-key": "sk-ant-mine"})
    assert anthropic_up.requests[-1].headers["x-api-key"] == "sk-ant-mine"
    httpx.post(base, json=msg, headers=headers)  # no client key: falls back to the stored one
    assert anthropic_up.requests[-1].headers["x-api-key"] == STORED_KEY
    assert [r["key"] for r in gw.records(2)] == ["request", "key:anthropic-main"]
