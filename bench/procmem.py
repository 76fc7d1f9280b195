"""Memory and file descriptors of a process tree, from /proc: what streams, soak and scaling judge.

RSS counts shared pages once per process (as `ps` does); PSS splits them between the processes that
share them, so PSS is the fairer total for a tree of workers. RssAnon is the heap and stacks: a leak
shows there, while RssFile (mapped libraries, the SQLite WAL index) does not grow with requests.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import sysstat

STATUS_KEYS = ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM")


def parse_status_kib(text: str) -> dict[str, int]:
    """The kB lines of /proc/<pid>/status that matter here, e.g. {"VmRSS": 51200, ...}."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in STATUS_KEYS:
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0])
    return out


def parse_rollup_pss_kib(text: str) -> int | None:
    """The `Pss:` line of /proc/<pid>/smaps_rollup, in KiB (None if absent: kernels before 4.14)."""
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def parse_nofile(text: str) -> tuple[int | None, int | None]:
    """(soft, hard) `Max open files` of /proc/<pid>/limits; None stands for unlimited."""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft, hard = line[len("Max open files") :].split()[:2]
            return (None if soft == "unlimited" else int(soft), None if hard == "unlimited" else int(hard))
    raise ValueError("no 'Max open files' line")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def fd_count(pid: int) -> int:
    """Open file descriptors of one process (0 if it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def nofile_limit(pid: int) -> tuple[int | None, int | None]:
    text = _read(f"/proc/{pid}/limits")
    return parse_nofile(text) if text is not None else (None, None)


@dataclass(frozen=True)
class TreeMemory:
    """One reading of a process tree; every size in KiB."""

    pids: int
    rss_kib: int
    pss_kib: int | None  # None if any process of the tree had no smaps_rollup
    anon_kib: int
    file_kib: int
    shmem_kib: int
    hwm_kib: int  # the largest peak RSS of one process of the tree (VmHWM)
    fds: int

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / 1024


def sum_readings(
    statuses: Sequence[dict[str, int]], pss: Sequence[int | None], fds: Sequence[int]
) -> TreeMemory:
    """Add up per-process readings (pure, so tests can feed it made-up /proc contents)."""
    pss_total: int | None = sum(p for p in pss if p is not None)
    if any(p is None for p in pss):
        pss_total = None
    return TreeMemory(
        pids=len(statuses),
        rss_kib=sum(s.get("VmRSS", 0) for s in statuses),
        pss_kib=pss_total,
        anon_kib=sum(s.get("RssAnon", 0) for s in statuses),
        file_kib=sum(s.get("RssFile", 0) for s in statuses),
        shmem_kib=sum(s.get("RssShmem", 0) for s in statuses),
        hwm_kib=max((s.get("VmHWM", 0) for s in statuses), default=0),
        fds=sum(fds),
    )


def read_pids(pids: Iterable[int]) -> TreeMemory:
    statuses: list[dict[str, int]] = []
    pss: list[int | None] = []
    fds: list[int] = []
    for pid in pids:
        status = _read(f"/proc/{pid}/status")
        if status is None:
            continue  # exited between listing and reading
        statuses.append(parse_status_kib(status))
        rollup = _read(f"/proc/{pid}/smaps_rollup")
        pss.append(parse_rollup_pss_kib(rollup) if rollup is not None else None)
        fds.append(fd_count(pid))
    return sum_readings(statuses, pss, fds)


def read_tree(root: int) -> TreeMemory:
    """root and every live descendant (uvicorn's worker processes, nginx workers)."""
    return read_pids(sysstat.tree_pids(root))


def raise_nofile(want: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to `want` (at most the hard limit); children inherit it.

    Returns the new soft limit. 1,000 open streams through a proxy hold 2,000 descriptors in it and
    1,000 in the client; the soft limit is often 1,024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def files_kib(paths: Iterable[Path]) -> int:
    """Total size of the files that exist among `paths` (a SQLite database with its -wal and -shm)."""
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total // 1024


def sqlite_files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
