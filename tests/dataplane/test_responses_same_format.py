"""POST /v1/responses to OpenAI-format providers that serve the Responses API: byte-exact forwarding, streams
relayed as they come, usage priced and logged, rate limits, budgets, the cache, split and fallback
routes, conversation-safe routing of an upstream `previous_response_id`, and the id endpoints resolved
at the provider that owns each id. Clients are the openai SDK (and raw httpx where bytes matter);
upstreams are the fake Responses endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import STORED_KEY, GatewayFactory, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

PRICING = """
pricing:
  openai/gpt-priced: { input: 1, output: 10, cache_read: 0.5 }
  second/gpt-priced: { input: 1, output: 10, cache_read: 0.5 }
"""


@pytest.fixture
def second_up() -> Iterator[FakeUpstream]:
    """A second OpenAI account: its own fake, so each id lives on exactly one."""
    with FakeUpstream("openai") as fake:
        yield fake


def two_providers(
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    second: FakeUpstream,
    extra: str = "",
    gateway: str = "",
) -> str:
    config = standard_config(anthropic_up, openai_up, PRICING + extra, gateway=gateway or None)
    return config.replace(
        "keys:\n",
        'keys:\n  second-main: { provider: second, secret: "second-key" }\n',
    ).replace(
        "providers:\n",
        f'providers:\n  second: {{ type: openai, base_url: "{second.base_url}" }}\n',
    )


ROUTES = """
models:
  mini: openai/gpt-5-mini
  on-second: second/gpt-5
routes:
  safe:
    fallback: [openai/gpt-5, second/gpt-5]
  halves:
    split:
      - { weight: 50, to: openai/gpt-5 }
      - { weight: 50, to: second/gpt-5 }
