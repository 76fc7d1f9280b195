"""Small raw-ASGI helpers for the data plane (no per-request framework objects on the hot path)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client disconnected before the request body was complete."""


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def header_map(scope: Scope) -> dict[bytes, bytes]:
    """Request headers by lower-case name; repeated headers keep the first value."""
    out: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        out.setdefault(name, value)
    return out


async def send_response(
    send: Send,
    status: int,
    body: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    content_type: bytes = JSON,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Recorder:
    """Wraps `send` to keep a copy of what the client is sent (for the cache and logged bodies), up to
    `limit` bytes; past that it keeps nothing and says `too_large`."""

    def __init__(self, send: Send, limit: int = 4 * 1024 * 1024) -> None:
        self._send = send
        self.limit = limit
        self.status = 0
        self.content_type = b""
        self.chunks: list[bytes] = []
        self.size = 0
        self.complete = False
        self.too_large = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", ()):
                if name == b"content-type":
                    self.content_type = value
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if chunk and not self.too_large:
                self.size += len(chunk)
                if self.size > self.limit:
                    self.too_large, self.chunks = True, []
                else:
                    self.chunks.append(bytes(chunk))
            if not message.get("more_body", False):
                self.complete = True
        await self._send(message)
