"""Reading the log: filters from query parameters, cursor pagination (newest first), one record by id,
and analytics (time buckets with counts, tokens, cost, latency percentiles and cache hit rate)."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.config.units import parse_duration
from gateway.observe.logstore.records import from_row
from gateway.observe.logstore.sql import COLUMNS, Backend
from gateway.pricing.prices import format_usd

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
FIELDS = ("gateway", "route", "provider", "model", "token", "cache")
GROUPS = ("gateway", "route", "provider", "model", "token")
DEFAULT_RANGE = 24 * 3600.0
SELECT = ", ".join(COLUMNS)
MAX_BUCKETS = 2000


class BadQuery(ValueError):
    """A query parameter that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Filters:
    since: float | None = None
    until: float | None = None
    equals: tuple[tuple[str, str], ...] = ()  # (column, value)
    status: str | None = None  # a code, or 2xx / 4xx / 5xx
    metadata: tuple[tuple[str, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def parse_filters(params: Mapping[str, str]) -> Filters:
    equals = tuple((k, params[k]) for k in FIELDS if params.get(k))
    metadata = tuple((k[len("metadata.") :], v) for k, v in params.items() if k.startswith("metadata.") and v)
    status = params.get("status") or None
    if status is not None and not (
        status.isdigit() or (len(status) == 3 and status[1:] == "xx" and status[0].isdigit())
    ):
        raise BadQuery(f"status: {status!r} must be a status code or a class like 5xx")
    return Filters(_time(params, "since"), _time(params, "until"), equals, status, metadata)


def _time(params: Mapping[str, str], name: str) -> float | None:
    """ISO 8601 (with Z or an offset), unix seconds, or a duration ago (`1h`)."""
    text = params.get(name)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        raise BadQuery(
            f"{name}: {text!r} is not a time (ISO 8601, unix seconds, or a duration ago like 1h)"
        ) from None


def _where(backend: Backend, f: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if f.since is not None:
        clauses.append("ts >= ?")
        params.append(f.since)
    if f.until is not None:
        clauses.append("ts < ?")
        params.append(f.until)
    for column, value in f.equals:
        clauses.append(f"{column} = ?")
        params.append(value)
    if f.status is not None:
        if f.status.isdigit():
            clauses.append("status = ?")
            params.append(int(f.status))
        else:
            low = int(f.status[0]) * 100
            clauses.append("status >= ? AND status < ?")
            params += [low, low + 100]
    for key, value in f.metadata:
        expr, expr_args = _metadata_expr(backend, key)
        clauses.append(f"{expr} = ?")
        params += [*expr_args, value]
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _metadata_expr(backend: Backend, key: str) -> tuple[str, list[Any]]:
    """SQL for one metadata value as text, with the key as a parameter (never in the SQL text)."""
    if _dialect(backend) == "postgres":
        return "(metadata::jsonb ->> ?)", [key]
    return "CAST(json_extract(metadata, ?) AS TEXT)", ['$."' + key.replace('"', '""') + '"']


def page(backend: Backend, params: Mapping[str, str]) -> dict[str, Any]:
    """GET /api/logs: newest first, `limit` per page, `next_cursor` to go on."""
    f = parse_filters(params)
    try:
        limit = min(MAX_LIMIT, max(1, int(params.get("limit") or DEFAULT_LIMIT)))
    except ValueError:
        raise BadQuery(f"limit: {params.get('limit')!r} must be a number from 1 to {MAX_LIMIT}") from None
    where, args = _where(backend, f)
    cursor = params.get("cursor")
    if cursor:
        ts, ident = _decode_cursor(cursor)
        # `ts <= ?` bounds the index range on both databases (an OR alone makes PostgreSQL walk every
        # newer row first); the rest only sorts out the rows of that one timestamp.
        where += (" AND " if where else " WHERE ") + "ts <= ? AND (ts < ? OR id < ?)"
        args += [ts, ts, ident]
    sql = f"SELECT {SELECT} FROM requests{where} ORDER BY ts DESC, id DESC LIMIT ?"  # noqa: S608
    rows = backend.select(sql, [*args, limit + 1])
    data = [from_row(r, bodies=False) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return {"data": data, "next_cursor": _encode_cursor(float(last[1]), str(last[0])) if last else None}


def one(backend: Backend, ident: str) -> dict[str, Any] | None:
    rows = backend.select(f"SELECT {SELECT} FROM requests WHERE id = ?", [ident])  # noqa: S608
    return from_row(rows[0]) if rows else None


def _encode_cursor(ts: float, ident: str) -> str:
    return base64.urlsafe_b64encode(f"{ts!r}|{ident}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, ident = text.split("|", 1)
        return float(ts), ident
    except (ValueError, UnicodeDecodeError):
        raise BadQuery("cursor: not a cursor this API returned") from None


# Analytics ---------------------------------------------------------------------------------------------
#
# Everything is aggregated by the database: one query sums each (bucket, group), a second counts each
# (bucket, group, latency bin); only those sums and counts reach Python, however many records match.
# Percentiles use the bins: the nearest rank is found in the bin counts, and the answer is the largest
# latency of that bin, a latency some request had, at most one bin width (5% of the value at worst, under
# 1% above 100 ms in the upper part of each decade) above the exact nearest-rank value.

PERCENTILES = (("latency_ms_p50", 50), ("latency_ms_p95", 95), ("latency_ms_p99", 99))
USD_UNIT = Decimal("1e-10")  # costs are stored with at most 10 decimals (format_usd)


def _trunc(backend: Backend, expr: str) -> str:
    """Toward zero, as an integer: SQLite's CAST truncates, PostgreSQL's rounds."""
    if _dialect(backend) == "postgres":
        return f"TRUNC({expr})"
    return f"CAST({expr} AS INTEGER)"


def _latency_bin(backend: Backend) -> str:
    """A bin number that grows with latency_ms: 180 bins per decade from 1 ms up (the bin width is 5% of
    the value at the start of a decade, 0.5% at its end), 0.05 ms bins below 1 ms."""

    def t(expr: str) -> str:
        return _trunc(backend, expr)

    return (
        "CASE WHEN latency_ms IS NULL THEN NULL "
        f"WHEN latency_ms < 1 THEN {t('latency_ms * 20')} "
        f"WHEN latency_ms < 10 THEN 200 + {t('latency_ms * 20')} "
        f"WHEN latency_ms < 100 THEN 400 + {t('latency_ms * 2')} "
        f"WHEN latency_ms < 1000 THEN 600 + {t('latency_ms / 5')} "
        f"WHEN latency_ms < 10000 THEN 800 + {t('latency_ms / 50')} "
        f"WHEN latency_ms < 100000 THEN 1000 + {t('latency_ms / 500')} "
        f"ELSE 1200 + {t('latency_ms / 5000')} END"
    )


def _cost_sum(backend: Backend) -> str:
    """The exact sum of cost_usd (decimal text): PostgreSQL in NUMERIC; SQLite in integer units of 1e-10
    USD (a 10-decimal value survives the round trip through a double exactly below ~$100,000)."""
    if _dialect(backend) == "postgres":
        return "SUM(CAST(NULLIF(cost_usd, '') AS NUMERIC))"
    return "SUM(CAST(ROUND(CAST(NULLIF(cost_usd, '') AS REAL) * 1e10) AS INTEGER))"


def _dialect(backend: Backend) -> str:
    return str(getattr(backend, "dialect", ""))


@dataclass(slots=True)
class _Bucket:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)
    hits: int = 0
    cacheable: int = 0
    bins: dict[int, list[float]] = field(default_factory=dict)  # bin -> [count, largest latency]

    def add_sums(self, row: tuple[Any, ...], cost_units: bool) -> None:
        requests, errors, inp, out, cread, cwrite, cost, hits, cacheable = row
        self.requests += int(requests)
        self.errors += int(errors or 0)
        self.input_tokens += int(inp or 0)
        self.output_tokens += int(out or 0)
        self.cache_read_tokens += int(cread or 0)
        self.cache_write_tokens += int(cwrite or 0)
        if cost is not None:
            self.cost += Decimal(int(cost)) * USD_UNIT if cost_units else Decimal(cost)
        self.hits += int(hits or 0)
        self.cacheable += int(cacheable or 0)

    def add_bin(self, number: int, count: int, largest: float) -> None:
        have = self.bins.get(number)
        if have is None:
            self.bins[number] = [count, largest]
        else:
            have[0] += count
            have[1] = max(have[1], largest)

    def percentiles(self) -> dict[str, float | None]:
        ordered = sorted(self.bins.items())
        n = int(sum(count for _, (count, _) in ordered))
        out: dict[str, float | None] = {}
        for name, pct in PERCENTILES:
            if not n:
                out[name] = None
                continue
            rank = max(1, (n * pct + 99) // 100)  # nearest rank: ceil(pct% of n), in integers
            seen = 0
            for _, (count, largest) in ordered:
                seen += int(count)
                if seen >= rank:
                    out[name] = round(largest, 3)
                    break
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": format_usd(self.cost),
            **self.percentiles(),
            "cache_hit_rate": round(self.hits / self.cacheable, 4) if self.cacheable else None,
        }


def analytics(backend: Backend, params: Mapping[str, str]) -> dict[str, Any]:
    """GET /api/analytics: totals, and buckets of `bucket` seconds per `group_by` value."""
    f = parse_filters(params)
    now = time.time()
    until = f.until if f.until is not None else now
    since = f.since if f.since is not None else until - DEFAULT_RANGE
    try:
        step = parse_duration(params.get("bucket") or "1h")
    except ValueError as exc:
        raise BadQuery(f"bucket: {exc}") from None
    if step <= 0 or (until - since) / step > MAX_BUCKETS:
        raise BadQuery(
            f"bucket: at most {MAX_BUCKETS} buckets per query; use a longer bucket or a shorter range"
        )
    group_by = params.get("group_by") or None
    group_args: list[Any] = []
    if group_by is None:
        group_sql = "NULL"
    elif group_by in GROUPS:
        group_sql = group_by
    elif group_by.startswith("metadata.") and len(group_by) > len("metadata."):
        group_sql, group_args = _metadata_expr(backend, group_by[len("metadata.") :])
    else:
        raise BadQuery(f"group_by: {group_by!r} must be one of {', '.join(GROUPS)} or metadata.<key>")
    where, where_args = _where(backend, Filters(since, until, f.equals, f.status, f.metadata))
    # Rows have ts >= since, so truncating (ts - since) / step is flooring it: the bucket's number.
    keys = f"{_trunc(backend, '(ts - ?) / ?')}, {group_sql}"
    args = [since, step, *group_args]
    # Only fixed column names, fixed expressions and placeholders are put into the SQL text.
    sums = backend.select(
        f"SELECT {keys}, COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), "  # noqa: S608
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), "
        f"{_cost_sum(backend)}, SUM(CASE WHEN cache = 'HIT' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN cache <> '' THEN 1 ELSE 0 END) FROM requests{where} GROUP BY 1, 2",
        args + where_args,
    )
    latency_where = where + (" AND " if where else " WHERE ") + "latency_ms IS NOT NULL"
    bins = backend.select(
        f"SELECT {keys}, {_latency_bin(backend)}, COUNT(*), MAX(latency_ms) "  # noqa: S608
        f"FROM requests{latency_where} GROUP BY 1, 2, 3",
        args + where_args,
    )
    cost_units = _dialect(backend) != "postgres"
    totals = _Bucket()
    buckets: dict[tuple[int, Any], _Bucket] = {}
    for row in sums:
        key = (int(row[0]), row[1])
        buckets.setdefault(key, _Bucket()).add_sums(row[2:], cost_units)
        totals.add_sums(row[2:], cost_units)
    for number, group, latency_bin, count, largest in bins:
        key = (int(number), group)
        buckets.setdefault(key, _Bucket()).add_bin(int(latency_bin), int(count), float(largest))
        totals.add_bin(int(latency_bin), int(count), float(largest))
    return {
        "since": _iso(since),
        "until": _iso(until),
        "bucket_seconds": step,
        "group_by": group_by,
        "totals": totals.summary(),
        "buckets": [
            {"ts": _iso(since + number * step), "group": group, **b.summary()}
            for (number, group), b in sorted(buckets.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        ],
    }


def _iso(ts: float) -> str:
    from gateway.observe.record import iso_ts

    return iso_ts(ts)
