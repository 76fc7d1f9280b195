"""The reliability and security battery (reliability.md section 7).

`make test` runs it at reduced counts; `make soak` runs the same tests with `BATTERY=full` at the counts
the reference gives. Every test writes its figures (requests, failures, timings) through the `figures`
fixture to test-output/battery/<test>.json (test-output/battery-full/ at full counts, so a `make test`
never overwrites the soak's), which the README's Reliability section and closing notes quote.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

FULL = os.environ.get("BATTERY") == "full"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / ("battery-full" if FULL else "battery")


def scale(reduced: int, full: int) -> int:
    """A count for this tier: `reduced` under `make test`, `full` under `make soak`."""
    return full if FULL else reduced


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict the test fills with its figures; written as JSON when the test ends (pass or fail)."""
    found: dict[str, Any] = {"tier": "full" if FULL else "reduced"}
    yield found
    found["outcome"] = getattr(request.node, "battery_outcome", "error")  # set by the hook below
    OUTPUT.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    (OUTPUT / f"{request.node.module.__name__.rsplit('.', 1)[-1]}.{name}.json").write_bytes(
        orjson.dumps(found, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep the test's own verdict for its figures (the call's report comes before fixture teardown)."""
    report = yield
    if report.when == "call":
        item.battery_outcome = report.outcome  # type: ignore[attr-defined]
    return report


def open_fds(pid: int | None = None) -> int:
    """File descriptors a process holds (this one by default)."""
    return len(os.listdir(f"/proc/{pid or os.getpid()}/fd"))


def tcp_connections(port: int) -> int:
    """Established TCP connections on loopback with `port` at either end (IPv4 and IPv6)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            ends = {int(fields[i].rsplit(":", 1)[1], 16) for i in (1, 2)}
            count += fields[3] == "01" and port in ends
    return count
