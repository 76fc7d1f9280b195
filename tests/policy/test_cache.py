"""The response cache end to end: MISS then HIT, BYPASS, TTL, streams replayed to the SDKs' stream
helpers, credentials outside the key, errors never stored, hits free against budgets, and Redis."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import pytest

from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def cached_gateway(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    cache: str = "cache: { ttl: 10m }",
    store: str = "memory",
    extra: str = "",
) -> GatewayServer:
    return make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            extra + f"\nstate: {{ store: '{store}' }}\n",
            stored=False,
            gateway=f"""
gateways:
  default: {{ auth: none, provider_keys: [request], {cache} }}
""",
        )
    )


def ask(url: str, key: str = "client-key-1", **headers: str) -> tuple[str, httpx.Headers]:
    sdk = anthropic_client(url, key=key)
    raw = sdk.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, extra_headers=headers
    )
    return raw.parse().content[0].text, raw.headers  # type: ignore[union-attr]


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_miss_then_hit_skips_the_upstream_and_costs_nothing(
    request: pytest.FixtureRequest,
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    store: str,
) -> None:
    gw = cached_gateway(
        make_gateway,
        anthropic_up,
        openai_up,
        store="memory" if store == "memory" else request.getfixturevalue("redis_url"),
    )
    url = gw.url
    anthropic_up.push(Script(text="Four.", usage={"input_tokens": 12, "output_tokens": 2}))
    first, h1 = ask(url)
    second, h2 = ask(url, key="client-key-2")  # another caller's key: the key is not part of the cache key
    assert first == second == "Four."
    assert h1["x-gateway-cache"] == "MISS" and h2["x-gateway-cache"] == "HIT"
    assert len(anthropic_up.requests) == 1
    assert h2["x-gateway-cost-usd"] == "0" and h1["x-gateway-cost-usd"] != "0"
    assert h2["x-gateway-model"] == "anthropic/claude-haiku-4-5"
    assert h2["x-gateway-request-id"] != h1["x-gateway-request-id"]
    # Key order and metadata do not change the key; another question does.
    raw = httpx.post(
        url + "/v1/messages",
        content=json.dumps(
            {
                "messages": MESSAGES,
                "max_tokens": 50,
                "model": "claude-haiku-4-5",
                "metadata": {"user_id": "u9"},
            }
        ),
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"},
    )
    assert raw.headers["x-gateway-cache"] == "HIT"
    anthropic_up.push(Script(text="Five."))
    sdk = anthropic_client(url)
    other = sdk.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "What is 2 + 3?"}]
    )
    assert other.headers["x-gateway-cache"] == "MISS"
    records = gw.records(wait_for=4)
    assert [r["cache"] for r in records] == ["MISS", "HIT", "HIT", "MISS"]
    hit = records[1]
    assert hit["cost_usd"] == "0" and hit["output_tokens"] == 2 and hit["model"] == "claude-haiku-4-5"


def test_bypass_ttl_and_custom_key(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    url = cached_gateway(make_gateway, anthropic_up, openai_up).url
    anthropic_up.push(Script(text="one"), Script(text="two"), Script(text="three"), Script(text="four"))
    assert ask(url)[1]["x-gateway-cache"] == "MISS"
    text, headers = ask(url, **{"x-gateway-skip-cache": "true"})
    assert (text, headers["x-gateway-cache"]) == ("two", "BYPASS")
    assert ask(url, **{"cf-aig-skip-cache": "true"})[1]["x-gateway-cache"] == "BYPASS"  # Cloudflare's name
    assert ask(url)[0] == "one"  # the bypass stored nothing
    # A per-request TTL; after it the answer is fetched again.
    custom = {"x-gateway-cache-key": "faq-42", "x-gateway-cache-ttl": "1"}
    assert ask(url, **custom)[1]["x-gateway-cache"] == "MISS"
    first, h = ask(url, **custom)
    assert (first, h["x-gateway-cache"]) == ("four", "HIT")
    time.sleep(1.2)
    anthropic_up.push(Script(text="five"))
    assert ask(url, **custom)[0] == "five"
    bad = httpx.post(
        url + "/v1/messages",
        json={"model": "claude-haiku-4-5", "max_tokens": 5, "messages": MESSAGES},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01", "x-gateway-cache-ttl": "soon"},
    )
    assert bad.status_code == 400 and "x-gateway-cache-ttl" in bad.json()["error"]["message"]


def test_cache_off_unless_configured_or_asked(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    url = cached_gateway(make_gateway, anthropic_up, openai_up, cache="cache: { enabled: false }").url
    anthropic_up.push(Script(text="a"), Script(text="b"))
    _text, headers = ask(url)
    assert "x-gateway-cache" not in headers
    assert ask(url, **{"x-gateway-cache-ttl": "60"})[1]["x-gateway-cache"] == "MISS"
    assert ask(url, **{"x-gateway-cache-ttl": "60"})[1]["x-gateway-cache"] == "HIT"


def test_errors_and_cut_streams_are_never_cached(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    url = cached_gateway(make_gateway, anthropic_up, openai_up).url
    anthropic_up.push(Script(status=500), Script(text="ok"))
    sdk = anthropic_client(url)
    with pytest.raises(anthropic.InternalServerError):
        sdk.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES)
    assert ask(url)[1]["x-gateway-cache"] == "MISS"
    assert len(anthropic_up.requests) == 2
    anthropic_up.push(Script(text="a b c d e f", cut_after=3), Script(text="whole"))
    with (
        pytest.raises(anthropic.APIError),
        sdk.messages.stream(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "cut"}]
        ) as stream,
    ):
        stream.get_final_message()
    with sdk.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "cut"}]
    ) as stream:
        assert stream.get_final_message().content[0].text == "whole"  # type: ignore[union-attr]
    assert len(anthropic_up.requests) == 4


def test_streams_are_replayed_to_the_sdks_stream_helpers(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    url = cached_gateway(make_gateway, anthropic_up, openai_up).url
    anthropic_up.push(Script(text="streamed once", usage={"input_tokens": 9, "output_tokens": 2}))
    sdk = anthropic_client(url)
    finals, statuses = [], []
    for _ in range(2):
        with sdk.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES) as stream:
            texts = list(stream.text_stream)
            final = stream.get_final_message()
            statuses.append(stream.response.headers["x-gateway-cache"])
        finals.append(("".join(texts), final.content[0].text, final.usage.output_tokens))  # type: ignore[union-attr]
    assert statuses == ["MISS", "HIT"]
    assert finals[0] == finals[1] == ("streamed once", "streamed once", 2)
    # An OpenAI client, translated to Anthropic, streamed: the translated stream is what is replayed.
    anthropic_up.push(Script(text="via openai"))
    oai = openai_client(url)
    seen = []
    for _ in range(2):
        with oai.chat.completions.stream(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            for _event in stream:
                pass
            seen.append(stream.get_final_completion().choices[0].message.content)
    assert seen == ["via openai", "via openai"]
    assert len(anthropic_up.requests) == 2


def test_a_hit_costs_nothing_against_budgets(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            """
pricing:
  anthropic/claude-metered: { input: 0, output: 100 }
