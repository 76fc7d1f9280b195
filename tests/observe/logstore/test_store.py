"""The log store on both databases: migration, batched writes, filters, cursor pages, one record,
analytics and retention. SQLite in a temp folder; PostgreSQL is a real server (tests/services.py)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.observe.logstore import open_backend
from gateway.observe.logstore.query import BadQuery, analytics, one, page
from gateway.observe.logstore.writer import LogWriter
from gateway.observe.record import RequestRecord
from tests.records import attempt, request_record

NOW = time.time()


def record(i: int, **fields: Any) -> RequestRecord:
    return request_record(
        **{
            "id": f"req-{i:04d}",
            "ts": NOW - 3600 + i,
            "gateway": "default",
            "route": None,
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "status": 200,
            "stream": i % 2 == 0,
            "latency_ms": float(i),
            "ttfb_ms": 1.0,
            "input_tokens": 10,
            "output_tokens": i,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "cost_usd": "0.0001",
            "cache": None,
            "token": None,
            "metadata": {"user": f"u{i % 3}", "tier": "pro"},
            "attempts": [attempt("anthropic/claude-haiku-4-5", duration_ms=1.0)],
            "config_version": "abc",
            "error": None,
            **fields,
        }
    )


def fill(w: LogWriter, records: list[RequestRecord]) -> None:
    for r in records:
        w.write(r)
    assert w.flush()
    assert w.error is None and w.dropped == 0


def test_pages_newest_first_with_a_cursor(writer: LogWriter) -> None:
    fill(writer, [record(i) for i in range(25)])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        answer = page(writer.backend, params)
        seen += [r["id"] for r in answer["data"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"req-{i:04d}" for i in reversed(range(25))]
    first = page(writer.backend, {"limit": "1"})["data"][0]
    assert first["ts"].endswith("Z") and first["metadata"] == {"user": "u0", "tier": "pro"}
    assert first["attempts"][0]["target"] == "anthropic/claude-haiku-4-5" and "request_body" not in first


def test_filters(writer: LogWriter) -> None:
    fill(
        writer,
        [record(i) for i in range(6)]
        + [record(10, model="gpt-5", provider="openai", status=502, cache="MISS", token="bot")]
        + [record(11, status=429, gateway="support", metadata={"user": 7})],
    )

    def ids(**params: str) -> list[str]:
        return [r["id"] for r in page(writer.backend, params)["data"]]

    assert ids(model="gpt-5") == ["req-0010"]
    assert ids(provider="openai", status="502") == ["req-0010"]
    assert ids(status="4xx") == ["req-0011"]
    assert ids(token="bot", cache="MISS") == ["req-0010"]
    assert ids(gateway="support") == ["req-0011"]
    assert ids(**{"metadata.user": "u1"}) == ["req-0010", "req-0004", "req-0001"]
    assert ids(**{"metadata.user": "7"}) == ["req-0011"]
    assert ids(since=str(NOW - 3600 + 4), until=str(NOW - 3600 + 6)) == ["req-0005", "req-0004"]
    assert len(ids(since="2h")) == 8
    with pytest.raises(BadQuery, match="status"):
        ids(status="fine")
    with pytest.raises(BadQuery, match="since"):
        ids(since="yesterday-ish")
    with pytest.raises(BadQuery, match="cursor"):
        ids(cursor="not-a-cursor")


def test_endpoint_filter_and_group_by(writer: LogWriter) -> None:
    base = NOW - 7200
    kinds = ["messages", "chat", "chat", "embeddings", "files", "passthrough"]
    fill(writer, [record(i, ts=base + i, endpoint=kind, cost_usd="0.001") for i, kind in enumerate(kinds)])
    assert [r["id"] for r in page(writer.backend, {"endpoint": "chat"})["data"]] == ["req-0002", "req-0001"]
    assert page(writer.backend, {"endpoint": "batches"})["data"] == []
    assert one(writer.backend, "req-0003") is not None
    assert (one(writer.backend, "req-0003") or {})["endpoint"] == "embeddings"
    span = {"since": str(base), "until": str(base + 3600), "bucket": "1h"}
    grouped = analytics(writer.backend, {**span, "group_by": "endpoint"})
    assert {b["group"]: b["requests"] for b in grouped["buckets"]} == {
        "messages": 1, "chat": 2, "embeddings": 1, "files": 1, "passthrough": 1,
    }  # fmt: skip
    assert {b["group"]: b["cost_usd"] for b in grouped["buckets"]}["chat"] == "0.002"
    only = analytics(writer.backend, {**span, "endpoint": "chat"})
    assert only["totals"]["requests"] == 2


def test_guardrail_hits_and_prompt_are_stored_and_filtered(writer: LogWriter) -> None:
    hits = [
        [{"name": "pii", "on": "input", "action": "redact"}],
        [{"name": "no-secrets", "on": "input", "action": "block"}],
        [
            {"name": "pii", "on": "output", "action": "redact"},
            {"name": "size", "on": "input", "action": "flag"},
        ],
        None,
        [{"name": "p_i%", "on": "input", "action": "flag"}],  # LIKE wildcards in a name match literally
    ]
    fill(writer, [record(i, guardrails=h, prompt="support" if i == 1 else None) for i, h in enumerate(hits)])

    def ids(name: str) -> list[str]:
        return [r["id"] for r in page(writer.backend, {"guardrail": name})["data"]]

    assert ids("pii") == ["req-0002", "req-0000"]
    assert ids("size") == ["req-0002"]
    assert ids("p_i%") == ["req-0004"]
    assert ids("p") == [] and ids("pi") == []
    found = one(writer.backend, "req-0002") or {}
    assert found["guardrails"] == hits[2]
    assert (one(writer.backend, "req-0003") or {})["guardrails"] == []
    assert (one(writer.backend, "req-0001") or {})["prompt"] == "support"
    # analytics honour the filter too (from the records: the rollups have no guardrails)
    totals = analytics(writer.backend, {"since": str(NOW - 7200), "guardrail": "pii"})["totals"]
    assert totals["requests"] == 2


def test_one_record_with_bodies_and_writes_are_idempotent(writer: LogWriter) -> None:
    fill(writer, [record(1, request_body='{"q": 1}', response_body="answer"), record(1)])
    found = one(writer.backend, "req-0001")
    assert found is not None and found["request_body"] == '{"q": 1}' and found["response_body"] == "answer"
    assert one(writer.backend, "nope") is None


def test_analytics_buckets_groups_and_percentiles(writer: LogWriter) -> None:
    base = NOW - 7200
    rows = [
        record(
            i, ts=base + i * 60, latency_ms=float(i + 1), cost_usd="0.001", cache="HIT" if i < 3 else "MISS"
        )
        for i in range(10)
    ]
    rows += [record(50, ts=base + 3700, model="gpt-5", status=500, latency_ms=100.0, cost_usd=None)]
    fill(writer, rows)
    answer = analytics(writer.backend, {"since": str(base), "until": str(base + 7200), "bucket": "1h"})
    totals = answer["totals"]
    assert totals["requests"] == 11 and totals["errors"] == 1
    assert totals["cost_usd"] == "0.01" and totals["output_tokens"] == sum(range(10)) + 50
    assert totals["latency_ms_p50"] == 6.0 and totals["latency_ms_p99"] == 100.0
    assert totals["cache_hit_rate"] == 0.3  # 3 hits of the 10 requests the cache applied to
    assert [b["requests"] for b in answer["buckets"]] == [10, 1]
    grouped = analytics(
        writer.backend, {"since": str(base), "until": str(base + 7200), "bucket": "2h", "group_by": "model"}
    )
    assert {b["group"]: b["requests"] for b in grouped["buckets"]} == {"claude-haiku-4-5": 10, "gpt-5": 1}
    by_user = analytics(
        writer.backend,
        {"since": str(base), "until": str(base + 7200), "bucket": "2h", "group_by": "metadata.user"},
    )
    assert {b["group"]: b["requests"] for b in by_user["buckets"]} == {"u0": 4, "u1": 3, "u2": 4}
    with pytest.raises(BadQuery, match="group_by"):
        analytics(writer.backend, {"group_by": "password"})
    with pytest.raises(BadQuery, match="bucket"):
        analytics(writer.backend, {"bucket": "1ms"})


def test_retention_deletes_old_records(tmp_path: Path) -> None:
    w = LogWriter(open_backend(f"sqlite:///{tmp_path}/r.db"), retention=1800)
    w.start()
    try:
        fill(w, [record(0, ts=NOW - 7200), record(1, ts=NOW - 60)])
        assert [r["id"] for r in page(w.backend, {})["data"]] == ["req-0001"]
    finally:
        w.stop()


def test_a_database_that_is_down_keeps_the_batch_and_a_stop_counts_it_dropped(tmp_path: Path) -> None:
    from tests.gateway_server import free_port

    w = LogWriter(
        open_backend(f"postgresql://nobody:pw-canary-991@127.0.0.1:{free_port()}/x"), retention=None
    )
    w.start()
    try:
        w.write(record(0))
        deadline = time.monotonic() + 10
        while w.error is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # several refused tries: the batch is kept, not dropped
        assert w.dropped == 0 and w.written == 0 and "pw-canary-991" not in w.error
    finally:
        w.stop(patience=0.5)
    assert w.dropped == 1 and w.written == 0


def _locked(path: Path) -> sqlite3.Connection:
    """Another connection holding the database's exclusive lock (a stalled log database)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_a_locked_database_delays_records_and_loses_none(tmp_path: Path) -> None:
    from gateway.observe.logstore.sqlite import BUSY_TIMEOUT

    db = tmp_path / "locked.db"
    w = LogWriter(open_backend(f"sqlite:///{db}"), retention=None)
    w.start()
    try:
        fill(w, [record(0)])  # migrated, one record stored
        lock = _locked(db)
        for i in range(1, 200):
            w.write(record(i))
        time.sleep(BUSY_TIMEOUT * 2 + 0.5)  # longer than the busy timeout: writes are refused
        assert w.error is not None and "locked" in w.error
        assert w.written == 1 and w.dropped == 0
        lock.rollback()
        lock.close()
        assert w.flush(timeout=15)
        assert w.written == 200 and w.dropped == 0 and w.error is None
    finally:
        w.stop()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 200
    conn.close()


def test_drops_are_counted_exactly_while_the_database_is_locked(tmp_path: Path) -> None:
    db = tmp_path / "full.db"
    w = LogWriter(open_backend(f"sqlite:///{db}"), retention=None, capacity=50)
    w.start()
    try:
        fill(w, [record(0)])
        lock = _locked(db)
        for i in range(1, 301):
            w.write(record(i))
            time.sleep(0.001)
        lock.rollback()
        lock.close()
        assert w.flush(timeout=15)
    finally:
        w.stop()
    conn = sqlite3.connect(db)
    stored = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    conn.close()
    # The writer holds one batch it took before the lock; the queue holds 50 more; the rest are counted.
    assert w.dropped > 0 and stored + w.dropped == 301 and w.written == stored
