"""Circuit breakers per target: ejection, cooldown growth, half-open, filter, snapshot, memory bound."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.dataplane.circuit import BreakerPolicy, Breakers

A = "anthropic/claude-x#key:anthropic-main"
B = "openai/gpt-x#key:openai-main"
C = "openai/gpt-y#key:openai-backup"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(**policy: Any) -> tuple[Breakers, Clock]:
    clock = Clock()
    return Breakers(BreakerPolicy(**policy), clock=clock), clock


def fail(br: Breakers, target: str, n: int) -> None:
    for _ in range(n):
        br.record(target, ok=False)


def test_consecutive_failures_eject() -> None:
    br, _ = make()
    fail(br, A, 4)
    assert br.available(A)
    assert br.state(A) == "closed"
    fail(br, A, 1)
    assert not br.available(A)
    assert br.state(A) == "open"


def test_success_resets_streak() -> None:
    br, _ = make(failure_rate=1.0)  # rate rule off: 4 of every 5 failing would trip it
    for _ in range(10):
        fail(br, A, 4)
        br.record(A, ok=True)
    assert br.available(A)
    assert br.snapshot()[0]["consecutive_failures"] == 0


def test_rate_over_window_ejects() -> None:
    br, clock = make(consecutive_failures=100, min_requests=20, failure_rate=0.5, window=30.0)
    # 19 outcomes at 50%+ failure: not judged yet.
    for i in range(19):
        br.record(A, ok=i % 2 == 1)  # 10 failures, 9 successes
        clock.advance(0.1)
    assert br.available(A)
    br.record(A, ok=True)  # 20 outcomes, 10 failed: rate 0.5 reached on... a success: not judged
    assert br.available(A)
    br.record(A, ok=False)  # 21 outcomes, 11 failed
    assert not br.available(A)


def test_rate_below_threshold_does_not_eject() -> None:
    br, clock = make(consecutive_failures=100)
    for i in range(100):
        br.record(A, ok=i % 3 != 0)  # a third fail
        clock.advance(0.1)
    assert br.available(A)


def test_old_outcomes_leave_the_window() -> None:
    br, clock = make(consecutive_failures=100, min_requests=20, window=30.0)
    for _ in range(10):
        br.record(A, ok=True)
        br.record(A, ok=True)
        br.record(A, ok=False)  # a third failing: under the 0.5 rate
    assert br.snapshot()[0]["window_requests"] == 30
    clock.advance(40.0)  # all of the above is out of the window
    for _ in range(19):
        br.record(A, ok=True)
    br.record(A, ok=False)
    assert br.available(A)
    snap = br.snapshot()[0]
    assert snap["window_requests"] == 20
    assert snap["failure_rate"] == pytest.approx(1 / 20)


def test_cooldown_grows_on_repeats_and_caps() -> None:
    br, clock = make(base_ejection=30.0, max_ejection=100.0)
    expected = [30.0, 60.0, 90.0, 100.0, 100.0]
    fail(br, A, 5)
    for cooldown in expected:
        assert br.snapshot()[0]["open_until"] == pytest.approx(cooldown)
        clock.advance(cooldown - 0.01)
        assert not br.available(A)
        clock.advance(0.01)
        assert br.available(A)
        assert br.state(A) == "half_open"
        br.record(A, ok=False)  # half-open failure: ejected again, for longer
    assert br.snapshot()[0]["ejections"] == len(expected) + 1


def test_half_open_success_closes() -> None:
    br, clock = make()
    fail(br, A, 5)
    clock.advance(30.0)
    assert br.state(A) == "half_open"
    br.record(A, ok=True)
    assert br.state(A) == "closed"
    snap = br.snapshot()[0]
    assert snap["consecutive_failures"] == 0
    assert snap["open_until"] is None
    assert snap["window_requests"] == 1  # the deciding success; the old failures are gone
    # the streak starts from zero again
    fail(br, A, 4)
    assert br.available(A)


def test_half_open_failure_reejects_longer() -> None:
    br, clock = make(base_ejection=30.0)
    fail(br, A, 5)
    clock.advance(30.0)
    br.record(A, ok=False)
    assert br.state(A) == "open"
    assert br.snapshot()[0]["open_until"] == pytest.approx(60.0)


def test_cooldown_ladder_resets_after_healthy_spell() -> None:
    br, clock = make(base_ejection=30.0, max_ejection=300.0)
    fail(br, A, 5)
    clock.advance(30.0)
    br.record(A, ok=True)  # closed after a 30 s ejection
    fail(br, A, 5)
    assert br.snapshot()[0]["open_until"] == pytest.approx(60.0)  # flapping: longer
    clock.advance(60.0)
    br.record(A, ok=True)
    clock.advance(300.0)  # healthy for max_ejection
    fail(br, A, 5)
    assert br.snapshot()[0]["open_until"] == pytest.approx(30.0)


def test_outcomes_while_open_are_ignored() -> None:
    br, _ = make()
    fail(br, A, 5)
    br.record(A, ok=True)  # a late success from a request sent before the ejection
    assert not br.available(A)
    fail(br, A, 10)  # late failures do not extend the ejection
    assert br.snapshot()[0]["open_until"] == pytest.approx(30.0)
    assert br.snapshot()[0]["ejections"] == 1


def test_filter_skips_ejected() -> None:
    br, _ = make()
    fail(br, B, 5)
    targets = [(A, 1), (B, 2), (C, 3)]
    assert br.filter(targets, key=lambda t: t[0]) == [(A, 1), (C, 3)]
    assert br.filter([], key=lambda t: t) == []


def test_filter_never_returns_empty() -> None:
    br, clock = make(base_ejection=30.0)
    fail(br, A, 5)  # open until +30 ... then re-ejected for 60 below
    clock.advance(30.0)
    br.record(A, ok=False)  # A: open until now + 60
    fail(br, B, 5)  # B: open until now + 30
    fail(br, C, 5)  # C: open until now + 30 (tie with B: first in order wins)
    assert br.filter([A, B, C], key=str) == [B]
    assert br.filter([C, B, A], key=str) == [C]
    assert br.filter([A], key=str) == [A]  # the last one standing is never ejected
    clock.advance(30.0)
    assert br.filter([A, B, C], key=str) == [B, C]  # cooldown over: half-open


def test_unknown_target_is_available() -> None:
    br, _ = make()
    assert br.available("nope")
    assert br.state("nope") == "closed"
    assert br.snapshot() == []


def test_snapshot_shape() -> None:
    br, clock = make()
    br.record(B, ok=True)
    br.record(B, ok=False)
    fail(br, A, 5)
    fail(br, C, 5)
    clock.advance(30.0)
    snap = br.snapshot()
    assert [row["target"] for row in snap] == [A, B, C]
    for row in snap:
        assert set(row) == {
            "target",
            "state",
            "consecutive_failures",
            "failure_rate",
            "window_requests",
            "ejections",
            "open_until",
        }
    assert snap[1] == {
        "target": B,
        "state": "closed",
        "consecutive_failures": 1,
        "failure_rate": 0.5,
        "window_requests": 2,
        "ejections": 0,
        "open_until": None,
    }
    assert snap[0]["state"] == "half_open"
    assert snap[0]["open_until"] is None
    assert snap[0]["ejections"] == 1
    clock.advance(-10.0)  # view it again while still open
    snap = br.snapshot()
    assert snap[0]["state"] == "open"
    assert snap[0]["open_until"] == pytest.approx(10.0)
    assert snap[0]["consecutive_failures"] == 5


def test_memory_bound_forgets_idle_targets() -> None:
    br, clock = make()
    for i in range(1000):
        br.record(f"p/m#key:{i}", ok=True)
    assert len(br) == 1000
    clock.advance(599.0)
    br.record(A, ok=True)
    assert len(br) == 1001  # not idle for 10 minutes yet
    clock.advance(60.0)
    br.record(B, ok=True)  # lazy sweep on record
    assert len(br) == 2
    assert {row["target"] for row in br.snapshot()} == {A, B}


def test_window_memory_is_bounded_per_target() -> None:
    br, clock = make(consecutive_failures=10**9, failure_rate=1.0)
    for _ in range(10_000):
        br.record(A, ok=True)
        clock.advance(0.01)
    st = br._targets[A]
    assert len(st.buckets) <= 11


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        BreakerPolicy(consecutive_failures=0)
    with pytest.raises(ValueError):
        BreakerPolicy(failure_rate=0.0)
    with pytest.raises(ValueError):
        BreakerPolicy(max_ejection=10.0, base_ejection=30.0)
    assert BreakerPolicy().ejection_time(3) == 90.0
    assert BreakerPolicy().ejection_time(100) == 300.0
