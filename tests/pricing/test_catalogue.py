"""The model catalogue (gateway/catalogue.py) and GET /v1/models: names from config first, then each
provider's models from the bundled price data, with prices and context windows; `?provider=`,
Anthropic's pagination through the official SDKs, and one catalogue per compiled table."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.config.compiler import compile_config
from gateway.core.formats import Format
from gateway.pricing.catalogue import Catalogue, Entry, build, catalogue_of, pricing
from gateway.pricing.prices import PriceTable
from gateway.routing.table import RoutingTable
from tests.claude_code import FINAL_TEXT, TOOL_COMMAND, RespondingUpstream, run_claude
from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, openai_client
from tests.gateway_server import GatewayServer

PROMPT = f"Run the shell command `{TOOL_COMMAND}` and tell me what it printed."

# Every kind of provider type, at its default URL unless said otherwise. Nothing here is called: the
# catalogue needs no upstream.
CONFIG = """\
version: 1
providers:
  anthropic: { type: anthropic }
  openai:    { type: openai }
  google:    { type: gemini }
  bedrock:   { type: bedrock, region: us-east-1 }
  vertex:    { type: vertex, project: my-project, region: us-east5 }
  azure:
    type: azure-openai
    base_url: https://my-resource.openai.azure.com
    api_version: "2024-10-21"
    deployments: { gpt-5.2: my-gpt-deployment }
  groq:      { type: groq }
  ollama:    { type: ollama }
  vllm:      { type: vllm }
  local:     { type: openai, base_url: "http://127.0.0.1:8000/v1" }
  proxied:   { type: anthropic, base_url: "http://127.0.0.1:9/anthropic" }
  fastlane:  { type: openai, base_url: "https://api.groq.com/openai/v1" }
