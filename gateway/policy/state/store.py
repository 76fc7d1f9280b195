"""The contract every state store keeps.

Budgets: a counter per budget, period and `by` value holds `spent` and `reserved` amounts. `reserve`
admits a worst-case amount against several counters at once, or none: it is atomic across them, so
concurrent requests can never together pass a limit. Each hold has a lease, so a process that dies
mid-request frees its holds when the lease ends. `settle` turns a hold into real spend (or drops it).

Money is counted in integer units of 1e-10 USD (the precision of x-gateway-cost-usd), so sums are exact
in every store (Redis increments 64-bit integers; its Lua numbers are exact up to 2**53 units, $900k).

Rate limits: `hit` is an exact moving window for request counts (the last `limit` admissions are kept);
token counts use a sliding-window counter (two fixed windows, weighted) because tokens are only known
after the answer and must be added unconditionally.

Cached answers: opaque bytes with a time to live, evicted least recently used first past the cache's size.

Values: opaque bytes with a time to live that are never evicted before it ends (Responses API state: a
conversation the gateway keeps for `previous_response_id`, which ids belong to which provider).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Protocol

import yarl

UNITS_PER_USD = 10**10


def to_units(usd: Decimal, *, up: bool = False) -> int:
    """USD to integer units; `up` rounds a worst case up so a reservation never undercounts."""
    return int((usd * UNITS_PER_USD).to_integral_value(ROUND_CEILING if up else ROUND_HALF_EVEN))


def to_usd(units: int) -> Decimal:
    return Decimal(units) / UNITS_PER_USD


def display_url(url: str) -> str:
    """A store URL fit to show: the password masked."""
    parsed = yarl.URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time."""


@dataclass(frozen=True, slots=True)
class Counter:
    """One budget counter to reserve against: its key, limit (units) and when its period ends."""

    key: str
    limit: int
    expires_at: float | None  # unix time; None for `period: total`


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first counter a reservation did not fit in, with what it held at that moment."""

    index: int  # into the counters passed to reserve
    spent: int
    reserved: int


@dataclass(frozen=True, slots=True)
class CounterState:
    key: str
    spent: int
    reserved: int
    holds: int  # open reservations


@dataclass(frozen=True, slots=True)
class Window:
    """A rate-limit window after a hit or a check."""

    admitted: bool
    remaining: int
    reset: float  # seconds until the window has room again (requests) or rolls over (tokens)


@dataclass(frozen=True, slots=True)
class WindowState:
    key: str
    used: float


class Store(Protocol):
    name: str  # for /readyz and logs; never holds a password

    async def reserve(
        self, counters: Sequence[Counter], amount: int, hold: str, lease: float
    ) -> Refusal | tuple[int, ...]:
        """Hold `amount` on every counter, or on none; on success, each counter's spend so far."""

    async def settle(self, counters: Sequence[Counter], hold: str, amount: int | None) -> None:
        """Drop the hold on each counter and add `amount` to its spend (None: release, spend nothing)."""

    async def counters(self, prefix: str) -> list[CounterState]: ...

    async def hit(self, key: str, limit: int, per: float) -> Window: ...

    async def tokens_check(self, key: str, limit: int, per: float) -> Window: ...

    async def tokens_add(self, key: str, amount: int, per: float) -> None: ...

    async def windows(self, prefix: str) -> list[WindowState]: ...

    async def cache_get(self, key: str) -> bytes | None: ...

    async def cache_put(self, key: str, value: bytes, ttl: float) -> None: ...

    async def value_get(self, key: str) -> bytes | None: ...

    async def value_put(self, key: str, value: bytes, ttl: float) -> None: ...

    async def value_delete(self, key: str) -> bool:
        """Whether the key held a live value."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