"""


def config_with_routes(anthropic_up: FakeUpstream, openai_up: FakeUpstream, second: FakeUpstream) -> str:
    # The standard config's `models:` gains the aliases; `routes:` follows.
    config = two_providers(anthropic_up, openai_up, second)
    aliases, routes = ROUTES.split("routes:\n")
    return config.replace("models:\n", aliases.strip() + "\n", 1) + "routes:\n" + routes


@pytest.fixture
def gw(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, second_up: FakeUpstream
) -> GatewayServer:
    return make_gateway(config_with_routes(anthropic_up, openai_up, second_up))


def creates(fake: FakeUpstream) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/v1/responses"]


def test_forwarded_byte_exact_with_only_the_model_rewritten_and_usage_priced(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, second_up: FakeUpstream
) -> None:
    config = config_with_routes(anthropic_up, openai_up, second_up).replace(
        "  mini: openai/gpt-5-mini", "  mini: openai/gpt-5-mini\n  priced: openai/gpt-priced"
    )
    gw = make_gateway(config)
    openai_up.push(
        Script(text="Paris.", usage={"input_tokens": 1000, "cached_tokens": 400, "output_tokens": 50})
    )
    # Odd spacing, key order, unicode escapes and fields the gateway never reads: all kept as sent.
    body = (
        b'{"input":  "Capital of France?\\u00e9", "model" : "priced",'
        b'"metadata":{"model":"priced"},"reasoning":{"effort":"low"},"store":true}'
    )
    resp = httpx.post(gw.url + "/v1/responses", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    sent = creates(openai_up)[-1]
    assert sent.body == body.replace(b'"model" : "priced"', b'"model" : "gpt-priced"')
    assert sent.headers["authorization"] == f"Bearer {STORED_KEY}"
    answer = resp.json()
    assert answer["object"] == "response" and answer["output"][0]["content"][0]["text"] == "Paris."
    # $1/M input (600 uncached), $0.5/M cached (400), $10/M output (50): 0.0006 + 0.0002 + 0.0005.
    assert resp.headers["x-gateway-cost-usd"] == "0.0013"
    rec = gw.records(1)[-1]
    assert rec["path"] == "/v1/responses" and rec["model"] == "gpt-priced"
    assert (rec["input_tokens"], rec["cache_read_tokens"], rec["output_tokens"]) == (600, 400, 50)
    assert rec["cost_usd"] == "0.0013" and rec["response_id"] == answer["id"]


def test_stream_relayed_event_by_event_with_usage_from_response_completed(
    gw: GatewayServer, openai_up: FakeUpstream
) -> None:
    openai_up.push(
        Script(
            text="one two three four five six",
            text_chunks=6,
            chunk_delay=0.15,
            usage={"input_tokens": 20, "output_tokens": 9, "reasoning_tokens": 3},
        )
    )
    client = openai_client(gw)
    arrivals: list[tuple[str, float]] = []
    with client.responses.stream(model="gpt-5", input="count") as stream:
        for event in stream:
            arrivals.append((event.type, time.monotonic()))
        final = stream.get_final_response()
    kinds = [k for k, _ in arrivals]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = [t for k, t in arrivals if k == "response.output_text.delta"]
    # Six deltas 150 ms apart reach the client as they are sent, not at the end in one piece.
    assert len(deltas) == 6 and deltas[-1] - deltas[0] > 0.4
    assert final.output_text == "one two three four five six"
    rec = gw.records(1)[-1]
    assert rec["stream"] is True and rec["status"] == 200
    assert (rec["input_tokens"], rec["output_tokens"]) == (20, 9)
    assert rec["response_id"] == final.id


def test_rate_limit_and_budget_refuse_responses_calls(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, second_up: FakeUpstream
) -> None:
    limited = make_gateway(
        two_providers(
            anthropic_up,
            openai_up,
            second_up,
            gateway="gateways:\n  default: { auth: none, rate_limits: [{ requests: 1, per: 1m }] }\n",
        )
    )
    client = openai_client(limited)
    openai_up.push(Script(text="ok"))
    client.responses.create(model="gpt-5", input="hi")
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model="gpt-5", input="hi")
    assert info.value.code == "rate_limit_exceeded" and "rate limit 1 requests per 1m" in info.value.message
    assert len(creates(openai_up)) == 1

    budgeted = make_gateway(
        two_providers(
            anthropic_up,
            openai_up,
            second_up,
            extra="budgets:\n  tiny: { usd: 0.0002, period: day }\n",
            gateway="gateways:\n  default: { auth: none, budgets: [tiny] }\n",
        )
    )
    client = openai_client(budgeted)
    openai_up.push(Script(text="spend", usage={"input_tokens": 10, "output_tokens": 1000}))
    first = client.responses.create(model="gpt-priced", input="hi", max_output_tokens=16)
    assert first.output_text == "spend"
    with pytest.raises(openai.RateLimitError) as spent:
        client.responses.create(model="gpt-priced", input="hi", max_output_tokens=16)
    assert "budget 'tiny'" in spent.value.message
    assert len(creates(openai_up)) == 2


def test_cache_replays_whole_answers_and_streams(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, second_up: FakeUpstream
) -> None:
    gw = make_gateway(
        two_providers(
            anthropic_up,
            openai_up,
            second_up,
            gateway="gateways:\n  default: { auth: none, cache: { ttl: 10m } }\n",
        )
    )
    client = openai_client(gw)
    openai_up.push(Script(text="cached words"), Script(text="streamed words"))
    first = client.responses.with_raw_response.create(model="gpt-5", input="same question")
    again = client.responses.with_raw_response.create(model="gpt-5", input="same question")
    assert (first.headers["x-gateway-cache"], again.headers["x-gateway-cache"]) == ("MISS", "HIT")
    assert again.parse().output_text == "cached words" and again.headers["x-gateway-cost-usd"] == "0"
    streams = []
    for _ in range(2):
        with client.responses.with_streaming_response.create(
            model="gpt-5", input="stream it", stream=True
        ) as raw:
            streams.append((raw.headers["x-gateway-cache"], raw.headers["content-type"], raw.read()))
    assert [s[0] for s in streams] == ["MISS", "HIT"]
    assert streams[1][1].startswith("text/event-stream") and streams[0][2] == streams[1][2]
    assert b"event: response.completed" in streams[1][2]
    assert len(creates(openai_up)) == 2
    # A continuation of an upstream id depends on what the upstream keeps: never cached.
    openai_up.push(Script(text="next"), Script(text="next again"))
    for _ in range(2):
        raw = client.responses.with_raw_response.create(
            model="gpt-5", input="more", previous_response_id=first.parse().id
        )
        assert "x-gateway-cache" not in raw.headers
    assert len(creates(openai_up)) == 4


def test_split_and_fallback_routes_serve_responses(
    gw: GatewayServer, openai_up: FakeUpstream, second_up: FakeUpstream
) -> None:
    client = openai_client(gw)
    openai_up.push(Script(status=503))
    second_up.push(Script(text="from second"))
    raw = client.responses.with_raw_response.create(model="dynamic/safe", input="hi")
    assert raw.headers["x-gateway-model"] == "second/gpt-5" and raw.headers["x-gateway-attempts"] == "2"
    assert raw.parse().output_text == "from second"
    for _ in range(12):
        openai_up.push(Script(text="a"))
        second_up.push(Script(text="b"))
    served = {
        client.responses.with_raw_response.create(model="dynamic/halves", input="x").headers[
            "x-gateway-provider"
        ]
        for _ in range(12)
    }
    assert served == {"openai", "second"}


def test_a_continued_upstream_id_stays_on_its_provider_and_key(
    gw: GatewayServer, openai_up: FakeUpstream, second_up: FakeUpstream
) -> None:
    client = openai_client(gw)
    second_up.push(Script(text="first turn"))
    first = client.responses.create(model="on-second", input="remember 7")
    assert first.id.startswith("resp_") and not first.id.startswith("resp_gw")
    # The route's first node is `openai`, which does not know the id: it is skipped, not tried.
    second_up.push(Script(text="second turn"))
    raw = client.responses.with_raw_response.create(
        model="dynamic/safe", input="what number?", previous_response_id=first.id
    )
    assert raw.headers["x-gateway-model"] == "second/gpt-5" and raw.headers["x-gateway-attempts"] == "1"
    assert raw.parse().output_text == "second turn"
    assert creates(openai_up) == []
    sent = creates(second_up)[-1]
    assert (
        sent.json["previous_response_id"] == first.id and sent.headers["authorization"] == "Bearer second-key"
    )
    # A split sends it to its owner's arm every time.
    for _ in range(6):
        second_up.push(Script(text="again"))
        raw = client.responses.with_raw_response.create(
            model="dynamic/halves", input="x", previous_response_id=first.id
        )
        assert raw.headers["x-gateway-provider"] == "second"
    assert creates(openai_up) == []


def test_id_endpoints_go_to_the_provider_that_owns_the_id(
    gw: GatewayServer, openai_up: FakeUpstream, second_up: FakeUpstream
) -> None:
    client = openai_client(gw)
    openai_up.push(Script(text="on openai"))
    second_up.push(Script(text="on second"))
    on_openai = client.responses.create(model="gpt-5", input="a")
    with client.responses.stream(model="on-second", input=[{"role": "user", "content": "b"}]) as stream:
        on_second = stream.get_final_response()  # a stream's id comes from its response.created event
    assert client.responses.retrieve(on_openai.id).output_text == "on openai"
    assert client.responses.retrieve(on_second.id).output_text == "on second"
    assert [r.path for r in openai_up.requests if r.method == "GET"] == [f"/v1/responses/{on_openai.id}"]
    assert [r.path for r in second_up.requests if r.method == "GET"] == [f"/v1/responses/{on_second.id}"]
    listed = client.responses.input_items.list(on_second.id)
    assert [getattr(item, "role", None) for item in listed.data] == ["user"]
    assert second_up.requests[-1].headers["authorization"] == "Bearer second-key"
    with pytest.raises(openai.BadRequestError):  # not a background response: the owner says no
        client.responses.cancel(on_openai.id)
    assert openai_up.requests[-1].path == f"/v1/responses/{on_openai.id}/cancel"
    client.responses.delete(on_second.id)
    assert second_up.requests[-1].method == "DELETE"
    with pytest.raises(openai.NotFoundError):  # deleted by its owner: its 404 comes back
        client.responses.retrieve(on_second.id)
    records = gw.records(8)
    assert {r["response_id"] for r in records if r["method"] in ("GET", "DELETE")} == {
        on_openai.id,
        on_second.id,
    }
    # Ids it never saw: OpenAI's 404, no upstream call; malformed ids and paths: 404 too.
    calls = len(openai_up.requests) + len(second_up.requests)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve("resp_never_seen")
    assert info.value.body == {
        "message": "Response with id 'resp_never_seen' not found.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request",
    }
    for path in (
        "/v1/responses/a..b",
        "/v1/responses/x/y/z",
        "/v1/responses/x/unknown",
        "/v1/responses/%00x",
        "/v1/responses/a%2Fb",
    ):
        assert httpx.get(gw.url + path).status_code == 404, path
    assert httpx.post(gw.url + f"/v1/responses/{on_openai.id}").status_code == 405
    assert len(openai_up.requests) + len(second_up.requests) == calls


def test_input_tokens_forwarded_to_a_server_of_it(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    client = openai_client(gw)
    raw = client.responses.input_tokens.with_raw_response.count(model="mini", input="count these words")
    assert raw.parse().input_tokens > 0 and "x-gateway-token-count" not in raw.headers
    sent = openai_up.requests[-1]
    assert sent.path == "/v1/responses/input_tokens" and sent.json["model"] == "gpt-5-mini"
    rec = gw.records(1)[-1]
    # A count generates nothing: no tokens, nothing spent.
    assert rec["path"] == "/v1/responses/input_tokens" and rec["input_tokens"] is None
    assert rec["cost_usd"] in (None, "0")


def test_responses_false_sends_a_type_openai_server_translated(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = standard_config(anthropic_up, openai_up).replace(
        f'openai: {{ type: openai, base_url: "{openai_up.base_url}" }}',
        f'openai: {{ type: openai, base_url: "{openai_up.base_url}", responses: false }}',
    )
    gw = make_gateway(config)
    openai_up.push(Script(text="via chat"))
    answer = openai_client(gw).responses.create(model="gpt-5", input="hi", store=False)
    assert answer.output_text == "via chat"
    assert openai_up.requests[-1].path == "/v1/chat/completions"


def test_azure_serves_responses_on_its_v1_api_with_the_deployment_as_model(
    make_gateway: GatewayFactory, azure_up: FakeUpstream
) -> None:
    gw = make_gateway(f"""
