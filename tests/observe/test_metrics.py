"""GET /metrics end to end: real traffic through the gateway with the official SDKs, then the exposition
parsed and compared with what was sent (counts, tokens, cost, attempts, cache), reloads, budgets,
admin authorization, label caps, and that no secret or caller detail ever shows."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.observe.metrics import OTHER, Metrics, Readers
from gateway.observe.record import RequestRecord
from tests.conftest import STORED_KEY, GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer, free_port
from tests.records import attempt, request_record

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
# USD per million tokens, so every cost below is exact: (tokens * price) / 1e6.
PRICING = """
pricing:
  anthropic/*: { input: 1, output: 2, cache_read: 0.1, cache_write: 1.25 }
  openai/*: { input: 3, output: 4, cache_read: 0.5 }
"""
ROUTES = """
routes:
  backup:
    fallback: [anthropic/claude-sonnet-4-5, openai/gpt-5.2]
"""
GATEWAYS = """
gateways:
  default: { auth: none, provider_keys: [stored, request] }
  cached: { auth: none, provider_keys: [stored, request], cache: { ttl: 10m } }
"""


def scrape(gw: GatewayServer, token: str | None = None) -> list[Sample]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(gw.url + "/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    return [s for family in text_string_to_metric_families(resp.text) for s in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def label_sets(samples: list[Sample], name: str) -> list[dict[str, str]]:
    return [s.labels for s in samples if s.name == name]


def claude(url: str, key: str = "client-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)


def gpt(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


def send_traffic(gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> None:
    """Seven requests of known shape; each comment gives its usage and cost."""
    # 1. Anthropic, plain: 10 in, 5 out, 100 cache read, 20 cache write: $0.000055.
    anthropic_up.push(
        Script(
            usage={
                "input_tokens": 10,
                "output_tokens": 5,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 20,
            }
        )
    )
    claude(gw.url).messages.create(model="claude-haiku-4-5", max_tokens=50, messages=QUESTION)  # type: ignore[arg-type]
    # 2. OpenAI, plain: 30 prompt of which 10 cached -> 20 in, 10 cache read; 7 out: $0.000093.
    openai_up.push(Script(usage={"prompt_tokens": 30, "completion_tokens": 7, "cached_tokens": 10}))
    gpt(gw.url).chat.completions.create(model="gpt-5.2", messages=QUESTION)  # type: ignore[arg-type]
    # 3. Anthropic, streamed: 4 in, 6 out: $0.000016.
    anthropic_up.push(Script(usage={"input_tokens": 4, "output_tokens": 6}))
    with claude(gw.url).messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=QUESTION) as stream:  # type: ignore[arg-type]
        assert stream.get_final_message().usage.output_tokens == 6
    # 4. An upstream 500, passed through.
    anthropic_up.push(Script(status=500))
    with pytest.raises(anthropic.InternalServerError):
        claude(gw.url).messages.create(model="claude-haiku-4-5", max_tokens=50, messages=QUESTION)  # type: ignore[arg-type]
    # 5, 6. The cached gateway: a MISS (8 in, 2 out: $0.000012), then a HIT (free, no upstream).
    anthropic_up.push(Script(usage={"input_tokens": 8, "output_tokens": 2}))
    cached = claude(gw.url + "/g/cached")
    for expected in ("MISS", "HIT"):
        raw = cached.messages.with_raw_response.create(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=QUESTION,  # type: ignore[arg-type]
        )
        assert raw.headers["x-gateway-cache"] == expected
    # 7. A fallback route: Anthropic answers 503, OpenAI serves (5 in, 5 out: $0.000035).
    anthropic_up.push(Script(status=503))
    openai_up.push(Script(usage={"prompt_tokens": 5, "completion_tokens": 5}))
    raw = claude(gw.url).messages.with_raw_response.create(
        model="dynamic/backup",
        max_tokens=50,
        messages=QUESTION,  # type: ignore[arg-type]
    )
    assert raw.headers["x-gateway-attempts"] == "2"


def test_metrics_match_the_traffic(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, ROUTES + PRICING, gateway=GATEWAYS))
    send_traffic(gw, anthropic_up, openai_up)
    records = gw.records(wait_for=7)  # metrics observed each record in the call that queued it
    assert len(records) == 7
    samples = scrape(gw)

    haiku = {"gateway": "default", "route": "", "provider": "anthropic", "model": "claude-haiku-4-5"}
    gpt52 = {"gateway": "default", "route": "", "provider": "openai", "model": "gpt-5.2"}
    backup = {"gateway": "default", "route": "backup", "provider": "openai", "model": "gpt-5.2"}
    cached = {"gateway": "cached", "route": "", "provider": "anthropic", "model": "claude-haiku-4-5"}

    requests = "gateway_requests_total"
    assert total(samples, requests) == 7
    assert total(samples, requests, **haiku, status="200") == 2
    assert total(samples, requests, **haiku, status="500") == 1
    assert total(samples, requests, **gpt52, status="200") == 1
    assert total(samples, requests, **backup, status="200") == 1
    assert total(samples, requests, **cached, status="200") == 2

    for series, count in ((haiku, 3), (gpt52, 1), (backup, 1), (cached, 2)):
        assert total(samples, "gateway_request_duration_seconds_count", **series) == count
        assert total(samples, "gateway_request_duration_seconds_bucket", **series, le="+Inf") == count
    assert total(samples, "gateway_request_duration_seconds_sum") == pytest.approx(
        sum(r["latency_ms"] for r in records) / 1000
    )
    timed = [r for r in records if r["ttfb_ms"] is not None]
    assert len(timed) >= 5  # every upstream answer has one
    assert total(samples, "gateway_ttfb_seconds_count") == len(timed)

    tokens = "gateway_tokens_total"
    expected_tokens = {
        "input": ((haiku, 14), (gpt52, 20), (backup, 5), (cached, 8)),
        "output": ((haiku, 11), (gpt52, 7), (backup, 5), (cached, 2)),  # the HIT adds nothing
        "cache_read": ((haiku, 100), (gpt52, 10), (backup, 0), (cached, 0)),
        "cache_write": ((haiku, 20), (gpt52, 0), (backup, 0), (cached, 0)),
    }
    for kind, expected in expected_tokens.items():
        for series, count in expected:
            assert total(samples, tokens, **series, type=kind) == count, (kind, series)

    cost = "gateway_cost_usd_total"
    assert total(samples, cost, **haiku) == pytest.approx(0.000055 + 0.000016)
    assert total(samples, cost, **gpt52) == pytest.approx(0.000093)
    assert total(samples, cost, **backup) == pytest.approx(0.000035)
    assert total(samples, cost, **cached) == pytest.approx(0.000012)
    assert total(samples, cost) == pytest.approx(sum(float(r["cost_usd"] or 0) for r in records))

    attempts, failures = "gateway_upstream_attempts_total", "gateway_upstream_failures_total"
    a_haiku = {"gateway": "default", "provider": "anthropic", "model": "claude-haiku-4-5"}
    assert total(samples, attempts) == 7  # the HIT made none; the fallback made two
    assert total(samples, attempts, **a_haiku, status="200") == 2
    assert total(samples, attempts, **a_haiku, status="500") == 1
    assert total(samples, attempts, gateway="default", provider="openai", model="gpt-5.2", status="200") == 2
    assert total(samples, attempts, model="claude-sonnet-4-5", status="503") == 1
    assert total(samples, attempts, gateway="cached", status="200") == 1
    assert total(samples, failures) == 2
    assert total(samples, failures, **a_haiku, status="500") == 1
    assert total(samples, failures, provider="anthropic", model="claude-sonnet-4-5", status="503") == 1

    assert total(samples, "gateway_cache_total", gateway="cached", result="MISS") == 1
    assert total(samples, "gateway_cache_total", gateway="cached", result="HIT") == 1
    assert total(samples, "gateway_cache_total", gateway="default") == 0

    assert total(samples, "gateway_log_dropped_total") == 0
    assert total(samples, "gateway_log_queue_depth") >= 0
    assert label_sets(samples, "gateway_config_info") == [{"version": gw.live.table.version}]
    circuits = {s.labels["target"]: s.value for s in samples if s.name == "gateway_circuit_open"}
    assert circuits and set(circuits.values()) == {0.0}  # tried targets, none ejected
    assert total(samples, "gateway_config_reloads_total") == 0


def test_an_ejected_target_shows_as_an_open_circuit(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up))
    client = claude(gw.url)
    for _ in range(5):  # five failures in a row eject a target
        anthropic_up.push(Script(status=500))
        with pytest.raises(anthropic.InternalServerError):
            client.messages.create(model="claude-opus-4-8", max_tokens=5, messages=QUESTION)  # type: ignore[arg-type]
    gw.records(wait_for=5)
    samples = scrape(gw)
    (opus,) = [
        s for s in samples if s.name == "gateway_circuit_open" and "claude-opus-4-8" in s.labels["target"]
    ]
    assert opus.value == 1
    assert total(samples, "gateway_upstream_failures_total", model="claude-opus-4-8", status="500") == 5


def test_reloads_are_counted_ok_and_error(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up))
    version = gw.live.table.version
    assert httpx.post(gw.url + "/api/reload").status_code == 200
    samples = scrape(gw)
    assert total(samples, "gateway_config_reloads_total", result="ok") == 1
    assert total(samples, "gateway_config_reloads_total", result="error") == 0

    config_file = gw.config / "gateway.yaml"
    good = config_file.read_text()
    config_file.write_text(good + "\nmodels2: {}\n")
    assert httpx.post(gw.url + "/api/reload").status_code == 422
    samples = scrape(gw)
    assert total(samples, "gateway_config_reloads_total", result="error") == 1
    assert label_sets(samples, "gateway_config_info") == [{"version": version}]  # the last good one

    config_file.write_text(
        good.replace("fast: anthropic/claude-haiku-4-5", "fast: anthropic/claude-opus-4-8")
    )
    assert httpx.post(gw.url + "/api/reload").status_code == 200
    samples = scrape(gw)
    assert total(samples, "gateway_config_reloads_total", result="ok") == 2
    assert gw.live.table.version != version
    assert label_sets(samples, "gateway_config_info") == [{"version": gw.live.table.version}]


def test_metrics_need_the_admin_token_when_one_is_set(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, "server: { admin_token: adm-metrics-42 }"))
    assert httpx.get(gw.url + "/metrics").status_code == 401
    assert httpx.get(gw.url + "/metrics", headers={"authorization": "Bearer nope"}).status_code == 401
    resp = httpx.get(gw.url + "/metrics", headers={"authorization": "Bearer adm-metrics-42"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "gateway_config_reloads_total" in resp.text and "adm-metrics-42" not in resp.text


BUDGETS = """
budgets:
  monthly: { usd: 25, period: month }
  per-user: { usd: 5, period: day, by: metadata.user }
"""
TOKEN_GATEWAY = """
gateways:
  default:
    auth: tokens
    tokens: [{ name: tok-canary-name, secret: gw-token-canary-7731 }]
    provider_keys: [request, stored]
    budgets: [monthly, per-user]
"""


def budget_gateway(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> GatewayServer:
    return make_gateway(standard_config(anthropic_up, openai_up, BUDGETS + PRICING, gateway=TOKEN_GATEWAY))


def ask_as_user(gw: GatewayServer, user: str) -> str:
    """A call with the gateway token, the client's own provider key and a user; returns its request id."""
    raw = claude(gw.url, key="sk-canary-client-5521").messages.with_raw_response.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        messages=QUESTION,  # type: ignore[arg-type]
        extra_headers={
            "x-gateway-key": "gw-token-canary-7731",
            "x-gateway-metadata": json.dumps({"user": user}),
        },
    )
    return raw.headers["x-gateway-request-id"]


def test_budget_gauges_sum_over_by_values(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = budget_gateway(make_gateway, anthropic_up, openai_up)
    samples = scrape(gw)
    assert total(samples, "gateway_budget_spent_usd", budget="monthly") == 0
    assert total(samples, "gateway_budget_remaining_usd", budget="monthly") == 25
    anthropic_up.push(
        Script(usage={"input_tokens": 1000, "output_tokens": 500}),  # $0.002
        Script(usage={"input_tokens": 3000, "output_tokens": 1000}),  # $0.005
    )
    ask_as_user(gw, "alice")
    ask_as_user(gw, "bob")
    gw.records(wait_for=2)
    samples = scrape(gw)
    assert total(samples, "gateway_budget_limit_usd", budget="monthly") == 25
    assert total(samples, "gateway_budget_limit_usd", budget="per-user") == 5
    for budget in ("monthly", "per-user"):
        assert total(samples, "gateway_budget_spent_usd", budget=budget) == pytest.approx(0.007)
        assert total(samples, "gateway_budget_reserved_usd", budget=budget) == 0
    assert total(samples, "gateway_budget_remaining_usd", budget="monthly") == pytest.approx(25 - 0.007)
    # One series per budget, never per `by` value; no remaining for a budget that has one per value.
    assert label_sets(samples, "gateway_budget_spent_usd") == [{"budget": "monthly"}, {"budget": "per-user"}]
    assert label_sets(samples, "gateway_budget_remaining_usd") == [{"budget": "monthly"}]


def test_no_secret_or_caller_detail_ever_shows(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = budget_gateway(make_gateway, anthropic_up, openai_up)
    anthropic_up.push(Script(usage={"input_tokens": 10, "output_tokens": 5}), Script(status=500))
    request_id = ask_as_user(gw, "user-canary-8812")
    failed = httpx.post(  # no provider key of its own: the stored key is used
        gw.url + "/v1/messages",
        json={"model": "claude-haiku-4-5", "max_tokens": 5, "messages": QUESTION},
        headers={"x-gateway-key": "gw-token-canary-7731", "anthropic-version": "2023-06-01"},
    )
    assert failed.status_code == 500
    records = gw.records(wait_for=2)
    sent = [str(r.headers) for r in anthropic_up.requests]
    assert "sk-canary-client-5521" in sent[0] and STORED_KEY in sent[1]  # both keys went upstream
    text = httpx.get(gw.url + "/metrics").text
    assert "gateway_budget_spent_usd" in text and "gateway_requests_total" in text
    for secret in (
        STORED_KEY,
        "sk-canary",
        "gw-token-canary-7731",
        "tok-canary-name",
        "user-canary-8812",
        request_id,
        *(r["id"] for r in records),
    ):
        assert secret not in text


def test_an_unreachable_store_leaves_only_the_budget_gauges_out(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    store = f'state: {{ store: "redis://127.0.0.1:{free_port()}/0", on_unavailable: open }}\n'
    gw = make_gateway(standard_config(anthropic_up, openai_up, store + BUDGETS + PRICING))
    samples = scrape(gw)
    names = {s.name for s in samples}
    assert not any(name.startswith("gateway_budget_") for name in names)
    assert {"gateway_config_info", "gateway_log_queue_depth", "gateway_config_reloads_total"} <= names


# -- units --------------------------------------------------------------------------------------------


def record(model: str, **extra: Any) -> RequestRecord:
    return request_record(model=model, **extra)


def render(metrics: Metrics) -> list[Sample]:
    text = asyncio.run(metrics.render()).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_model_labels_are_capped() -> None:
    metrics = Metrics(max_models=3)
    for i in range(6):
        metrics.observe(record(f"m{i}", attempts=[attempt(f"anthropic/m{i}")]))
    metrics.observe(record("m0"))  # a known name keeps its label after the cap
    metrics.observe(record("x" * 300))  # over-long names never get a label of their own
    samples = render(metrics)
    models = {s.labels["model"] for s in samples if s.name == "gateway_requests_total"}
    assert models == {"m0", "m1", "m2", OTHER}
    assert total(samples, "gateway_requests_total", model="m0") == 2
    assert total(samples, "gateway_requests_total", model=OTHER) == 4
    assert total(samples, "gateway_upstream_attempts_total", model=OTHER) == 3
    assert Metrics().model("x" * 300) == OTHER


def test_bad_records_and_readers_never_break_requests_or_scrapes() -> None:
    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("breakers gone")

    async def no_store() -> list[dict[str, Any]]:
        raise ConnectionError("store down")

    metrics = Metrics(Readers(circuits=broken, config_version=lambda: "v1", budgets=no_store))
    metrics.observe({"status": 200})  # type: ignore[arg-type]  # not a record: counted nowhere, raises nothing
    metrics.observe(record("m", cost_usd="0.25", input_tokens=3, attempts=[attempt("", status=0, error="x")]))
    samples = render(metrics)
    assert total(samples, "gateway_requests_total") == 1
    assert total(samples, "gateway_cost_usd_total") == 0.25
    assert total(samples, "gateway_upstream_failures_total", provider="", status="0") == 1
    assert label_sets(samples, "gateway_config_info") == [{"version": "v1"}]
    assert not any(s.name.startswith(("gateway_circuit", "gateway_budget")) for s in samples)


def test_histogram_buckets_are_cumulative() -> None:
    metrics = Metrics()
    for ms in (3, 7, 700, 2_000_000):  # the last is past every bound: +Inf only
        metrics.observe(record("m", latency_ms=ms, ttfb_ms=ms))
    samples = render(metrics)
    bucket = "gateway_request_duration_seconds_bucket"
    assert total(samples, bucket, le="0.005") == 1
    assert total(samples, bucket, le="0.01") == 2
    assert total(samples, bucket, le="1.0") == 3
    assert total(samples, bucket, le="600.0") == 3
    assert total(samples, bucket, le="+Inf") == 4
    assert total(samples, "gateway_ttfb_seconds_count") == 4
    assert total(samples, "gateway_request_duration_seconds_sum") == pytest.approx(2000.71)


def test_workers_sharing_a_directory_each_answer_with_every_workers_counts(tmp_path: Any) -> None:
    """`gateway serve --workers N`: counters and histograms summed over every worker that ran (one that
    died keeps its last counts), gauges over the live ones only."""

    def worker(name: str, version: str, circuit: str, depth: int) -> Metrics:
        readers = Readers(
            log_depth=lambda: depth,
            log_dropped=lambda: 1,
            circuits=lambda: [{"target": "anthropic/m", "state": circuit}],
            config_version=lambda: version,
        )
        return Metrics(readers, shared_dir=str(tmp_path), worker=name)

    one, two = worker("one", "v1", "open", 3), worker("two", "v2", "closed", 4)
    for _ in range(3):
        one.observe(record("m", latency_ms=7, cost_usd="0.25", output_tokens=5))
    two.observe(record("m", latency_ms=700, cost_usd="0.5", output_tokens=1))
    two.publish()
    for answering in (one, two):  # whichever answers: the same totals
        samples = render(answering)
        assert total(samples, "gateway_requests_total") == 4
        assert total(samples, "gateway_cost_usd_total") == 1.25
        assert total(samples, "gateway_tokens_total", type="output") == 16
        assert total(samples, "gateway_request_duration_seconds_bucket", le="0.01") == 3
        assert total(samples, "gateway_request_duration_seconds_count") == 4
        assert total(samples, "gateway_log_queue_depth") == 7
        assert total(samples, "gateway_log_dropped_total") == 2
        assert total(samples, "gateway_circuit_open", target="anthropic/m") == 1  # open in one of them
        assert sorted(s["version"] for s in label_sets(samples, "gateway_config_info")) == ["v1", "v2"]
    # A worker that died (no such process) keeps its counts; its gauges are gone.
    dead = json.loads((tmp_path / "two.json").read_text())
    (tmp_path / "two.json").write_text(json.dumps({**dead, "pid": 2**22 + 1}))
    samples = render(one)
    assert total(samples, "gateway_requests_total") == 4
    assert total(samples, "gateway_log_queue_depth") == 3
    assert label_sets(samples, "gateway_config_info") == [{"version": "v1"}]
