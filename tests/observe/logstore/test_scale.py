"""The log store's SQL aggregation against a plain Python computation over the same records, the cursor
across equal timestamps, and the upgrade of a database created by schema version 1; on SQLite,
PostgreSQL (a real server, tests/services.py) and the memory store."""

from __future__ import annotations

import math
import random
import sqlite3
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.observe.logstore import open_backend
from gateway.observe.logstore.query import analytics, page
from gateway.observe.logstore.sql import MIGRATIONS
from gateway.observe.logstore.writer import LogWriter
from gateway.observe.record import RequestRecord, endpoint_of
from gateway.pricing.prices import format_usd
from tests.observe.logstore.test_store import NOW, fill, record

SINCE = NOW - 6 * 3600  # buckets start at `since`, whatever it is


def varied(n: int, seed: int = 7, start: float = SINCE) -> list[RequestRecord]:
    """Records over 6 hours from `start` with latencies over six decades, ties, missing values and costs
    with up to 10 decimals."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        latency = rng.choice([None, round(rng.uniform(0, 1), 3), round(10 ** rng.uniform(0, 5.3), 3), 42.0])
        out.append(
            record(
                i,
                ts=start + rng.uniform(0, 6 * 3600),
                model=rng.choice(["a", "b", "c", None]),
                route=rng.choice([None, "r1", ""]),
                gateway=rng.choice(["default", "support"]),
                token=rng.choice(["t1", "t2", None]),
                status=rng.choice([200, 200, 200, 429, 500, None]),
                latency_ms=latency,
                input_tokens=rng.choice([None, rng.randrange(10_000)]),
                output_tokens=rng.randrange(5000),
                cache_read_tokens=rng.choice([None, 0, rng.randrange(100)]),
                cache_write_tokens=rng.randrange(50),
                cost_usd=rng.choice(
                    [None, "0", f"{Decimal(rng.randrange(10**12)) / 10**10:f}", "0.0000000001"]
                ),
                cache=rng.choice([None, "HIT", "MISS", "BYPASS"]),
                metadata={"team": rng.choice(["red", "blue"])} if rng.random() < 0.7 else {},
            )
        )
    return out


def expected(
    records: list[RequestRecord], step: float, group: str | None, since: float = SINCE
) -> dict[tuple[str, Any], Any]:
    """Per (bucket start, group): sums and the exact nearest-rank percentiles, in plain Python."""
    from gateway.observe.record import iso_ts

    cells: dict[tuple[str, Any], list[RequestRecord]] = {}
    for r in records:
        start = since + math.floor((r.ts - since) / step) * step
        value = None
        if group == "metadata.team":
            value = r.metadata.get("team")
        elif group is not None:
            value = getattr(r, group)
        cells.setdefault((iso_ts(start), value), []).append(r)
    return {key: summarise(rs) for key, rs in cells.items()}


def summarise(rs: list[RequestRecord]) -> dict[str, Any]:
    latencies = sorted(r.latency_ms for r in rs if r.latency_ms is not None)
    cacheable = [r for r in rs if r.cache]
    out: dict[str, Any] = {
        "requests": len(rs),
        "errors": sum(1 for r in rs if (r.status or 0) >= 400),
        "input_tokens": sum(r.input_tokens or 0 for r in rs),
        "output_tokens": sum(r.output_tokens or 0 for r in rs),
        "cache_read_tokens": sum(r.cache_read_tokens or 0 for r in rs),
        "cache_write_tokens": sum(r.cache_write_tokens or 0 for r in rs),
        "cost_usd": format_usd(sum((Decimal(r.cost_usd) for r in rs if r.cost_usd), Decimal())),
        "cache_hit_rate": round(sum(r.cache == "HIT" for r in cacheable) / len(cacheable), 4)
        if cacheable
        else None,
        "latencies": latencies,
    }
    for name, pct in (("latency_ms_p50", 50), ("latency_ms_p95", 95), ("latency_ms_p99", 99)):
        # Nearest rank, ceil(pct% of n), computed in integers so float rounding cannot shift it.
        out[name] = latencies[(len(latencies) * pct + 99) // 100 - 1] if latencies else None
    return out


def check(answer: dict[str, Any], want: dict[str, Any]) -> None:
    for name in ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
                 "cache_write_tokens", "cost_usd", "cache_hit_rate"):  # fmt: skip
        assert answer[name] == want[name], name
    for name in ("latency_ms_p50", "latency_ms_p95", "latency_ms_p99"):
        got, exact = answer[name], want[name]
        if exact is None:
            assert got is None
            continue
        # The documented bound: a latency some request had, at most one bin (5%, or 0.05 ms below 1 ms)
        # above the exact nearest-rank value.
        assert got in want["latencies"], (name, got)
        assert exact <= got <= exact * 1.05 + 0.05, (name, got, exact)


@pytest.mark.parametrize(
    ("step", "group"), [(3600.0, None), (1800.0, "model"), (7200.0, "token"), (21600.0, "metadata.team")]
)
def test_analytics_equals_a_python_computation(writer: LogWriter, step: float, group: str | None) -> None:
    records = varied(400)
    fill(writer, records)
    params = {"since": repr(SINCE), "until": repr(SINCE + 6 * 3600), "bucket": f"{step:g}s"}
    answer = analytics(writer.backend, {**params, **({"group_by": group} if group else {})})
    want = expected(records, step, group)
    got = {(b["ts"], b["group"]): b for b in answer["buckets"]}
    assert got.keys() == want.keys()
    for key, bucket in got.items():
        check(bucket, want[key])
    check(answer["totals"], summarise(records))
    # Filters narrow the same aggregation.
    narrowed = analytics(writer.backend, {**params, "model": "a", "status": "5xx"})
    check(narrowed["totals"], summarise([r for r in records if r.model == "a" and r.status == 500]))


def test_exact_percentiles_when_latencies_are_apart(writer: LogWriter) -> None:
    # One latency per bin: the bins give back the exact nearest-rank values.
    latencies = [0.5, 3.0, 25.0, 180.0, 950.0, 4200.0, 61000.0, 250000.0]
    fill(writer, [record(i, ts=SINCE + i, latency_ms=v) for i, v in enumerate(latencies)])
    totals = analytics(writer.backend, {"since": repr(SINCE), "until": repr(SINCE + 60), "bucket": "60s"})[
        "totals"
    ]
    assert (totals["latency_ms_p50"], totals["latency_ms_p95"], totals["latency_ms_p99"]) == (
        180.0,
        250000.0,
        250000.0,
    )


def test_cursor_pages_through_equal_timestamps_and_filters(writer: LogWriter) -> None:
    # Three timestamps shared by many records: page boundaries fall inside runs of equal `ts`.
    records = [record(i, ts=NOW - 100 - (i % 3), model="a" if i % 4 else "b") for i in range(40)]
    fill(writer, records)
    for params in ({}, {"model": "a"}, {"since": repr(NOW - 101)}):
        seen: list[str] = []
        cursor = None
        while True:
            answer = page(writer.backend, {"limit": "7", **params, **({"cursor": cursor} if cursor else {})})
            seen += [r["id"] for r in answer["data"]]
            cursor = answer["next_cursor"]
            if cursor is None:
                break
        keep = [
            r
            for r in records
            if r.model == params.get("model", r.model) and r.ts >= float(params.get("since", 0))
        ]
        want = [r.id for r in sorted(keep, key=lambda r: (r.ts, r.id), reverse=True)]
        assert seen == want, params


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    # A gateway.db as the previous release left it: schema version 1 and its records.
    path = tmp_path / "gateway.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE gateway_schema (version INTEGER NOT NULL)")
    for statement in MIGRATIONS[0][1]:
        conn.execute(statement)
    conn.execute("INSERT INTO gateway_schema (version) VALUES (1)")
    conn.execute(
        "INSERT INTO requests (id, ts, token, status, latency_ms) VALUES ('old-1', ?, 'bot', 200, 5)", (NOW,)
    )
    conn.commit()
    conn.close()
    w = LogWriter(open_backend(f"sqlite:///{path}"), retention=None)
    w.start()
    try:
        fill(w, [record(2, token="bot")])
        assert [r["id"] for r in page(w.backend, {"token": "bot"})["data"]] == ["old-1", "req-0002"]
    finally:
        w.stop()
    conn = sqlite3.connect(path)
    try:
        versions = [v for (v,) in conn.execute("SELECT version FROM gateway_schema ORDER BY version")]
        indexes = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()
    assert versions == [m[0] for m in MIGRATIONS]
    assert "requests_token_ts" in indexes


# Hourly rollups ------------------------------------------------------------------------------------------

HOUR0 = math.floor(NOW / 3600) * 3600 - 6 * 3600  # a whole hour: rollup hours line up with the buckets


def same_answer(backend: Any, params: dict[str, str]) -> dict[str, Any]:
    """The answer with the rollups, after checking it is the records' own answer, field for field."""
    answer = analytics(backend, params)
    assert answer == analytics(backend, params, rollups=False), params
    return answer


