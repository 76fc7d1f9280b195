"""The embedded log store: one SQLite file in WAL mode (readers never wait for the writer)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.observe.logstore import rollup
from gateway.observe.logstore.sql import (
    DELETE_BEFORE,
    DELETE_ROLLUPS_BEFORE,
    INSERT,
    MIGRATIONS,
)

BUSY_TIMEOUT = 2.0  # seconds the writer waits for another connection's lock before the write fails


class SQLiteBackend:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.memory = path == ":memory:"  # `logs.store: memory`: gone with the process
        self.path = Path(path)
        self.name = "memory" if self.memory else f"sqlite:///{path}"
        self._writer: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # a memory database has one connection, shared with readers
        self.migrated = False

    def _connection(self) -> sqlite3.Connection:
        """The writer's connection, opened on first use by the thread that writes."""
        if self._writer is None:
            if not self.memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # A lock held longer than this (another process's long transaction) fails the write, which the
            # writer tries again later: short, so /readyz reports the stall and a stop is not kept waiting.
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            except sqlite3.Error:
                conn.close()  # a locked database: the writer opens a new connection when it tries again
                raise
            self._writer = conn
        return self._writer

    def migrate(self) -> None:
        conn = self._connection()
        with self._lock, conn:
            conn.execute("CREATE TABLE IF NOT EXISTS gateway_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM gateway_schema").fetchone()
            current = row[0] or 0
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        conn.execute(statement if isinstance(statement, str) else statement(self.dialect))
                    conn.execute("INSERT INTO gateway_schema (version) VALUES (?)", (version,))
        self.migrated = True

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        conn = self._connection()
        with self._lock, conn:
            if conn.executemany(INSERT, rows).rowcount != len(rows):
                # Some ids were stored already (a batch tried again): count only the new records. Rare,
                # so the usual batch pays no lookup.
                conn.rollback()
                rows = rollup.new_only(rows, self._stored(conn, rows))
                conn.executemany(INSERT, rows)
            for upsert, groups in rollup.aggregate(rows, self.dialect):
                conn.executemany(upsert, groups)

    @staticmethod
    def _stored(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> set[str]:
        ids = [r[0] for r in rows]
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            sql = f"SELECT id FROM requests WHERE id IN ({', '.join('?' for _ in chunk)})"  # noqa: S608
            found.update(row[0] for row in conn.execute(sql, chunk))
        return found

    def delete_before(self, ts: float) -> int:
        hour = rollup.hour_floor(ts)
        conn = self._connection()
        with self._lock, conn:
            for statement in DELETE_ROLLUPS_BEFORE:
                conn.execute(statement, (hour,))
            return conn.execute(DELETE_BEFORE, (hour,)).rowcount

    def select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self.memory:
            with self._lock:
                return self._connection().execute(sql, tuple(params)).fetchall()
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        finally:
            conn.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
