"""Gateway rate limits end to end: x-ratelimit-* headers, 429 with retry-after in each client's format,
`by` counters, token windows from real usage, route gates, two processes sharing Redis, /api/limits."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def limited(anthropic_up: FakeUpstream, openai_up: FakeUpstream, limits: str, store: str = "memory") -> str:
    return standard_config(
        anthropic_up,
        openai_up,
        f"state: {{ store: '{store}' }}\n",
        gateway=f"""
gateways:
  default:
    auth: none
    rate_limits: {limits}
""",
    )


def message(model: str = "claude-haiku-4-5") -> dict[str, object]:
    return {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def test_requests_limit_headers_and_429_in_both_formats(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(limited(anthropic_up, openai_up, "[{ requests: 3, per: 10s }]"))
    # The upstream's own limit headers describe its key, not this gateway: ours replace them.
    for _ in range(3):
        anthropic_up.push(Script(headers={"x-ratelimit-limit-requests": "9999"}))
    sdk = anthropic_client(gw)
    remaining = []
    for _ in range(3):
        raw = sdk.messages.with_raw_response.create(**message())  # type: ignore[arg-type]
        assert raw.headers.get_list("x-ratelimit-limit-requests") == ["3"]
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        assert raw.headers["x-ratelimit-reset-requests"] in ("10s", "9s")
    assert remaining == ["2", "1", "0"]
    with pytest.raises(anthropic.RateLimitError) as info:
        sdk.messages.create(**message())  # type: ignore[arg-type]
    body: dict[str, dict[str, str]] = info.value.body  # type: ignore[assignment]
    assert body["error"]["type"] == "rate_limit_error"
    assert (
        "rate limit 3 requests per 10s on gateway 'default' is reached; retry in" in body["error"]["message"]
    )
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 10
    assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    oai = openai_client(gw)
    with pytest.raises(openai.RateLimitError) as oinfo:
        oai.chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "x"}])
    assert oinfo.value.code == "rate_limit_exceeded"
    assert len(anthropic_up.requests) == 3 and openai_up.requests == []


def test_by_field_keeps_a_counter_per_value(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(limited(anthropic_up, openai_up, "[{ requests: 2, per: 1m, by: metadata.user }]"))

    def status(user: str | None) -> int:
        extra = {"x-gateway-metadata": json.dumps({"user": user})} if user else {}
        return httpx.post(gw.url + "/v1/messages", json=message(), headers={**HEADERS, **extra}).status_code

    assert [status("ana") for _ in range(3)] == [200, 200, 429]
    assert [status("bob") for _ in range(3)] == [200, 200, 429]
    assert [status(None) for _ in range(3)] == [200, 200, 429]  # requests without it share one counter
    view = httpx.get(gw.url + "/api/limits").json()["data"]
    assert view[0]["gateway"] == "default" and view[0]["limit"] == "2 requests per 1m by metadata.user"
    assert {w["by"]: w["used"] for w in view[0]["windows"]} == {'"ana"': 2, '"bob"': 2, "absent": 2}


def test_token_limit_counts_real_usage(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(limited(anthropic_up, openai_up, "[{ tokens: 1000, per: 1m }]"))
    anthropic_up.push(Script(usage={"input_tokens": 400, "output_tokens": 300}))
    anthropic_up.push(Script(usage={"input_tokens": 400, "output_tokens": 300}))
    first = httpx.post(gw.url + "/v1/messages", json=message(), headers=HEADERS)
    assert first.headers["x-ratelimit-remaining-tokens"] == "1000"  # checked before the answer
    time.sleep(0.2)  # usage is added in the background, after the answer
    second = httpx.post(gw.url + "/v1/messages", json=message(), headers=HEADERS)
    assert second.status_code == 200 and second.headers["x-ratelimit-remaining-tokens"] == "300"
    time.sleep(0.2)
    third = httpx.post(gw.url + "/v1/messages", json=message(), headers=HEADERS)
    assert third.status_code == 429 and "1000 tokens per 1m" in third.json()["error"]["message"]
    assert len(anthropic_up.requests) == 2


def test_route_rate_gate_and_gateway_limits_together_with_redis(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, redis_url: str
) -> None:
    config = (
        limited(anthropic_up, openai_up, "[{ requests: 100, per: 1m }]", store=redis_url)
        + """
routes:
  gated:
    limit: { rate: { requests: 2, per: 1m } }
    to: anthropic/claude-opus-4-8
"""
    )
    gw = make_gateway(config)
    statuses = []
    for _ in range(3):
        r = httpx.post(gw.url + "/v1/messages", json=message("dynamic/gated"), headers=HEADERS)
        statuses.append((r.status_code, r.headers["x-ratelimit-remaining-requests"]))
    # The tightest window is reported: the route's gate (2 per minute), not the gateway's 100.
    assert statuses == [(200, "1"), (200, "0"), (429, "0")]
    refused = httpx.post(gw.url + "/v1/messages", json=message("dynamic/gated"), headers=HEADERS)
    assert "limit rate 2 requests per 1m is spent in route gated" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1
    view = httpx.get(gw.url + "/api/limits").json()["data"]
    assert [(v.get("gateway"), v.get("route"), v["windows"][0]["used"]) for v in view] == [
        ("default", None, 4),
        (None, "gated", 2),
    ]


def test_requests_limit_holds_across_two_processes_sharing_redis(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream, redis_url: str
) -> None:
    (tmp_path / "gateway.yaml").write_text(
        textwrap.dedent(limited(anthropic_up, openai_up, "[{ requests: 20, per: 3s }]", store=redis_url))
    )

    async def burst(urls: list[str], n: int) -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            calls = [
                client.post(urls[i % 2] + "/v1/messages", json=message(), headers=HEADERS) for i in range(n)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    with GatewayProcess(tmp_path) as one, GatewayProcess(tmp_path) as two:
        for _ in range(2):
            started = time.monotonic()
            statuses = asyncio.run(burst([one.url, two.url], 60))
            assert time.monotonic() - started < 3, (
                "the burst must fit in one window for the count to mean anything"
            )
            assert statuses.count(200) == 20 and statuses.count(429) == 40, statuses
            time.sleep(3.1)
