"""Budgets end to end: reservations under concurrency (one process, and two sharing Redis), no leaked
holds after errors, disconnects and timeouts, limit gates that downgrade, warnings, unpriced models,
and an unreachable store. Clients are the official SDKs; upstreams are the fakes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess
from tests.gateway_server import free_port

# $100 per million output tokens and free input: a 1,000-token cap is a $0.10 worst case, and an answer
# of N output tokens costs N * $0.0001.
PRICING = """
pricing:
  anthropic/claude-metered: { input: 0, output: 100 }
  openai/gpt-metered: { input: 0, output: 100 }
  anthropic/claude-cheap: { input: 0, output: 1 }
"""
PER_TOKEN = Decimal("0.0001")
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def budget_config(anthropic_up: FakeUpstream, openai_up: FakeUpstream, store: str, budgets: str) -> str:
    return standard_config(
        anthropic_up,
        openai_up,
        PRICING + textwrap.dedent(budgets) + f"\nstate: {{ store: '{store}' }}\n",
        gateway="""
gateways:
  default: { auth: none, budgets: [race] }
""",
    )


RACE = """
budgets:
  race: { usd: 1.00, period: total, by: metadata.round }
"""


def sdk_message(exc: anthropic.APIStatusError) -> str:
    """The error message of the gateway's Anthropic envelope, as the SDK parsed it."""
    body: Any = exc.body
    return str(body["error"]["message"])


def budget_view(url: str, name: str) -> dict[str, Any]:
    answer = httpx.get(url + "/api/budgets", timeout=5).json()
    return next(b for b in answer["data"] if b["name"] == name)


def counter(url: str, name: str, by: str | None = None) -> dict[str, Any] | None:
    for c in budget_view(url, name)["counters"]:
        if c["by"] == by:
            return c
    return None


