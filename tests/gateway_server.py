"""Run the real gateway app under uvicorn on a loopback port, in a background thread, for tests."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from gateway.app import Gateway
from gateway.config.compiler import compile_config
from gateway.config.reload import LiveConfig
from gateway.observe.accesslog import AccessLog


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CapturedLog(io.RawIOBase):
    """Collects access-log lines the gateway writes, as parsed records."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        with self._lock:
            self.lines.extend(bytes(data).splitlines())
        return len(data)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [orjson.loads(line) for line in self.lines if line.strip()]


class GatewayServer:
    def __init__(self, config: Path, env: dict[str, str] | None = None, watch: bool = False) -> None:
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = CapturedLog()
        table = compile_config(config, env)
        self.live = LiveConfig(config, table, env=env)
        # The request log goes beside the config folder, never into the working directory.
        self.log_db = config.parent / f"{config.name}-requests.db"
        self.app = Gateway(
            self.live,
            watch=watch,
            access_log=AccessLog(stream=self.log),  # type: ignore[arg-type]
            default_log_store=f"sqlite:///{self.log_db}",
        )
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=self.port,
                loop="uvloop",
                http="httptools",
                lifespan="on",
                access_log=False,
                log_level="warning",
                timeout_graceful_shutdown=2,
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def records(self, wait_for: int = 0, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Access-log records so far; waits until at least `wait_for` have been written."""
        deadline = time.monotonic() + timeout
        while True:
            recs = self.log.records()
            if len(recs) >= wait_for or time.monotonic() > deadline:
                return recs
            time.sleep(0.02)

    def reload(self) -> Any:
        loop = self._server_loop()
        return asyncio.run_coroutine_threadsafe(self.live.reload(), loop).result(10)

    def _server_loop(self) -> asyncio.AbstractEventLoop:
        for server in self._server.servers:
            return server.get_loop()  # type: ignore[no-any-return, attr-defined]
        raise RuntimeError("server not running")

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
