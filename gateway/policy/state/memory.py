"""The embedded state store: this process's memory. Nothing here awaits, so on one event loop every
operation is atomic; state is lost on restart and not shared between workers (use Redis for that)."""

from __future__ import annotations

import heapq
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.policy.state.store import Counter, CounterState, Refusal, Window, WindowState

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
_SWEEP_EVERY = 1024  # operations between sweeps of ended periods and idle windows


@dataclass(slots=True)
class _Budget:
    expires_at: float | None
    spent: int = 0
    reserved: int = 0
    holds: dict[str, int] = field(default_factory=dict)  # id -> amount
    leases: list[tuple[float, str]] = field(default_factory=list)  # heap of (lease end, id)

    def hold(self, hold: str, amount: int, until: float) -> None:
        self.holds[hold] = amount
        self.reserved += amount
        heapq.heappush(self.leases, (until, hold))

    def drop(self, hold: str) -> None:
        amount = self.holds.pop(hold, None)
        if amount is not None:
            self.reserved -= amount

    def expire_holds(self, now: float) -> None:
        """Holds whose lease has ended are dropped (settled ones left their lease in the heap)."""
        leases = self.leases
        while leases and leases[0][0] <= now:
            self.drop(heapq.heappop(leases)[1])
        if len(leases) > 2 * len(self.holds) + 64:  # mostly settled holds: rebuild
            self.leases = [entry for entry in leases if entry[1] in self.holds]
            heapq.heapify(self.leases)


@dataclass(slots=True)
class _Tokens:
    window: int  # index of the current fixed window: floor(now / per)
    current: int = 0
    previous: int = 0

    def roll(self, now: float, per: float) -> None:
        window = math.floor(now / per)
        if window != self.window:
            self.previous = self.current if window == self.window + 1 else 0
            self.current = 0
            self.window = window

    def used(self, now: float, per: float) -> float:
        overlap = 1.0 - (now / per - self.window)  # share of the previous window still inside
        return self.previous * overlap + self.current


class MemoryStore:
    name = "memory"

    def __init__(
        self, clock: Callable[[], float] = time.time, cache_bytes: int = DEFAULT_CACHE_BYTES
    ) -> None:
        self.clock = clock
        self.cache_bytes = cache_bytes
        self._budgets: dict[str, _Budget] = {}
        self._requests: dict[str, tuple[float, deque[float]]] = {}  # key -> (per, admission times)
        self._tokens: dict[str, tuple[float, _Tokens]] = {}
        self._cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # least recently used first
        self._cached = 0  # bytes in _cache
        self._values: dict[str, tuple[float, bytes]] = {}  # key -> (expires, value)
        self._ops = 0

    # -- budgets -----------------------------------------------------------------------------------------

    async def reserve(
        self, counters: Sequence[Counter], amount: int, hold: str, lease: float
    ) -> Refusal | tuple[int, ...]:
        now = self.clock()
        self._tick(now)
        found = []
        for i, c in enumerate(counters):
            b = self._budgets.get(c.key)
            if b is None:
                b = self._budgets[c.key] = _Budget(c.expires_at)
            b.expire_holds(now)
            if b.spent + b.reserved + amount > c.limit:
                return Refusal(i, b.spent, b.reserved)
            found.append(b)
        for b in found:
            b.hold(hold, amount, now + lease)
        return tuple(b.spent for b in found)

    async def settle(self, counters: Sequence[Counter], hold: str, amount: int | None) -> None:
        for c in counters:
            b = self._budgets.get(c.key)
            if b is None:
                b = self._budgets[c.key] = _Budget(c.expires_at)
            b.drop(hold)
            if amount is not None:
                b.spent += amount

    async def counters(self, prefix: str) -> list[CounterState]:
        now = self.clock()
        out = []
        for key, b in self._budgets.items():
            if key.startswith(prefix) and (b.expires_at is None or b.expires_at > now):
                b.expire_holds(now)
                out.append(CounterState(key, b.spent, b.reserved, len(b.holds)))
        return out

    # -- rate limits -------------------------------------------------------------------------------------

    async def hit(self, key: str, limit: int, per: float) -> Window:
        now = self.clock()
        self._tick(now)
        entry = self._requests.get(key)
        if entry is None or entry[0] != per:
            entry = self._requests[key] = (per, deque())
        times = entry[1]
        while times and times[0] <= now - per:
            times.popleft()
        if len(times) >= limit:
            return Window(False, 0, times[0] + per - now)
        times.append(now)
        return Window(True, limit - len(times), times[0] + per - now)

    async def tokens_check(self, key: str, limit: int, per: float) -> Window:
        now = self.clock()
        counter = self._token_counter(key, per, now)
        used = counter.used(now, per)
        reset = (counter.window + 1) * per - now
        return Window(used < limit, max(0, limit - math.ceil(used)), reset)

    async def tokens_add(self, key: str, amount: int, per: float) -> None:
        now = self.clock()
        self._token_counter(key, per, now).current += amount

    async def windows(self, prefix: str) -> list[WindowState]:
        now = self.clock()
        out = []
        for key, (per, times) in self._requests.items():
            if key.startswith(prefix):
                out.append(WindowState(key, sum(1 for t in times if t > now - per)))
        for key, (per, counter) in self._tokens.items():
            if key.startswith(prefix):
                counter.roll(now, per)
                out.append(WindowState(key, counter.used(now, per)))
        return out

    def _token_counter(self, key: str, per: float, now: float) -> _Tokens:
        entry = self._tokens.get(key)
        if entry is None or entry[0] != per:
            entry = self._tokens[key] = (per, _Tokens(math.floor(now / per)))
        entry[1].roll(now, per)
        return entry[1]

    # -- cache -------------------------------------------------------------------------------------------

    async def cache_get(self, key: str) -> bytes | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._drop(key)
            return None
        self._cache.move_to_end(key)
        return entry[1]

    async def cache_put(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self.cache_bytes // 4:  # one answer may not push out most of the cache
            return
        self._drop(key)
        self._cache[key] = (self.clock() + ttl, value)
        self._cached += len(value)
        while self._cached > self.cache_bytes:
            self._drop(next(iter(self._cache)))

    def _drop(self, key: str) -> None:
        entry = self._cache.pop(key, None)
        if entry is not None:
            self._cached -= len(entry[1])

    # -- values ------------------------------------------------------------------------------------------

    async def value_get(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._values[key]
            return None
        return entry[1]

    async def value_put(self, key: str, value: bytes, ttl: float) -> None:
        now = self.clock()
        self._values[key] = (now + ttl, value)
        self._tick(now)

    async def value_delete(self, key: str) -> bool:
        entry = self._values.pop(key, None)
        return entry is not None and entry[0] > self.clock()

    # -- housekeeping ------------------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        """Every so often, forget periods that have ended and windows that have emptied."""
        self._ops += 1
        if self._ops % _SWEEP_EVERY:
            return
        for key, b in list(self._budgets.items()):
            if b.expires_at is not None and b.expires_at <= now and not b.holds:
                del self._budgets[key]
        for key, (per, times) in list(self._requests.items()):
            if not times or times[-1] <= now - per:
                del self._requests[key]
        for key, (per, counter) in list(self._tokens.items()):
            if math.floor(now / per) >= counter.window + 2:
                del self._tokens[key]
        for key, (expires, _) in list(self._values.items()):
            if expires <= now:
                del self._values[key]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
