"""Fallback conditions, backoff and the retry budget."""

from __future__ import annotations

import random

import pytest

from gateway.dataplane.failover import DEFAULT_ON, RetryBudget, backoff, failure_matches


@pytest.mark.parametrize(
    ("on", "status", "cause", "expected"),
    [
        (DEFAULT_ON, 429, None, True),
        (DEFAULT_ON, 503, None, True),
        (DEFAULT_ON, 400, None, False),
        (DEFAULT_ON, None, "timeout", True),
        (DEFAULT_ON, None, "connect", True),
        (("429", "5xx", "timeout"), None, "connect", False),
        (("4xx",), 404, None, True),
        (("4xx",), 500, None, False),
        (("401",), 401, None, True),
        ((), 500, None, False),
    ],
)
def test_failure_matches(on: tuple[str, ...], status: int | None, cause: str | None, expected: bool) -> None:
    assert failure_matches(on, status, cause) is expected


def test_backoff_honours_retry_after_and_jitters_otherwise() -> None:
    rng = random.Random(7)
    assert backoff(0, 2.5, rng.random) == 2.5
    assert backoff(0, 600.0, rng.random) is None  # too long to hold the client: move on instead
    waits = [backoff(3, None, rng.random) for _ in range(1000)]
    assert all(w is not None and 0 <= w <= 2.0 for w in waits)
    assert max(w for w in waits if w is not None) > 1.5  # full jitter spreads over the whole window
    assert all(backoff(30, None, rng.random) <= 8.0 for _ in range(100))  # type: ignore[operator]


def test_retry_budget_is_a_fraction_of_live_traffic_with_a_floor() -> None:
    budget = RetryBudget()
    assert budget.allows()
    budget.retrying = 3
    assert not budget.allows()  # 0 active: the floor of 3
    budget.active = 100
    assert budget.allows()
    budget.retrying = 20
    assert not budget.allows()  # 20% of 100
