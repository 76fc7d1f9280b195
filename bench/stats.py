"""The harness's arithmetic: percentiles, spread over rounds, ratios within a round, arm order."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): always a value that was measured."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Spread:
    """Median, min and max of one number over rounds."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread | None:
        vals = list(values)
        if not vals:
            return None
        return cls(statistics.median(vals), min(vals), max(vals), len(vals))


def round_order(arms: Sequence[str], round_index: int) -> list[str]:
    """Arms in the order given on even rounds, reversed on odd ones (A,B,C then C,B,A, ...), so that a
    slow drift of the machine favours no arm over the rounds."""
    return list(arms) if round_index % 2 == 0 else list(reversed(arms))


def per_round_ratios(num: dict[int, float], den: dict[int, float]) -> list[float]:
    """num[r] / den[r] for every round r both have (adjacent in time), skipping a zero denominator."""
    return [num[r] / den[r] for r in sorted(num) if den.get(r)]


def per_round_differences(a: dict[int, float], b: dict[int, float]) -> list[float]:
    """a[r] - b[r] for every round both have: e.g. an arm's p50 minus direct's in the same round."""
    return [a[r] - b[r] for r in sorted(a) if r in b]