@pytest.mark.parametrize(
    ("step", "group", "filters"),
    [
        (3600.0, None, {}),
        (7200.0, "model", {}),
        (21600.0, "route", {"status": "5xx"}),
        (3600.0, "gateway", {"model": "a", "cache": "HIT"}),
        (10800.0, "provider", {"status": "429", "route": "r1"}),
    ],
)
def test_rollups_give_the_records_answer(
    writer: LogWriter, step: float, group: str | None, filters: dict[str, str]
) -> None:
    records = varied(600, start=HOUR0)
    fill(writer, records)
    params = {
        "since": repr(float(HOUR0)),
        "until": repr(HOUR0 + 6 * 3600.0),
        "bucket": f"{step:g}s",
        **filters,
    }
    answer = same_answer(writer.backend, {**params, **({"group_by": group} if group else {})})

    def keep(r: RequestRecord) -> bool:
        for name, value in filters.items():
            if name == "status":
                if r.status is None or not (
                    str(r.status) == value or (value.endswith("xx") and str(r.status)[0] == value[0])
                ):
                    return False
            elif getattr(r, name) != value:
                return False
        return True

    chosen = [r for r in records if keep(r)]
    assert chosen, "the filters must leave records to compare"
    want = expected(chosen, step, group, since=HOUR0)
    got = {(b["ts"], b["group"]): b for b in answer["buckets"]}
    assert got.keys() == want.keys()
    for key, bucket in got.items():
        check(bucket, want[key])
    check(answer["totals"], summarise(chosen))


