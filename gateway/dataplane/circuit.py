"""Circuit breaking per target: eject a failing (provider + model + key) for a cooldown, like Envoy's
outlier detection (reference/reliability.md §1.3).

A target is an opaque string key, e.g. ``"anthropic/claude-x#key:anthropic-main"``. The data plane reports
each attempt's outcome with `Breakers.record`; fallback routing asks `Breakers.filter` which candidates
to try. Pure state machine: no I/O, the clock is injected, and one `Breakers` lives per process (the event
loop is single-threaded, so there are no locks).

States, per target:

- **closed**: traffic flows. It trips to *open* after `consecutive_failures` failures in a row, or when the
  failure rate over the last `window` seconds reaches `failure_rate` with at least `min_requests` outcomes.
- **open** (ejected): skipped by `filter` for ``base_ejection * level`` seconds, capped at `max_ejection`,
  where *level* counts ejections since the target last stayed healthy for `max_ejection` seconds, so the
  cooldown grows on repeats (Envoy's ``base_ejection_time`` * times ejected). Outcomes that arrive while
  open (requests sent before the ejection) are ignored.
- **half_open**: the cooldown is over and traffic flows again; the next outcome decides. Success closes the
  breaker and resets the streak and window; failure ejects again for longer.

What counts as a failure is the caller's decision. Sensible: 5xx, timeouts, connect errors, broken
streams. A 429 should NOT count by default: it is the provider's quota speaking, not ill health, and the
fallback/backoff logic already handles it; count it only if configured to. Client errors (other 4xx)
never should, or one bad client could eject a healthy upstream.

"Never eject the last one standing": `filter` never returns an empty list for a non-empty input. If
every candidate is ejected it returns the one whose ejection ends soonest.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")

State = Literal["closed", "open", "half_open"]

# The window is kept as this many time buckets of counts, so memory per target is bounded whatever the
# request rate; the rate is judged over the window to within one bucket's width.
WINDOW_BUCKETS = 10
# Targets with no outcome for this long are forgotten (lazy sweep on `record`).
IDLE_TTL = 600.0


@dataclass(frozen=True)
class BreakerPolicy:
    """When to eject a target and for how long."""

    consecutive_failures: int = 5
    failure_rate: float = 0.5  # 0 < rate <= 1, judged over `window` once `min_requests` outcomes are in it
    min_requests: int = 20
    window: float = 30.0  # seconds
    base_ejection: float = 30.0  # seconds; the n-th ejection lasts base * n ...
    max_ejection: float = 300.0  # ... capped at this

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1:
            raise ValueError("consecutive_failures must be >= 1")
        if not 0.0 < self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.min_requests < 1:
            raise ValueError("min_requests must be >= 1")
        if self.window <= 0:
            raise ValueError("window must be > 0")
        if self.base_ejection <= 0:
            raise ValueError("base_ejection must be > 0")
        if self.max_ejection < self.base_ejection:
            raise ValueError("max_ejection must be >= base_ejection")

    def ejection_time(self, level: int) -> float:
        """Seconds the `level`-th consecutive ejection (1-based) lasts."""
        return min(self.base_ejection * max(level, 1), self.max_ejection)


@dataclass(slots=True)
class _Bucket:
    start: float
    ok: int = 0
    failed: int = 0


@dataclass(slots=True)
class _Target:
    last_seen: float
    consecutive: int = 0
    buckets: deque[_Bucket] = field(default_factory=deque)
    ejections: int = 0  # total, for display
    level: int = 0  # drives the cooldown; decays after a healthy spell
    open_until: float | None = None  # set while open or half-open; None when closed
    closed_since: float | None = None


class Breakers:
    """Per-target circuit breakers for one process."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        idle_ttl: float = IDLE_TTL,
    ) -> None:
        self.policy = policy if policy is not None else BreakerPolicy()
        self._clock = clock
        self._idle_ttl = idle_ttl
        self._targets: dict[str, _Target] = {}
        self._last_sweep = clock()

    # --- reporting ---------------------------------------------------------------------------------

    def record(self, target: str, ok: bool) -> None:
        """Report one attempt's outcome against `target` (what counts as a failure: see module doc)."""
        now = self._clock()
        self._sweep(now)
        st = self._targets.get(target)
        if st is None:
            st = self._targets[target] = _Target(last_seen=now, closed_since=now)
        st.last_seen = now
        if st.open_until is not None:
            if now < st.open_until:
                return  # open: a late outcome from before the ejection says nothing new
            # half-open: this outcome decides
            if ok:
                self._close(st, now)
                self._add(st, now, ok)
            else:
                self._eject(st, now)
            return
        self._add(st, now, ok)
        if ok:
            st.consecutive = 0
            return
        st.consecutive += 1
        if st.consecutive >= self.policy.consecutive_failures:
            self._eject(st, now)
            return
        total, failed = self._counts(st, now)
        if total >= self.policy.min_requests and failed / total >= self.policy.failure_rate:
            self._eject(st, now)

    # --- routing -----------------------------------------------------------------------------------

    def available(self, target: str) -> bool:
        """Whether traffic may go to `target` now (closed or half-open; unknown targets are closed)."""
        st = self._targets.get(target)
        return st is None or st.open_until is None or self._clock() >= st.open_until

    def filter(self, targets: Sequence[T], key: Callable[[T], str]) -> list[T]:
        """The targets not ejected, in order. Never empty for a non-empty input: if all are ejected, the
        one whose ejection ends soonest (the first such on a tie) is returned alone."""
        now = self._clock()
        keep: list[T] = []
        soonest: T | None = None
        soonest_until = 0.0
        for t in targets:
            st = self._targets.get(key(t))
            if st is None or st.open_until is None or now >= st.open_until:
                keep.append(t)
            elif soonest is None or st.open_until < soonest_until:
                soonest, soonest_until = t, st.open_until
        if not keep and soonest is not None:
            keep.append(soonest)
        return keep

    # --- visibility --------------------------------------------------------------------------------

    def state(self, target: str) -> State:
        st = self._targets.get(target)
        return "closed" if st is None else self._state(st, self._clock())

    def snapshot(self) -> list[dict[str, Any]]:
        """Per-target state for /readyz or an admin endpoint, sorted by target. Read-only."""
        now = self._clock()
        out: list[dict[str, Any]] = []
        for name in sorted(self._targets):
            st = self._targets[name]
            total, failed = self._counts(st, now)
            state = self._state(st, now)
            out.append(
                {
                    "target": name,
                    "state": state,
                    "consecutive_failures": st.consecutive,
                    "failure_rate": (failed / total) if total else 0.0,
                    "window_requests": total,
                    "ejections": st.ejections,
                    "open_until": (st.open_until - now)
                    if state == "open" and st.open_until is not None
                    else None,
                }
            )
        return out

    def __len__(self) -> int:
        return len(self._targets)

    # --- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _state(st: _Target, now: float) -> State:
        if st.open_until is None:
            return "closed"
        return "open" if now < st.open_until else "half_open"

    def _bucket_width(self) -> float:
        return self.policy.window / WINDOW_BUCKETS

    def _add(self, st: _Target, now: float, ok: bool) -> None:
        width = self._bucket_width()
        start = now - (now % width)
        if not st.buckets or st.buckets[-1].start != start:
            st.buckets.append(_Bucket(start))
        b = st.buckets[-1]
        if ok:
            b.ok += 1
        else:
            b.failed += 1
        horizon = now - self.policy.window
        while st.buckets and st.buckets[0].start + width <= horizon:
            st.buckets.popleft()

    def _counts(self, st: _Target, now: float) -> tuple[int, int]:
        """(outcomes, failures) in the window; buckets wholly older than the window are not counted."""
        horizon = now - self.policy.window
        width = self._bucket_width()
        total = failed = 0
        for b in st.buckets:
            if b.start + width > horizon:
                total += b.ok + b.failed
                failed += b.failed
        return total, failed

    def _eject(self, st: _Target, now: float) -> None:
        if st.closed_since is not None and now - st.closed_since >= self.policy.max_ejection:
            st.level = 0  # healthy long enough: start the cooldown ladder again
        st.level += 1
        st.ejections += 1
        st.open_until = now + self.policy.ejection_time(st.level)
        st.closed_since = None
        st.buckets.clear()

    @staticmethod
    def _close(st: _Target, now: float) -> None:
        st.open_until = None
        st.closed_since = now
        st.consecutive = 0
        st.buckets.clear()

    def _sweep(self, now: float) -> None:
        """Forget targets idle for `idle_ttl` (checked at most every tenth of it), unless still open."""
        if now - self._last_sweep < self._idle_ttl / 10:
            return
        self._last_sweep = now
        cutoff = now - self._idle_ttl
        stale = [
            name
            for name, st in self._targets.items()
            if st.last_seen <= cutoff and (st.open_until is None or now >= st.open_until)
        ]
        for name in stale:
            del self._targets[name]
