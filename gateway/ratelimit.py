"""Rate limits for `limit: {rate: ...}` route nodes: embedded, in-memory sliding-window counters.

`RateGates.gate` implements routing's `Gate` contract (True = the limit is spent). State lives in the
instance, one per process; a shared (Redis-backed) store can later offer the same `gate` method.

The window is the two-fixed-windows approximation of a sliding window (as in Cloudflare's rate limiter and
the `limits` library): the count of the previous fixed window, weighted by how much of it still overlaps
the sliding window, plus the count of the current one. O(1) time and constant memory per key.

Everything here is synchronous: with one event loop, a `hit` cannot interleave with another, so
concurrent requests can never together get past a limit.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from gateway.config.units import parse_duration
from gateway.routing import Facts, show_value
from gateway.table import Limit

DEFAULT_MAX_KEYS = 100_000
_SWEEP = 2  # idle keys examined (and dropped if expired) per hit


class _Counter:
    __slots__ = ("current", "per", "previous", "window")

    def __init__(self, window: int, per: float) -> None:
        self.window = window  # index of the current fixed window: floor(now / per)
        self.per = per
        self.current = 0
        self.previous = 0

    def idle(self, now: float) -> bool:
        """Both windows are over: the counter says nothing any more and can be dropped."""
        return math.floor(now / self.per) >= self.window + 2


class SlidingWindow:
    """Sliding-window counters by key.

    Keys are kept in least-recently-hit order; each hit drops a few idle keys from the old end, and past
    `max_keys` the least recently hit key is dropped even if it is not idle (it starts over from zero).
    """

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self._counters: OrderedDict[str, _Counter] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counters)

    def hit(self, key: str, cost: int, limit: int, per: float, now: float) -> bool:
        """Admit and count `cost` against `limit` per `per` seconds for `key`, or refuse (and count nothing).

        A request is refused when the limit is already reached, or when its cost would take the count
        past the limit (so a single cost larger than the limit is always refused).
        """
        if per <= 0:
            raise ValueError(f"per must be positive: {per!r}")
        window = math.floor(now / per)
        counter = self._counters.get(key)
        if counter is None or counter.per != per:
            counter = _Counter(window, per)
            self._counters[key] = counter
            self._counters.move_to_end(key)
        else:
            self._counters.move_to_end(key)
            if window != counter.window:
                counter.previous = counter.current if window == counter.window + 1 else 0
                counter.current = 0
                counter.window = window
        self._sweep(now)
        overlap = 1.0 - (now / per - window)  # share of the previous window still in the sliding one
        estimate = counter.previous * overlap + counter.current
        if estimate >= limit or estimate + cost > limit:
            return False
        counter.current += cost
        return True

    def _sweep(self, now: float) -> None:
        while len(self._counters) > self.max_keys:
            self._counters.popitem(last=False)
        for _ in range(_SWEEP):
            if len(self._counters) <= 1:
                return
            key, oldest = next(iter(self._counters.items()))
            if not oldest.idle(now):
                return
            del self._counters[key]


ABSENT = "absent"  # the `by` key part for requests without the field (not valid JSON, so no clash)


class RateGates:
    """The rate limits of `limit: {rate: {requests|tokens: N, per: <duration>, by: <field>}}` nodes.

    A counter is keyed by the rate mapping itself (so it survives config reloads that keep the node
    unchanged), an optional `scope` (e.g. the route name, to keep identical limits in different routes
    apart) and the value of the `by` field; requests without that field share one counter.
    `requests` costs 1 a request, `tokens` costs the request's estimated input tokens.
    Budget limits (`limit: {budget: ...}`) are not handled here and are never spent.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.clock = clock
        self.windows = SlidingWindow(max_keys)

    def gate(self, limit: Limit, facts: Facts, *, scope: str = "") -> bool:
        """routing.Gate: True when the limit is spent. A request that is not refused is counted."""
        rate = limit.rate
        if rate is None:
            return False
        amount, cost = _amount_and_cost(rate, facts)
        per = parse_duration(rate.get("per"))
        return not self.windows.hit(self.key(rate, facts, scope), cost, amount, per, self.clock())

    @staticmethod
    def key(rate: Mapping[str, Any], facts: Facts, scope: str = "") -> str:
        by = rate.get("by")
        part = "*"
        if by:
            present, value = facts.field(str(by))
            part = show_value(value) if present else ABSENT
        return f"{scope}\0{show_value(dict(rate))}\0{part}"


def _amount_and_cost(rate: Mapping[str, Any], facts: Facts) -> tuple[int, int]:
    if "requests" in rate:
        return int(rate["requests"]), 1
    if "tokens" in rate:
        return int(rate["tokens"]), max(0, int(facts.input_tokens))
    raise ValueError(f"a rate limit needs requests or tokens: {dict(rate)!r}")
