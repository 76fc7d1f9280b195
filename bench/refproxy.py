"""Reference proxy: the least a Starlette gateway can do, i.e. the floor of our stack.

It forwards the body and a few headers of `POST /v1/messages` and `POST /v1/chat/completions`
to the upstream and relays the answer (SSE chunk by chunk). No auth, routing, parsing or logging:
whatever the real gateway costs above this arm is its own code.

    REFPROXY_CLIENT=aiohttp REFPROXY_UPSTREAM=http://127.0.0.1:9001 \\
        uvicorn bench.refproxy:app --loop uvloop --http httptools --no-access-log --port 8080

REFPROXY_CLIENT picks the upstream client: `httpx` (httpx.AsyncClient, limits raised to 1000),
`httpx-aiohttp` (httpx API on httpx_aiohttp.AiohttpTransport) or `aiohttp` (ClientSession).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

CLIENT = os.environ.get("REFPROXY_CLIENT", "aiohttp")
UPSTREAM = os.environ.get("REFPROXY_UPSTREAM", "http://127.0.0.1:9001").rstrip("/")
# The same ceiling for every client, far above the benchmark's 64 connections, so that no arm is
# measured against its pool size (httpx's default of 20 keep-alive connections would be).
MAX_CONNECTIONS = 1000
TIMEOUT_S = 60.0
FORWARD_HEADERS = (
    "content-type",
    "accept",
    "anthropic-version",
    "anthropic-beta",
    "x-api-key",
    "authorization",
)


@dataclass
class UpstreamResponse:
    status: int
    content_type: str
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None  # set for SSE: relayed as it arrives


class Upstream(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


def _is_sse(content_type: str) -> bool:
    return content_type.startswith("text/event-stream")


class HttpxUpstream:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        # `limits` only shapes httpx's own transport; a custom transport brings its own pool.
        self._client = httpx.AsyncClient(limits=limits, timeout=TIMEOUT_S, transport=transport)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse:
        request = self._client.build_request("POST", url, content=body, headers=headers)
        response = await self._client.send(request, stream=True)
        content_type = response.headers.get("content-type", "application/octet-stream")
        if _is_sse(content_type):
            return UpstreamResponse(response.status_code, content_type, chunks=self._relay(response))
        try:
            return UpstreamResponse(response.status_code, content_type, body=await response.aread())
        finally:
            await response.aclose()

    @staticmethod
    async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


class AiohttpUpstream:
    def __init__(self) -> None:
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse:
        response = await self._session.post(url, data=body, headers=headers)
        content_type = response.headers.get("content-type", "application/octet-stream")
        if _is_sse(content_type):
            return UpstreamResponse(response.status, content_type, chunks=self._relay(response))
        try:
            return UpstreamResponse(response.status, content_type, body=await response.read())
        finally:
            response.release()

    @staticmethod
    async def _relay(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        try:
            # iter_any: whatever arrived, without re-chunking into fixed sizes.
            async for chunk in response.content.iter_any():
                yield chunk
        finally:
            response.release()

    async def aclose(self) -> None:
        await self._session.close()


def make_upstream(client: str) -> Upstream:
    if client == "httpx":
        return HttpxUpstream()
    if client == "httpx-aiohttp":
        import httpx_aiohttp  # only this arm needs the package

        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        return HttpxUpstream(transport=httpx_aiohttp.AiohttpTransport(limits=limits))
    if client == "aiohttp":
        return AiohttpUpstream()
    raise ValueError(f"REFPROXY_CLIENT must be httpx, httpx-aiohttp or aiohttp, not {client!r}")


_upstream: Upstream | None = None


async def proxy(request: Request) -> Response:
    assert _upstream is not None, "lifespan did not run"
    body = await request.body()
    headers = {name: value for name in FORWARD_HEADERS if (value := request.headers.get(name)) is not None}
    answer = await _upstream.post(UPSTREAM + request.url.path, body, headers)
    # Pass content-type through as is: media_type would append "; charset=utf-8" to text/*.
    out_headers = {"content-type": answer.content_type}
    if answer.chunks is not None:
        return StreamingResponse(answer.chunks, status_code=answer.status, headers=out_headers)
    return Response(answer.body, status_code=answer.status, headers=out_headers)


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    # Clients are made inside the running loop: aiohttp binds its session to the loop.
    global _upstream
    _upstream = make_upstream(CLIENT)
    try:
        yield
    finally:
        await _upstream.aclose()


app = Starlette(
    routes=[
        Route("/v1/messages", proxy, methods=["POST"]),
        Route("/v1/chat/completions", proxy, methods=["POST"]),
    ],
    lifespan=lifespan,
)
