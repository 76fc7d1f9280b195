"""Thread-safe state shared between the test thread and the fake's event-loop thread."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from .script import RecordedAnswer, RecordedRequest, Script


class FakeState:
    """Recorded requests, the FIFO of scripts and the disconnect counter, behind one lock."""

    def __init__(self, settings_factory: Callable[[], Any] | None = None) -> None:
        # Per-test provider settings (credentials, service accounts...), rebuilt with defaults on reset().
        self._settings_factory = settings_factory
        self.settings: Any = settings_factory() if settings_factory is not None else None
        # A Condition (not a bare Lock) so tests can block until the server thread catches up.
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._answers: list[RecordedAnswer] = []
        # Each stream's frames as they are written: a test that reads `streams()` as soon as its client
        # saw the end must find the whole stream (recording after the handler returned raced with it).
        self._streams: list[list[bytes]] = []
        self._scripts: deque[Script] = deque()
        self._disconnects = 0
        # time.monotonic() of each (one clock for every process here), and the request it ended.
        self._disconnected: list[tuple[float, RecordedRequest | None]] = []
        # Bumped by reset(): a request from before a reset (say a stalled stream a session-scoped fake
        # still holds) must not count as a disconnect in the next test when its client finally goes.
        self._generation = 0
        # Set while the server shuts down, so cancelled handlers are not counted as client aborts.
        self.stopping = False
        # What a stateful endpoint keeps between requests (the Responses API's stored responses),
        # touched only on the server thread; reset() empties it.
        self.store: dict[str, Any] = {}
        # The files and batches an upstream keeps (files_wire), per API: apart from `store`, whose
        # values are all stored responses.
        self.files: dict[str, dict[str, Any]] = {}
        # Set when the first bytes of a multipart upload reach a files endpoint (files_wire): a test
        # can hold the rest of its upload back until then, proving the gateway streams it through.
        self.upload_started = threading.Event()
        # While set, a download (files_wire) sends its first piece and holds the rest until
        # `download_release` is set: a test sees whether the first piece reached its client first.
        self.hold_downloads = False
        self.download_release = threading.Event()

    def record(self, request: RecordedRequest) -> int:
        """Store a request; returns the generation to pass back to ``note_disconnect``."""
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
            return self._generation

    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    def record_answer(self, answer: RecordedAnswer) -> None:
        with self._cond:
            self._answers.append(answer)

    def answers(self) -> list[RecordedAnswer]:
        with self._cond:
            return list(self._answers)

    def open_stream(self) -> list[bytes]:
        """A new recorded stream, the list `stream_write` appends its frames to (after a reset() it is
        no longer listed: a stream from before it is not the next test's)."""
        parts: list[bytes] = []
        with self._cond:
            self._streams.append(parts)
        return parts

    def stream_write(self, parts: list[bytes], data: bytes) -> None:
        with self._cond:
            parts.append(data)

    def streams(self) -> list[bytes]:
        with self._cond:
            return [b"".join(parts) for parts in self._streams]

    def push(self, scripts: Iterable[Script]) -> None:
        with self._cond:
            self._scripts.extend(scripts)

    def take_script(self) -> Script:
        with self._cond:
            return self._scripts.popleft() if self._scripts else Script()

    def pending_scripts(self) -> int:
        with self._cond:
            return len(self._scripts)

    def note_disconnect(self, generation: int, request: RecordedRequest | None = None) -> None:
        with self._cond:
            if not self.stopping and generation == self._generation:
                self._disconnects += 1
                self._disconnected.append((time.monotonic(), request))
                self._cond.notify_all()

    def disconnects(self) -> int:
        with self._cond:
            return self._disconnects

    def disconnected(self) -> list[tuple[float, RecordedRequest | None]]:
        with self._cond:
            return list(self._disconnected)

    def reset(self) -> None:
        with self._cond:
            self._requests.clear()
            self._answers.clear()
            self._streams.clear()
            self._scripts.clear()
            self._disconnects = 0
            self._disconnected.clear()
            self._generation += 1
            self.store.clear()
            self.files.clear()
            self.upload_started.clear()
            self.hold_downloads = False
            self.download_release.clear()
            if self._settings_factory is not None:
                self.settings = self._settings_factory()

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate`` is true, or the timeout passes.

        The Condition's lock is re-entrant, so the predicate may call the accessors above.
        """
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


STATE_KEY = web.AppKey("fake_state", FakeState)
# The state generation a request arrived in (see FakeState._generation).
GENERATION_KEY = web.RequestKey("fake_generation", int)
# The request as recorded, so that a disconnect names the request it ended.
RECORDED_KEY = web.RequestKey("fake_recorded", RecordedRequest)
