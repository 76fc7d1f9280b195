"""The overview's arithmetic and the display filters, without a server."""

from __future__ import annotations

from typing import Any

from gateway.admin.dashboard.overview import RANGES, charts, top, window
from gateway.admin.dashboard.render import ENV, duration, ms, percent, usd
from gateway.admin.dashboard.views import timeline


def test_window_is_clock_aligned_and_ends_with_the_current_bucket() -> None:
    r = RANGES["1h"]
    since, until = window(r, now=1_000_000_030.5)
    assert since % 60 == 0 and until - since == 3600 and since < 1_000_000_030.5 < until


def test_charts_fill_empty_buckets() -> None:
    bucket: dict[str, Any] = {
        "ts": "2001-09-09T01:47:00.000Z",  # 1000000020: the 3rd minute after 999999900
        "requests": 3,
        "errors": 1,
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_usd": "0.25",
        "latency_ms_p50": 12.5,
        "latency_ms_p95": 40.0,
    }
    columns = charts([bucket], since=999_999_900.0, step=60, count=5)
    assert columns["x"] == [999_999_900.0 + 60 * i for i in range(5)]
    assert columns["requests"] == [0, 0, 3, 0, 0] and columns["cost_usd"] == [0, 0, 0.25, 0, 0]
    assert columns["latency_ms_p95"] == [None, None, 40.0, None, None]  # no request: no latency


def test_top_ranks_by_requests_and_scales_the_bars() -> None:
    rows = [
        {"group": "a", "requests": 2, "cost_usd": "1"},
        {"group": "b", "requests": 8, "cost_usd": "0"},
        {"group": "c", "requests": 2, "cost_usd": "3"},
    ]
    assert [(r["group"], r["share"]) for r in top(rows)] == [("b", 1.0), ("c", 0.25), ("a", 0.25)]


def test_attempts_sit_one_after_another_on_the_timeline() -> None:
    placed = timeline([{"duration_ms": 30.0}, {"duration_ms": 10.0}, {"duration_ms": None}])
    assert [(a["offset"], a["share"]) for a in placed] == [(0.0, 0.75), (0.75, 0.25), (1.0, 0.0)]


def test_filters() -> None:
    assert usd("0.00121") == "$0.00121" and usd("1234.5") == "$1,234.50" and usd("0") == "$0"
    assert usd(None) == "\u2013" and ms(4.25) == "4.2 ms" and ms(1500) == "1.50 s"
    assert percent(0.2) == "20.0%" and duration(600.0) == "10m" and duration(90.0) == "90s"


def test_templates_escape_by_default() -> None:
    html = ENV.from_string("{{ value }}").render(value="<b>{{ 7*7 }}</b>")
    assert html == "&lt;b&gt;{{ 7*7 }}&lt;/b&gt;"
