"""Reference proxy without a framework: a raw ASGI app + aiohttp, the `ref-asgi` arm.

The same forwarding as bench/refproxy.py (the body and a few headers of `POST /v1/messages`,
`POST /v1/chat/completions` and `POST /v1/responses` to the same path upstream, the upstream's status
and content-type back), written against the ASGI
interface directly: what the least Python code on uvicorn costs, the reference for issue 13's 0.7x goal.
SSE is relayed chunk by chunk as it arrives (`more_body`); a client that disconnects mid-stream
cancels the upstream request (a watcher on `receive()`, for streams only).

    REFPROXY_UPSTREAM=http://127.0.0.1:9001 \\
        uvicorn bench.refasgi:app --loop uvloop --http httptools --no-access-log --port 8080
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp

UPSTREAM = os.environ.get("REFPROXY_UPSTREAM", "http://127.0.0.1:9001").rstrip("/")
MAX_CONNECTIONS = 1000  # as refproxy: far above the benchmark's concurrency
TIMEOUT_S = 60.0
PATHS = frozenset({"/v1/messages", "/v1/chat/completions", "/v1/responses"})
FORWARD_HEADERS = frozenset(
    {b"content-type", b"accept", b"anthropic-version", b"anthropic-beta", b"x-api-key", b"authorization"}
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_session: aiohttp.ClientSession | None = None


async def _lifespan(receive: Receive, send: Send) -> None:
    global _session
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Made inside the running loop: aiohttp binds its session to the loop.
            _session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            )
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _session is not None:
                await _session.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _simple(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _relay(response: aiohttp.ClientResponse, send: Send) -> None:
    # iter_any: whatever arrived, without re-chunking into fixed sizes.
    async for chunk in response.content.iter_any():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _watch_disconnect(receive: Receive, relay: asyncio.Task[None]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    relay.cancel()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["method"] != "POST" or scope["path"] not in PATHS:
        await _simple(send, 404, b'{"error":"not found"}')
        return
    assert _session is not None, "lifespan did not run"
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = {name.decode(): value.decode() for name, value in scope["headers"] if name in FORWARD_HEADERS}
    response = await _session.post(UPSTREAM + scope["path"], data=body, headers=headers)
    content_type = response.headers.get("content-type", "application/octet-stream")
    out_headers = [(b"content-type", content_type.encode())]
    start = {"type": "http.response.start", "status": response.status, "headers": out_headers}
    if not content_type.startswith("text/event-stream"):
        try:
            data = await response.read()
        finally:
            response.release()
        out_headers.append((b"content-length", str(len(data)).encode()))
        await send(start)
        await send({"type": "http.response.body", "body": data})
        return
    await send(start)
    relay = asyncio.ensure_future(_relay(response, send))
    watcher = asyncio.ensure_future(_watch_disconnect(receive, relay))
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    finally:
        watcher.cancel()
        # Closed rather than released when cut short: the rest of the stream must not be reused.
        if relay.cancelled() or not response.content.at_eof():
            response.close()
        else:
            response.release()
