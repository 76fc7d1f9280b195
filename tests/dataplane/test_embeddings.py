"""POST /v1/embeddings through the official openai SDK (`client.embeddings.create`, which asks for base64
by default and decodes it) to every provider kind: OpenAI and Azure forwarded as is, Gemini
(embedContent / batchEmbedContents), Vertex (:predict), Bedrock's Titan (one call per text) and Cohere
translated; aliases, split and fallback routes, budgets, the cache, bad inputs, and the records."""

from __future__ import annotations

import base64
import struct
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import STORED_KEY, GatewayFactory, openai_client, standard_config, with_clouds
from tests.fakes.embeddings import tokens, vector
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

TEXTS = ["the first text", "a second, longer text to embed", "third"]
MODELS = """
text-embedding-*: openai/*
small: openai/text-embedding-3-small
g-embed: google/gemini-embedding-001
az-embed: azure/text-embedding-3-small
titan: bedrock/amazon.titan-embed-text-v2:0
titan-us: bedrock/us.amazon.titan-embed-text-v2:0
cohere: bedrock/cohere.embed-english-v3
vx-embed: vertex/text-embedding-005
vx-gemini: vertex/gemini-embedding-001
"""
ROUTES = """
routes:
  halves:
    split:
      - { weight: 50, to: openai/text-embedding-3-small }
      - { weight: 50, to: google/gemini-embedding-001 }
  safe:
    fallback: [openai/text-embedding-3-small, google/gemini-embedding-001]
  chats:
    fallback: [openai/gpt-5, anthropic/claude-haiku-4-5]
  mixed:
    fallback: [openai/gpt-5, openai/text-embedding-3-small]
  back:
    fallback: [bedrock/amazon.titan-embed-text-v2:0, openai/text-embedding-3-small]
"""


def embedding_config(
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    azure_up: FakeUpstream,
    bedrock_up: FakeUpstream,
    vertex_up: FakeUpstream,
    tmp_path: Path,
    extra: str = "",
    gateway: str | None = None,
) -> str:
    config = standard_config(anthropic_up, openai_up, ROUTES + extra, gateway=gateway)
    config = with_clouds(config, bedrock_up, vertex_up, tmp_path, MODELS)
    providers = (
        f'  google: {{ type: gemini, base_url: "{gemini_up.base_url}" }}\n'
        f'  azure: {{ type: azure-openai, base_url: "{azure_up.base_url}", api_version: "2024-10-21" }}\n'
    )
    keys = (
        '  google-main: { provider: google, secret: "AIza-stored-canary-key-000000000" }\n'
        f'  azure-main: {{ provider: azure, secret: "{STORED_KEY}" }}\n'
    )
    return config.replace("providers:\n", "providers:\n" + providers, 1).replace(
        "keys:\n", "keys:\n" + keys, 1
    )


@pytest.fixture
def clouds(
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    azure_up: FakeUpstream,
    bedrock_up: FakeUpstream,
    vertex_up: FakeUpstream,
    tmp_path: Path,
) -> dict[str, Any]:
    return {
        "anthropic_up": anthropic_up,
        "openai_up": openai_up,
        "gemini_up": gemini_up,
        "azure_up": azure_up,
        "bedrock_up": bedrock_up,
        "vertex_up": vertex_up,
        "tmp_path": tmp_path,
    }


@pytest.fixture
def gw(make_gateway: GatewayFactory, clouds: dict[str, Any]) -> GatewayServer:
    return make_gateway(embedding_config(**clouds))


def posts(fake: FakeUpstream, suffix: str) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith(suffix)]


def as_floats(data: str) -> list[float]:
    raw = base64.b64decode(data)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# -- OpenAI-format targets: forwarded as is -----------------------------------------------------------------


