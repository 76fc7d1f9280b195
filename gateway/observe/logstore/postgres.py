"""The shared log store: PostgreSQL, for many replicas writing to one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from gateway.observe.logstore import rollup
from gateway.observe.logstore.sql import (
    DELETE_BEFORE,
    DELETE_ROLLUPS_BEFORE,
    INSERT,
    MIGRATIONS,
)
from gateway.policy.state.store import display_url

CONNECT_TIMEOUT = 5


def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class _Stored(Exception):
    """Rolls back a batch that met ids already stored."""


class PostgresBackend:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = display_url(url)
        self._writer: psycopg.Connection[Any] | None = None
        self.migrated = False

    def _connection(self) -> psycopg.Connection[Any]:
        if self._writer is None or self._writer.closed:
            self._writer = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT)
        return self._writer

    def migrate(self) -> None:
        conn = self._connection()
        with conn.transaction():
            # One migrator at a time when several replicas start together.
            conn.execute("SELECT pg_advisory_xact_lock(727274)")
            conn.execute("CREATE TABLE IF NOT EXISTS gateway_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM gateway_schema").fetchone()
            current = (row[0] if row else None) or 0
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        conn.execute(statement if isinstance(statement, str) else statement(self.dialect))
                    conn.execute("INSERT INTO gateway_schema (version) VALUES (%s)", (version,))
        self.migrated = True

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_pg(INSERT), rows)
                if cur.rowcount != len(rows):
                    raise _Stored
                self._add_rollups(cur, rows)
        except _Stored:
            # Some ids were stored already (a batch tried again after a commit whose answer was lost):
            # count only the new records. Rare, so the usual batch pays no lookup.
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT id FROM requests WHERE id = ANY(%s)", ([r[0] for r in rows],))
                rows = rollup.new_only(rows, {row[0] for row in cur.fetchall()})
                cur.executemany(_pg(INSERT), rows)
                self._add_rollups(cur, rows)
        except psycopg.OperationalError:
            conn.close()  # reconnect on the next batch
            raise

    def _add_rollups(self, cur: psycopg.Cursor[Any], rows: Sequence[tuple[Any, ...]]) -> None:
        for upsert, groups in rollup.aggregate(rows, self.dialect):
            cur.executemany(_pg(upsert), groups)

    def delete_before(self, ts: float) -> int:
        hour = rollup.hour_floor(ts)
        conn = self._connection()
        with conn.transaction():
            for statement in DELETE_ROLLUPS_BEFORE:
                conn.execute(_pg(statement), (hour,))
            return conn.execute(_pg(DELETE_BEFORE), (hour,)).rowcount

    def select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as conn:
            return conn.execute(_pg(sql), tuple(params)).fetchall()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
