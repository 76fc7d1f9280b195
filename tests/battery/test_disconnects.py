"""R1, clients that disconnect (reliability.md section 7; http.md: a client that disconnects cancels the
upstream request). Streams and non-streamed calls run together; 30% of the clients leave, in every
window: while the gateway waits for the upstream's first byte, mid-stream, while a retry waits out a
`retry-after`, and during a non-streamed wait. The upstream must see its connection closed within 1 s
(p99) of each abort, a waiting retry must never be sent, no upstream socket may be left on the fakes
that only aborted requests reached, the gateway's descriptors must come back to their baseline (+-2),
and every abort is logged as 499 with the tokens streamed so far.

The gateway runs as its own process, so that its descriptors are its own."""

from __future__ import annotations

import asyncio
import random
import statistics
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yarl

from tests.battery.conftest import open_fds, scale, tcp_connections
from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess

HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "client-key"}
LONG = {"chunk_delay": 0.05, "text_chunks": 40}  # a stream of about 2 s
ABORTED_BY = "aborted-by"  # the header that tells which test call a disconnect belongs to


def _port(fake: FakeUpstream) -> int:
    port = yarl.URL(fake.url).port
    assert port is not None
    return port


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    """One fake per abort window, each only ever reached by calls that will be aborted: every socket
    still open to one of them afterwards is a leak."""
    with (
        FakeUpstream("anthropic") as slow,
        FakeUpstream("anthropic") as drip,
        FakeUpstream("anthropic") as busy,
    ):
        yield {"slow": slow, "drip": drip, "busy": busy}


@pytest.fixture
def gw(
    anthropic_up: FakeUpstream, openai_up: FakeUpstream, fakes: dict[str, FakeUpstream], tmp_path: Path
) -> Iterator[GatewayProcess]:
    providers = "providers:\n" + "".join(
        f'  {name}: {{ type: anthropic, base_url: "{fake.base_url}" }}\n' for name, fake in fakes.items()
    )
    routes = "routes:\n  retrying: { model: busy/claude-sonnet-4-6, retries: 2 }\n"
    config = standard_config(anthropic_up, openai_up, routes).replace("providers:\n", providers, 1)
    (tmp_path / "gateway.yaml").write_text(textwrap.dedent(config))
    with GatewayProcess(tmp_path / "gateway.yaml") as process:
        yield process


