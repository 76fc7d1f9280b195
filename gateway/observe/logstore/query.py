"""Reading the log: filters from query parameters, cursor pagination (newest first), one record by id,
and analytics (time buckets with counts, tokens, cost, latency percentiles and cache hit rate)."""

from __future__ import annotations

import base64
import math
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
    if getattr(backend, "dialect", "") == "postgres":
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
        where += (" AND " if where else " WHERE ") + "(ts < ? OR (ts = ? AND id < ?))"
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
    latencies: list[float] = field(default_factory=list)

    def add(self, row: tuple[Any, ...]) -> None:
        _, _, status, inp, out, cread, cwrite, cost, cache, latency = row
        self.requests += 1
        self.errors += 1 if (status or 0) >= 400 else 0
        self.input_tokens += inp or 0
        self.output_tokens += out or 0
        self.cache_read_tokens += cread or 0
        self.cache_write_tokens += cwrite or 0
        if cost:
            self.cost += Decimal(cost)
        if cache:
            self.cacheable += 1
            self.hits += cache == "HIT"
        if latency is not None:
            self.latencies.append(float(latency))

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": format_usd(self.cost),
            "latency_ms_p50": _percentile(ordered, 0.50),
            "latency_ms_p95": _percentile(ordered, 0.95),
            "latency_ms_p99": _percentile(ordered, 0.99),
            "cache_hit_rate": round(self.hits / self.cacheable, 4) if self.cacheable else None,
        }


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest rank: a latency some request really had."""
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 3)


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
    where, args = _where(backend, Filters(since, until, f.equals, f.status, f.metadata))
    # Only fixed column names and placeholders are put into the SQL text.
    sql = (
        f"SELECT ts, {group_sql}, status, input_tokens, output_tokens, cache_read_tokens, "  # noqa: S608
        f"cache_write_tokens, cost_usd, cache, latency_ms FROM requests{where}"
    )
    args = group_args + args
    totals = _Bucket()
    buckets: dict[tuple[float, Any], _Bucket] = {}
    for row in backend.select(sql, args):
        start = since + math.floor((float(row[0]) - since) / step) * step
        buckets.setdefault((start, row[1]), _Bucket()).add(row)
        totals.add(row)
    return {
        "since": _iso(since),
        "until": _iso(until),
        "bucket_seconds": step,
        "group_by": group_by,
        "totals": totals.summary(),
        "buckets": [
            {"ts": _iso(start), "group": group, **b.summary()}
            for (start, group), b in sorted(buckets.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        ],
    }


def _iso(ts: float) -> str:
    from gateway.observe.record import iso_ts

    return iso_ts(ts)
