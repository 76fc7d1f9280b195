"""The background writer: requests hand their record to a bounded queue (`Handoff`) and go on; one thread
writes them in batches (one transaction each), deletes what is past retention, and on a graceful stop drains
the queue before it ends. A full queue, or a database that stays down, is counted in `dropped`."""

from __future__ import annotations

import logging
import time
from typing import Any

from gateway.observe.handoff import Handoff
from gateway.observe.logstore.records import to_row
from gateway.observe.logstore.sql import Backend
from gateway.observe.record import RequestRecord

log = logging.getLogger("gateway.logstore")

BATCH = 1000  # records per transaction at most
INTERVAL = 0.1  # seconds between batches: at most this much is lost to a kill -9, plus one batch
RETENTION_EVERY = 600.0  # seconds between retention sweeps
RETRY_WAIT = 1.0  # seconds before a failed batch is tried once more


class LogWriter:
    def __init__(self, backend: Backend, retention: float | None, capacity: int = 100_000) -> None:
        self.backend = backend
        self.retention = retention
        self.written = 0
        self.error: str | None = None  # the last write error, for /readyz
        self._migrated = False
        self._swept = 0.0
        self._dropped = 0  # batches the database refused
        self._handoff: Handoff[RequestRecord] = Handoff(
            "log-store", self._write_batch, capacity, INTERVAL, BATCH, first=self._migrate
        )

    @property
    def dropped(self) -> int:
        """Records lost: the queue was full, or the database refused them twice."""
        return self._handoff.dropped + self._dropped

    def start(self) -> None:
        self._handoff.start()

    def write(self, record: RequestRecord) -> None:
        self._handoff.put(record)

    def depth(self) -> int:
        return self._handoff.depth()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until what is queued now has been written (or dropped)."""
        return self._handoff.flush(timeout)

    def stop(self) -> None:
        """Write everything queued before this call, then end the thread."""
        self._handoff.stop()
        self.backend.close()

    def _migrate(self) -> None:
        self._migrated = self._attempt(self.backend.migrate)

    def _write_batch(self, records: list[RequestRecord]) -> None:
        self._write([to_row(r) for r in records])
        if self._migrated:
            self._sweep()

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert one batch, trying once more after a pause (a restarting database). A batch that still
        fails is counted as dropped."""
        for attempt in range(2):
            if attempt:
                time.sleep(RETRY_WAIT)
            if not self._migrated:
                self._migrate()
            if self._migrated and self._attempt(lambda: self.backend.insert(rows)):
                self.written += len(rows)
                return
        self._dropped += len(rows)
        log.warning("log store %s: %d records dropped: %s", self.backend.name, len(rows), self.error)

    def _attempt(self, action: Any) -> bool:
        try:
            action()
        except Exception as exc:  # any database error: counted and reported, never fatal to the gateway
            self.error = f"{type(exc).__name__}: {exc}"
            return False
        self.error = None
        return True

    def _sweep(self) -> None:
        now = time.time()
        if self.retention is None or now - self._swept < RETENTION_EVERY:
            return
        self._swept = now
        retention = self.retention
        self._attempt(lambda: self.backend.delete_before(now - retention))