def test_partial_hours_at_the_ends_come_from_the_records(writer: LogWriter) -> None:
    records = varied(500, seed=11, start=HOUR0)
    fill(writer, records)
    since, until = HOUR0 + 1234.5, HOUR0 + 5.5 * 3600
    inside = [r for r in records if since <= r.ts < until]
    # One bucket for the whole range (rollup hours in the middle), then hourly buckets from a whole hour
    # up to a time inside an hour.
    whole = same_answer(writer.backend, {"since": repr(since), "until": repr(until), "bucket": "6h"})
    check(whole["totals"], summarise(inside))
    hourly = same_answer(writer.backend, {"since": repr(float(HOUR0)), "until": repr(until), "bucket": "1h"})
    check(hourly["totals"], summarise([r for r in records if r.ts < until]))


def test_rollups_answer_without_reading_the_records(tmp_path: Path) -> None:
    # Not a tautology: once the records are gone behind the store's back, only the rollups can answer.
    path = tmp_path / "logs.db"
    w = LogWriter(open_backend(f"sqlite:///{path}"), retention=None)
    w.start()
    try:
        records = varied(300, start=HOUR0)
        fill(w, records)
        params = {"since": repr(float(HOUR0)), "until": repr(HOUR0 + 6 * 3600.0), "bucket": "1h"}
        before = analytics(w.backend, params)
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("DELETE FROM requests")
        conn.close()
        assert analytics(w.backend, params) == before
        assert analytics(w.backend, params, rollups=False)["totals"]["requests"] == 0
        assert before["totals"]["requests"] == len(records)
        # A token filter is not in the rollups: the records answer it (here: nothing left).
        assert analytics(w.backend, {**params, "token": "t1"})["totals"]["requests"] == 0
    finally:
        w.stop()


