"""bench.scaling: run order, the factor, and what in a gateway log or request log counts as failure."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench import scaling


def test_runs_alternate_so_drift_favours_neither_side() -> None:
    assert scaling.order(3) == [1, 2, 2, 1, 1, 2]
    assert scaling.order(1) == [1, 2]


def test_factor_is_the_ratio_of_medians() -> None:
    assert scaling.factor([1000.0, 900.0, 1100.0], [1500.0, 1800.0, 1600.0]) == 1.6
    assert scaling.factor([], [1.0]) is None
    assert scaling.factor([0.0], [1.0]) is None


def test_lock_errors_and_tracebacks_are_trouble() -> None:
    log = "\n".join(
        [
            "INFO:     Started server process [1]",
            '{"id": "x", "status": 200}',
            "ERROR gateway.observe.logstore.writer: sqlite3.OperationalError: database is locked",
            "Traceback (most recent call last):",
        ]
    )
    assert scaling.trouble_lines(log) == log.splitlines()[2:]
    assert scaling.trouble_lines("INFO: all good\n") == []


def test_rows_since_counts_request_log_rows_by_time(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    assert scaling.rows_since(db, 0.0) is None  # no database yet
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE requests (id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL)")
    conn.executemany("INSERT INTO requests VALUES (?, ?)", [("a", 10.0), ("b", 20.0), ("c", 30.0)])
    conn.commit()
    conn.close()
    assert scaling.rows_since(db, 20.0) == 2
    assert scaling.rows_since(db, 31.0) == 0