def test_openai_forwarded_byte_exact_with_the_alias_model_rewritten_usage_priced(
    gw: GatewayServer, openai_up: FakeUpstream
) -> None:
    body = b'{"input" : ["one", "two"], "model": "small",  "encoding_format":"float"}'
    resp = httpx.post(gw.url + "/v1/embeddings", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    sent = body.replace(b'"small"', b'"text-embedding-3-small"')
    assert posts(openai_up, "/v1/embeddings")[-1].body == sent
    answer = resp.json()
    assert [d["embedding"] for d in answer["data"]] == [vector("one", 1536), vector("two", 1536)]
    used = tokens("one") + tokens("two")
    assert answer["usage"] == {"prompt_tokens": used, "total_tokens": used}
    # text-embedding-3-small: $0.02 per million input tokens (genai-prices), nothing for output.
    assert resp.headers["x-gateway-cost-usd"] == f"{used * 0.02 / 1e6:.10f}".rstrip("0")
    rec = gw.records(1)[-1]
    assert rec["path"] == "/v1/embeddings" and rec["status"] == 200 and rec["provider"] == "openai"
    assert (rec["input_tokens"], rec["output_tokens"]) == (used, 0)
    assert rec["cost_usd"] == resp.headers["x-gateway-cost-usd"] and rec["error"] is None


@pytest.mark.parametrize("encoding", ["float", "base64", None])
def test_openai_sdk_both_encodings(gw: GatewayServer, openai_up: FakeUpstream, encoding: str | None) -> None:
    client = openai_client(gw)
    options: dict[str, Any] = {"encoding_format": encoding} if encoding else {}
    result = client.embeddings.create(model="text-embedding-3-small", input=TEXTS, dimensions=64, **options)
    # Asked for explicitly, base64 comes back as the strings (the SDK decodes only its own default).
    got = [as_floats(d.embedding) if encoding == "base64" else d.embedding for d in result.data]  # type: ignore[arg-type]
    assert got == [vector(t, 64) for t in TEXTS]
    sent = posts(openai_up, "/v1/embeddings")[-1].json
    assert sent["encoding_format"] == (encoding or "base64") and sent["dimensions"] == 64


def test_openai_token_arrays_are_forwarded(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    result = openai_client(gw).embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], encoding_format="float"
    )
    assert len(result.data) == 2
    assert posts(openai_up, "/v1/embeddings")[-1].json["input"] == [[1, 2, 3], [4, 5]]


def test_azure_goes_to_the_deployment_embeddings_url(gw: GatewayServer, azure_up: FakeUpstream) -> None:
    result = openai_client(gw).embeddings.create(model="az-embed", input="hello azure")
    assert result.data[0].embedding == vector("hello azure", 1536)
    seen = posts(azure_up, "/embeddings")[-1]
    assert seen.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert seen.query == "api-version=2024-10-21" and seen.headers["api-key"] == STORED_KEY
    assert result.model == "text-embedding-3-small"  # Azure's answer, relayed as is


# -- Gemini ---------------------------------------------------------------------------------------------


def test_gemini_one_input_uses_embed_content(gw: GatewayServer, gemini_up: FakeUpstream) -> None:
    resp = openai_client(gw).embeddings.with_raw_response.create(
        model="g-embed", input="just one", dimensions=256, encoding_format="float"
    )
    result = resp.parse()
    assert result.data[0].embedding == vector("just one", 256) and result.model == "g-embed"
    sent = posts(gemini_up, ":embedContent")[-1]
    assert sent.path == "/v1beta/models/gemini-embedding-001:embedContent"
    assert sent.json == {"content": {"parts": [{"text": "just one"}]}, "outputDimensionality": 256}
    # Gemini reports no usage: the gateway's estimate (3 bytes a token), said so, and priced.
    assert resp.headers["x-gateway-token-count"] == "estimate"
    assert result.usage.prompt_tokens == 3
    rec = gw.records(1)[-1]
    assert rec["input_tokens"] == 3 and rec["cost_usd"] == resp.headers["x-gateway-cost-usd"]
    assert rec["usage_estimated"] is True


def test_gemini_list_uses_batch_embed_contents_in_order_base64_by_default(
    gw: GatewayServer, gemini_up: FakeUpstream
) -> None:
    raw = httpx.post(
        gw.url + "/v1/embeddings", json={"model": "g-embed", "input": TEXTS, "encoding_format": "base64"}
    )
    assert raw.status_code == 200, raw.text
    data = raw.json()["data"]
    assert [d["index"] for d in data] == [0, 1, 2]
    assert [as_floats(d["embedding"]) for d in data] == [vector(t, 3072) for t in TEXTS]
    # The SDK's default (base64, decoded by the SDK) gives the same numbers.
    result = openai_client(gw).embeddings.create(model="g-embed", input=TEXTS)
    assert [d.embedding for d in result.data] == [vector(t, 3072) for t in TEXTS]
    sent = posts(gemini_up, ":batchEmbedContents")[-1].json
    assert [r["content"]["parts"][0]["text"] for r in sent["requests"]] == TEXTS


