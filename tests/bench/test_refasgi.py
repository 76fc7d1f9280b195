"""bench/refasgi.py, the ref-asgi arm, served by uvicorn against a real upstream on loopback: it must be
an honest reference, relaying each SSE piece as it arrives and cancelling the upstream on disconnect."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from tests.gateway_server import free_port

ROOT = Path(__file__).resolve().parents[2]


class Upstream:
    """An aiohttp server whose SSE answer sends piece 1, then waits for the test's go before piece 2."""

    def __init__(self) -> None:
        self.port = free_port()
        self.go = threading.Event()
        self.cut = threading.Event()  # set when the proxy dropped the upstream connection mid-stream
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if request.path == "/v1/responses":
            return web.json_response({"object": "response", "auth": request.headers.get("authorization")})
        if not body.get("stream"):
            return web.json_response({"type": "message", "key": request.headers.get("x-api-key")})
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: one\ndata: {}\n\n")
        try:
            while not self.go.is_set():
                await asyncio.sleep(0.01)
                # A probe write: fails once the proxy has closed its upstream connection.
                await response.write(b": keep-alive\n\n")
            await response.write(b"event: two\ndata: {}\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            self.cut.set()
            raise
        await response.write_eof()
        return response

    def __enter__(self) -> Upstream:
        self.thread.start()
        app = web.Application()
        app.router.add_post("/v1/messages", self.handle)
        app.router.add_post("/v1/responses", self.handle)
        self.runner = web.AppRunner(app)
        asyncio.run_coroutine_threadsafe(self.runner.setup(), self.loop).result()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        asyncio.run_coroutine_threadsafe(site.start(), self.loop).result()
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


@pytest.fixture
def proxy() -> Iterator[tuple[str, Upstream]]:
    with Upstream() as upstream:
        port = free_port()
        env = {
            **os.environ,
            "REFPROXY_UPSTREAM": f"http://127.0.0.1:{upstream.port}",
            "PYTHONPATH": str(ROOT),
        }
        argv = [sys.executable, "-m", "uvicorn", "bench.refasgi:app", "--loop", "uvloop",
                "--http", "httptools", "--no-access-log", "--port", str(port)]  # fmt: skip
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    assert proc.poll() is None and time.monotonic() < deadline, "ref-asgi did not start"
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", upstream
        finally:
            proc.terminate()
            proc.wait(10)


def test_json_is_forwarded_with_its_key(proxy: tuple[str, Upstream]) -> None:
    url, _ = proxy
    r = httpx.post(url + "/v1/messages", json={"model": "m"}, headers={"x-api-key": "k1"})
    assert r.status_code == 200 and r.json() == {"type": "message", "key": "k1"}
    assert httpx.post(url + "/nope", json={}).status_code == 404


def test_responses_go_to_the_same_path_with_the_bearer_key(proxy: tuple[str, Upstream]) -> None:
    url, _ = proxy
    r = httpx.post(url + "/v1/responses", json={"model": "m"}, headers={"authorization": "Bearer k2"})
    assert r.status_code == 200 and r.json() == {"object": "response", "auth": "Bearer k2"}


def test_sse_piece_arrives_before_the_upstream_sends_the_next(proxy: tuple[str, Upstream]) -> None:
    url, upstream = proxy
    with httpx.stream("POST", url + "/v1/messages", json={"stream": True}, timeout=10) as r:
        assert r.headers["content-type"] == "text/event-stream"
        chunks = r.iter_raw()
        first = next(chunks)
        # Piece two is not sent until piece one went through: a buffering relay would block here.
        assert b"event: one" in first and b"event: two" not in first
        upstream.go.set()
        rest = first + b"".join(chunks)
    assert rest.endswith(b"event: two\ndata: {}\n\n")


def test_client_disconnect_cancels_the_upstream(proxy: tuple[str, Upstream]) -> None:
    url, upstream = proxy
    with httpx.stream("POST", url + "/v1/messages", json={"stream": True}, timeout=10) as r:
        assert b"event: one" in next(r.iter_raw())
    # The client is gone; the upstream must see its connection closed while it still streams.
    assert upstream.cut.wait(5), "ref-asgi kept the upstream stream open after the client left"
