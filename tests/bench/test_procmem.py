"""bench.procmem: /proc parsing on made-up contents, and readings of this very process."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from bench import procmem

STATUS = """Name:\tpython
VmPeak:\t  300000 kB
VmHWM:\t   90000 kB
VmRSS:\t   81920 kB
RssAnon:\t   60000 kB
RssFile:\t   21920 kB
RssShmem:\t       0 kB
Threads:\t4
"""


def test_status_lines_in_kib() -> None:
    assert procmem.parse_status_kib(STATUS) == {
        "VmHWM": 90000,
        "VmRSS": 81920,
        "RssAnon": 60000,
        "RssFile": 21920,
        "RssShmem": 0,
    }


def test_rollup_pss_and_nofile_limits() -> None:
    assert procmem.parse_rollup_pss_kib("55d0-7ff [rollup]\nRss:  81920 kB\nPss:  50123 kB\n") == 50123
    assert procmem.parse_rollup_pss_kib("Rss: 1 kB\n") is None
    limits = (
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max open files            1024                 524288               files     \n"
    )
    assert procmem.parse_nofile(limits) == (1024, 524288)
    assert procmem.parse_nofile(
        "Max open files            unlimited            unlimited            files\n"
    ) == (
        None,
        None,
    )
    with pytest.raises(ValueError):
        procmem.parse_nofile("Max processes 10 10 processes\n")


def test_tree_sums_and_unknown_pss() -> None:
    a = procmem.parse_status_kib(STATUS)
    tree = procmem.sum_readings([a, a], [50_000, 30_000], [10, 12])
    assert (tree.pids, tree.rss_kib, tree.pss_kib, tree.anon_kib, tree.fds) == (
        2,
        163840,
        80_000,
        120_000,
        22,
    )
    assert tree.hwm_kib == 90000
    assert procmem.sum_readings([a], [None], [3]).pss_kib is None


def test_own_process_reading_sees_a_new_descriptor(tmp_path: Path) -> None:
    before = procmem.read_tree(os.getpid())
    assert before.rss_kib > 10_000 and before.anon_kib > 0
    with (tmp_path / "x").open("w"):
        assert procmem.fd_count(os.getpid()) == procmem.read_pids([os.getpid()]).fds
        assert procmem.fd_count(os.getpid()) >= procmem.read_pids([os.getpid()]).fds - 1
        during = procmem.read_pids([os.getpid()]).fds
    assert procmem.read_pids([os.getpid()]).fds == during - 1
    assert procmem.fd_count(2**22 + 12345) == 0  # no such process


def test_nofile_limit_of_this_process_and_raising_it() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert procmem.nofile_limit(os.getpid()) == (
        None if soft == resource.RLIM_INFINITY else soft,
        None if hard == resource.RLIM_INFINITY else hard,
    )
    assert procmem.raise_nofile(64) == soft  # never lowers
    assert procmem.raise_nofile(soft) == soft


def test_sqlite_file_sizes(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    db.write_bytes(b"x" * 4096)
    (tmp_path / "gateway.db-wal").write_bytes(b"x" * 8192)
    assert procmem.files_kib(procmem.sqlite_files(db)) == 12  # the -shm file is absent: skipped
