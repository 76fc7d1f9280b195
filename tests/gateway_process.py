"""A gateway in its own OS process (`python -m gateway serve`), for tests where replicas must share
nothing but the state store."""

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
    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self._out = tempfile.NamedTemporaryFile(prefix="gateway-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config)]
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
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not start: {self.output()}")

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
