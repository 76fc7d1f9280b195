"""Child processes of the benchmark: start them pinned, remember them, and always stop them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One long-running helper (the mock or an arm) with its combined stdout/stderr log."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


# Every child ever started, so that stop_all() can run from `finally`, atexit or a signal handler.
_children: list[Child] = []


def _die_with_parent() -> None:
    # If the runner itself is killed (SIGKILL, OOM) its children get SIGTERM instead of living on
    # and holding ports and a core. Runs in the child between fork and exec.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    cpus: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Child:
    """Start argv (under `taskset -c cpus` when given) in its own process group."""
    cmd = ["taskset", "-c", cpus, *argv] if cpus is not None else list(argv)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # A new session: Ctrl-C in the terminal reaches only the runner, which then stops the
        # children in order; and killpg() below reaches grandchildren (nginx workers, reloaders).
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            # Safe here: the runner spawns only while its sampler thread is stopped.
            preexec_fn=_die_with_parent,
        )
    child = Child(name=name, proc=proc, log_path=log_path)
    _children.append(child)
    return child


def stop(child: Child, timeout: float = 5.0) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after `timeout`."""
    if child in _children:
        _children.remove(child)
    if child.proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)
    try:
        child.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.proc.wait(timeout=timeout)
    # The leader is gone; a grandchild that ignored SIGTERM may still hold the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def stop_all() -> None:
    """Stop every child still running, newest first (arms before the mock they talk to)."""
    for child in reversed(list(_children)):
        with contextlib.suppress(Exception):
            stop(child)


def wait_exit(child: Child, timeout: float) -> int | None:
    """Return the exit code if the child exits within `timeout`, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = child.proc.poll()
        if code is not None:
            return code
        time.sleep(0.05)
    return None