def test_gemini_upstream_error_in_openai_envelope(gw: GatewayServer, gemini_up: FakeUpstream) -> None:
    gemini_up.push(Script(status=429))
    with pytest.raises(openai.RateLimitError) as err:
        openai_client(gw).embeddings.create(model="g-embed", input="x")
    assert err.value.status_code == 429 and isinstance(err.value.body, dict)
    rec = gw.records(1)[-1]
    assert rec["status"] == 429 and rec["error"]


# -- Vertex ---------------------------------------------------------------------------------------------


def test_vertex_text_embedding_predict_takes_the_list_in_one_call(
    gw: GatewayServer, vertex_up: FakeUpstream
) -> None:
    result = openai_client(gw).embeddings.create(model="vx-embed", input=TEXTS, dimensions=128)
    assert [d.embedding for d in result.data] == [vector(t, 128) for t in TEXTS]
    calls = posts(vertex_up, ":predict")
    assert len(calls) == 1
    assert calls[0].path.endswith("/publishers/google/models/text-embedding-005:predict")
    assert calls[0].headers["authorization"].startswith("Bearer ")
    assert calls[0].json == {
        "instances": [{"content": t} for t in TEXTS],
        "parameters": {"outputDimensionality": 128},
    }
    assert result.usage.prompt_tokens == sum(tokens(t) for t in TEXTS)  # Vertex's token_count


def test_vertex_gemini_embedding_one_call_per_text_order_kept(
    gw: GatewayServer, vertex_up: FakeUpstream
) -> None:
    result = openai_client(gw).embeddings.create(model="vx-gemini", input=TEXTS, encoding_format="float")
    assert [d.embedding for d in result.data] == [vector(t, 3072) for t in TEXTS]
    calls = posts(vertex_up, ":predict")
    assert sorted(c.json["instances"][0]["content"] for c in calls) == sorted(TEXTS)
    rec = gw.records(1)[-1]
    assert rec["input_tokens"] == sum(tokens(t) for t in TEXTS) and rec["cost_usd"] is not None


# -- Bedrock --------------------------------------------------------------------------------------------


def test_bedrock_titan_one_signed_call_per_text_order_kept(
    gw: GatewayServer, bedrock_up: FakeUpstream
) -> None:
    many = [f"text number {i}" for i in range(9)]
    result = openai_client(gw).embeddings.create(model="titan", input=many, dimensions=256)
    assert [d.embedding for d in result.data] == [vector(t, 256) for t in many]
    calls = posts(bedrock_up, "/invoke")
    assert len(calls) == 9
    assert all(c.path == "/model/amazon.titan-embed-text-v2:0/invoke" for c in calls)
    assert all(c.headers["authorization"].startswith("AWS4-HMAC-SHA256") for c in calls)
    assert sorted(c.json["inputText"] for c in calls) == sorted(many)
    assert {c.json["dimensions"] for c in calls} == {256}
    used = sum(tokens(t) for t in many)
    assert result.usage.prompt_tokens == used
    rec = gw.records(1)[-1]
    # amazon.titan-embed-text-v2:0: $0.02 per million input tokens.
    assert rec["input_tokens"] == used and rec["cost_usd"] == f"{used * 0.02 / 1e6:.10f}".rstrip("0")
    assert "usage_estimated" not in rec  # Titan reports its tokens


def test_bedrock_titan_with_a_region_prefix(gw: GatewayServer, bedrock_up: FakeUpstream) -> None:
    result = openai_client(gw).embeddings.create(model="titan-us", input="x y z", encoding_format="float")
    assert result.data[0].embedding == vector("x y z", 1024)
    assert posts(bedrock_up, "/invoke")[-1].path == "/model/us.amazon.titan-embed-text-v2:0/invoke"


def test_bedrock_titan_dimensions_it_cannot_take_is_its_400(gw: GatewayServer) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        openai_client(gw).embeddings.create(model="titan", input="x", dimensions=300)
    assert "dimensions" in str(err.value)


