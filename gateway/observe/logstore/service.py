"""The request log of one process: the writer for the live config's `logs.store`, swapped when a reload
names another store, and the backend the logs API reads."""

from __future__ import annotations

import threading
from typing import Any

from gateway.observe.logstore import open_backend
from gateway.observe.logstore.sql import Backend
from gateway.observe.logstore.writer import LogWriter
from gateway.observe.record import RequestRecord
from gateway.routing.table import RoutingTable

DEFAULT_STORE = "sqlite:///./data/gateway.db"


class RequestLog:
    def __init__(self, table: RoutingTable, default_store: str = DEFAULT_STORE) -> None:
        self.default_store = default_store
        self.url = table.logs.store or default_store
        self.writer = LogWriter(open_backend(self.url), table.logs.retention)
        self._started = False

    @property
    def backend(self) -> Backend:
        return self.writer.backend

    def observe(self, record: RequestRecord) -> None:
        self.writer.write(record)

    def on_swap(self, table: RoutingTable) -> None:
        url = table.logs.store or self.default_store
        self.writer.retention = table.logs.retention
        if url == self.url:
            return
        old, self.url = self.writer, url
        self.writer = LogWriter(open_backend(url), table.logs.retention)
        if self._started:
            self.writer.start()
            # The old store's queue drains in the background; requests already go to the new one.
            threading.Thread(target=old.stop, name="log-store-retire", daemon=True).start()

    def start(self) -> None:
        self._started = True
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()

    def health(self) -> dict[str, Any]:
        w = self.writer
        return {
            "store": w.backend.name,
            "ok": w.error is None,
            "error": w.error,
            "queued": w.depth(),
            "written": w.written,
            "refused": w.refused,
            "dropped": w.dropped,
        }
