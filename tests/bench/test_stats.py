"""bench/stats.py: the arithmetic every table of `make bench` rests on."""

from __future__ import annotations

import pytest

from bench.stats import Spread, per_round_differences, per_round_ratios, percentile, round_order


def test_percentile_is_nearest_rank_and_a_measured_value() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 99) == 5.0
    assert percentile(values, 0) == 1.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_spread_is_median_min_max() -> None:
    s = Spread.of([3.0, 1.0, 10.0])
    assert s == Spread(median=3.0, min=1.0, max=10.0, n=3)
    assert Spread.of([2.0, 4.0]) == Spread(3.0, 2.0, 4.0, 2)
    assert Spread.of([]) is None


def test_round_order_alternates() -> None:
    arms = ["a", "b", "c"]
    assert [round_order(arms, r) for r in range(4)] == [
        ["a", "b", "c"],
        ["c", "b", "a"],
        ["a", "b", "c"],
        ["c", "b", "a"],
    ]


def test_ratios_pair_rounds_not_medians() -> None:
    # The arm is always 2x the reference within a round, though the rounds drift a lot:
    # per-round ratios say 2.0, a ratio of medians would not.
    arm = {0: 200.0, 1: 1000.0, 2: 60.0}
    ref = {0: 100.0, 1: 500.0, 2: 30.0}
    assert per_round_ratios(arm, ref) == [2.0, 2.0, 2.0]
    # A round missing on either side, or a zero reference, is left out rather than guessed.
    assert per_round_ratios({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.0, 2: 0.0}) == [1.0]
    assert per_round_differences({0: 5.0, 1: 7.0}, {0: 1.0, 1: 2.0, 3: 9.0}) == [4.0, 5.0]