def _held_fds(gw: GatewayProcess, *pooled: FakeUpstream) -> int:
    """The gateway's descriptors, less its keep-alive connections to upstreams whose answers ended
    normally (pooled on purpose, for reuse; counted twice on loopback, once per end)."""
    assert gw.proc is not None
    return open_fds(gw.proc.pid) - sum(tcp_connections(_port(fake)) // 2 for fake in pooled)


def test_disconnects_cancel_the_upstream_in_every_window(
    gw: GatewayProcess, anthropic_up: FakeUpstream, fakes: dict[str, FakeUpstream], figures: dict[str, Any]
) -> None:
    streams, plain = scale(60, 200), scale(20, 50)
    rng = random.Random(14)
    # (window, model, stream, seconds before the client leaves; None: it stays to the end)
    calls: list[tuple[str, str, bool, float | None]] = []
    for i in range(streams):
        if i % 10 < 7:
            calls.append(("complete", "claude-sonnet-4-6", True, None))
        elif i % 10 == 7:
            calls.append(("before-headers", "slow/claude-sonnet-4-6", True, rng.uniform(0.3, 1.2)))
        else:
            calls.append(("mid-stream", "drip/claude-sonnet-4-6", True, rng.uniform(0.4, 1.5)))
    for i in range(plain):
        if i % 10 < 7:
            calls.append(("complete", "claude-sonnet-4-6", False, None))
        else:
            calls.append(("non-streamed", "slow/claude-sonnet-4-6", False, rng.uniform(0.3, 1.2)))
    retrying = max(2, streams // 20)
    # The first attempt's 529 comes at once; the retry would go 3 s later: leave well inside that wait.
    calls += [("retry-wait", "dynamic/retrying", True, rng.uniform(1.0, 2.0)) for _ in range(retrying)]

    count = {w: sum(1 for c in calls if c[0] == w) for w in {c[0] for c in calls}}
    anthropic_up.push(*[Script(**LONG) for _ in range(count["complete"])])  # type: ignore[arg-type]
    slow = count["before-headers"] + count["non-streamed"]
    fakes["slow"].push(*[Script(delay=2.5, **LONG) for _ in range(slow)])  # type: ignore[arg-type]
    fakes["drip"].push(*[Script(**LONG) for _ in range(count["mid-stream"])])  # type: ignore[arg-type]
    # A 529 asking for a 3 s wait: the gateway holds it back and waits to retry.
    fakes["busy"].push(*[Script(status=529, headers={"retry-after": "3"}) for _ in range(retrying * 3)])

    async def warm(client: httpx.AsyncClient) -> None:
        anthropic_up.push(Script(), Script())
        for stream in (False, True):
            body = {"model": "claude-sonnet-4-6", "max_tokens": 64, "stream": stream, "messages": HI}
            (await client.post("/v1/messages", json=body, headers=HEADERS)).raise_for_status()

    async def one(
        client: httpx.AsyncClient, index: int, window: str, model: str, stream: bool, leave: float | None
    ) -> dict[str, Any]:
        body = {"model": model, "max_tokens": 64, "stream": stream, "messages": HI}
        headers = {**HEADERS, ABORTED_BY: str(index)}
        started = time.monotonic()
        try:
            async with (
                asyncio.timeout(leave),
                client.stream("POST", "/v1/messages", json=body, headers=headers) as resp,
            ):
                data = await resp.aread()
            return {"window": window, "status": resp.status_code, "body": data}
        except TimeoutError:
            assert leave is not None
            return {"window": window, "left": started + leave, "id": str(index)}

    async def drive() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=gw.url, timeout=30, limits=limits) as client:
            return list(await asyncio.gather(*(one(client, i, *c) for i, c in enumerate(calls))))

    async def warm_up() -> None:
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:
            await warm(client)

    asyncio.run(warm_up())
    time.sleep(0.5)
    baseline = _held_fds(gw, anthropic_up, fakes["busy"])
    results = asyncio.run(drive())
    time.sleep(3.0)  # past the retry-after: a retry that was going to be sent would have been

    problems: list[str] = []
    closed_after: list[float] = []
    never_sent = 0
    seen = {
        rec.headers.get(ABORTED_BY): at
        for fake in fakes.values()
        for at, rec in fake.disconnected
        if rec is not None
    }
    for result in results:
        window = result["window"]
        if "left" not in result:
            if window != "complete":
                problems.append(f"{window}: the call ended before the client left ({result['status']})")
            elif result["status"] != 200 or not result["body"]:
                problems.append(f"complete: {result['status']} {result['body'][-200:]!r}")
            continue
        if window == "retry-wait":
            sent = [r for r in fakes["busy"].requests if r.headers.get(ABORTED_BY) == result["id"]]
            if len(sent) > 1:
                problems.append(f"retry-wait: {len(sent)} upstream attempts after the client left")
            continue
        at = seen.get(result["id"])
        if at is not None:
            closed_after.append(at - result["left"])
        elif any(r.headers.get(ABORTED_BY) == result["id"] for f in fakes.values() for r in f.requests):
            problems.append(f"{window}: the upstream never saw the call {result['id']} end")
        else:
            never_sent += 1  # the client left before the gateway had called: nothing to cancel
    slowest = max(closed_after, default=float("inf"))
    p99 = statistics.quantiles(closed_after, n=100)[98] if len(closed_after) > 1 else slowest
    # The busy upstream's attempts end normally (a 529) and their connections go back to the pool.
    leftover = {name: tcp_connections(_port(fakes[name])) for name in ("slow", "drip")}
    after = _held_fds(gw, anthropic_up, fakes["busy"])
    records = gw.records()
    aborted = [r for r in results if "left" in r]
    left = [r for r in records if r["status"] == 499]
    mid_stream = [r for r in left if r["provider"] == "drip"]

    figures.update(
        streams=streams,
        non_streamed=plain,
        retry_waits=retrying,
        aborts=len(aborted),
        aborts_by_window={w: sum(1 for r in aborted if r["window"] == w) for w in count if w != "complete"},
        upstream_closed_p99_ms=round(p99 * 1000, 1),
        upstream_closed_max_ms=round(slowest * 1000, 1),
        upstream_sockets_left=leftover,
        aborted_before_the_upstream_call=never_sent,
        fds_baseline=baseline,
        fds_after=after,
        logged_499=len(left),
        failures=len(problems),
    )
    assert not problems, "\n".join(problems[:20])
    assert p99 <= 1.0, closed_after
    assert not any(leftover.values()), leftover
    assert abs(after - baseline) <= 2, (baseline, after)
    # Every abort the upstream saw is logged 499; one that left before the gateway had called it may
    # also have left before the gateway read its request (a loaded machine accepts late): nothing to log.
    assert len(aborted) - never_sent <= len(left) <= len(aborted), [(r["status"], r["error"]) for r in left]
    assert all(r["error"] and "client disconnected" in r["error"] for r in left)
    # Billing at least what was streamed: a stream cut mid-way still has its input tokens logged.
    assert mid_stream and all(r["input_tokens"] for r in mid_stream), mid_stream[:2]


HI = [{"role": "user", "content": "Hi"}]
