"""The background writer: requests hand their record to a bounded queue (`Handoff`) and go on; one thread
writes them in batches (one transaction each), deletes what is past retention, and on a graceful stop drains
the queue before it ends.

A batch the database refuses (locked, restarting, down) is kept and tried again, backing off, for as long as
the gateway runs: records wait in the queue meanwhile, so a stalled database costs memory up to the queue's
cap, never records. What does not fit in the queue, and what is still unwritten when a stop's patience runs
out, is counted in `dropped`: every record is either stored or counted, exactly."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from gateway.observe.handoff import Handoff
from gateway.observe.logstore.records import to_row
from gateway.observe.logstore.sql import Backend
from gateway.observe.record import RequestRecord

log = logging.getLogger("gateway.logstore")

BATCH = 1000  # records taken from the queue at once (written in transactions of CATCH_UP)
INTERVAL = 0.1  # seconds between batches: at most this much is lost to a kill -9, plus one batch
RETENTION_EVERY = 600.0  # seconds between retention sweeps
CATCH_UP = 100  # records per transaction at most: a bigger batch is a backlog, written in slices
CATCH_UP_PAUSE = 0.002  # seconds between those transactions
RETRY_FIRST = 0.1  # seconds before a refused batch is tried again; doubles up to RETRY_MAX
RETRY_MAX = 2.0
STOP_PATIENCE = 10.0  # seconds a stop keeps trying a refusing database before it counts the rest dropped


class LogWriter:
    def __init__(self, backend: Backend, retention: float | None, capacity: int = 100_000) -> None:
        self.backend = backend
        self.retention = retention
        self.written = 0
        self.refused = 0  # write attempts the database refused (each tried again later)
        self.error: str | None = None  # the last write error, for /readyz
        self._migrated = False
        self._swept = 0.0
        self._dropped = 0  # records given up on at stop, the database still refusing them
        self._give_up_at: float | None = None  # set by stop(): the retrying ends then
        self._wake = threading.Event()  # cuts a retry's wait short when a stop begins
        self._handoff: Handoff[RequestRecord] = Handoff(
            "log-store", self._write_batch, capacity, INTERVAL, BATCH, first=self._migrate
        )

    @property
    def dropped(self) -> int:
        """Records lost: the queue was full, or the database still refused them when a stop gave up."""
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

    def stop(self, patience: float = STOP_PATIENCE) -> None:
        """Write everything queued before this call, then end the thread. A database that still refuses
        writes after `patience` seconds gets no more tries: what is left is counted dropped."""
        self._give_up_at = time.monotonic() + patience
        self._wake.set()
        self._handoff.stop(timeout=patience + 30)
        self.backend.close()

    def _migrate(self) -> None:
        self._migrated = self._attempt(self.backend.migrate)

    def _write_batch(self, records: list[RequestRecord]) -> None:
        for start in range(0, len(records), CATCH_UP):
            if start:
                # A backlog (after a stall) goes in slices, the event loop let in between: one long
                # insert holding the GIL would show in the latency of the requests in flight.
                time.sleep(CATCH_UP_PAUSE)
            self._write([to_row(r) for r in records[start : start + CATCH_UP]])
        if self._migrated:
            self._sweep()

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert one batch, trying again (backing off) until the database takes it; only a stop's
        deadline makes it give up, and then the batch is counted dropped. Inserts are idempotent by
        request id, so a batch that was committed but reported as failed is not stored twice."""
        wait = RETRY_FIRST
        warned = False
        while True:
            give_up_at = self._give_up_at
            if give_up_at is not None and time.monotonic() > give_up_at:
                self._dropped += len(rows)
                log.warning("log store %s: %d records dropped: %s", self.backend.name, len(rows), self.error)
                return
            if not self._migrated:
                self._migrate()
            if self._migrated and self._attempt(lambda: self.backend.insert(rows)):
                self.written += len(rows)
                if warned:
                    log.warning("log store %s: writing again", self.backend.name)
                return
            self.refused += 1
            if not warned:
                warned = True
                log.warning("log store %s: write refused, retrying: %s", self.backend.name, self.error)
            if self._wake.wait(wait):
                self._wake.clear()  # woken once by the stop: the backoff goes on from here
            wait = min(wait * 2, RETRY_MAX)

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
