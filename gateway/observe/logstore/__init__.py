"""The durable request log: one record per request, written in batches by a background thread, kept in
SQLite (the embedded default) or PostgreSQL (shared by replicas), and queried by the logs and analytics
API. `records.py` shapes records, `sql.py` holds the schema and queries both databases share,
`sqlite.py` and `postgres.py` are the two backends, `writer.py` the background writer, `query.py` the
filters, cursor and analytics."""

from __future__ import annotations

from gateway.observe.logstore.sql import Backend


def open_backend(url: str) -> Backend:
    """`sqlite:///path/to.db` (relative to the working directory) or `sqlite:////abs/path.db`, or
    `postgresql://user:pass@host:5432/db`."""
    if url == "memory":
        from gateway.observe.logstore.sqlite import SQLiteBackend

        return SQLiteBackend(":memory:")
    if url.startswith("sqlite:///"):
        from gateway.observe.logstore.sqlite import SQLiteBackend

        return SQLiteBackend(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.observe.logstore.postgres import PostgresBackend

        return PostgresBackend(url)
    raise ValueError(f"unknown log store {url!r}: use sqlite:///path.db or postgresql://...")


__all__ = ["Backend", "open_backend"]
