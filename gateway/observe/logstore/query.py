"""Reading the log: filters from query parameters, cursor pagination (newest first), one record by id,
and analytics (time buckets with counts, tokens, cost, latency percentiles and cache hit rate)."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from gateway.config.units import parse_duration
from gateway.observe.logstore import rollup
from gateway.observe.logstore.records import from_row
from gateway.observe.logstore.sql import COLUMNS, Backend, cost_units, latency_bin, trunc
from gateway.pricing.prices import format_usd

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
FIELDS = ("gateway", "route", "provider", "model", "token", "cache", "endpoint", "prompt")
# endpoint and prompt, like token, are not in the hourly rollups: grouped or filtered by them, analytics
# read records.
GROUPS = ("gateway", "route", "provider", "model", "token", "endpoint", "prompt")
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
    guardrail: str | None = None  # records with a hit of this guardrail


def parse_filters(params: Mapping[str, str]) -> Filters:
    equals = tuple((k, params[k]) for k in FIELDS if params.get(k))
    metadata = tuple((k[len("metadata.") :], v) for k, v in params.items() if k.startswith("metadata.") and v)
    status = params.get("status") or None
    if status is not None and not (
        status.isdigit() or (len(status) == 3 and status[1:] == "xx" and status[0].isdigit())
    ):
        raise BadQuery(f"status: {status!r} must be a status code or a class like 5xx")
    return Filters(
        _time(params, "since"),
        _time(params, "until"),
        equals,
        status,
        metadata,
        guardrail=params.get("guardrail") or None,
    )


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
        _status_clause(f.status, clauses, params)
    for key, value in f.metadata:
        expr, expr_args = _metadata_expr(backend, key)
        clauses.append(f"{expr} = ?")
        params += [*expr_args, value]
    if f.guardrail is not None:
        clauses.append("guardrails LIKE ? ESCAPE '!'")
        params.append(_hit_pattern(f.guardrail))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _hit_pattern(name: str) -> str:
    """A LIKE pattern for one hit of the named guardrail in the JSON the writer stores (orjson, compact,
    `name` first), the name's LIKE wildcards escaped."""
    quoted = orjson.dumps(name).decode()
    escaped = quoted.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return '%{"name":' + escaped + ",%"


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
# Everything is aggregated by the database; only sums and counts reach Python, however many records
# match. Whole hours come from the hourly rollups (sql.py, kept by every insert) when the query can be
# answered from them: no token or metadata filter or group, and buckets made of whole hours. The rest
# (the partial hours at the ends of the range, or the whole range otherwise) is one scan of the records
# per range, grouped by (bucket, group, latency bin).
# Percentiles use the latency bins: the nearest rank is found in the bin counts, and the answer is the
# largest latency of that bin, a latency some request had, at most one bin width (5% of the value at
# worst, under 1% above 100 ms in the upper part of each decade) above the exact nearest-rank value. The
# rollups keep the same bins with their counts and largest latency, so both ways give the same answer.

