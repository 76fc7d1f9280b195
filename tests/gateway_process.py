"""A gateway in its own OS process (`python -m gateway serve`), for tests where replicas must share
nothing but the state store, or where one gateway runs several workers (`workers=N`)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.gateway_server import free_port


class GatewayProcess:
    def __init__(self, config: Path, env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.config = config
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self._out = tempfile.NamedTemporaryFile(prefix="gateway-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port), "--no-watch", "--log-level", "warning"],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.config if self.config.is_dir() else self.config.parent,  # its ./data/ stays there
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}: {self.output()}")
            try:
                if (
                    httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200
                    and len(self.worker_pids()) >= self.workers
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not start: {self.output()}")

    def worker_pids(self) -> list[int]:
        """The serving processes: this one alone, or with `workers` its worker children (uvicorn spawns
        them; multiprocessing's resource tracker is a child too, and is left out)."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.proc.pid and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                pids.append(int(entry.name))
        return sorted(pids)

    def output(self) -> str:
        return Path(self._out.name).read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """Access-log lines written so far (the other lines of the output are skipped)."""
        out = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                record = orjson.loads(line)
                if "latency_ms" in record:
                    out.append(record)
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        os.unlink(self._out.name)
