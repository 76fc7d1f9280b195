"""The state store the workers of one machine share without a server: one SQLite file in WAL mode.

Every operation is one short write transaction (BEGIN IMMEDIATE takes the database's write lock at
once, so a read-then-write can never interleave with another worker's), run in this store's own thread
so the event loop never waits on the lock or the disk. Workers wait for each other's transactions up to
`busy_timeout`; past it the store is unavailable, as an unreachable Redis is. `synchronous=NORMAL`: a
commit in WAL mode is durable against a crashed process (what `kill -9` tests), not against power loss.

All workers read one clock (this machine's), so windows and leases agree as they do under Redis.

Tables: `budgets` (spent per counter, and when its period ends), `holds` (one row per reservation with
its lease end; a counter's reserved amount is the sum of its holds whose lease has not ended),
`requests` (admission times of exact request windows), `tokens` (per fixed window) and `cache` (with
expiry, size and last use; `meta.cache_bytes` keeps the total so the size cap costs no scan) and
`vals` (values with their expiry).
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from gateway.policy.state.memory import DEFAULT_CACHE_BYTES
from gateway.policy.state.store import (
    Counter,
    CounterState,
    Refusal,
    StoreUnavailable,
    Window,
    WindowState,
)

BUSY_TIMEOUT_MS = 2000  # as long as Redis' command timeout
_SWEEP_EVERY = 1024  # operations between sweeps of ended periods, leases, windows and cache entries
_END = "\U0010ffff"  # sorts after every character a key may hold: [prefix, prefix + _END) is a prefix range

SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (key TEXT PRIMARY KEY, spent INTEGER NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS holds (
  key TEXT NOT NULL, hold TEXT NOT NULL, amount INTEGER NOT NULL, lease_end REAL NOT NULL,
  PRIMARY KEY (key, hold));
CREATE INDEX IF NOT EXISTS holds_lease ON holds (lease_end);
CREATE TABLE IF NOT EXISTS requests (key TEXT NOT NULL, t REAL NOT NULL, per REAL NOT NULL);
CREATE INDEX IF NOT EXISTS requests_key ON requests (key, t);
CREATE TABLE IF NOT EXISTS tokens (
  key TEXT NOT NULL, window INTEGER NOT NULL, per REAL NOT NULL, amount INTEGER NOT NULL,
  PRIMARY KEY (key, window));
CREATE TABLE IF NOT EXISTS cache (
  key TEXT PRIMARY KEY, expires REAL NOT NULL, used REAL NOT NULL, size INTEGER NOT NULL, value BLOB);
CREATE INDEX IF NOT EXISTS cache_used ON cache (used);
CREATE INDEX IF NOT EXISTS cache_expires ON cache (expires);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('cache_bytes', 0);
CREATE TABLE IF NOT EXISTS vals (key TEXT PRIMARY KEY, expires REAL NOT NULL, value BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS vals_expires ON vals (expires);
"""

T = TypeVar("T")


