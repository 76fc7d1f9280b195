"""Records handed from the event loop to one background writer thread, without a lock per record.

`queue.Queue` takes a lock and notifies a condition on every put: a measurable cost on the request path
at thousands of requests a second, paid for a wake-up the writer does not want anyway (it batches). Here
a put is one `deque.append` (atomic under the GIL), and the writer polls every `interval` seconds: at
most that much delay before a record is written, and an idle gateway wakes the thread a few times a
second.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], None],
        capacity: int,
        interval: float,
        batch: int = 1000,
        first: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.dropped = 0  # refused because the queue was full
        self._write = write  # called on the writer thread with each batch, in order
        self._capacity = capacity
        self._interval = interval
        self._items: deque[T] = deque()
        self._writing = False  # a batch has been taken and is not yet written
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._batch = batch  # records per call of `write` at most
        self._first = first  # run on the thread before anything else (a schema migration)

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def put(self, item: T) -> None:
        """On the event loop: queue `item`, or count it dropped when the queue is full."""
        if len(self._items) >= self._capacity:
            self.dropped += 1
        else:
            self._items.append(item)

    def depth(self) -> int:
        """Records queued and not yet taken by the writer."""
        return len(self._items)

    def idle(self) -> bool:
        """Nothing queued and nothing being written."""
        return not self._items and not self._writing

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until what is queued now has been written (or dropped)."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued before this call, then end the thread."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout=timeout)
            self._thread = None

    def _run(self) -> None:
        items = self._items
        if self._first is not None:
            self._first()
        while True:
            stopping = self._stopping.wait(self._interval)
            while items:
                self._writing = True
                batch = [items.popleft() for _ in range(min(len(items), self._batch))]
                try:
                    self._write(batch)
                finally:
                    self._writing = False
            if stopping:
                return
