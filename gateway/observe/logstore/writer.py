"""The background writer: requests hand their record to a bounded queue and go on; one thread writes
them in batches (one transaction each), deletes what is past retention, and on a graceful stop drains
the queue before it ends. A full queue, or a database that stays down, is counted in `dropped`."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

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
        self.dropped = 0
        self.written = 0
        self.error: str | None = None  # the last write error, for /readyz
        self._queue: queue.Queue[RequestRecord | None] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._swept = 0.0
        self._idle = threading.Event()  # set while nothing is queued or being written, for flush()
        self._idle.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="log-store", daemon=True)
            self._thread.start()

    def write(self, record: RequestRecord) -> None:
        try:
            self._queue.put_nowait(record)
            self._idle.clear()
        except queue.Full:
            self.dropped += 1

    def depth(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until what is queued now has been written (or dropped)."""
        deadline = time.monotonic() + timeout
        while self._queue.qsize() or not self._idle.is_set():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        """Write everything queued before this call, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        self.backend.close()

    def _run(self) -> None:
        migrated = self._attempt(self.backend.migrate)
        while True:
            batch: list[RequestRecord | None] = [self._queue.get()]
            time.sleep(INTERVAL)
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in batch if r is not None]
            if records:
                migrated = self._write([to_row(r) for r in records], migrated)
            if migrated:
                self._sweep()
            if len(records) < len(batch):
                return
            if self._queue.empty():
                self._idle.set()

    def _write(self, rows: list[tuple[Any, ...]], migrated: bool) -> bool:
        """Insert one batch, trying once more after a pause (a restarting database); returns whether the
        schema is in place. A batch that still fails is counted as dropped."""
        for attempt in range(2):
            if attempt:
                time.sleep(RETRY_WAIT)
            migrated = migrated or self._attempt(self.backend.migrate)
            if migrated and self._attempt(lambda: self.backend.insert(rows)):
                self.written += len(rows)
                return True
        self.dropped += len(rows)
        log.warning("log store %s: %d records dropped: %s", self.backend.name, len(rows), self.error)
        return migrated

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
