"""A real gateway with real traffic for the dashboard tests: SDK calls to the fake upstreams, with
prices (so costs are not zero), an upstream 500, a fallback, a stream, a cache hit and metadata."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

ADMIN_TOKEN = "admin-token-canary-4471-qwertyuiop"
EXTRA = """
pricing:
  anthropic/claude-metered: { input: 3, output: 15 }
  openai/gpt-metered: { input: 1, output: 4 }
logs: { bodies: true }
routes:
  coding: { fallback: [anthropic/claude-metered, openai/gpt-metered] }
budgets:
  team-monthly: { usd: 100, period: month }
"""
GATEWAYS = """
gateways:
  default: { auth: none, provider_keys: [stored, request], budgets: [team-monthly], cache: { ttl: 10m } }
  platform: { auth: none, provider_keys: [stored] }
"""


@dataclass
class Traffic:
    gw: GatewayServer
    requests: int  # records the log holds once everything landed
    errors: int  # of them with status >= 400
    failed_id: str  # the one request that ended in an upstream 500
    fallback_id: str  # the dynamic/coding request: a 500, then a 200 from the second target
    headers: dict[str, str]  # what admin calls need (a Bearer token when one is set)


def records(gw: GatewayServer, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    answer = httpx.get(gw.url + "/api/logs", params={"limit": "500", **params}, headers=headers, timeout=10)
    answer.raise_for_status()
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def wait_for_records(gw: GatewayServer, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        found = records(gw, headers)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, f"expected {count} records, the log has {len(found)}"
            return found
        time.sleep(0.05)


def send_traffic(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, headers: dict[str, str]
) -> Traffic:
    claude = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    gpt = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    ask: Any = [{"role": "user", "content": "What is the capital of France?"}]

    anthropic_up.push(Script(usage={"input_tokens": 1200, "output_tokens": 300}, text="Paris."))
    claude.messages.create(
        model="claude-metered",
        max_tokens=200,
        messages=ask,
        extra_headers={"x-gateway-metadata": '{"team": "red", "user": "ada"}'},
    )
    # The same request again: answered from the cache (a HIT, cost 0).
    claude.messages.create(
        model="claude-metered",
        max_tokens=200,
        messages=ask,
        extra_headers={"x-gateway-metadata": '{"team": "red", "user": "ada"}'},
    )
    openai_up.push(Script(usage={"prompt_tokens": 800, "completion_tokens": 150}))
    gpt.chat.completions.create(
        model="gpt-metered",
        messages=[{"role": "user", "content": "Summarise the French revolution."}],
        extra_headers={"x-gateway-metadata": '{"team": "blue"}', "x-gateway-skip-cache": "true"},
    )
    anthropic_up.push(Script(usage={"input_tokens": 2000, "output_tokens": 640}))
    with claude.messages.stream(
        model="claude-metered", max_tokens=800, messages=[{"role": "user", "content": "Write a poem."}]
    ) as stream:
        stream.get_final_message()
    anthropic_up.push(Script(status=500, error_message="upstream exploded"))
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(
            model="claude-metered",
            max_tokens=100,
            messages=[{"role": "user", "content": "This one fails."}],
            extra_headers={"x-gateway-skip-cache": "true"},
        )
    anthropic_up.push(Script(status=500))
    openai_up.push(Script(usage={"prompt_tokens": 300, "completion_tokens": 90}))
    routed = claude.with_options(base_url=gw.url + "/g/platform").messages.with_raw_response.create(
        model="dynamic/coding", max_tokens=300, messages=[{"role": "user", "content": "Fix my code."}]
    )
    found = wait_for_records(gw, headers, 6)
    failed = [r for r in found if r["status"] == 500]
    assert len(failed) == 1
    return Traffic(
        gw=gw,
        requests=6,
        errors=1,
        failed_id=failed[0]["id"],
        fallback_id=routed.headers["x-gateway-request-id"],
        headers=headers,
    )


TrafficFactory = Callable[..., Traffic]


@pytest.fixture
def make_traffic(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> TrafficFactory:
    """make_traffic(admin_token="") -> a gateway that has served the mix above, all of it logged."""

    def factory(admin_token: str = "") -> Traffic:
        server = f"\nserver: {{ admin_token: {admin_token} }}\n" if admin_token else ""
        gw = make_gateway(standard_config(anthropic_up, openai_up, EXTRA + server, gateway=GATEWAYS))
        headers = {"authorization": f"Bearer {admin_token}"} if admin_token else {}
        return send_traffic(gw, anthropic_up, openai_up, headers)

    return factory