def settled(url: str, name: str, by: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The counter once no reservation is open any more."""
    deadline = time.monotonic() + timeout
    while True:
        c = counter(url, name, by)
        if c is not None and c["open_reservations"] == 0:
            return c
        if time.monotonic() > deadline:
            raise AssertionError(f"reservations still open: {c}")
        time.sleep(0.05)


async def race_round(urls: list[str], round_id: str, n: int = 50) -> list[tuple[int, Decimal]]:
    """n concurrent requests, each with a $0.10 worst case, spread over the gateways at `urls`."""
    clients = [anthropic.AsyncAnthropic(base_url=u, api_key="k", max_retries=0) for u in urls]
    metadata = json.dumps({"round": round_id})

    async def one(i: int) -> tuple[int, Decimal]:
        try:
            raw = await clients[i % len(clients)].messages.with_raw_response.create(
                model="claude-metered",
                max_tokens=1000,
                messages=[{"role": "user", "content": f"request {i}"}],
                extra_headers={"x-gateway-metadata": metadata},
            )
        except anthropic.RateLimitError as exc:
            assert "budget 'race' for metadata.round=" in sdk_message(exc)
            return 429, Decimal(0)
        return raw.http_response.status_code, Decimal(raw.headers["x-gateway-cost-usd"])

    try:
        return await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        for c in clients:
            await c.close()


def push_race_scripts(anthropic_up: FakeUpstream, rng: random.Random, n: int = 50) -> None:
    # A slow upstream (every admitted request is in flight together) and real costs of $0.02-$0.10.
    for _ in range(n):
        anthropic_up.push(Script(delay=1.0, usage={"output_tokens": rng.randint(200, 1000)}))


def check_round(url: str, round_id: str, results: list[tuple[int, Decimal]]) -> None:
    statuses = [s for s, _ in results]
    assert set(statuses) <= {200, 429}, statuses
    spent = sum((c for _, c in results), Decimal(0))
    assert spent <= Decimal("1.00")
    # Every request was in flight at once: only the ten worst cases that fit were let through.
    assert statuses.count(200) == 10, statuses
    ledger = settled(url, "race", json.dumps(round_id))
    assert Decimal(ledger["spent_usd"]) == spent  # the ledger is the sum of real costs, exactly
    assert ledger["reserved_usd"] == "0"


def test_budget_race_in_one_process(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(budget_config(anthropic_up, openai_up, "memory", RACE))
    rng = random.Random(7)
    for r in range(3):
        anthropic_up.reset()
        push_race_scripts(anthropic_up, rng)
        check_round(gw.url, f"r{r}", asyncio.run(race_round([gw.url], f"r{r}")))


def test_budget_race_across_two_processes_sharing_redis(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream, redis_url: str
) -> None:
    (tmp_path / "gateway.yaml").write_text(
        textwrap.dedent(budget_config(anthropic_up, openai_up, redis_url, RACE))
    )
    rng = random.Random(11)
    with GatewayProcess(tmp_path) as one, GatewayProcess(tmp_path) as two:
        for r in range(3):
            anthropic_up.reset()
            push_race_scripts(anthropic_up, rng)
            results = asyncio.run(race_round([one.url, two.url], f"r{r}"))
            check_round(one.url, f"r{r}", results)
            # Both replicas see the same ledger.
            assert counter(two.url, "race", json.dumps(f"r{r}")) == counter(
                one.url, "race", json.dumps(f"r{r}")
            )


LEAK = """
budgets:
  race: { usd: 100, period: month }
"""


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_no_reservation_leaks_after_errors_disconnects_and_timeouts(
    request: pytest.FixtureRequest,
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    store: str,
) -> None:
    url = "memory" if store == "memory" else request.getfixturevalue("redis_url")
    gw = make_gateway(budget_config(anthropic_up, openai_up, url, LEAK))
    body = {"model": "claude-metered", "max_tokens": 1000, "messages": [{"role": "user", "content": "x"}]}
    headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    expected = Decimal(0)

    async def group(n: int, script: Script, *, stream: bool = False, **how: Any) -> list[Any]:
        for _ in range(n):
            anthropic_up.push(script)
        async with httpx.AsyncClient(base_url=gw.url) as client:
            return await asyncio.gather(*(call(client, stream, **how) for _ in range(n)))

    async def call(
        client: httpx.AsyncClient,
        stream: bool,
        timeout: float = 10,
        header_timeout: str | None = None,
        read_events: int | None = None,
    ) -> Any:
        extra = {"x-gateway-timeout": header_timeout} if header_timeout else {}
        payload = {**body, "stream": stream}
        try:
            if read_events is not None:
                async with client.stream(
                    "POST", "/v1/messages", json=payload, headers={**headers, **extra}
                ) as r:
                    seen = 0
                    async for line in r.aiter_lines():
                        seen += line.startswith("event:")
                        if seen >= read_events:
                            return "left mid-stream"
                return "stream ended"
            r = await client.post("/v1/messages", json=payload, headers={**headers, **extra}, timeout=timeout)
            return r
        except httpx.TimeoutException:
            return "client gave up"

    async def scenario() -> None:
        nonlocal expected
        ok = await group(6, Script(usage={"output_tokens": 321}))
        assert all(r.status_code == 200 for r in ok)
        expected += 6 * 321 * PER_TOKEN
        streamed = await group(4, Script(usage={"output_tokens": 77}), stream=True, timeout=10)
        assert all(r.status_code == 200 for r in streamed)
        expected += 4 * 77 * PER_TOKEN
        failed = await group(5, Script(status=500))
        assert all(r.status_code == 500 for r in failed)
        timed_out = await group(4, Script(delay=3), header_timeout="300ms")
        assert all(r.status_code == 504 for r in timed_out)
        gone = await group(4, Script(delay=3), timeout=0.3)
        assert gone == ["client gave up"] * 4
        left = await group(3, Script(chunk_delay=0.3, text_chunks=8), stream=True, read_events=2)
        assert left == ["left mid-stream"] * 3

    asyncio.run(scenario())
    ledger = settled(gw.url, "race", None, timeout=10)
    assert ledger["reserved_usd"] == "0"
    records = gw.records(wait_for=26)
    logged = sum((Decimal(r["cost_usd"]) for r in records if r.get("cost_usd")), Decimal(0))
    # Completed answers cost exactly their usage; streams cut by the client are billed what they streamed.
    assert Decimal(ledger["spent_usd"]) == logged
    assert logged >= expected
    assert sum(1 for r in records if r["status"] == 499) == 7


def test_spent_budget_is_a_429_in_each_clients_format_naming_the_budget(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        budget_config(anthropic_up, openai_up, "memory", "budgets:\n  race: { usd: 0.15, period: day }\n")
    )
    anthropic_up.push(Script(usage={"output_tokens": 1000}))  # $0.10 of $0.15 spent
    sdk = anthropic_client(gw)
    sdk.messages.create(model="claude-metered", max_tokens=1000, messages=[{"role": "user", "content": "a"}])
    settled(gw.url, "race")
    with pytest.raises(anthropic.RateLimitError) as info:
        sdk.messages.create(
            model="claude-metered", max_tokens=1000, messages=[{"role": "user", "content": "b"}]
        )
    message = sdk_message(info.value)
    assert "budget 'race' is spent: $0.1 of $0.15 per day" in message
    assert "may cost up to $0.1" in message and "It resets 20" in message and "T00:00:00Z" in message
    assert info.value.response.headers["retry-after"].isdigit()
    oai = openai_client(gw)
    with pytest.raises(openai.RateLimitError) as oinfo:
        oai.chat.completions.create(
            model="gpt-metered", max_tokens=1000, messages=[{"role": "user", "content": "c"}]
        )
    assert oinfo.value.code == "budget_exceeded" and "budget 'race'" in oinfo.value.message
    # A smaller worst case still fits in what is left.
    anthropic_up.push(Script(usage={"output_tokens": 10}))
    sdk.messages.create(model="claude-metered", max_tokens=400, messages=[{"role": "user", "content": "d"}])
    assert len(anthropic_up.requests) == 2
    refused = [r for r in gw.records(wait_for=4) if r["status"] == 429]
    assert len(refused) == 2 and all("budget 'race'" in r["error"] for r in refused)


def test_a_budget_gate_downgrades_to_otherwise_when_spent(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = standard_config(
        anthropic_up,
        openai_up,
        PRICING
        + """
budgets:
  coding: { usd: 0.25, period: month, by: metadata.user }
routes:
  coding:
    limit: { budget: coding }
    to: anthropic/claude-metered
    otherwise: anthropic/claude-cheap
""",
    )
    gw = make_gateway(config)
    sdk = anthropic_client(gw)

    def ask(user: str) -> str:
        anthropic_up.push(Script(usage={"output_tokens": 1000}))
        raw = sdk.messages.with_raw_response.create(
            model="dynamic/coding",
            max_tokens=1000,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-gateway-metadata": json.dumps({"user": user})},
        )
        return raw.headers["x-gateway-model"]

    models = [ask("ana") for _ in range(3)]
    assert models == ["anthropic/claude-metered", "anthropic/claude-metered", "anthropic/claude-cheap"]
    assert ask("bob") == "anthropic/claude-metered"  # one budget per user
    time.sleep(0.1)
    assert counter(gw.url, "coding", '"ana"')["spent_usd"] == "0.2"  # type: ignore[index]


def test_warning_header_past_warn_at(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        budget_config(
            anthropic_up, openai_up, "memory", "budgets:\n  race: { usd: 1, period: week, warn_at: 0.5 }\n"
        )
    )
    sdk = anthropic_client(gw)
    warnings = []
    for _ in range(3):
        anthropic_up.push(Script(usage={"output_tokens": 3000}))  # $0.30 each
        raw = sdk.messages.with_raw_response.create(
            model="claude-metered", max_tokens=3000, messages=[{"role": "user", "content": "hi"}]
        )
        warnings.append(raw.headers.get("x-gateway-budget-warning"))
        settled(gw.url, "race")
    assert warnings == [None, None, "race: 60% spent ($0.6 of $1)"]


def test_unpriced_model_under_a_budget_is_refused_with_the_entry_to_add(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(budget_config(anthropic_up, openai_up, "memory", RACE))
    sdk = anthropic_client(gw)
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        sdk.messages.create(
            model="claude-homebrew-9", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    message = sdk_message(info.value)
    assert "model anthropic/claude-homebrew-9 has no known price" in message
    assert "`pricing:`" in message and "anthropic/claude-homebrew-9: {input:" in message
    assert anthropic_up.requests == []
    # Known models are priced by the built-in table (no config needed).
    anthropic_up.push(Script())
    sdk.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("rule", ["closed", "open"])
def test_unreachable_store_follows_on_unavailable(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, rule: str
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    config = budget_config(anthropic_up, openai_up, dead, RACE).replace(
        f"state: {{ store: '{dead}' }}", f"state: {{ store: '{dead}', on_unavailable: {rule} }}"
    )
    config = config.replace(
        "gateways:\n  default: { auth: none, budgets: [race] }",
        "gateways:\n  default: { auth: none, budgets: [race] }\n  free: { auth: none }",
    )
    gw = make_gateway(config)
    ready = httpx.get(gw.url + "/readyz", timeout=5)
    assert (
        ready.json()["state"]["ok"] is False
        and "redis at redis://127.0.0.1" in ready.json()["state"]["error"]
    )
    sdk = anthropic_client(gw)
    anthropic_up.push(Script(), Script())
    if rule == "closed":
        assert ready.status_code == 503
        with pytest.raises(anthropic.APIStatusError) as info:
            sdk.messages.create(
                model="claude-metered", max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
        assert info.value.status_code == 503 and "state store is unreachable" in sdk_message(info.value)
    else:
        assert ready.status_code == 200
        sdk.messages.create(
            model="claude-metered", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
        record = gw.records(wait_for=1)[-1]
        assert record["status"] == 200 and "redis at" in record["state_error"]
    # A gateway without budgets or limits never needs the store.
    free = anthropic_client(gw, "/g/free")
    free.messages.create(model="claude-metered", max_tokens=10, messages=[{"role": "user", "content": "x"}])


def test_native_passthrough_is_under_the_same_budget(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        budget_config(anthropic_up, openai_up, "memory", "budgets:\n  race: { usd: 0.15, period: day }\n")
    )
    native = anthropic_client(gw, "/anthropic")
    anthropic_up.push(Script(usage={"output_tokens": 1000}))
    raw = native.messages.with_raw_response.create(
        model="claude-metered", max_tokens=1000, messages=[{"role": "user", "content": "a"}]
    )
    assert raw.http_response.status_code == 200
    assert settled(gw.url, "race")["spent_usd"] == "0.1"
    with pytest.raises(anthropic.RateLimitError):
        native.messages.create(
            model="claude-metered", max_tokens=1000, messages=[{"role": "user", "content": "b"}]
        )
    # Reading calls cost nothing and pass; a POST that names no model cannot be priced.
    assert httpx.get(gw.url + "/anthropic/v1/models", headers={"x-api-key": "k"}).status_code == 200
    unnamed = httpx.post(
        gw.url + "/anthropic/v1/messages",
        json={"max_tokens": 5, "messages": []},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert unnamed.status_code == 403 and "must name its `model`" in unnamed.json()["error"]["message"]
    assert len(anthropic_up.requests) == 2


# Budget arithmetic (gateway/budgets.py) ---------------------------------------------------------------------


def test_calendar_periods_in_utc() -> None:
    from datetime import UTC, datetime

    from gateway.policy.budgets import period

    at = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert period("day", at) == ("2026-12-31", datetime(2027, 1, 1, tzinfo=UTC))
    assert period("month", at) == ("2026-12", datetime(2027, 1, 1, tzinfo=UTC))
    assert period("week", at) == (
        "2026-W53",
        datetime(2027, 1, 4, tzinfo=UTC),
    )  # Thursday; weeks start Monday
    assert period("total", at) == ("total", None)
    monday = datetime(2026, 11, 23, 0, 0, 0, tzinfo=UTC)
    assert period("week", monday)[0] == "2026-W48"


def test_worst_case_takes_the_dearest_input_rate_and_target() -> None:
    from gateway.policy.budgets import DEFAULT_MAX_OUTPUT, output_cap, worst_case
    from gateway.pricing.prices import Price

    sonnet = Price(Decimal(3), Decimal(15), Decimal("0.3"), Decimal("3.75"), "test")
    mini = Price(Decimal("0.25"), Decimal(2), Decimal("0.025"), Decimal("0.25"), "test")
    # 10,000 input tokens at the cache-write rate, 1,000 output tokens.
    assert worst_case([(sonnet, 1000), (mini, 1000)], 10_000) == Decimal("0.0525")
    assert worst_case([(mini, 4000)], 0) == Decimal("0.008")
    assert output_cap({"max_tokens": 50}, {"max_tokens": 4000}) == 50  # a leaf's params win
    assert output_cap({}, {"max_completion_tokens": 700}) == 700
    assert output_cap({}, {"max_tokens": True}) == DEFAULT_MAX_OUTPUT


def test_holds_of_a_killed_replica_end_with_their_lease(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream, redis_url: str
) -> None:
    config = budget_config(anthropic_up, openai_up, redis_url, LEAK).replace(
        f'anthropic: {{ type: anthropic, base_url: "{anthropic_up.base_url}" }}',
        f'anthropic: {{ type: anthropic, base_url: "{anthropic_up.base_url}", timeouts: {{ total: 2s }} }}',
    )
    assert "total: 2s" in config
    (tmp_path / "gateway.yaml").write_text(textwrap.dedent(config))
    with GatewayProcess(tmp_path) as doomed, GatewayProcess(tmp_path) as survivor:
        anthropic_up.push(Script(delay=30))
        body = {"model": "claude-metered", "max_tokens": 1000, "messages": [{"role": "user", "content": "x"}]}
        with httpx.Client(base_url=doomed.url, timeout=30) as client:
            threading.Thread(target=_post_ignoring_errors, args=(client, body), daemon=True).start()
            assert anthropic_up.wait_for_requests(1, timeout=10)
            assert doomed.proc is not None
            doomed.proc.kill()  # kill -9: nothing settles this request's hold
            doomed.proc.wait(5)
            held = counter(survivor.url, "race")
            assert held is not None and (held["reserved_usd"], held["open_reservations"]) == ("0.1", 1)
            # Its lease is the provider's 2 s total timeout plus a margin for settling.
            deadline = time.monotonic() + 30
            while counter(survivor.url, "race")["open_reservations"]:  # type: ignore[index]
                assert time.monotonic() < deadline, "the hold outlived its lease"
                time.sleep(0.5)
            assert counter(survivor.url, "race") == {
                **held,
                "reserved_usd": "0",
                "open_reservations": 0,
                "remaining_usd": "100",
            }


def _post_ignoring_errors(client: httpx.Client, body: dict[str, Any]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        client.post("/v1/messages", json=body, headers=HEADERS)


def test_openai_streams_under_a_budget_report_usage(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(budget_config(anthropic_up, openai_up, "memory", LEAK))
    openai_up.push(Script(text="counted", usage={"prompt_tokens": 5, "completion_tokens": 250}))
    oai = openai_client(gw)
    chunks = list(
        oai.chat.completions.create(
            model="gpt-metered", max_tokens=1000, stream=True, messages=[{"role": "user", "content": "x"}]
        )
    )
    # The client did not ask for usage; the gateway did, so the budget is charged the real cost.
    assert openai_up.requests[-1].json["stream_options"] == {"include_usage": True}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "counted"
    assert settled(gw.url, "race")["spent_usd"] == "0.025"
    # A native call is forwarded untouched; an answer without usage is charged its reservation.
    openai_up.push(Script(text="unmetered"))
    native = openai_client(gw, "/openai")
    list(
        native.chat.completions.create(
            model="gpt-metered", max_tokens=1000, stream=True, messages=[{"role": "user", "content": "x"}]
        )
    )
    assert "stream_options" not in openai_up.requests[-1].json
    assert settled(gw.url, "race")["spent_usd"] == "0.125"


def test_count_tokens_costs_nothing_even_when_the_budget_is_spent(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        budget_config(anthropic_up, openai_up, "memory", "budgets:\n  race: { usd: 0.1, period: day }\n")
    )
    sdk = anthropic_client(gw)
    anthropic_up.push(Script(usage={"output_tokens": 1000}))
    sdk.messages.create(model="claude-metered", max_tokens=1000, messages=[{"role": "user", "content": "a"}])
    for model in ("claude-metered", "gpt-metered"):  # forwarded, and estimated offline
        counted = sdk.messages.count_tokens(model=model, messages=[{"role": "user", "content": "hello"}])
        assert counted.input_tokens > 0
    time.sleep(0.1)
    assert settled(gw.url, "race")["spent_usd"] == "0.1"


def test_a_request_without_a_cap_holds_the_models_maximum_output(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    """A Responses client without max_output_tokens is sent the model's maximum output (64,000 for
    Claude Sonnet 4.5), so that is its worst case; an unknown model's stays 4096."""
    pricing = """
pricing:
  anthropic/claude-sonnet-4-5: { input: 0, output: 100 }
  anthropic/claude-x: { input: 0, output: 100 }
budgets:
  race: { usd: 5.00, period: day }
"""
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            pricing,
            gateway="gateways:\n  default: { auth: none, budgets: [race] }\n",
        )
    )
    client = openai_client(gw)
    with pytest.raises(openai.RateLimitError) as info:  # 64,000 tokens at $100 per million: $6.40
        client.responses.create(model="claude-sonnet-4-5", input="Write the patch.", stream=True)
    assert "may cost up to $6.4." in info.value.message
    assert not anthropic_up.requests
    anthropic_up.push(Script(text="Done.", usage={"output_tokens": 10}))
    capped = client.responses.create(model="claude-sonnet-4-5", input="Patch.", max_output_tokens=1000)
    assert capped.output_text == "Done."
    anthropic_up.push(Script(text="Done.", usage={"output_tokens": 10}))
    assert client.responses.create(model="claude-x", input="Patch.").output_text == "Done."  # $0.4096 fits
    assert [r.json["max_tokens"] for r in anthropic_up.requests if r.json] == [1000, 4096]