budgets:
  team: { usd: 0.15, period: day }
""",
            gateway="""
gateways:
  default: { auth: none, budgets: [team], cache: { ttl: 1h } }
""",
        )
    )
    anthropic_up.push(Script(usage={"output_tokens": 1000}))  # $0.10: the next $0.10 worst case won't fit
    sdk = anthropic_client(gw)
    answers = []
    for _ in range(3):
        raw = sdk.messages.with_raw_response.create(
            model="claude-metered", max_tokens=1000, messages=MESSAGES
        )
        answers.append((raw.headers["x-gateway-cache"], raw.headers["x-gateway-cost-usd"]))
        time.sleep(0.1)
    assert answers == [("MISS", "0.1"), ("HIT", "0"), ("HIT", "0")]
    budget = httpx.get(gw.url + "/api/budgets").json()["data"][0]
    assert budget["counters"][0]["spent_usd"] == "0.1" and budget["counters"][0]["reserved_usd"] == "0"
    with pytest.raises(anthropic.RateLimitError):  # a new question needs a reservation, which won't fit
        sdk.messages.create(
            model="claude-metered", max_tokens=1000, messages=[{"role": "user", "content": "?"}]
        )


def test_native_passthrough_calls_are_cached_too(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    url = cached_gateway(make_gateway, anthropic_up, openai_up).url
    anthropic_up.push(Script(text="native"))
    native = anthropic_client(url, "/anthropic")
    seen = []
    for _ in range(2):
        raw = native.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES
        )
        seen.append((raw.parse().content[0].text, raw.headers["x-gateway-cache"]))  # type: ignore[union-attr]
    assert seen == [("native", "MISS"), ("native", "HIT")]
    # A native call and a model call are different endpoints: separate entries.
    anthropic_up.push(Script(text="model call"))
    text, headers = ask(url)
    assert (text, headers["x-gateway-cache"]) == ("model call", "MISS")
    assert len(anthropic_up.requests) == 2
    assert (
        "x-gateway-cache" not in httpx.get(url + "/anthropic/v1/models", headers={"x-api-key": "k"}).headers
    )
