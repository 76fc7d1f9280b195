"""One JSON line per request on stdout, written by a background thread in batches.

The access log is a data-plane observer: the request path only appends the finished record to a bounded
queue; shaping it (`RequestRecord.as_dict`), serialisation and the write happen off the event loop. A
full queue drops the record and counts the drop instead of slowing requests down.
"""

from __future__ import annotations

import itertools
import os
import queue
import sys
import threading
import time
from typing import Any, BinaryIO

import orjson

from gateway.observe.record import RequestRecord

_STOP = object()


class AccessLog:
    def __init__(self, stream: BinaryIO | None = None, capacity: int = 65536, enabled: bool = True) -> None:
        self.enabled = enabled
        self.dropped = 0
        self._stream = stream or sys.stdout.buffer
        self._queue: queue.Queue[Any] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
            self._thread.start()

    def write(self, record: RequestRecord) -> None:
        if not self.enabled:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def depth(self) -> int:
        """Records queued and not yet written (approximate: the writer thread drains concurrently)."""
        return self._queue.qsize()

    def stop(self) -> None:
        """Drain what is queued, then stop the writer (records queued before this call are written)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Wake at most every 50 ms, not once per record: fewer GIL hand-offs with the event loop.
            time.sleep(0.05)
            while len(batch) < 8192:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in batch if r is not _STOP]
            if records:
                try:
                    self._stream.write(b"".join(orjson.dumps(r.as_dict()) + b"\n" for r in records))
                    self._stream.flush()
                except (OSError, ValueError):
                    self.dropped += len(records)
            if len(records) < len(batch):
                return


class RequestIds:
    """Request ids: time-ordered (milliseconds), then a per-process random part and a counter.

    Sortable in logs, unique across replicas, and cheap: no system call per request.
    """

    def __init__(self) -> None:
        self._process = os.urandom(4).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{time.time_ns() // 1_000_000:012x}{self._process}{next(self._counter) & 0xFFFFFFFF:08x}"
