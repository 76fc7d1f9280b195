"""B1-B3 across processes (reliability.md section 7): `gateway serve --workers 2` is one gateway, as two
gateway processes sharing Redis are.

Each scenario runs twice: two workers of one `gateway serve` (their state store left out of the config,
so the SQLite file they share by default), and two separate processes sharing a real redis-server. To
know which worker answers, a test pins one: the other is stopped (SIGSTOP) while requests go out on
fresh connections, so only the pinned one accepts them from the socket they share (kept under 3 s:
uvicorn replaces a worker that does not answer its health check for 5 s). Every check is one an unshared
store fails: a pinned worker would admit its own $1 or its own 60 requests, miss the other's cache
entry, and report only its own spend and request counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.battery.conftest import scale
from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess

PRICING = """
pricing:
  anthropic/claude-metered: { input: 0, output: 100 }
"""
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
BUDGETS = """
budgets:
  race: { usd: 1.00, period: total, by: metadata.round }
  leak: { usd: 100, period: month }
  viewed: { usd: 100, period: total }
"""
GATEWAYS = """
gateways:
  default: { auth: none, budgets: [race], cache: { ttl: 10m } }
  leaky: { auth: none, budgets: [leak] }
  counted: { auth: none }
  viewed: { auth: none, budgets: [viewed] }
  limited: { auth: none, rate_limits: [{ requests: 60, per: 1m }] }
