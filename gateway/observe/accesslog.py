"""One JSON line per request on stdout, written by a background thread in batches.

The access log is a data-plane observer: the request path only appends the finished record to a bounded
queue (`Handoff`); shaping it (`RequestRecord.as_dict`), serialisation and the write happen off the event
loop. A full queue drops the record and counts the drop instead of slowing requests down.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from typing import BinaryIO

import orjson

from gateway.observe.handoff import Handoff
from gateway.observe.record import RequestRecord

INTERVAL = 0.05  # seconds between writes: one write per batch, not one per record


class AccessLog:
    def __init__(self, stream: BinaryIO | None = None, capacity: int = 65536, enabled: bool = True) -> None:
        self.enabled = enabled
        self._stream = stream or sys.stdout.buffer
        self._failed = 0  # records the stream refused
        self._handoff: Handoff[RequestRecord] = Handoff("access-log", self._write, capacity, INTERVAL, 8192)

    @property
    def dropped(self) -> int:
        return self._handoff.dropped + self._failed

    def start(self) -> None:
        self._handoff.start()

    def write(self, record: RequestRecord) -> None:
        if self.enabled:
            self._handoff.put(record)

    def depth(self) -> int:
        """Records queued and not yet written."""
        return self._handoff.depth()

    def stop(self) -> None:
        """Drain what is queued, then stop the writer (records queued before this call are written)."""
        self._handoff.stop(timeout=10)

    def _write(self, records: list[RequestRecord]) -> None:
        try:
            self._stream.write(b"".join(orjson.dumps(r.as_dict()) + b"\n" for r in records))
            self._stream.flush()
        except (OSError, ValueError):
            self._failed += len(records)


class RequestIds:
    """Request ids: time-ordered (milliseconds), then a per-process random part and a counter.

    Sortable in logs, unique across replicas, and cheap: no system call per request.
    """

    def __init__(self) -> None:
        self._process = os.urandom(4).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{time.time_ns() // 1_000_000:012x}{self._process}{next(self._counter) & 0xFFFFFFFF:08x}"
