"""An open-loop load generator: requests start on a fixed schedule, whatever the answers do.

wrk is closed-loop (a connection sends its next request only after the previous answer), so a slow
server gets less load and its slowness is hidden; Debian has no wrk2. This one runs on the load core
under uvloop and works as wrk2 does: request i is due at t0 + i / rate and is started by its own task,
so a slow answer never delays the next send, over a fixed pool of keep-alive connections (64, as the
bench's wrk), and its latency counts from when it was due, so time spent waiting for a free connection
is counted, not omitted. A pool that grows with the backlog would instead open connections in bursts
after any stall, overflow the listen queue and measure SYN retransmits (1 s, 3 s, 7 s). At the soak's
~700-1,000 requests/s aiohttp costs the client about half of the load core; how late each task
started against its schedule (`lag`) is recorded, so a generator that cannot keep up shows in the
output instead of silently lowering the rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from bench import targets

T = TypeVar("T")
# What every other load sends (the gateway arm requires its token).
HEADERS = targets.REQUEST_HEADERS


def due_count(elapsed_s: float, rate: float) -> int:
    """How many requests are due `elapsed_s` after the start at `rate`/s (request 0 is due at once)."""
    if elapsed_s < 0:
        return 0
    # The small epsilon keeps a request due exactly now (floating error on i / rate) from waiting a turn.
    return math.floor(elapsed_s * rate + 1e-9) + 1


def scheduled_s(index: int, rate: float) -> float:
    """When request `index` is due, in seconds after the start."""
    return index / rate


def is_sse(index: int, share: float) -> bool:
    """Whether request `index` streams: spread evenly, so any run of n requests has round(n * share).

    Deterministic rather than random, so two soaks send the same mix in the same order.
    """
    if share <= 0:
        return False
    if share >= 1:
        return True
    return math.floor((index + 1) * share) > math.floor(index * share)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least pct % of the values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Outcome:
    latency_ms: float  # from when the request was due to the last byte of its answer
    lag_ms: float  # how late its task started against its schedule (the generator's own delay)
    ok: bool
    sse: bool
    error: str = ""


@dataclass
class WindowStats:
    """What finished in one sampling window."""

    wall_s: float
    completed: int
    errors: int
    sse: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    lag_p99_ms: float | None
    error_kinds: dict[str, int]


def summarize(outcomes: Sequence[Outcome], wall_s: float) -> WindowStats:
    ok = [o.latency_ms for o in outcomes if o.ok]
    kinds: dict[str, int] = {}
    for o in outcomes:
        if not o.ok:
            kinds[o.error] = kinds.get(o.error, 0) + 1
    return WindowStats(
        wall_s=wall_s,
        completed=len(outcomes),
        errors=len(outcomes) - len(ok),
        sse=sum(1 for o in outcomes if o.sse),
        rps=len(outcomes) / wall_s if wall_s > 0 else 0.0,
        p50_ms=percentile(ok, 50),
        p99_ms=percentile(ok, 99),
        max_ms=max(ok) if ok else None,
        lag_p99_ms=percentile([o.lag_ms for o in outcomes], 99),
        error_kinds=kinds,
    )


@dataclass
class OpenLoop:
    """Sends POSTs to `url` at `rate`/s, a `sse_share` of them streaming, until stopped or done."""

    url: str
    json_body: bytes
    sse_body: bytes
    rate: float
    sse_share: float = 0.2
    connections: int = 64
    max_in_flight: int = 2000  # due but unanswered; beyond this the target is hopelessly behind
    timeout_s: float = 30.0
    sent: int = 0
    in_flight: int = 0
    _outcomes: list[Outcome] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def take(self) -> list[Outcome]:
        """The outcomes finished since the last take (the event loop is single-threaded: no lock)."""
        out, self._outcomes = self._outcomes, []
        return out

    async def _one(self, session: aiohttp.ClientSession, stream: bool, due: float) -> None:
        start = time.monotonic()
        lag_ms = max(0.0, (start - due) * 1000)
        self.in_flight += 1
        error = ""
        try:
            body = self.sse_body if stream else self.json_body
            async with session.post(self.url, data=body, headers=HEADERS) as response:
                data = await response.read()
                if response.status != 200:
                    error = f"http {response.status}"
                elif stream and b"message_stop" not in data[-200:]:
                    error = "stream not ended by message_stop"
                elif not stream and b'"type":"message"' not in data:
                    error = "not an Anthropic message"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = type(exc).__name__
        finally:
            self.in_flight -= 1
        latency_ms = (time.monotonic() - due) * 1000
        self._outcomes.append(Outcome(latency_ms, lag_ms, ok=not error, sse=stream, error=error))

    async def run(self, duration_s: float, stop: asyncio.Event | None = None) -> None:
        connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=self.connections)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            t0 = time.monotonic()
            while not (stop is not None and stop.is_set()):
                elapsed = time.monotonic() - t0
                if elapsed >= duration_s:
                    break
                # Catch up on every request due by now: a late timer must not lower the rate.
                for index in range(self.sent, due_count(elapsed, self.rate)):
                    due = t0 + scheduled_s(index, self.rate)
                    if self.in_flight >= self.max_in_flight:
                        self._outcomes.append(
                            Outcome(0.0, 0.0, ok=False, sse=False, error="over max_in_flight")
                        )
                    else:
                        task = asyncio.create_task(self._one(session, is_sse(index, self.sse_share), due))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                    self.sent = index + 1
                next_due = t0 + scheduled_s(self.sent, self.rate)
                await asyncio.sleep(max(0.0, next_due - time.monotonic()))
            # Let what was sent finish, so the last window's numbers are whole.
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=self.timeout_s + 5)


def run_uvloop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run on uvloop when it is installed (it is, with the gateway), else the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())
