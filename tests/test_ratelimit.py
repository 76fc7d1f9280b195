"""Rate limits: the sliding window, per-`by` counters, token costs, memory bound, and the routing gate."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from gateway.config.compiler import compile_config
from gateway.ratelimit import RateGates, SlidingWindow
from gateway.routing import Facts, LimitReached, decide, make_facts
from gateway.table import Leaf, Limit, RoutingTable


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rate_limit(**rate: Any) -> Limit:
    return Limit(None, MappingProxyType(rate), Leaf("openai", "a"), Leaf("openai", "b"))


def user(name: str, input_tokens: int = 0) -> Facts:
    return Facts(metadata={"user": name}, input_tokens=input_tokens)


# SlidingWindow ---------------------------------------------------------------------------------------------


def test_admits_exactly_n_then_refuses() -> None:
    w = SlidingWindow()
    assert [w.hit("k", 1, 5, 60.0, 120.0 + i) for i in range(7)] == [True] * 5 + [False] * 2


def test_refusals_are_not_counted() -> None:
    w = SlidingWindow()
    for _ in range(3):
        assert w.hit("k", 1, 3, 10.0, 0.0)
    for _ in range(100):
        assert not w.hit("k", 1, 3, 10.0, 1.0)
    # Once the previous window has slid out entirely, the full limit is back (refusals did not add up).
    assert [w.hit("k", 1, 3, 10.0, 20.0) for _ in range(4)] == [True, True, True, False]


def test_recovers_as_the_window_slides() -> None:
    w = SlidingWindow()
    per = 60.0
    for _ in range(10):
        assert w.hit("k", 1, 10, per, 0.0)
    assert not w.hit("k", 1, 10, per, 59.0)
    # At the start of the next fixed window the whole previous one still overlaps: still spent.
    assert not w.hit("k", 1, 10, per, 60.0)
    # Halfway through it, half the previous window's count has slid out: 5 more are admitted.
    assert [w.hit("k", 1, 10, per, 90.0) for _ in range(6)] == [True] * 5 + [False]
    # Two windows later nothing is left.
    assert [w.hit("k", 1, 10, per, 180.0) for _ in range(11)] == [True] * 10 + [False]


def test_sliding_never_admits_more_than_the_limit_in_any_window_at_a_steady_rate() -> None:
    w = SlidingWindow()
    per, limit = 10.0, 20
    admitted: list[float] = []
    t = 0.0
    while t < 100.0:
        if w.hit("k", 1, limit, per, t):
            admitted.append(t)
        t += 0.1
    # Over the long run roughly `limit` per `per` seconds get through.
    assert 180 <= len(admitted) <= 220
    # And the approximation never lets a burst of much more than the limit into one sliding window.
    for start in admitted:
        inside = [a for a in admitted if start <= a < start + per]
        assert len(inside) <= 2 * limit


def test_costs_and_a_cost_larger_than_the_limit() -> None:
    w = SlidingWindow()
    assert w.hit("k", 60, 100, 60.0, 0.0)
    assert not w.hit("k", 50, 100, 60.0, 1.0)  # would exceed: refused, not counted
    assert w.hit("k", 40, 100, 60.0, 2.0)  # exactly reaches the limit
    assert not w.hit("k", 1, 100, 60.0, 3.0)
    assert not w.hit("other", 101, 100, 60.0, 3.0)


def test_zero_cost_is_refused_once_spent() -> None:
    w = SlidingWindow()
    assert w.hit("k", 0, 10, 60.0, 0.0)
    assert w.hit("k", 10, 10, 60.0, 0.0)
    assert not w.hit("k", 0, 10, 60.0, 0.0)


def test_keys_are_independent() -> None:
    w = SlidingWindow()
    assert w.hit("a", 1, 1, 60.0, 0.0)
    assert not w.hit("a", 1, 1, 60.0, 0.0)
    assert w.hit("b", 1, 1, 60.0, 0.0)


def test_idle_keys_are_dropped_lazily() -> None:
    w = SlidingWindow()
    for i in range(1000):
        w.hit(f"k{i}", 1, 5, 1.0, 0.0)
    assert len(w) == 1000
    # Every later hit drops a couple of expired keys from the old end.
    for i in range(600):
        w.hit("live", 1, 5, 1.0, 10.0 + i * 0.001)
    assert len(w) == 1
    assert w.hit("k0", 1, 5, 1.0, 11.0)  # a dropped key simply starts over


def test_memory_is_bounded_by_max_keys() -> None:
    w = SlidingWindow(max_keys=100)
    for i in range(10_000):
        assert w.hit(f"k{i}", 1, 1, 3600.0, 0.0)
        assert len(w) <= 100
    # The most recently hit keys are the ones kept.
    assert not w.hit("k9999", 1, 1, 3600.0, 1.0)
    with pytest.raises(ValueError):
        SlidingWindow(max_keys=0)


def test_a_hot_key_is_not_evicted_by_many_cold_ones() -> None:
    w = SlidingWindow(max_keys=10)
    for i in range(1000):
        w.hit("hot", 1, 10_000, 3600.0, 0.0)
        w.hit(f"cold{i}", 1, 1, 3600.0, 0.0)
    assert w.hit("hot", 1, 1000, 3600.0, 0.0) is False  # its 1000 hits are still counted


# RateGates -------------------------------------------------------------------------------------------------


def test_gate_requests_per_minute() -> None:
    clock = Clock()
    gates = RateGates(clock)
    lim = rate_limit(requests=3, per="1m")
    assert [gates.gate(lim, Facts()) for _ in range(4)] == [False, False, False, True]
    clock.now += 120
    assert gates.gate(lim, Facts()) is False


def test_gate_by_field_counters_are_independent() -> None:
    gates = RateGates(Clock())
    lim = rate_limit(requests=2, per="10s", by="metadata.user")
    assert [gates.gate(lim, user("u1")) for _ in range(3)] == [False, False, True]
    assert [gates.gate(lim, user("u2")) for _ in range(3)] == [False, False, True]
    # Requests without the field share one counter of their own.
    assert [gates.gate(lim, Facts()) for _ in range(3)] == [False, False, True]
    assert gates.gate(lim, Facts(metadata={"other": "x"})) is True


def test_gate_by_values_compare_as_json() -> None:
    gates = RateGates(Clock())
    lim = rate_limit(requests=1, per="10s", by="metadata.user")
    assert gates.gate(lim, Facts(metadata={"user": 5})) is False
    assert gates.gate(lim, Facts(metadata={"user": "5"})) is False  # "5" is not 5
    assert gates.gate(lim, Facts(metadata={"user": 5})) is True


def test_gate_by_header_and_token() -> None:
    gates = RateGates(Clock())
    lim = rate_limit(requests=1, per="1h", by="token")
    assert gates.gate(lim, Facts(token="a")) is False
    assert gates.gate(lim, Facts(token="b")) is False
    assert gates.gate(lim, Facts(token="a")) is True
    lim_h = rate_limit(requests=1, per="1h", by="header.x-team")
    assert gates.gate(lim_h, Facts(headers={"x-team": "red"})) is False
    assert gates.gate(lim_h, Facts(headers={"x-team": "blue"})) is False


def test_gate_tokens_cost_input_tokens() -> None:
    clock = Clock()
    gates = RateGates(clock)
    lim = rate_limit(tokens=1000, per="1m", by="metadata.user")
    assert gates.gate(lim, user("u", 600)) is False
    assert gates.gate(lim, user("u", 500)) is True  # 1100 > 1000: refused, not counted
    assert gates.gate(lim, user("u", 400)) is False  # exactly 1000
    assert gates.gate(lim, user("u", 1)) is True
    assert gates.gate(lim, user("v", 1000)) is False
    clock.now += 120
    assert gates.gate(lim, user("u", 1000)) is False


def test_distinct_limits_and_scopes_have_distinct_counters() -> None:
    gates = RateGates(Clock())
    a = rate_limit(requests=1, per="1m")
    b = rate_limit(requests=1, per="60s")
    assert gates.gate(a, Facts()) is False
    assert gates.gate(b, Facts()) is False
    assert gates.gate(a, Facts(), scope="route-x") is False
    assert gates.gate(a, Facts()) is True
    # An equal limit node (as after a config reload) shares the counter.
    assert gates.gate(rate_limit(requests=1, per="1m"), Facts()) is True


def test_budget_limits_are_never_spent_here() -> None:
    gates = RateGates(Clock())
    lim = Limit("monthly", None, Leaf("openai", "a"), None)
    assert not any(gates.gate(lim, Facts()) for _ in range(10))


def test_many_hits_in_one_tick_cannot_exceed_the_limit() -> None:
    gates = RateGates(Clock())
    lim = rate_limit(requests=50, per="1m")

    async def request() -> bool:
        await asyncio.sleep(0)
        return gates.gate(lim, Facts())

    async def main() -> list[bool]:
        return await asyncio.gather(*(request() for _ in range(500)))

    spent = asyncio.run(main())
    assert spent.count(False) == 50
    assert spent.count(True) == 450


# Through routing -------------------------------------------------------------------------------------------


PROVIDERS = """
version: 1
providers:
  openai: { type: openai, base_url: https://api.openai.com/v1 }
"""


def table_from(tmp_path: Path, text: str) -> RoutingTable:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "gateway.yaml").write_text(textwrap.dedent(text))
    return compile_config(folder, {}, strict_env=False)


def test_decide_with_rate_gate(tmp_path: Path) -> None:
    table = table_from(
        tmp_path,
        PROVIDERS
        + """
routes:
  r:
    limit: { rate: { requests: 2, per: 1m, by: metadata.user } }
    to: openai/a
    otherwise: openai/b
  strict: { limit: { rate: { tokens: 100, per: 10s } }, to: openai/a }
""",
    )
    clock = Clock()
    gates = RateGates(clock)
    facts = make_facts(table, "default", "r", metadata={"user": "u1"})

    def target(route: str, f: Facts) -> str:
        decision = decide(table, table.routes[route].node, f, lambda: 0.5, gates.gate, route=route)
        return decision.candidates[0].leaf.target

    assert [target("r", facts) for _ in range(3)] == ["openai/a", "openai/a", "openai/b"]
    assert target("r", make_facts(table, "default", "r", metadata={"user": "u2"})) == "openai/a"
    clock.now += 120
    assert target("r", facts) == "openai/a"

    big = make_facts(table, "default", "strict", input_tokens=80)
    assert target("strict", big) == "openai/a"
    with pytest.raises(LimitReached):
        target("strict", big)
