"""A throwaway PostgreSQL cluster for `bench/logscale.py` (Debian's postgresql package; as root the
cluster belongs to the `postgres` user, since PostgreSQL refuses to run as root). Default settings
apart from loopback-only listening and a private socket folder: the bench reads what a stock server
would serve."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise SystemExit(f"logscale: {name} not found; install PostgreSQL (apt-get install postgresql)")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def cluster(folder: str | None = None) -> Iterator[str]:
    """Start a cluster (in `folder`, kept, or a temporary one, removed); yield its URL."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    temporary = folder is None
    home = folder or tempfile.mkdtemp(prefix="logscale-pg-")
    os.makedirs(home, exist_ok=True)
    if prefix:
        shutil.chown(home, "postgres")
    data = os.path.join(home, "data")
    port = _free_port()
    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        _run([*prefix, initdb, "-D", data, "-A", "trust", "-U", "postgres"])
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    _run([*prefix, pg_ctl, "-D", data, "-o", options, "-l", os.path.join(home, "log"), "-w", "start"])
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _run([*prefix, pg_ctl, "-D", data, "-m", "fast", "stop"], check=False)
        if temporary:
            shutil.rmtree(home, ignore_errors=True)


def _run(argv: list[str], check: bool = True) -> None:
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=check)
