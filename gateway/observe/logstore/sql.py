"""The schema and the queries both databases run, written once with `?` placeholders; a backend says
how to run them (PostgreSQL swaps the placeholders and the JSON function)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

# (version, statements). The gateway applies what a database lacks at startup, in order.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE IF NOT EXISTS requests (
                id TEXT PRIMARY KEY,
                ts DOUBLE PRECISION NOT NULL,
                gateway TEXT, route TEXT, provider TEXT, model TEXT, client_model TEXT,
                method TEXT, path TEXT, status INTEGER, stream BOOLEAN,
                latency_ms DOUBLE PRECISION, ttfb_ms DOUBLE PRECISION,
                input_tokens BIGINT, output_tokens BIGINT,
                cache_read_tokens BIGINT, cache_write_tokens BIGINT,
                cost_usd TEXT, cache TEXT, token TEXT, key TEXT, config_version TEXT, error TEXT,
                metadata TEXT, attempts TEXT, request_body TEXT, response_body TEXT
            )""",
            "CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts, id)",
            "CREATE INDEX IF NOT EXISTS requests_gateway_ts ON requests (gateway, ts)",
            "CREATE INDEX IF NOT EXISTS requests_model_ts ON requests (model, ts)",
        ),
    ),
    (
        2,
        # A token filter names one client of many, often an idle one: without an index the newest-first
        # scan reads the whole table before it can say "nothing". Schema only; the writer is unchanged.
        ("CREATE INDEX IF NOT EXISTS requests_token_ts ON requests (token, ts)",),
    ),
)

COLUMNS = (
    "id", "ts", "gateway", "route", "provider", "model", "client_model", "method", "path", "status",
    "stream", "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "cache", "token", "key", "config_version", "error", "metadata",
    "attempts", "request_body", "response_body",
)  # fmt: skip

_VALUES = ", ".join("?" for _ in COLUMNS)
# Fixed column names only; values always go as parameters.
INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({_VALUES}) ON CONFLICT (id) DO NOTHING"  # noqa: S608
DELETE_BEFORE = "DELETE FROM requests WHERE ts < ?"


class Backend(Protocol):
    """One database. Writes happen on the writer thread; reads run in worker threads."""

    name: str  # for /readyz and errors; never holds a password

    def migrate(self) -> None: ...

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def delete_before(self, ts: float) -> int: ...

    def select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a read query written with `?` placeholders and `json_field(metadata, ?)`."""

    def close(self) -> None: ...
