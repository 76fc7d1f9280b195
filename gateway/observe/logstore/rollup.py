"""The hourly rollups' share of an insert: a batch of rows (in `COLUMNS` order) summed per (hour,
dimensions) and counted per (hour, dimensions, latency bin) in Python, so that a batch costs one upsert
per group rather than per record. The values are those the migration's SQL backfill computes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from gateway.observe.logstore.sql import COLUMNS, UPSERT_HOURLY, UPSERT_LATENCY, UPSERT_LATENCY_ALL

_TS, _GATEWAY, _ROUTE, _PROVIDER, _MODEL, _STATUS = (
    COLUMNS.index(c) for c in ("ts", "gateway", "route", "provider", "model", "status")
)
_LATENCY, _IN, _OUT, _CREAD, _CWRITE, _COST, _CACHE = (
    COLUMNS.index(c)
    for c in (
        "latency_ms", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "cost_usd", "cache",
    )
)  # fmt: skip


def encode(value: str | None) -> str:
    """A dimension as a rollup key stores it (sql.DIMS says why)."""
    return "" if value is None else "=" + value


def decode(value: str) -> str | None:
    return None if value == "" else value[1:]


def latency_bin(ms: float) -> int:
    """sql.latency_bin in Python: the same double operations, truncated toward zero."""
    if ms < 1:
        return int(ms * 20)
    if ms < 10:
        return 200 + int(ms * 20)
    if ms < 100:
        return 400 + int(ms * 2)
    if ms < 1000:
        return 600 + int(ms / 5)
    if ms < 10000:
        return 800 + int(ms / 50)
    if ms < 100000:
        return 1000 + int(ms / 500)
    return 1200 + int(ms / 5000)


def _sqlite_cost(text: str) -> int:
    """sql.cost_units on SQLite: text to double (non-numbers are 0, as in SQLite), times 1e10, rounded
    half away from zero the way SQLite's ROUND does it."""
    try:
        value = float(text) * 1e10
    except ValueError:
        return 0
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def aggregate(rows: Sequence[tuple[Any, ...]], dialect: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """(upsert, parameters) for each rollup table, one row per group of the batch, in key order (so that
    two replicas upserting the same hours take their row locks in one order and cannot deadlock)."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    bins: dict[tuple[Any, ...], list[Any]] = {}
    postgres = dialect == "postgres"
    zero: int | Decimal = Decimal(0) if postgres else 0
    for row in rows:
        status = row[_STATUS]
        key = (
            hour_floor(row[_TS]),
            encode(row[_GATEWAY]),
            encode(row[_ROUTE]),
            encode(row[_PROVIDER]),
            encode(row[_MODEL]),
            -1 if status is None else status,
            encode(row[_CACHE]),
        )
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0, 0, 0, 0, 0, zero]
        acc[0] += 1
        acc[1] += row[_IN] or 0
        acc[2] += row[_OUT] or 0
        acc[3] += row[_CREAD] or 0
        acc[4] += row[_CWRITE] or 0
        cost = row[_COST]
        if cost:  # None and '' are no cost (NULLIF in SQL)
            acc[5] += Decimal(cost) if postgres else _sqlite_cost(cost)
        latency = row[_LATENCY]
        if latency is not None and not math.isnan(latency):
            bin_key = (*key, latency_bin(latency))
            have = bins.get(bin_key)
            if have is None:
                bins[bin_key] = [1, latency]
            else:
                have[0] += 1
                if latency > have[1]:
                    have[1] = latency
    overall: dict[tuple[int, int], list[Any]] = {}
    for (hour, *_, number), (n, largest) in bins.items():
        have = overall.get((hour, number))
        if have is None:
            overall[(hour, number)] = [n, largest]
        else:
            have[0] += n
            if largest > have[1]:
                have[1] = largest
    return [
        (UPSERT_HOURLY, [(*k, *v) for k, v in sorted(sums.items())]),
        (UPSERT_LATENCY, [(*k, *v) for k, v in sorted(bins.items())]),
        (UPSERT_LATENCY_ALL, [(*k, *v) for k, v in sorted(overall.items())]),
    ]


def hour_floor(ts: float) -> int:
    """The start of the hour holding `ts` (sql.hour_of in Python)."""
    return int(ts // 3600) * 3600


def new_only(rows: Sequence[tuple[Any, ...]], stored: set[str]) -> list[tuple[Any, ...]]:
    """The rows an `ON CONFLICT (id) DO NOTHING` insert would add: ids not stored, each id's first row."""
    out = []
    seen = set(stored)
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            out.append(row)
    return out