def test_a_duration_since_starts_on_a_whole_hour_with_hourly_buckets(writer: LogWriter) -> None:
    fill(writer, varied(200, start=HOUR0))
    until = repr(time.time())  # the same `until` for both answers (by default it is the time of the call)
    answer = same_answer(writer.backend, {"since": "5h", "until": until, "bucket": "1h"})
    since = datetime.fromisoformat(answer["since"].replace("Z", "+00:00")).timestamp()
    assert since % 3600 == 0 and time.time() - 5 * 3600 <= since < time.time() - 4 * 3600
    assert all(b["ts"].endswith(":00:00Z") or b["ts"].endswith(":00:00.000Z") for b in answer["buckets"])
    # Buckets shorter than an hour keep `since` where the duration puts it (and read the records).
    short = analytics(writer.backend, {"since": "5h", "bucket": "30m"})
    assert datetime.fromisoformat(short["since"].replace("Z", "+00:00")).timestamp() % 3600 != 0


def test_a_batch_written_twice_is_counted_once(writer: LogWriter) -> None:
    records = varied(300, seed=5, start=HOUR0)
    fill(writer, records[:120])
    fill(writer, records)  # 120 already stored: a batch tried again after its commit
    fill(writer, records[200:])
    params = {"since": repr(float(HOUR0)), "until": repr(HOUR0 + 6 * 3600.0), "bucket": "2h"}
    answer = same_answer(writer.backend, {**params, "group_by": "model"})
    check(answer["totals"], summarise(records))


def test_retention_removes_whole_hours_from_records_and_rollups(writer: LogWriter) -> None:
    records = varied(400, seed=3, start=HOUR0)
    fill(writer, records)
    cutoff = HOUR0 + 2.5 * 3600  # inside an hour: that hour stays, records and rollups alike
    deleted = writer.backend.delete_before(cutoff)
    left = [r for r in records if r.ts >= HOUR0 + 2 * 3600]
    assert deleted == len(records) - len(left) and any(r.ts < cutoff for r in left)
    params = {"since": repr(float(HOUR0)), "until": repr(HOUR0 + 6 * 3600.0), "bucket": "1h"}
    answer = same_answer(writer.backend, params)
    check(answer["totals"], summarise(left))
    assert min(b["ts"] for b in answer["buckets"]) == min(k[0] for k in expected(left, 3600, None, HOUR0))
    oldest = page(writer.backend, {"limit": "500", "since": repr(float(HOUR0))})["data"][-1]
    assert datetime.fromisoformat(oldest["ts"].replace("Z", "+00:00")).timestamp() >= HOUR0 + 2 * 3600


_V1 = 27  # the columns schema version 1 made (later versions add theirs at the end)