class SQLiteStore:
    def __init__(
        self,
        path: str,
        clock: Callable[[], float] = time.time,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.path = path
        self.name = f"sqlite:///{path}"
        self.clock = clock
        self.cache_bytes = cache_bytes
        # One thread owns the connection: operations of this process queue here, other processes wait
        # on the database lock.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-sqlite")
        self._db: sqlite3.Connection | None = None
        self._ops = 0

    # -- plumbing ----------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")  # readers and the writer do not block each other
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE")  # workers starting together create the schema once
            try:
                _create(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                db.close()
                raise
            self._db = db
        return self._db

    def _tx(self, body: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run `body(db, now)` in one write transaction (in the store's thread)."""
        try:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                now = self.clock()
                result = body(db, now)
                self._ops += 1
                if self._ops % _SWEEP_EVERY == 0:
                    _sweep(db, now)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as exc:  # locked past busy_timeout, disk full, unreadable file
            raise StoreUnavailable(f"{self.name}: {exc}") from None

    async def _run(self, body: Callable[[sqlite3.Connection, float], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._tx, body)

    # -- budgets -----------------------------------------------------------------------------------------

    async def reserve(
        self, counters: Sequence[Counter], amount: int, hold: str, lease: float
    ) -> Refusal | tuple[int, ...]:
        def body(db: sqlite3.Connection, now: float) -> Refusal | tuple[int, ...]:
            spends = []
            for i, c in enumerate(counters):
                spent, reserved, _ = _counter(db, c.key, now)
                if spent + reserved + amount > c.limit:
                    return Refusal(i, spent, reserved)
                spends.append(spent)
            for c in counters:
                db.execute("INSERT OR IGNORE INTO budgets VALUES (?, 0, ?)", (c.key, c.expires_at))
                db.execute(
                    "INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?)", (c.key, hold, amount, now + lease)
                )
            return tuple(spends)

        return await self._run(body)

    async def settle(self, counters: Sequence[Counter], hold: str, amount: int | None) -> None:
        def body(db: sqlite3.Connection, now: float) -> None:
            for c in counters:
                db.execute("DELETE FROM holds WHERE key = ? AND hold = ?", (c.key, hold))
                if amount is not None:
                    db.execute(
                        "INSERT INTO budgets VALUES (?, ?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET spent = spent + excluded.spent",
                        (c.key, amount, c.expires_at),
                    )

        await self._run(body)

    async def counters(self, prefix: str) -> list[CounterState]:
        def body(db: sqlite3.Connection, now: float) -> list[CounterState]:
            rows = db.execute(
                "SELECT b.key, b.spent, COALESCE(SUM(h.amount), 0), COUNT(h.hold) FROM budgets b"
                " LEFT JOIN holds h ON h.key = b.key AND h.lease_end > ?"
                " WHERE b.key >= ? AND b.key < ? AND (b.expires_at IS NULL OR b.expires_at > ?)"
                " GROUP BY b.key",
                (now, prefix, prefix + _END, now),
            )
            return [CounterState(key, spent, reserved, holds) for key, spent, reserved, holds in rows]

        return await self._run(body)

    # -- rate limits -------------------------------------------------------------------------------------

    async def hit(self, key: str, limit: int, per: float) -> Window:
        def body(db: sqlite3.Connection, now: float) -> Window:
            db.execute("DELETE FROM requests WHERE key = ? AND t <= ?", (key, now - per))
            count, oldest = db.execute(
                "SELECT COUNT(*), MIN(t) FROM requests WHERE key = ?", (key,)
            ).fetchone()
            if count >= limit:
                return Window(False, 0, oldest + per - now)
            db.execute("INSERT INTO requests VALUES (?, ?, ?)", (key, now, per))
            return Window(True, limit - count - 1, (now if oldest is None else oldest) + per - now)

        return await self._run(body)

    async def tokens_check(self, key: str, limit: int, per: float) -> Window:
        def body(db: sqlite3.Connection, now: float) -> Window:
            used, window = _tokens_used(db, key, per, now)
            return Window(used < limit, max(0, limit - math.ceil(used)), (window + 1) * per - now)

        return await self._run(body)

    async def tokens_add(self, key: str, amount: int, per: float) -> None:
        if amount <= 0:
            return

        def body(db: sqlite3.Connection, now: float) -> None:
            db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key, window) DO UPDATE SET amount = amount + excluded.amount",
                (key, math.floor(now / per), per, amount),
            )

        await self._run(body)

    async def windows(self, prefix: str) -> list[WindowState]:
        def body(db: sqlite3.Connection, now: float) -> list[WindowState]:
            out = [
                WindowState(key, used)
                for key, used in db.execute(
                    "SELECT key, COUNT(*) FROM requests WHERE key >= ? AND key < ? AND t > ? - per"
                    " GROUP BY key",
                    (prefix, prefix + _END, now),
                )
            ]
            keys = db.execute(
                "SELECT DISTINCT key, per FROM tokens WHERE key >= ? AND key < ?", (prefix, prefix + _END)
            ).fetchall()
            for key, per in keys:
                out.append(WindowState(key, _tokens_used(db, key, per, now)[0]))
            return out

        return await self._run(body)

    # -- cache -------------------------------------------------------------------------------------------

    async def cache_get(self, key: str) -> bytes | None:
        def body(db: sqlite3.Connection, now: float) -> bytes | None:
            row = db.execute("SELECT expires, value FROM cache WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            if row[0] <= now:
                _cache_drop(db, key)
                return None
            db.execute("UPDATE cache SET used = ? WHERE key = ?", (now, key))  # least recently used go first
            return bytes(row[1])

        return await self._run(body)

    async def cache_put(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self.cache_bytes // 4:  # one answer may not push out most of the cache
            return

        def body(db: sqlite3.Connection, now: float) -> None:
            _cache_drop(db, key)
            db.execute("INSERT INTO cache VALUES (?, ?, ?, ?, ?)", (key, now + ttl, now, len(value), value))
            total = _cache_add(db, len(value))
            while total > self.cache_bytes:
                oldest = db.execute("SELECT key FROM cache ORDER BY used LIMIT 1").fetchone()
                if oldest is None:
                    break
                total = _cache_drop(db, oldest[0])

        await self._run(body)

    # -- values ------------------------------------------------------------------------------------------

    async def value_get(self, key: str) -> bytes | None:
        def body(db: sqlite3.Connection, now: float) -> bytes | None:
            row = db.execute("SELECT value FROM vals WHERE key = ? AND expires > ?", (key, now)).fetchone()
            return bytes(row[0]) if row is not None else None

        return await self._run(body)

    async def value_put(self, key: str, value: bytes, ttl: float) -> None:
        def body(db: sqlite3.Connection, now: float) -> None:
            db.execute("INSERT OR REPLACE INTO vals VALUES (?, ?, ?)", (key, now + ttl, value))

        await self._run(body)

    async def value_delete(self, key: str) -> bool:
        def body(db: sqlite3.Connection, now: float) -> bool:
            row = db.execute("DELETE FROM vals WHERE key = ? RETURNING expires", (key,)).fetchone()
            return row is not None and row[0] > now

        return await self._run(body)

    # -- housekeeping ------------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._run(lambda db, now: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._thread, shut)
        self._thread.shutdown(wait=False)


def _create(db: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _counter(db: sqlite3.Connection, key: str, now: float) -> tuple[int, int, int]:
    """spent, reserved (holds whose lease has not ended) and open holds of one counter."""
    row = db.execute("SELECT spent FROM budgets WHERE key = ?", (key,)).fetchone()
    reserved, holds = db.execute(
        "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM holds WHERE key = ? AND lease_end > ?", (key, now)
    ).fetchone()
    return (row[0] if row else 0), reserved, holds


def _tokens_used(db: sqlite3.Connection, key: str, per: float, now: float) -> tuple[float, int]:
    """The sliding-window estimate (the previous fixed window weighted by its share still inside)."""
    window = math.floor(now / per)
    amounts = dict(
        db.execute(
            "SELECT window, amount FROM tokens WHERE key = ? AND window IN (?, ?) AND per = ?",
            (key, window - 1, window, per),
        ).fetchall()
    )
    overlap = 1.0 - (now / per - window)
    return amounts.get(window - 1, 0) * overlap + amounts.get(window, 0), window


def _cache_add(db: sqlite3.Connection, size: int) -> int:
    row = db.execute(
        "UPDATE meta SET value = value + ? WHERE name = 'cache_bytes' RETURNING value", (size,)
    ).fetchone()
    return int(row[0])


def _cache_drop(db: sqlite3.Connection, key: str) -> int:
    """Delete one entry; the cache's total size after it."""
    row = db.execute("DELETE FROM cache WHERE key = ? RETURNING size", (key,)).fetchone()
    return _cache_add(db, -row[0] if row else 0)


def _sweep(db: sqlite3.Connection, now: float) -> None:
    """Forget periods that have ended, leases that ended, emptied windows and expired answers."""
    db.execute(
        "DELETE FROM holds WHERE lease_end <= ? OR key IN"
        " (SELECT key FROM budgets WHERE expires_at IS NOT NULL AND expires_at <= ?)",
        (now, now),
    )
    db.execute("DELETE FROM budgets WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
    db.execute("DELETE FROM requests WHERE t <= ? - per", (now,))
    db.execute("DELETE FROM tokens WHERE window < CAST(? / per AS INTEGER) - 1", (now,))
    for (key,) in db.execute("SELECT key FROM cache WHERE expires <= ?", (now,)).fetchall():
        _cache_drop(db, key)
    db.execute("DELETE FROM vals WHERE expires <= ?", (now,))


def default_path(log_store: str, run_dir: str) -> str:
    """Where `gateway serve --workers N` keeps its state when the config names no store: beside the log
    database when that is an SQLite file, else in the run's own directory."""
    if log_store.startswith("sqlite:///"):
        return str(Path(log_store.removeprefix("sqlite:///")).parent / "state.db")
    return os.path.join(run_dir, "state.db")
