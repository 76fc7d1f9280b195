"""The log writer on each store the tests cover: SQLite, PostgreSQL (the service fixture) and memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.observe.logstore import open_backend
from gateway.observe.logstore.writer import LogWriter


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def writer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogWriter]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/logs.db"
    elif request.param == "memory":
        url = "memory"
    else:
        url = request.getfixturevalue("postgres_url")
    w = LogWriter(open_backend(url), retention=None)
    w.start()
    yield w
    w.stop()
