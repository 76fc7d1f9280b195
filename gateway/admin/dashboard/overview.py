"""The overview page's numbers: totals, evenly spaced chart series and the top models and routes, all
from `query.analytics` (run in a worker thread by the caller: it reads the database)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.observe.logstore import query
from gateway.observe.logstore.sql import Backend

TOP = 8  # rows in each "top" table


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    label: str
    span: int  # seconds shown
    step: int  # seconds per chart point


RANGES = {
    r.key: r
    for r in (
        Range("1h", "Last hour", 3600, 60),
        Range("24h", "Last 24 hours", 86400, 1800),
        Range("7d", "Last 7 days", 7 * 86400, 3 * 3600),
    )
}
DEFAULT_RANGE = "24h"


def window(r: Range, now: float) -> tuple[float, float]:
    """Clock-aligned buckets ending with the one that holds `now` (so the newest request is drawn)."""
    count = r.span // r.step
    since = math.floor(now / r.step) * r.step - (count - 1) * r.step
    return float(since), float(since + count * r.step)


def overview_data(backend: Backend, r: Range, now: float) -> dict[str, Any]:
    since, until = window(r, now)
    params = {"since": repr(since), "until": repr(until)}
    series = query.analytics(backend, {**params, "bucket": f"{r.step}s"})
    whole = f"{int(until - since)}s"  # one bucket per group: the whole range
    models = query.analytics(backend, {**params, "bucket": whole, "group_by": "model"})
    routes = query.analytics(backend, {**params, "bucket": whole, "group_by": "route"})
    return {
        "totals": series["totals"],
        "charts": charts(series["buckets"], since, r.step, int((until - since) // r.step)),
        "top_models": top(models["buckets"]),
        "top_routes": top([b for b in routes["buckets"] if b["group"] is not None]),
    }


def charts(buckets: list[dict[str, Any]], since: float, step: int, count: int) -> dict[str, Any]:
    """Columns for the charts, one point per bucket; empty buckets count 0 and have no latency."""
    by_start = {round(_epoch(b["ts"]) - since) // step: b for b in buckets}
    x = [since + i * step for i in range(count)]
    rows = [by_start.get(i) for i in range(count)]

    def column(name: str, empty: float | None = 0) -> list[float | None]:
        return [empty if b is None or b[name] is None else float(b[name]) for b in rows]

    return {
        "x": x,
        "requests": column("requests"),
        "errors": column("errors"),
        "input_tokens": column("input_tokens"),
        "output_tokens": column("output_tokens"),
        "cost_usd": column("cost_usd"),
        "latency_ms_p50": column("latency_ms_p50", None),
        "latency_ms_p95": column("latency_ms_p95", None),
    }


def top(buckets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups by requests, most first, with each one's share of the busiest (for the bars)."""
    ranked = sorted(buckets, key=lambda b: (-b["requests"], -Decimal(b["cost_usd"]), str(b["group"])))[:TOP]
    most = max((b["requests"] for b in ranked), default=0) or 1
    return [{**b, "share": round(b["requests"] / most, 4)} for b in ranked]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