models:
  claude-*: anthropic/*
  fast: anthropic/claude-haiku-4-5
  smart: dynamic/coding
routes:
  coding: anthropic/claude-opus-4-8
  careful: { fallback: [bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0, vertex/claude-sonnet-4-5] }
pricing:
  anthropic/claude-haiku-4-5: { input: 0.9, output: 4.5 }
  groq/*: { input: 0.01, output: 0.02 }
  ollama/llama3.2: { input: 0, output: 0 }
gateways:
  default: {}
  narrow: { allow: [fast, "bedrock/anthropic.*", "dynamic/*"] }
"""


SONNET_ON_BEDROCK = "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"


def compile_text(tmp_path: Path, text: str = CONFIG) -> RoutingTable:
    (tmp_path / "gateway.yaml").write_text(text)
    return compile_config(tmp_path, {})


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> RoutingTable:
    return compile_text(tmp_path_factory.mktemp("catalogue"))


@pytest.fixture(scope="module")
def built(table: RoutingTable) -> Catalogue:
    return catalogue_of(table)


def ids(entries: tuple[Entry, ...] | list[Entry]) -> list[str]:
    return [e.id for e in entries]


def test_each_provider_type_lists_from_the_right_source(built: Catalogue) -> None:
    sources = {name: p.source for name, p in built.providers.items()}
    assert sources == {
        "anthropic": "anthropic",
        "azure": "azure",
        "bedrock": "aws",
        "fastlane": "groq",  # an openai-type provider at Groq's URL is Groq
        "google": "google",
        "groq": "groq",
        "local": None,  # an OpenAI-compatible server somewhere: unknowable
        "ollama": None,
        "openai": "openai",
        "proxied": None,
        "vertex": "google",
        "vllm": None,
    }
    counts = {name: len(p.entries) for name, p in built.providers.items()}
    for name in ("anthropic", "openai", "google", "bedrock", "vertex", "groq", "azure"):
        assert counts[name] >= 10, (name, counts)
    assert counts["local"] == counts["vllm"] == counts["proxied"] == 0
    # Local servers: only what config names (a pricing: key here).
    assert ids(built.providers["ollama"].entries) == ["ollama/llama3.2"]
    # Sorted by model id, each name once, every one under its provider's prefix.
    for name, p in built.providers.items():
        assert ids(p.entries) == sorted(ids(p.entries)) and len(set(ids(p.entries))) == len(p.entries)
        assert all(e.id == f"{name}/{e.model}" and e.provider == name for e in p.entries)


def test_bedrock_vertex_gemini_and_azure_names(built: Catalogue) -> None:
    bedrock = {e.model or "": e for e in built.providers["bedrock"].entries}
    sonnet = bedrock["anthropic.claude-sonnet-4-5-20250929-v1:0"]  # Bedrock's own model id
    assert sonnet.context_window == 200_000 and sonnet.price is not None
    assert "global.anthropic.claude-sonnet-4-5-20250929-v1:0" in bedrock  # a global inference profile
    assert bedrock["us.anthropic.claude-sonnet-4-5-20250929-v1:0"].price == sonnet.price  # us-east-1's
    assert not [m for m in bedrock if m.startswith("regional.")]  # the package's internal prefix
    vertex = ids(built.providers["vertex"].entries)
    gemini = ids(built.providers["google"].entries)
    assert "vertex/claude-sonnet-4-5" in vertex and "vertex/gemini-2.5-flash" in vertex
    assert "google/gemini-2.5-flash" in gemini
    assert not [m for m in gemini if m.startswith("google/claude")]  # Claude is on Vertex only
    azure = {e.model or "": e for e in built.providers["azure"].entries}
    assert "gpt-5.2" in azure and azure["gpt-5.2"].price is not None  # from `deployments:`
    flash = next(e for e in built.providers["google"].entries if e.model == "gemini-2.5-flash")
    assert flash.context_window == 1_048_576


def test_listed_prices_are_the_prices_charged(table: RoutingTable, built: Catalogue) -> None:
    prices = PriceTable(table)
    for p in built.providers.values():
        for e in p.entries:
            assert e.model is not None
            assert e.price == prices.price(p.provider, e.model), e.id
            if p.source is not None and p.provider != "ollama":
                assert e.price is not None, e.id  # package models are listed only when priced


def test_pricing_overrides_show(built: Catalogue) -> None:
    entries = {e.id: e for e in built.gateways["default"].entries}
    for name in ("fast", "anthropic/claude-haiku-4-5"):
        price = entries[name].price
        assert price is not None and (str(price.input), str(price.output)) == ("0.9", "4.5"), name
        assert entries[name].extras()["pricing"] == {
            "input": "0.9",
            "output": "4.5",
            "cache_read": "0.09",
            "cache_write": "1.125",
        }
    # A glob re-prices every listed Groq model; the other providers keep the package's prices.
    groq = built.providers["groq"].entries
    assert {(str(e.price.input), str(e.price.output)) for e in groq if e.price} == {("0.01", "0.02")}
    assert entries["ollama/llama3.2"].extras()["pricing"]["input"] == "0"


def test_names_from_config_come_first_with_their_targets(built: Catalogue) -> None:
    entries = built.gateways["default"].entries
    first = [(e.id, e.kind, e.provider, e.model) for e in entries[:7]]
    assert first == [
        ("fast", "alias", "anthropic", "claude-haiku-4-5"),
        ("smart", "alias", "anthropic", "claude-opus-4-8"),  # an alias of a one-leaf route
        ("dynamic/coding", "route", "anthropic", "claude-opus-4-8"),
        ("dynamic/careful", "route", None, None),  # decided per request: no single target
        ("anthropic/claude-haiku-4-5", "model", "anthropic", "claude-haiku-4-5"),
        ("anthropic/claude-opus-4-8", "model", "anthropic", "claude-opus-4-8"),
        (SONNET_ON_BEDROCK, "model", "bedrock", SONNET_ON_BEDROCK.partition("/")[2]),
    ]
    assert entries[0].context_window == 200_000
    assert "pricing" not in entries[3].extras()
    # Then the providers in name order, none repeating a name from config.
    rest = [e for e in entries if e.kind == "catalogue"]
    assert [e.provider for e in rest] == sorted(e.provider or "" for e in rest)
    assert len(ids(entries)) == len(set(ids(entries)))
    assert ids(entries).count("anthropic/claude-haiku-4-5") == 1


def test_allow_list_filters_the_catalogue(built: Catalogue) -> None:
    narrow = ids(built.gateways["narrow"].entries)
    assert narrow[:3] == ["fast", "dynamic/coding", "dynamic/careful"]
    rest = narrow[3:]
    assert rest and all(n.startswith("bedrock/anthropic.") for n in rest)
    assert SONNET_ON_BEDROCK in rest


def test_deterministic_and_bounded(table: RoutingTable, built: Catalogue) -> None:
    again = build(table)
    for name, g in built.gateways.items():
        assert ids(again.gateways[name].entries) == ids(g.entries)
        assert again.gateways[name].answer(Format.OPENAI, {}) == g.answer(Format.OPENAI, {})
    assert len(built.gateways["default"].entries) < 2000


def test_memoized_on_the_table(tmp_path: Path) -> None:
    table = compile_text(tmp_path)
    first = catalogue_of(table)
    assert catalogue_of(table) is first
    assert catalogue_of(compile_text(tmp_path)) is not first  # a recompiled table: a new catalogue


# Over HTTP, through the official SDKs ---------------------------------------------------------------------


def raw(url: str, fmt: str = "anthropic", **params: str) -> httpx.Response:
    headers = {"anthropic-version": "2023-06-01"} if fmt == "anthropic" else {}
    return httpx.get(url + "/v1/models", params=params, headers=headers, timeout=30)


def test_sdks_list_the_whole_catalogue(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(CONFIG)
    listed = openai_client(gw).models.list()
    everything = [m.id for m in listed]
    assert everything == ids(catalogue_of(gw.live.table).gateways["default"].entries)
    assert everything[:2] == ["fast", "smart"] and len(everything) > 300
    fast = listed.data[0]
    assert fast.owned_by == "anthropic"
    extra: dict[str, Any] = fast.model_extra or {}
    assert extra["provider"] == "anthropic" and extra["upstream_model"] == "claude-haiku-4-5"
    assert extra["context_window"] == 200_000 and extra["pricing"]["output"] == "4.5"

    # The Anthropic SDK pages through it with after_id (limit 100 -> several requests).
    models = list(anthropic_client(gw).models.list(limit=100))
    assert [m.id for m in models] == everything
    pages = -(-len(everything) // 100)
    calls = [r for r in gw.records(wait_for=1 + pages) if r["path"] == "/v1/models"]
    assert len(calls) == 1 + pages and {r["status"] for r in calls} == {200}
    first = models[0]
    assert first.type == "model" and first.display_name == "fast" and first.lifecycle == "active"
    assert first.max_input_tokens == 200_000
    sonnet = next(m for m in models if m.id == SONNET_ON_BEDROCK)
    assert sonnet.max_input_tokens == 200_000
    charged = PriceTable(gw.live.table).price("bedrock", SONNET_ON_BEDROCK.partition("/")[2])
    assert charged is not None and (sonnet.model_extra or {})["pricing"] == pricing(charged)

    # Backwards from a cursor, as the SDK does with before_id.
    page = anthropic_client(gw).models.list(before_id=everything[10], limit=4)
    assert [m.id for m in page.data] == everything[6:10] and page.has_more is True
    assert page.first_id == everything[6] and page.last_id == everything[9]
    # Iterating goes on with before_id = first_id: every page before the cursor, nothing twice.
    assert [m.id for m in page] == everything[6:10] + everything[2:6] + everything[0:2]


def test_anthropic_pagination_fields(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(CONFIG)
    everything = ids(catalogue_of(gw.live.table).gateways["default"].entries)
    default = raw(gw.url).json()  # Anthropic's default page size: 20
    assert [m["id"] for m in default["data"]] == everything[:20]
    assert (
        default["has_more"] is True and default["first_id"] == "fast" and default["last_id"] == everything[19]
    )
    after = raw(gw.url, limit="5", after_id=everything[19]).json()
    assert [m["id"] for m in after["data"]] == everything[20:25] and after["first_id"] == everything[20]
    tail = raw(gw.url, limit="1000", after_id=everything[-3]).json()
    assert [m["id"] for m in tail["data"]] == everything[-2:] and tail["has_more"] is False
    start = raw(gw.url, before_id=everything[3]).json()
    assert [m["id"] for m in start["data"]] == everything[:3] and start["has_more"] is False
    between = raw(gw.url, after_id=everything[1], before_id=everything[5]).json()
    assert [m["id"] for m in between["data"]] == everything[2:5] and between["has_more"] is False

    for params, param in (
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after_id": "no-such-model"}, "after_id"),
        ({"provider": "nope"}, "provider"),
    ):
        answer = raw(gw.url, **params)
        assert answer.status_code == 400, params
        body = answer.json()
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert param in body["error"]["message"]
    wrong = raw(gw.url, "openai", provider="nope")
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "provider"


def test_provider_filter_in_both_shapes(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(CONFIG)
    bedrock = [m.id for m in openai_client(gw).models.list(extra_query={"provider": "bedrock"})]
    assert bedrock[0] == SONNET_ON_BEDROCK  # the name from config first
    assert len(bedrock) > 50 and all(m.startswith("bedrock/") for m in bedrock)
    paged = [m.id for m in anthropic_client(gw).models.list(limit=30, extra_query={"provider": "bedrock"})]
    assert paged == bedrock
    aliases = raw(gw.url, "openai", provider="anthropic").json()["data"]
    assert [m["id"] for m in aliases][:3] == ["fast", "smart", "dynamic/coding"]  # they go to anthropic
    assert raw(gw.url, "openai", provider="vllm").json()["data"] == []
    narrow = httpx.get(gw.url + "/g/narrow/v1/models", params={"provider": "google"}).json()
    assert narrow == {"object": "list", "data": []}  # outside its allow list


def test_one_catalogue_per_table_across_requests_and_reloads(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(CONFIG)
    first_table = gw.live.table
    assert "catalogue" not in first_table.derived  # built on first use, not at compile time
    one = raw(gw.url, "openai").content
    built = first_table.derived["catalogue"]
    assert raw(gw.url, "openai").content == one and raw(gw.url).status_code == 200
    assert first_table.derived["catalogue"] is built  # the same object: requests never rebuild it
    (gw.config / "gateway.yaml").write_text(CONFIG.replace("  fast: anthropic", "  quick: anthropic"))
    gw.reload()
    assert gw.live.table is not first_table
    now = [m["id"] for m in raw(gw.url, "openai").json()["data"]]
    assert now[0] == "quick" and "fast" not in now
    assert gw.live.table.derived["catalogue"] is not built


def test_test_fakes_keep_the_configured_list(gw: GatewayServer) -> None:
    data = raw(gw.url, "openai").json()["data"]
    assert [m["id"] for m in data] == ["fast", "anthropic/claude-haiku-4-5"]
    assert data[0]["pricing"]["input"] == "1" and data[0]["context_window"] == 200_000


def test_sizes_and_speed(make_gateway: GatewayFactory) -> None:
    """The first answer builds the catalogue (in a thread); the next ones are served from it."""
    gw = make_gateway(CONFIG)
    anthropic_headers = {"anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        client.get("/healthz")  # the connection, so the timings below are the answers'
        start = time.perf_counter()
        openai_body = client.get("/v1/models").content
        cold = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(10):
            assert client.get("/v1/models").content == openai_body
        warm = (time.perf_counter() - start) / 10
        anthropic_page = client.get("/v1/models", headers=anthropic_headers).content
        anthropic_all = client.get("/v1/models", params={"limit": 1000}, headers=anthropic_headers).content
    assert len(orjson.loads(openai_body)["data"]) == len(
        catalogue_of(gw.live.table).gateways["default"].entries
    )
    # Bounded answers: the whole list well under a megabyte, an Anthropic page a few KiB.
    assert len(openai_body) < 1 << 20 and len(anthropic_page) < 16 << 10 and len(anthropic_all) < 1 << 20
    assert warm < cold


def test_a_surprise_in_the_price_data_costs_only_that_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import gateway.pricing.catalogue

    def broken(*args: object) -> None:
        raise KeyError("unexpected package data")

    monkeypatch.setattr(gateway.pricing.catalogue, "_package_entries", broken)
    found = build(compile_text(tmp_path))
    names = ids(found.gateways["default"].entries)
    assert names[:2] == ["fast", "smart"] and "ollama/llama3.2" in names  # config's names stay
    assert found.providers["bedrock"].entries == ()
    assert "listing bedrock's models from genai-prices failed" in caplog.text


@pytest.fixture(scope="module")
def _cc_anthropic() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("anthropic") as fake:
        yield fake


def test_claude_code_discovers_the_catalogue(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_gateway: GatewayFactory,
    _cc_anthropic: RespondingUpstream,
) -> None:
    # Claude Code's gateway model discovery reads one page of ?limit=1000 and keeps Claude-looking ids:
    # here Bedrock's and Vertex's from the catalogue next to the config's names.
    _cc_anthropic.reset()
    config = f"""\
version: 1
providers:
  anthropic: {{ type: anthropic, base_url: "{_cc_anthropic.base_url}" }}
  bedrock: {{ type: bedrock, region: us-east-1 }}
  vertex: {{ type: vertex, project: my-project, region: us-east5 }}
keys:
  anthropic-main: {{ provider: anthropic, secret: "{STORED_KEY}" }}
models:
  claude-*: anthropic/*
"""
    gw = make_gateway(config)
    env = {"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}
    run = run_claude(request.node.name, PROMPT, gw.url, tmp_path, args=("--debug",), env=env)
    assert run.returncode == 0 and FINAL_TEXT in run.stdout, run.stdout[-1000:] + run.stderr[-2000:]
    listed = [r for r in gw.records(wait_for=1) if r["path"] == "/v1/models"]
    assert listed and listed[0]["status"] == 200
    # With --debug the CLI writes its debug log under its config dir; it says what discovery kept.
    debug = "".join(f.read_text(errors="replace") for f in (tmp_path / "home").rglob("*.txt") if f.is_file())
    seen = re.search(r"\[gatewayDiscovery\] cached (\d+) models", debug)
    assert seen is not None, debug[-3000:] or "no debug log"
    assert int(seen.group(1)) > 10, seen.group(0)  # Bedrock's and Vertex's Claude models