PERCENTILES = (("latency_ms_p50", 50), ("latency_ms_p95", 95), ("latency_ms_p99", 99))
USD_UNIT = Decimal("1e-10")  # costs are stored with at most 10 decimals (format_usd)
HOUR = 3600
ROLLUP_GROUPS = ("gateway", "route", "provider", "model")  # the GROUPS the rollups have (not token)
ROLLUP_FILTERS = (*ROLLUP_GROUPS, "cache")


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

    def add_sums(self, row: Sequence[Any], cost_units: bool) -> None:
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
        out: dict[str, float | None] = {name: None for name, _ in PERCENTILES}
        if not n:
            return out
        # Nearest rank: ceil(pct% of n), in integers; one walk up the bins finds all three.
        wanted = [(max(1, (n * pct + 99) // 100), name) for name, pct in PERCENTILES]
        seen = 0
        i = 0
        for _, (count, largest) in ordered:
            seen += int(count)
            while i < len(wanted) and seen >= wanted[i][0]:
                out[wanted[i][1]] = round(largest, 3)
                i += 1
            if i == len(wanted):
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


@dataclass(slots=True)
class _Tally:
    """Buckets by (number, group) and the totals, filled from rollup and record rows alike."""

    cost_units: bool
    totals: _Bucket = field(default_factory=_Bucket)
    buckets: dict[tuple[int, Any], _Bucket] = field(default_factory=dict)

    def bucket(self, number: Any, group: Any) -> _Bucket:
        key = (int(number), group)
        found = self.buckets.get(key)
        if found is None:
            found = self.buckets[key] = _Bucket()
        return found

    def sums(self, number: Any, group: Any, row: Sequence[Any]) -> None:
        self.bucket(number, group).add_sums(row, self.cost_units)
        self.totals.add_sums(row, self.cost_units)

    def latencies(self, rows: Iterable[Sequence[Any]]) -> None:
        """(number, group, bin, count, largest) rows: tens of thousands per query, so written out flat."""
        totals = self.totals.bins
        last: tuple[int, Any] | None = None
        bins: dict[int, list[float]] = {}
        for number, group, latency_bin_, n, top in rows:
            key = (int(number), group)
            if key != last:
                bins = self.bucket(*key).bins
                last = key
            b, count, largest = int(latency_bin_), int(n), float(top)
            have = bins.get(b)
            if have is None:
                bins[b] = [count, largest]
            else:
                have[0] += count
                if largest > have[1]:
                    have[1] = largest
            have = totals.get(b)
            if have is None:
                totals[b] = [count, largest]
            else:
                have[0] += count
                if largest > have[1]:
                    have[1] = largest


def _is_instant(text: str | None) -> bool:
    """Whether a `since` names an instant (unix seconds or ISO 8601) rather than a duration ago."""
    if not text:
        return False
    try:
        float(text)
        return True
    except ValueError:
        pass
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def _rollup_span(
    f: Filters, group_by: str | None, since: float, until: float, step: float
) -> tuple[int, int] | None:
    """The whole hours [lo, hi) of the range the rollups can answer, or None: the rollups have no token
    or metadata, and an hour must lie inside one bucket (buckets of whole hours from a whole hour, or a
    single bucket for the whole range)."""
    if group_by is not None and group_by not in ROLLUP_GROUPS:
        return None
    if f.metadata or f.guardrail is not None or any(column not in ROLLUP_FILTERS for column, _ in f.equals):
        return None
    if not ((step % HOUR == 0 and since % HOUR == 0) or until - since <= step):
        return None
    lo, hi = math.ceil(since / HOUR) * HOUR, math.floor(until / HOUR) * HOUR
    return (lo, hi) if lo < hi else None


def _rollup_where(f: Filters, lo: int, hi: int) -> tuple[str, list[Any]]:
    clauses = ["hour >= ?", "hour < ?"]
    params: list[Any] = [lo, hi]
    for column, value in f.equals:
        clauses.append(f"{column} = ?")
        params.append(rollup.encode(value))
    if f.status is not None:
        # A NULL status is -1 in the rollups: no code or class matches it, as NULL does not in SQL.
        _status_clause(f.status, clauses, params)
    return " WHERE " + " AND ".join(clauses), params


def _from_rollups(
    backend: Backend,
    tally: _Tally,
    f: Filters,
    group_by: str | None,
    since: float,
    step: float,
    lo: int,
    hi: int,
) -> None:
    dialect = _dialect(backend)
    keys = f"{trunc(dialect, '(hour - ?) / ?')}, {group_by or 'NULL'}"
    where, where_args = _rollup_where(f, lo, hi)
    args = [since, step, *where_args]
    decode = rollup.decode if group_by else (lambda g: g)
    # Only fixed column names, fixed expressions and placeholders are put into the SQL text.
    sums = backend.select(
        f"SELECT {keys}, SUM(requests), SUM(CASE WHEN status >= 400 THEN requests ELSE 0 END), "  # noqa: S608
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost), "
        "SUM(CASE WHEN cache = '=HIT' THEN requests ELSE 0 END), "
        f"SUM(CASE WHEN cache <> '' AND cache <> '=' THEN requests ELSE 0 END) FROM requests_hourly{where} "
        "GROUP BY 1, 2",
        args,
    )
    for row in sums:
        tally.sums(row[0], decode(row[1]), row[2:])
    # With no filter and no group, the bins summed over all dimensions answer (far fewer rows).
    table = "requests_hourly_latency" if group_by or f.equals or f.status else "requests_hourly_latency_all"
    bins = backend.select(
        f"SELECT {keys}, bin, SUM(n), MAX(largest) FROM {table}{where} GROUP BY 1, 2, 3",  # noqa: S608
        args,
    )
    tally.latencies((r[0], decode(r[1]), *r[2:]) for r in bins) if group_by else tally.latencies(bins)


def _from_records(
    backend: Backend, tally: _Tally, f: Filters, group: tuple[str, list[Any]], since: float, step: float
) -> None:
    """One scan of the records in f's range: sums per (bucket, group, latency bin), so that the same rows
    give the bins and, added up, the sums."""
    dialect = _dialect(backend)
    group_sql, group_args = group
    where, where_args = _where(backend, f)
    # Rows have ts >= since, so truncating (ts - since) / step is flooring it: the bucket's number.
    rows = backend.select(
        f"SELECT {trunc(dialect, '(ts - ?) / ?')}, {group_sql}, {latency_bin(dialect)}, "  # noqa: S608
        "COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), "
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), "
        f"SUM({cost_units(dialect)}), SUM(CASE WHEN cache = 'HIT' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN cache <> '' THEN 1 ELSE 0 END), COUNT(latency_ms), MAX(latency_ms) "
        f"FROM requests{where} GROUP BY 1, 2, 3",
        [since, step, *group_args, *where_args],
    )
    for row in rows:
        tally.sums(row[0], row[1], row[3:12])
    tally.latencies((r[0], r[1], r[2], r[12], r[13]) for r in rows if r[2] is not None)


def analytics(backend: Backend, params: Mapping[str, str], *, rollups: bool = True) -> dict[str, Any]:
    """GET /api/analytics: totals, and buckets of `bucket` seconds per `group_by` value. `rollups=False`
    reads only the records (the same answer, slower: for tests and checks)."""
    f = parse_filters(params)
    now = time.time()
    until = f.until if f.until is not None else now
    since = f.since if f.since is not None else until - DEFAULT_RANGE
    try:
        step = parse_duration(params.get("bucket") or "1h")
    except ValueError as exc:
        raise BadQuery(f"bucket: {exc}") from None
    if step > 0 and step % HOUR == 0 and not _is_instant(params.get("since")):
        # `since=7d` (or none) names no instant of its own: with buckets of whole hours it starts at the
        # next whole hour, so that buckets line up with the clock and the hourly rollups answer them.
        aligned = math.ceil(since / HOUR) * HOUR
        since = float(aligned) if aligned < until else since
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
    tally = _Tally(cost_units=_dialect(backend) != "postgres")
    use = rollups and getattr(backend, "migrated", False)
    span = _rollup_span(f, group_by, since, until, step) if use else None
    ranges = [(since, until)]
    if span is not None:
        lo, hi = span
        _from_rollups(backend, tally, f, group_by, since, step, lo, hi)
        ranges = [(a, b) for a, b in ((since, float(lo)), (float(hi), until)) if a < b]
    for a, b in ranges:
        part = Filters(a, b, f.equals, f.status, f.metadata, guardrail=f.guardrail)
        _from_records(backend, tally, part, (group_sql, group_args), since, step)
    return {
        "since": _iso(since),
        "until": _iso(until),
        "bucket_seconds": step,
        "group_by": group_by,
        "totals": tally.totals.summary(),
        "buckets": [
            {"ts": _iso(since + number * step), "group": group, **b.summary()}
            for (number, group), b in sorted(tally.buckets.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        ],
    }


def _iso(ts: float) -> str:
    from gateway.observe.record import iso_ts

    return iso_ts(ts)


def _status_clause(status: str, clauses: list[str], params: list[Any]) -> None:
    """`status=429` (one code) or `status=5xx` (a class)."""
    if status.isdigit():
        clauses.append("status = ?")
        params.append(int(status))
    else:
        low = int(status[0]) * 100
        clauses.append("status >= ? AND status < ?")
        params += [low, low + 100]
