"""Rate limits, for gateways' `rate_limits:` and routes' `limit: {rate: ...}` gates: which window a
request counts in, how it is checked in the state store, and the x-ratelimit-* headers that report it.

Requests: an exact moving window (the store keeps the last `amount` admission times), so no window of
`per` seconds ever admits more than `amount`, across every replica sharing the store. Tokens: admitted
while the window's count is below the limit, and the real input + output tokens are added after the
answer, so the request that crosses the limit is the last one let through (as OpenAI and Anthropic do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.policy.budgets import by_part
from gateway.policy.state.store import Store, Window
from gateway.routing.plan import Facts
from gateway.routing.table import Rate


def window_key(scope: str, rate: Rate, facts: Facts) -> str:
    """One counter per scope (gateway or route), limit and `by` value; a changed limit starts afresh."""
    return f"{scope}|{rate.kind}:{rate.amount}/{rate.per_text}|{by_part(rate.by, facts)}"


async def check(store: Store, key: str, rate: Rate) -> Window:
    """Requests: count this one if it fits. Tokens: whether the window still has room."""
    if rate.kind == "requests":
        return await store.hit(key, rate.amount, rate.per)
    return await store.tokens_check(key, rate.amount, rate.per)


def refusal_message(rate: Rate, where: str, window: Window) -> str:
    return f"rate limit {rate.describe()} on {where} is reached; retry in {math.ceil(window.reset)}s"


@dataclass(slots=True)
class Report:
    """The tightest window of each kind seen by one request, for the x-ratelimit-* headers."""

    requests: tuple[int, Window] | None = None  # (limit, window)
    tokens: tuple[int, Window] | None = None

    def add(self, rate: Rate, window: Window) -> None:
        current = self.requests if rate.kind == "requests" else self.tokens
        if current is None or window.remaining < current[1].remaining:
            if rate.kind == "requests":
                self.requests = (rate.amount, window)
            else:
                self.tokens = (rate.amount, window)

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = []
        for kind, seen in (("requests", self.requests), ("tokens", self.tokens)):
            if seen is not None:
                limit, window = seen
                out += [
                    (f"x-ratelimit-limit-{kind}".encode(), str(limit).encode()),
                    (f"x-ratelimit-remaining-{kind}".encode(), str(window.remaining).encode()),
                    (f"x-ratelimit-reset-{kind}".encode(), f"{math.ceil(window.reset)}s".encode()),
                ]
        return out
