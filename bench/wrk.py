"""Run wrk with bench/wrk/post.lua and parse its output into one result."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import sysstat

SCRIPT = Path(__file__).resolve().parent / "wrk" / "post.lua"
RESULT_MARK = "@@BENCH "
_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


class WrkError(RuntimeError):
    pass


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float | None
    mean_ms: float | None
    max_ms: float | None
    bytes_read: int
    err_connect: int
    err_read: int
    err_write: int
    err_timeout: int
    non_2xx: int  # wrk counts status >= 400 here; 3xx never occurs against this mock
    cpu_s: float  # wrk's own CPU time, to check the load generator was not the bottleneck
    source: str  # "lua" (exact, from done()) or "text" (rounded, from the --latency report)

    @property
    def socket_errors(self) -> int:
        return self.err_connect + self.err_read + self.err_write + self.err_timeout

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "socket_errors": self.socket_errors, "errors": self.errors}


def _from_lua(data: dict[str, Any], cpu_s: float) -> WrkResult:
    duration_s = data["duration_us"] / 1e6
    return WrkResult(
        requests=data["requests"],
        duration_s=duration_s,
        rps=data["requests"] / duration_s if duration_s > 0 else 0.0,
        p50_ms=data["p50_us"] / 1e3,
        p90_ms=data["p90_us"] / 1e3,
        p99_ms=data["p99_us"] / 1e3,
        p999_ms=data["p999_us"] / 1e3,
        mean_ms=data["mean_us"] / 1e3,
        max_ms=data["max_us"] / 1e3,
        bytes_read=data["bytes"],
        err_connect=data["err_connect"],
        err_read=data["err_read"],
        err_write=data["err_write"],
        err_timeout=data["err_timeout"],
        non_2xx=data["err_status"],
        cpu_s=cpu_s,
        source="lua",
    )


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def _from_text(out: str, cpu_s: float) -> WrkResult:
    """Fallback for a wrk whose Lua done() did not run: the human report, rounded."""
    pct = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)}
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (pct and done and rps):
        raise WrkError(f"cannot parse wrk output:\n{out[-1500:]}")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    connect, read, write, timeout = (int(x) for x in sock.groups()) if sock else (0, 0, 0, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        requests=int(done.group(1)),
        duration_s=_ms(done.group(2), done.group(3)) / 1e3,
        rps=float(rps.group(1)),
        p50_ms=pct["50"],
        p90_ms=pct["90"],
        p99_ms=pct["99"],
        p999_ms=None,
        mean_ms=None,
        max_ms=None,
        bytes_read=0,
        err_connect=connect,
        err_read=read,
        err_write=write,
        err_timeout=timeout,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        cpu_s=cpu_s,
        source="text",
    )


def parse(out: str, cpu_s: float = 0.0) -> WrkResult:
    for line in out.splitlines():
        if line.startswith(RESULT_MARK):
            return _from_lua(json.loads(line[len(RESULT_MARK) :]), cpu_s)
    return _from_text(out, cpu_s)


def version() -> str:
    exe = shutil.which("wrk")
    if exe is None:
        return "not installed"
    # wrk has no --version: it prints "wrk <version> [epoll] Copyright ..." before its usage.
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    first = out.splitlines()[0] if out else ""
    return first.split(" Copyright")[0].removeprefix("wrk ").strip() or "unknown"


def script_args(body_file: Path, headers: Mapping[str, str]) -> list[str]:
    """post.lua's arguments: the body file, then one `name: value` per request header."""
    for name, value in headers.items():
        if ":" in name or "\n" in name + value or "\r" in name + value or not name.strip():
            raise ValueError(f"header {name!r} cannot be passed to post.lua")
    return [str(body_file), *(f"{name}: {value}" for name, value in headers.items())]


def run(
    url: str,
    body_file: Path,
    *,
    conns: int,
    duration_s: float,
    cpus: str | None,
    timeout_s: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> tuple[WrkResult, str]:
    """One closed-loop wrk run with one thread (the load core is shared with the mock).

    `headers`: every request header to send (default: targets.REQUEST_HEADERS, what every arm takes).
    """
    if headers is None:
        from bench.targets import REQUEST_HEADERS

        headers = REQUEST_HEADERS
    argv = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "--latency",
        "-s",
        str(SCRIPT),
        url,
        "--",
        *script_args(body_file, headers),
    ]
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    # wrk is the runner's only child that finishes during the run, so the RUSAGE_CHILDREN delta
    # around it is wrk's own CPU time.
    ticks0 = sysstat.reaped_children_ticks()
    proc = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=duration_s + timeout_s + 30
    )
    cpu_s = (sysstat.reaped_children_ticks() - ticks0) / sysstat.CLK_TCK
    if proc.returncode != 0:
        raise WrkError(f"wrk exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return parse(proc.stdout, cpu_s), proc.stdout
