"""CPU and memory readings from /proc: per process tree, per core, and a quiet-machine check."""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_ticks(pid: int) -> int:
    """utime+stime of pid plus cutime+cstime of its reaped children, in clock ticks."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0
    # After ')': state=0, ppid=1, ..., utime=11, stime=12, cutime=13, cstime=14.
    return sum(int(fields[i]) for i in (11, 12, 13, 14))


def tree_pids(root: int) -> list[int]:
    """root and all its live descendants (uvicorn reloaders, nginx workers, worker pools)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        queue.extend(children.get(pid, []))
    return pids


def tree_ticks(pids: Iterable[int]) -> int:
    return sum(process_ticks(pid) for pid in pids)


def tree_rss_kib(pids: Iterable[int]) -> int:
    """Summed RSS; shared pages count once per process, as `ps` would show them."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        except (OSError, IndexError, ValueError):
            continue
    return total


def core_ticks() -> dict[str, tuple[int, int]]:
    """(busy, total) ticks for 'cpu' (all cores) and each 'cpuN' line of /proc/stat."""
    out: dict[str, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if not line.startswith("cpu"):
            break
        name, *vals = line.split()
        # user nice system idle iowait irq softirq steal ...; busy excludes idle, iowait and steal.
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in vals[:8])
        busy = user + nice + system + irq + softirq
        out[name] = (busy, busy + idle + iowait + steal)
    return out


def self_ticks() -> float:
    """CPU seconds of the runner itself (including its sampler thread)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * CLK_TCK


def reaped_children_ticks() -> float:
    """CPU of the runner's finished children: around one wrk run, that is wrk's own CPU."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * CLK_TCK


def machine_busy_pct(window: float = 1.0) -> float:
    """Busy CPU of the whole machine over `window` seconds, in % of one core."""
    before = core_ticks()["cpu"][0]
    time.sleep(window)
    after = core_ticks()["cpu"][0]
    return 100.0 * (after - before) / CLK_TCK / window


@dataclass
class QuietCheck:
    quiet: bool
    waited_s: float
    busy_pct: float


def wait_quiet(threshold_pct: float, max_wait: float) -> QuietCheck:
    """Wait until the machine is idle enough (< threshold % of one core over 1 s) to start a row.

    A previous row's in-flight requests, a package index update or a compile on the same VM
    would otherwise leak into the next row's numbers.
    """
    start = time.monotonic()
    busy = machine_busy_pct()
    while busy >= threshold_pct and time.monotonic() - start < max_wait:
        busy = machine_busy_pct()
    return QuietCheck(quiet=busy < threshold_pct, waited_s=time.monotonic() - start, busy_pct=busy)


def wait_idle(root: int, threshold_pct: float = 20.0, window: float = 0.1, max_wait: float = 30.0) -> float:
    """Wait until root's process tree uses < threshold % of one core over `window` s; seconds waited.

    A slow arm still works through the requests wrk left in flight after its run (LiteLLM: 64 streams
    at ~11/s, ~5 s); the next arm on the same core must not be measured against that.
    """
    start = time.monotonic()
    pids = tree_pids(root)
    while True:
        before = tree_ticks(pids)
        time.sleep(window)
        busy = 100.0 * (tree_ticks(pids) - before) / CLK_TCK / window
        if busy < threshold_pct or time.monotonic() - start >= max_wait:
            return time.monotonic() - start


@dataclass
class Window:
    """CPU and memory seen during one measured window."""

    wall_s: float
    target_cpu_pct: float | None
    mock_cpu_pct: float
    runner_cpu_pct: float
    core_busy_pct: dict[str, float]
    machine_busy_pct: float
    peak_rss_mib: float | None
    others_cpu_pct: float = 0.0  # `other_pids`: e.g. the idle arms sharing the target's core


@dataclass
class Sampler:
    """Samples the target's tree RSS every `interval` s; brackets CPU ticks with start()/stop().

    The load generator's CPU is not sampled here: it is a finished child by the time the window
    closes, so the caller takes it from RUSAGE_CHILDREN.
    """

    target_pid: int | None
    mock_pids: list[int]
    interval: float = 0.25
    other_pids: list[int] = field(default_factory=list)
    _peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0
    _target0: int = 0
    _mock0: int = 0
    _others0: int = 0
    _self0: float = 0.0
    _cores0: dict[str, tuple[int, int]] = field(default_factory=dict)

    def _sample_rss(self) -> None:
        if self.target_pid is None:
            return
        while not self._stop.is_set():
            self._peak_kib = max(self._peak_kib, tree_rss_kib(tree_pids(self.target_pid)))
            self._stop.wait(self.interval)

    def start_rss(self) -> None:
        """Start following peak RSS (from warm-up on: the peak may come early)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample_rss, daemon=True)
        self._thread.start()

    def start_cpu(self) -> None:
        """Open the CPU window (the measured part of the row)."""
        self._t0 = time.monotonic()
        self._target0 = tree_ticks(tree_pids(self.target_pid)) if self.target_pid is not None else 0
        self._mock0 = tree_ticks(self.mock_pids)
        self._others0 = tree_ticks(self.other_pids)
        self._self0 = self_ticks()
        self._cores0 = core_ticks()

    def close(self) -> None:
        """Stop the RSS thread; safe to call more than once and after an interrupted row."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def stop(self) -> Window:
        """Close the CPU window opened by start_cpu() and return what it saw."""
        wall = time.monotonic() - self._t0
        target = tree_ticks(tree_pids(self.target_pid)) if self.target_pid is not None else 0
        mock = tree_ticks(self.mock_pids)
        others = tree_ticks(self.other_pids)
        runner = self_ticks()
        cores = core_ticks()
        self.close()

        def pct(ticks: float) -> float:
            return 100.0 * ticks / CLK_TCK / wall if wall > 0 else 0.0

        core_busy = {}
        for name, (busy, total) in cores.items():
            busy0, total0 = self._cores0.get(name, (busy, total))
            if name != "cpu" and total > total0:
                core_busy[name] = 100.0 * (busy - busy0) / (total - total0)
        return Window(
            wall_s=wall,
            target_cpu_pct=pct(target - self._target0) if self.target_pid is not None else None,
            mock_cpu_pct=pct(mock - self._mock0),
            runner_cpu_pct=pct(runner - self._self0),
            core_busy_pct=core_busy,
            machine_busy_pct=pct(cores["cpu"][0] - self._cores0["cpu"][0]),
            peak_rss_mib=self._peak_kib / 1024 if self.target_pid is not None else None,
            others_cpu_pct=pct(others - self._others0),
        )
