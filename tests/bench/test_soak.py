"""bench.soak's verdicts: what counts as flat, growing or unstable after the warm-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bench import soak


def samples(
    n: int = 12,
    step: float = 15.0,
    rss: Sequence[float] | None = None,
    fds: list[int] | None = None,
    p99: list[float] | None = None,
    errors: list[int] | None = None,
    rps: float = 700.0,
) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "t_s": step * (i + 1),
                "wall_s": step,
                "completed": int(rps * step),
                "rss_kib": rss[i] if rss else 80_000,
                "fds": fds[i] if fds else 150,
                "p99_ms": p99[i] if p99 else 20.0,
                "errors": errors[i] if errors else 0,
            }
        )
    return out


def verdicts(data: list[dict[str, Any]], warmup_s: float = 30.0, rate: float = 700.0) -> dict[str, bool]:
    return {c.name: c.ok for c in soak.judge(data, warmup_s, rate)}


def test_flat_run_meets_every_criterion() -> None:
    assert verdicts(samples()) == dict.fromkeys(
        ("RSS growth", "descriptors flat", "p99 stable", "no errors", "rate held"), True
    )


def test_growth_during_warmup_is_not_judged() -> None:
    rss = [40_000, 60_000] + [80_000] * 10  # allocator and pools filling up in the first 30 s
    assert verdicts(samples(rss=rss), warmup_s=30.0)["RSS growth"]
    assert not verdicts(samples(rss=rss), warmup_s=0.0)["RSS growth"]


def test_steady_leak_is_missed_and_shown_as_a_trend() -> None:
    rss = [80_000 + 1_000 * i for i in range(12)]  # +1 MiB per sample: ~10 % over the run
    (criterion,) = [c for c in soak.judge(samples(rss=rss), 30.0, 700.0) if c.name == "RSS growth"]
    assert not criterion.ok
    assert "+4000 KiB/min" in criterion.value


def test_small_rss_wobble_is_flat() -> None:
    rss = [80_000, 81_000, 79_500, 80_500] * 3  # under 2 %
    assert verdicts(samples(rss=rss))["RSS growth"]


def test_descriptors_in_flight_wobble_but_a_leak_is_missed() -> None:
    wobble = [150, 158, 146, 153, 149, 155, 151, 147, 156, 150, 152, 148]
    assert verdicts(samples(fds=wobble))["descriptors flat"]
    leak = [150 + 10 * i for i in range(12)]
    assert not verdicts(samples(fds=leak))["descriptors flat"]


def test_p99_that_doubles_is_unstable_and_one_spike_is_not() -> None:
    doubling = [20.0] * 6 + [45.0] * 6
    assert not verdicts(samples(p99=doubling))["p99 stable"]
    spike = [20.0] * 11 + [900.0]  # one bad window: the median of the last third ignores it
    assert verdicts(samples(p99=spike))["p99 stable"]


def test_any_error_even_in_warmup_is_missed() -> None:
    assert not verdicts(samples(errors=[3] + [0] * 11))["no errors"]


def test_rate_below_what_was_asked_is_missed() -> None:
    assert not verdicts(samples(rps=650.0), rate=700.0)["rate held"]
    assert verdicts(samples(rps=690.0), rate=700.0)["rate held"]


def test_too_few_samples_after_warmup_misses_everything() -> None:
    result = soak.judge(samples(n=3), warmup_s=30.0, rate=700.0)
    assert [c.ok for c in result] == [False] * 5
    assert "only 1 sample" in result[0].value


def test_thirds_and_slope() -> None:
    assert soak.thirds([1, 2, 3, 4, 5, 6, 7]) == ([1, 2], [6, 7])
    assert soak.thirds([5, 6]) == ([5], [6])
    assert soak.slope_per_min([0, 60, 120], [10, 20, 30]) == pytest.approx(10.0)
    assert soak.slope_per_min([0, 60], [10, 10]) == 0.0
    assert soak.slope_per_min([5], [1]) == 0.0
    assert soak.fd_slack(20) == 5.0
    assert soak.fd_slack(300) == 30.0


def test_mixed_maximum_weights_each_kind_by_its_cost() -> None:
    assert soak.mixed_max(2000.0, 1000.0, 0.0) == 2000.0
    assert soak.mixed_max(2000.0, 1000.0, 1.0) == 1000.0
    # 80 % at 2,000/s and 20 % at 1,000/s: 1 / (0.8/2000 + 0.2/1000) = 1,666.7/s, not 2,000.
    assert abs(soak.mixed_max(2000.0, 1000.0, 0.2) - 1666.67) < 0.01