def test_bedrock_cohere_one_call_with_texts_input_type_and_usage_from_the_header(
    gw: GatewayServer, bedrock_up: FakeUpstream
) -> None:
    result = openai_client(gw).embeddings.create(model="cohere", input=TEXTS)
    assert [d.embedding for d in result.data] == [vector(t, 1024) for t in TEXTS]
    calls = posts(bedrock_up, "/invoke")
    assert len(calls) == 1
    assert calls[0].json == {"texts": TEXTS, "input_type": "search_document", "embedding_types": ["float"]}
    used = sum(tokens(t) for t in TEXTS)
    assert result.usage.prompt_tokens == used
    rec = gw.records(1)[-1]
    assert rec["cost_usd"] == f"{used * 0.10 / 1e6:.10f}".rstrip("0")
    # Cohere's own input_type, from the SDK's extra_body.
    openai_client(gw).embeddings.create(model="cohere", input="q", extra_body={"input_type": "search_query"})
    assert posts(bedrock_up, "/invoke")[-1].json["input_type"] == "search_query"


def test_bedrock_cohere_has_one_size_dimensions_is_a_clear_400(
    gw: GatewayServer, bedrock_up: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        openai_client(gw).embeddings.create(model="cohere", input="x", dimensions=256)
    body = err.value.body
    assert isinstance(body, dict) and body["param"] == "dimensions"
    assert "cohere.embed-english-v3" in body["message"]
    assert not posts(bedrock_up, "/invoke")
    rec = gw.records(1)[-1]
    assert rec["status"] == 400 and rec["path"] == "/v1/embeddings" and "dimensions" in rec["error"]


# -- routes, budgets, the cache ---------------------------------------------------------------------------


def test_split_route_sends_to_both_targets(
    gw: GatewayServer, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> None:
    client = openai_client(gw)
    for i in range(24):
        result = client.embeddings.create(model="dynamic/halves", input=f"text {i}", dimensions=32)
        assert result.data[0].embedding == vector(f"text {i}", 32)
    assert posts(openai_up, "/v1/embeddings") and posts(gemini_up, ":embedContent")
    assert {r["route"] for r in gw.records(24)[-24:]} == {"halves"}


def test_fallback_moves_on_to_the_next_embedding_target(
    gw: GatewayServer, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> None:
    openai_up.push(Script(status=500))
    result = openai_client(gw).embeddings.create(model="dynamic/safe", input="fall", encoding_format="float")
    assert result.data[0].embedding == vector("fall", 3072)
    rec = gw.records(1)[-1]
    assert [a["target"] for a in rec["attempts"]] == [
        "openai/text-embedding-3-small",
        "google/gemini-embedding-001",
    ]
    assert rec["status"] == 200 and rec["provider"] == "google"


def test_fallback_skips_targets_that_cannot_embed(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    result = openai_client(gw).embeddings.create(model="dynamic/mixed", input="skip", encoding_format="float")
    assert result.data[0].embedding == vector("skip", 1536)
    assert not posts(openai_up, "/v1/chat/completions")


def test_budget_applies(make_gateway: GatewayFactory, clouds: dict[str, Any]) -> None:
    config = embedding_config(
        **clouds,
        extra="budgets:\n  tiny: { usd: 0.00001, period: day }\n",
        gateway="gateways:\n  default: { auth: none, provider_keys: [stored], budgets: [tiny] }\n",
    )
    gw = make_gateway(config)
    client = openai_client(gw)
    # $0.00001 is 500 tokens at $0.02/M: the first call (about 420 estimated, 300 used) fits, the
    # second's estimate is over what is left.
    text = "a long text " * 100
    client.embeddings.create(model="text-embedding-3-small", input=text)
    with pytest.raises(openai.RateLimitError) as err:
        client.embeddings.create(model="text-embedding-3-small", input=text)
    assert "budget 'tiny'" in str(err.value)
    recs = gw.records(2)[-2:]
    assert recs[0]["cost_usd"] == "0.000006" and recs[1]["status"] == 429


def test_cache_second_call_is_a_hit_and_the_key_holds_dimensions_and_encoding(
    make_gateway: GatewayFactory, clouds: dict[str, Any]
) -> None:
    config = embedding_config(
        **clouds,
        gateway="gateways:\n  default: { auth: none, provider_keys: [stored], cache: { ttl: 10m } }\n",
    )
    gw = make_gateway(config)
    gemini_up: FakeUpstream = clouds["gemini_up"]
    client = openai_client(gw)
    first = client.embeddings.with_raw_response.create(model="g-embed", input=TEXTS)
    second = client.embeddings.with_raw_response.create(model="g-embed", input=TEXTS)
    assert (first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]) == ("MISS", "HIT")
    assert first.parse().data == second.parse().data
    assert len(posts(gemini_up, ":batchEmbedContents")) == 1
    other = client.embeddings.with_raw_response.create(model="g-embed", input=TEXTS, dimensions=8)
    floats = client.embeddings.with_raw_response.create(model="g-embed", input=TEXTS, encoding_format="float")
    assert other.headers["x-gateway-cache"] == floats.headers["x-gateway-cache"] == "MISS"
    recs = gw.records(4)[-4:]
    assert [r["cache"] for r in recs] == ["MISS", "HIT", "MISS", "MISS"]
    assert recs[1]["cost_usd"] == "0" and recs[1]["input_tokens"] == recs[0]["input_tokens"]


# -- bad inputs: a 400 in OpenAI's envelope, before any upstream call, and a complete record ----------------


@pytest.mark.parametrize(
    "value",
    [42, {"text": "x"}, [], ["ok", 3], "", None, [["a"]], True],
    ids=[
        "number",
        "object",
        "empty-list",
        "non-string-item",
        "empty-string",
        "null",
        "nested-strings",
        "bool",
    ],
)
def test_wrong_input_types_are_a_400_naming_input(
    gw: GatewayServer, openai_up: FakeUpstream, gemini_up: FakeUpstream, value: Any
) -> None:
    for model in ("text-embedding-3-small", "g-embed"):
        resp = httpx.post(gw.url + "/v1/embeddings", json={"model": model, "input": value})
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["param"] == "input" and error["type"] == "invalid_request_error"
        assert error["message"].startswith("input")
    assert not posts(openai_up, "/v1/embeddings") and not gemini_up.requests
    recs = gw.records(2)[-2:]
    assert all(r["status"] == 400 and r["path"] == "/v1/embeddings" and r["error"] for r in recs)
    assert {r["client_model"] for r in recs} == {"text-embedding-3-small", "g-embed"}


def test_missing_input_is_a_400(gw: GatewayServer) -> None:
    resp = httpx.post(gw.url + "/v1/embeddings", json={"model": "g-embed"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "input"


def test_sdk_bad_input_raises_bad_request(gw: GatewayServer) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        openai_client(gw).embeddings.create(model="g-embed", input=[])
    assert isinstance(err.value.body, dict) and err.value.body["param"] == "input"


@pytest.mark.parametrize(
    "model", ["gpt-5", "claude-haiku-4-5", "dynamic/chats", "bedrock/anthropic.claude-x"]
)
def test_a_model_that_cannot_embed_is_a_clear_400(
    gw: GatewayServer, openai_up: FakeUpstream, anthropic_up: FakeUpstream, model: str
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        openai_client(gw).embeddings.create(model=model, input="x")
    body = err.value.body
    assert isinstance(body, dict) and body["param"] == "model" and "cannot embed" in body["message"]
    assert not openai_up.requests and not anthropic_up.requests
    rec = gw.records(1)[-1]
    assert rec["status"] == 400 and "cannot embed" in rec["error"]


def test_fixed_size_openai_model_refuses_dimensions(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        openai_client(gw).embeddings.create(model="text-embedding-ada-002", input="x", dimensions=8)
    assert isinstance(err.value.body, dict) and err.value.body["param"] == "dimensions"
    assert not openai_up.requests


def test_token_arrays_to_a_text_only_target_are_a_400(gw: GatewayServer, gemini_up: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        openai_client(gw).embeddings.create(model="g-embed", input=[[1, 2, 3]])
    assert isinstance(err.value.body, dict) and err.value.body["param"] == "input"
    assert "token arrays" in err.value.body["message"] and not gemini_up.requests


def test_unknown_field_to_a_translated_target_is_a_400_naming_it(
    gw: GatewayServer, vertex_up: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        openai_client(gw).embeddings.create(model="vx-embed", input="x", extra_body={"truncate": "END"})
    assert isinstance(err.value.body, dict) and err.value.body["param"] == "truncate"
    assert not posts(vertex_up, ":predict")


def test_get_is_a_405(gw: GatewayServer) -> None:
    assert httpx.get(gw.url + "/v1/embeddings").status_code == 405


# -- /v1/models ----------------------------------------------------------------------------------------------


def test_models_list_embedding_models_with_their_mode(gw: GatewayServer) -> None:
    listed = {m.id: m for m in openai_client(gw).models.list()}
    assert listed["titan"].model_extra is not None and listed["titan"].model_extra["mode"] == "embedding"
    assert listed["g-embed"].model_extra["mode"] == "embedding"  # type: ignore[index]
    assert listed["fast"].model_extra["mode"] == "chat"  # type: ignore[index]
    # Embedding models the price data lists are listed too, with their input price.
    entry = listed["openai/text-embedding-3-small"].model_extra
    assert entry is not None and entry["mode"] == "embedding" and entry["pricing"]["input"] == "0.02"
    anthropic_shape = httpx.get(gw.url + "/v1/models?limit=1000", headers={"anthropic-version": "2023-06-01"})
    kinds = {m["id"]: m.get("mode") for m in anthropic_shape.json()["data"]}
    assert kinds["cohere"] == "embedding" and kinds["fast"] == "chat"


def test_bedrock_titan_calls_run_concurrently_but_bounded(
    gw: GatewayServer, bedrock_up: FakeUpstream
) -> None:
    # Nine texts, each call held 0.5 s upstream: four at a time is three waves (1.5 s at least); one
    # at a time would be 4.5 s.
    for _ in range(9):
        bedrock_up.push(Script(delay=0.5))
    started = time.monotonic()
    result = openai_client(gw).embeddings.create(model="titan", input=[f"t{i}" for i in range(9)])
    took = time.monotonic() - started
    assert len(result.data) == 9
    assert 1.5 <= took < 3.5, took


def test_one_failed_call_of_many_fails_the_request_in_openai_envelope(
    gw: GatewayServer, bedrock_up: FakeUpstream
) -> None:
    bedrock_up.push(Script(status=500))
    with pytest.raises(openai.InternalServerError) as err:
        openai_client(gw).embeddings.create(model="titan", input=TEXTS)
    body = err.value.body
    assert isinstance(body, dict) and body["type"] == "api_error"
    rec = gw.records(1)[-1]
    assert rec["status"] == 500 and rec["error"] and rec["input_tokens"] is None


def test_a_translated_target_failing_falls_back(
    gw: GatewayServer, bedrock_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    bedrock_up.push(Script(status=503))
    result = openai_client(gw).embeddings.create(model="dynamic/back", input=TEXTS, encoding_format="float")
    assert [d.embedding for d in result.data] == [vector(t, 1536) for t in TEXTS]
    rec = gw.records(1)[-1]
    assert [a["status"] for a in rec["attempts"]] == [503, 200] and rec["provider"] == "openai"
    assert rec["status"] == 200 and rec["error"] is None


def test_token_rate_limit_counts_the_input(make_gateway: GatewayFactory, clouds: dict[str, Any]) -> None:
    config = embedding_config(
        **clouds,
        gateway="gateways:\n  default: { auth: none, provider_keys: [stored], "
        "rate_limits: [{ tokens: 30, per: 1m }] }\n",
    )
    gw = make_gateway(config)
    client = openai_client(gw)
    text = "x" * 160  # 40 tokens to the fake
    first = client.embeddings.with_raw_response.create(model="titan", input=text)
    assert first.headers["x-ratelimit-limit-tokens"] == "30"
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="titan", input="y")
    assert gw.records(2)[0]["input_tokens"] == 40


def test_named_gateway_base_url(make_gateway: GatewayFactory, clouds: dict[str, Any]) -> None:
    config = embedding_config(
        **clouds,
        gateway="gateways:\n  default: { auth: none, provider_keys: [stored] }\n"
        "  team: { auth: none, provider_keys: [stored] }\n",
    )
    gw = make_gateway(config)
    result = openai_client(gw, "/g/team/v1").embeddings.create(
        model="cohere", input="named", encoding_format="float"
    )
    assert result.data[0].embedding == vector("named", 1024)
    assert gw.records(1)[-1]["gateway"] == "team"


def test_the_first_failed_call_cancels_the_others(gw: GatewayServer, bedrock_up: FakeUpstream) -> None:
    bedrock_up.push(Script(status=500))
    for _ in range(8):
        bedrock_up.push(Script(delay=3))
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError):
        openai_client(gw).embeddings.create(model="titan", input=[f"t{i}" for i in range(9)])
    # Without the cancellation the answer would wait for the slow calls (3 s each, four at a time).
    assert time.monotonic() - started < 2.5
    assert len(posts(bedrock_up, "/invoke")) <= 5  # the first wave, and perhaps one more