def _older_store(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, version: int, width: int, records: list[Any]
) -> str:
    """A store made by schema `version`'s migrations holding `records` (their first `width` columns, the ones
    that version had); its URL, for a LogWriter to upgrade."""
    from gateway.observe.logstore.records import to_row
    from gateway.observe.logstore.sql import COLUMNS

    older = [s for v, statements in MIGRATIONS if v <= version for s in statements]
    versions = [(v,) for v in range(1, version + 1)]
    insert = f"INSERT INTO requests ({', '.join(COLUMNS[:width])}) VALUES ({', '.join('?' * width)})"  # noqa: S608
    rows = [to_row(r)[:width] for r in records]
    if store == "sqlite":
        conn = sqlite3.connect(tmp_path / "gateway.db")
        with conn:
            conn.execute("CREATE TABLE gateway_schema (version INTEGER NOT NULL)")
            for statement in older:
                conn.execute(statement if isinstance(statement, str) else statement("sqlite"))
            conn.executemany("INSERT INTO gateway_schema (version) VALUES (?)", versions)
            conn.executemany(insert, rows)
        conn.close()
        return f"sqlite:///{tmp_path}/gateway.db"
    import psycopg

    url: str = request.getfixturevalue("postgres_url")
    with psycopg.connect(url) as pg:
        pg.execute("CREATE TABLE gateway_schema (version INTEGER NOT NULL)")
        for statement in older:
            pg.execute(statement if isinstance(statement, str) else statement("postgres"))
        with pg.cursor() as cur:
            cur.executemany("INSERT INTO gateway_schema (version) VALUES (%s)", versions)
            cur.executemany(insert.replace("?", "%s"), rows)
    return url


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_version_2_store_is_upgraded_with_rollups_of_its_records(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    records = varied(300, seed=9, start=HOUR0)
    url = _older_store(store, request, tmp_path, 2, _V1, records)
    w = LogWriter(open_backend(url), retention=None)
    w.start()
    try:
        newer = varied(100, seed=10, start=HOUR0)
        newer = [record(5000 + i, **{k: getattr(r, k) for k in ("ts", "model", "latency_ms", "cost_usd")})
                 for i, r in enumerate(newer)]  # fmt: skip
        fill(w, newer)
        params = {"since": repr(float(HOUR0)), "until": repr(HOUR0 + 6 * 3600.0), "bucket": "1h"}
        answer = same_answer(w.backend, {**params, "group_by": "model"})
        check(answer["totals"], summarise(records + newer))
    finally:
        w.stop()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_version_3_store_gets_each_records_endpoint_from_its_path(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:

    paths = {
        "/v1/messages": "messages",
        "/g/support/v1/messages/count_tokens": "count_tokens",
        "/g/v1/v1/chat/completions": "chat",  # a gateway named like a path segment
        "/compat/chat/completions": "chat",
        "/v1/responses/resp_1/input_items": "responses",
        "/v1/responses/input_tokens": "count_tokens",
        "/g/support/v1/embeddings": "embeddings",
        "/v1/files/file-1/content": "files",
        "/v1/uploads/up_1/parts": "files",
        "/v1/messages/batches/b1/results": "batches",
        "/g/support/v1/batches": "batches",
        "/v1/models": "models",
        "/anthropic/v1/messages": "passthrough",
        "/g/support/openai/chat/completions": "passthrough",
        "/v1/filesystem": "passthrough",
        "/V1/Files/f1": "passthrough",  # routing is case-sensitive, and so is the backfill
    }
    for p, kind in paths.items():  # the data plane's own derivation agrees with the backfill's SQL
        assert endpoint_of("/" + p.split("/", 3)[3] if p.startswith("/g/") else p) == kind, p
    records = [
        record(i, path=p, gateway=p.split("/")[2] if p.startswith("/g/") else "default")
        for i, p in enumerate(paths)
    ]
    url = _older_store(store, request, tmp_path, 3, _V1, records)
    w = LogWriter(open_backend(url), retention=None)
    w.start()
    try:
        fill(w, [record(100, path="/v1/chat/completions", endpoint="chat")])
        got = {r["path"]: r["endpoint"] for r in page(w.backend, {"limit": "100"})["data"]}
        assert got == {**paths, "/v1/chat/completions": "chat"}
        chats = page(w.backend, {"endpoint": "chat"})["data"]
        assert sorted(r["id"] for r in chats) == ["req-0002", "req-0003", "req-0100"]
    finally:
        w.stop()


_V4 = 28  # the columns up to schema version 4 (endpoint); version 5 adds guardrails and prompt


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_version_4_store_gains_guardrails_and_prompt(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    records = [record(i) for i in range(3)]
    url = _older_store(store, request, tmp_path, 4, _V4, records)
    w = LogWriter(open_backend(url), retention=None)
    w.start()
    try:
        hit = [{"name": "pii", "on": "input", "action": "redact"}]
        fill(w, [record(100, guardrails=hit, prompt="support")])
        got = {r["id"]: (r["guardrails"], r["prompt"]) for r in page(w.backend, {"limit": "100"})["data"]}
        assert got == {**{f"req-{i:04d}": ([], None) for i in range(3)}, "req-0100": (hit, "support")}
        assert [r["id"] for r in page(w.backend, {"guardrail": "pii"})["data"]] == ["req-0100"]
    finally:
        w.stop()
