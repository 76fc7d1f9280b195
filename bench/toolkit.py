"""What bench.streams, bench.soak and bench.scaling share: process setup, ports, result files."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import mock, procmem, procs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
PAYLOADS = {"json": HERE / "payloads" / "messages.json", "sse": HERE / "payloads" / "messages-stream.json"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_set(spec: str) -> set[int]:
    """'0', '0,1' or '0-1' as a set of core numbers."""
    cpus: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"missing {', '.join(missing)}: apt-get install -y nginx libnginx-mod-http-lua wrk util-linux"
        )
    mock.find_modules_dir()


def prepare(load_cpu: str | None, nofile: int) -> int:
    """Pin this process to the load core(s), raise its descriptor limit (children inherit it), and
    make SIGTERM/SIGHUP unwind like Ctrl-C so every child is stopped. Returns the soft NOFILE limit."""
    if load_cpu is not None:
        os.sched_setaffinity(0, cpu_set(load_cpu) & os.sched_getaffinity(0) or os.sched_getaffinity(0))
    limit = procmem.raise_nofile(nofile)
    atexit.register(procs.stop_all)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    return limit


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def work_dir(out: Path, tool: str, when: str) -> Path:
    """A private folder per run (nginx prefix, arm logs): never one another run may be using."""
    path = out / "tmp" / f"{tool}-{when}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_results(
    out: Path, tool: str, when: str, result: dict[str, Any], markdown: str
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{tool}-{when}.json"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    md_path = out / f"{tool}-latest.md"
    md_path.write_text(markdown)
    return json_path, md_path


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"