"""


class Pair:
    """Two serving processes of one gateway: the workers of one serve, or two serves sharing Redis."""

    def __init__(self, processes: list[GatewayProcess]) -> None:
        self.processes = processes

    @property
    def pids(self) -> list[int]:
        if len(self.processes) == 1:
            return self.processes[0].worker_pids()
        return [p.proc.pid for p in self.processes if p.proc is not None]

    def url(self, which: int) -> str:
        return self.processes[which % len(self.processes)].url

    @contextlib.contextmanager
    def pinned(self, which: int) -> Iterator[str]:
        """The URL that reaches process `which` only, while the block runs."""
        if len(self.processes) > 1:
            yield self.url(which)
            return
        deadline = time.monotonic() + 30
        while len(pids := self.pids) != 2:  # a killed worker is being replaced
            assert time.monotonic() < deadline, pids
            time.sleep(0.2)
        other = pids[1 - which]
        os.kill(other, signal.SIGSTOP)
        try:
            yield self.url(0)
        finally:
            os.kill(other, signal.SIGCONT)

    def records(self) -> list[dict[str, Any]]:
        return [r for p in self.processes for r in p.records()]


@pytest.fixture(scope="module", params=["workers", "redis"])
def pair(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _anthropic_upstream: FakeUpstream,
    _openai_upstream: FakeUpstream,
) -> Iterator[Pair]:
    """One pair per mode for the whole file (starting processes is most of the cost); the tests use
    budgets, gateways and metadata of their own, and the kill -9 test runs last."""
    anthropic_up, openai_up = _anthropic_upstream, _openai_upstream
    tmp_path = tmp_path_factory.mktemp(request.param)
    extra = PRICING + BUDGETS
    if request.param == "redis":
        from tests.services import flush

        redis = request.getfixturevalue("_redis_server")
        flush(redis)
        extra += f"\nstate: {{ store: '{redis}' }}\n"
    config = standard_config(anthropic_up, openai_up, extra, gateway=GATEWAYS).replace(
        f'anthropic: {{ type: anthropic, base_url: "{anthropic_up.base_url}" }}',
        f'anthropic: {{ type: anthropic, base_url: "{anthropic_up.base_url}", timeouts: {{ total: 3s }} }}',
    )
    assert "total: 3s" in config
    (tmp_path / "gateway.yaml").write_text(textwrap.dedent(config))
    with contextlib.ExitStack() as stack:
        if request.param == "workers":
            processes = [stack.enter_context(GatewayProcess(tmp_path, workers=2))]
        else:
            processes = [stack.enter_context(GatewayProcess(tmp_path)) for _ in range(2)]
        both = Pair(processes)
        for which in (0, 1):  # both answer before the test starts
            with both.pinned(which) as url:
                assert httpx.get(url + "/readyz", timeout=10).status_code == 200
        if request.param == "workers":
            assert (tmp_path / "data" / "state.db").exists()  # the default beside the log database
        yield both


def body(text: str, max_tokens: int = 1000) -> dict[str, Any]:
    return {
        "model": "claude-metered",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    }


async def burst(url: str, n: int, round_id: str, start: int) -> list[tuple[int, Decimal]]:
    """n requests started together (one barrier), each with a $0.10 worst case, on fresh connections."""
    barrier = asyncio.Event()
    metadata = json.dumps({"round": round_id})
    async with httpx.AsyncClient(
        base_url=url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    ) as c:

        async def one(i: int) -> tuple[int, Decimal]:
            await barrier.wait()
            answer = await c.post(
                "/v1/messages",
                json=body(f"{round_id} request {start + i}"),  # never a cache hit of another round
                headers={**HEADERS, "x-gateway-metadata": metadata},
            )
            return answer.status_code, Decimal(answer.headers.get("x-gateway-cost-usd", "0"))

        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        await asyncio.sleep(0.05)
        barrier.set()
        return await asyncio.gather(*tasks)


def budget_counter(url: str, name: str) -> list[dict[str, Any]]:
    with httpx.Client(timeout=10) as c:  # a fresh connection: whoever is accepting answers
        answer = c.get(url + "/api/budgets").json()
    return next(b for b in answer["data"] if b["name"] == name)["counters"]


@pytest.mark.timeout(scale(120, 400))  # full: 100 rounds against a 1 s upstream, each at least 1 s
def test_a_budget_admits_no_more_than_its_limit_across_both(
    pair: Pair, anthropic_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    """B1: each round, 6 requests ($0.60 held) on one, then 25 on the other while those are in flight
    against a 1 s upstream: the second admits exactly the $0.40 left, 4 requests."""
    rounds = scale(5, 100)
    rng = random.Random(5)
    sent = admitted = 0
    for r in range(rounds):
        anthropic_up.reset()
        for _ in range(10):
            anthropic_up.push(Script(delay=1.0, usage={"output_tokens": rng.randint(200, 1000)}))
        first_at, second_at = r % 2, 1 - r % 2

        async def round_(r: int = r, first_at: int = first_at, second_at: int = second_at) -> Any:
            with pair.pinned(first_at) as url:
                first = asyncio.ensure_future(burst(url, 6, f"r{r}", 0))
                assert await asyncio.to_thread(anthropic_up.wait_for_requests, 6, 5)
            with pair.pinned(second_at) as url:
                second = await burst(url, 25, f"r{r}", 6)
            return await first, second

        first, second = asyncio.run(round_())
        assert [s for s, _ in first] == [200] * 6
        statuses = [s for s, _ in second]
        assert sorted(statuses) == [200] * 4 + [429] * 21, statuses
        spent = sum((c for _, c in first + second), Decimal(0))
        assert spent <= Decimal("1.00")
        sent += 31
        admitted += 10
        # The ledger is the real costs, exactly, whichever of the two answers.
        for which in (0, 1):
            deadline = time.monotonic() + 10
            while True:
                with pair.pinned(which) as url:
                    (c,) = (c for c in budget_counter(url, "race") if c["by"] == json.dumps(f"r{r}"))
                if c["open_reservations"] == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert (Decimal(c["spent_usd"]), c["reserved_usd"], c["open_reservations"]) == (spent, "0", 0)
    figures.update(rounds=rounds, requests=sent, admitted=admitted, overspent=0)


def test_budgets_view_equals_the_logs_sum_whoever_answers(
    pair: Pair, anthropic_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    n = scale(40, 200)
    rng = random.Random(9)
    for _ in range(n):
        anthropic_up.push(Script(usage={"output_tokens": rng.randint(1, 500)}))
    for i in range(n):
        with pair.pinned(i % 2) as url:
            answer = httpx.post(
                url + "/g/viewed/v1/messages", json=body(f"q{i}", 500), headers=HEADERS, timeout=30
            )
            assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 10
    while len(records := [r for r in pair.records() if r["gateway"] == "viewed"]) < n:
        assert time.monotonic() < deadline, "the access log is missing records"
        time.sleep(0.1)
    logged = sum((Decimal(r["cost_usd"]) for r in records), Decimal(0))
    assert logged > 0
    answers = []
    for i in range(scale(10, 50)):  # asked many times, on fresh connections, from each side
        with pair.pinned(i % 2) as url:
            (c,) = budget_counter(url, "viewed")
        answers.append(Decimal(c["spent_usd"]))
    assert answers == [logged] * len(answers)
    figures.update(requests=n, spent_usd=str(logged), views_asked=len(answers))


def test_a_rate_limit_admits_its_count_across_both(pair: Pair, figures: dict[str, Any]) -> None:
    """B3: 60 requests a minute; 40 through one, then 40 through the other within the minute."""
    admitted = []
    for which in (0, 1):
        with pair.pinned(which) as url:
            statuses = asyncio.run(_statuses(url + "/g/limited/v1/messages", 40))
        admitted.append(statuses.count(200))
        assert set(statuses) <= {200, 429}
    assert admitted == [40, 20]
    for which in (0, 1):
        with pair.pinned(which) as url, httpx.Client(timeout=10) as c:
            (limit,) = c.get(url + "/api/limits").json()["data"]
        assert [w["used"] for w in limit["windows"]] == [60]
    figures.update(requests=80, admitted=sum(admitted), limit=60)


async def _statuses(url: str, n: int) -> list[int]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
        answers = await asyncio.gather(
            *(c.post(url, json=body(f"limited {i}", 10), headers=HEADERS) for i in range(n))
        )
    return [a.status_code for a in answers]


def test_an_answer_cached_by_one_is_a_hit_on_the_other(pair: Pair, anthropic_up: FakeUpstream) -> None:
    for i in range(3):
        question = body(f"cached {i}", 10)
        with pair.pinned(i % 2) as url:
            miss = httpx.post(url + "/v1/messages", json=question, headers=HEADERS, timeout=30)
        with pair.pinned(1 - i % 2) as url:
            hit = httpx.post(url + "/v1/messages", json=question, headers=HEADERS, timeout=30)
        assert (miss.headers["x-gateway-cache"], hit.headers["x-gateway-cache"]) == ("MISS", "HIT")
        assert hit.content == miss.content
    assert len(anthropic_up.requests) == 3


def test_metrics_count_every_request_whoever_answers(
    pair: Pair, anthropic_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    """With two separate processes each counts its own (Prometheus scrapes both); the workers of one
    serve are one target, so each answer counts both workers' requests."""
    n = scale(400, 2000)
    for which in (0, 1):
        with pair.pinned(which) as url:
            statuses = asyncio.run(_many(url + "/g/counted/v1/messages", n // 2))
        assert statuses == [200] * (n // 2)
    time.sleep(1.5)  # past SHARE_EVERY: the other worker's last snapshot holds all its requests
    counts = []
    for i in range(scale(10, 20)):
        with pair.pinned(i % 2) as url, httpx.Client(timeout=10) as c:
            text = c.get(url + "/metrics").text
        counts.append(_requests_total(text))
    expected = n if len(pair.processes) == 1 else n // 2
    assert counts == [expected] * len(counts)
    figures.update(requests=n, metrics_answers=counts)


async def _many(url: str, n: int, concurrency: int = 20) -> list[int]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:

        async def one(i: int) -> int:
            async with limit:
                return (await c.post(url, json=body(f"m{i}", 10), headers=HEADERS)).status_code

        return await asyncio.gather(*(one(i) for i in range(n)))


def _requests_total(text: str) -> int:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_requests_total" and sample.labels.get("gateway") == "counted":
                total += sample.value
    return int(total)


def test_a_reload_asked_of_one_reaches_the_other(pair: Pair) -> None:
    """POST /api/reload answered by one worker reloads both (the serve runs --no-watch: only the
    announcement can reach the other). Two separate serves are two gateways: the other keeps its own."""
    probe = pair.processes[0].config / "reload-probe.yaml"
    probe.write_text("models:\n  reload-probe: anthropic/claude-metered\n")
    try:
        with pair.pinned(0) as url:
            answer = httpx.post(url + "/api/reload", timeout=10).json()
        assert answer["ok"], answer
        time.sleep(1.5)  # the others look for announcements every 0.5 s
        seen = []
        for i in range(6):
            with pair.pinned(i % 2) as url:
                seen.append(httpx.get(url + "/readyz", timeout=10).json()["config_version"])
        expected = [answer["version"]] * 6 if len(pair.processes) == 1 else [answer["version"], ANY] * 3
        assert seen == expected
        if len(pair.processes) > 1:
            assert seen[1] != answer["version"]
    finally:
        probe.unlink()
        for which in range(len(pair.processes)):
            with pair.pinned(which) as url:
                assert httpx.post(url + "/api/reload", timeout=10).json()["ok"]


def test_holds_of_a_killed_worker_end_with_their_lease(
    pair: Pair, anthropic_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    """B2: kill -9 of the one holding a reservation; the other sees it, then sees it end with its lease
    (the provider's 3 s total timeout plus the settling margin)."""
    anthropic_up.push(Script(delay=60))
    doomed = pair.pids[0]
    with pair.pinned(0) as url:
        threading.Thread(
            target=_post_ignoring_errors, args=(url + "/g/leaky/v1/messages",), daemon=True
        ).start()
        assert anthropic_up.wait_for_requests(1, timeout=5)
    os.kill(doomed, signal.SIGKILL)  # nothing settles this request's hold
    started = time.monotonic()
    # Not pinned from here: uvicorn replaces the killed worker, and any of them may answer.
    (held,) = budget_counter(pair.url(1), "leak")
    assert (held["reserved_usd"], held["open_reservations"]) == ("0.1", 1)
    while True:
        (now,) = budget_counter(pair.url(1), "leak")
        if now["open_reservations"] == 0:
            break
        assert time.monotonic() - started < 40, "the hold outlived its lease"
        time.sleep(0.5)
    assert (now["reserved_usd"], now["spent_usd"], now["remaining_usd"]) == ("0", "0", "100")
    figures.update(released_after_s=round(time.monotonic() - started, 1))


def _post_ignoring_errors(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url, json=body("doomed"), headers=HEADERS, timeout=90)