version: 1
providers:
  azure:
    type: azure-openai
    base_url: "{azure_up.base_url}"
    api_version: "2024-10-21"
    deployments: {{ gpt-5.2: my-gpt-deployment }}
keys:
  azure-main: {{ provider: azure, secret: "{STORED_KEY}" }}
models:
  gpt-*: azure/*
gateways:
  default: {{ auth: none }}
""")
    azure_up.push(Script(text="Bonjour.", usage={"input_tokens": 12, "output_tokens": 3}))
    body = b'{"model": "gpt-5.2", "input": "salut"}'
    resp = httpx.post(gw.url + "/v1/responses", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["output"][0]["content"][0]["text"] == "Bonjour."
    seen = azure_up.requests[-1]
    assert seen.path == "/openai/v1/responses" and seen.query == ""
    assert seen.body == b'{"model": "my-gpt-deployment", "input": "salut"}'
    assert seen.headers["api-key"] == STORED_KEY
    rec = gw.records(1)[-1]
    assert (rec["input_tokens"], rec["output_tokens"]) == (12, 3)


def test_a_cut_stream_ends_with_an_error_never_a_clean_looking_end(
    gw: GatewayServer, openai_up: FakeUpstream
) -> None:
    openai_up.push(Script(text="one two three four", text_chunks=4, end_after=4))
    client = openai_client(gw)
    with client.responses.stream(model="gpt-5", input="x") as stream:
        events = list(stream)
    # The upstream closed cleanly without response.completed: the client is told, in the API's shape.
    assert events[-1].type == "error" and "response.completed" not in [e.type for e in events]
    assert "ended before its last event" in events[-1].message  # type: ignore[union-attr]
    rec = gw.records(1)[-1]
    assert rec["status"] == 502 and rec["stream"] is True


@pytest.mark.parametrize(
    ("preset", "native"),
    [
        ("groq", True),
        ("xai", True),
        ("vllm", True),
        ("ollama", True),
        ("mistral", False),
        ("deepseek", False),
    ],
)
def test_presets_serve_responses_where_their_servers_do(
    make_gateway: GatewayFactory, openai_up: FakeUpstream, preset: str, native: bool
) -> None:
    gw = make_gateway(f"""
version: 1
providers:
  up: {{ type: {preset}, base_url: "{openai_up.base_url}" }}
keys:
  up-main: {{ provider: up, secret: "k-{preset}" }}
models:
  "*": up/*
gateways:
  default: {{ auth: none }}
""")
    openai_up.push(Script(text="hello"))
    answer = openai_client(gw).responses.create(model="gpt-5", input="hi", store=False)
    assert answer.output_text == "hello"
    expected = "/v1/responses" if native else "/v1/chat/completions"
    assert openai_up.requests[-1].path == expected
    # The record names the id; with store: false the gateway remembers no owner for it.
    assert gw.records(1)[-1]["response_id"] == answer.id
    calls = len(openai_up.requests)
    assert httpx.get(f"{gw.url}/v1/responses/{answer.id}").status_code == 404
    assert len(openai_up.requests) == calls


def test_id_endpoints_authenticate_like_model_calls(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            gateway='gateways:\n  default: { auth: tokens, tokens: [{ name: dev, secret: "gw-token-1" }] }\n',
        )
    )
    for method, path in (
        ("GET", "/v1/responses/resp_abc"),
        ("DELETE", "/v1/responses/resp_abc"),
        ("POST", "/v1/responses/resp_abc/cancel"),
        ("GET", "/v1/responses/resp_abc/input_items"),
        ("GET", "/v1/responses/resp_gw00"),
    ):
        assert httpx.request(method, gw.url + path).status_code == 401, path
        allowed = httpx.request(method, gw.url + path, headers={"x-gateway-key": "gw-token-1"})
        assert allowed.status_code == 404, path
    records = gw.records(10)
    assert [r["status"] for r in records[-10:]] == [401, 404] * 5
    assert records[-1]["token"] == "dev" and records[-1]["response_id"] == "resp_gw00"
