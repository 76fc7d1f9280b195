"""Pooled upstream HTTP clients: one aiohttp session per provider, kept across reloads while unchanged.

aiohttp rather than httpx: under concurrency httpx's pool costs 3-15x more CPU per request (bench/ and
shared/reference/peer-benchmark.md), and an LLM gateway mostly holds many slow requests in flight.
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp

from gateway.routing.table import Provider


class UpstreamPool:
    def __init__(self) -> None:
        self._sessions: dict[tuple[str, int], aiohttp.ClientSession] = {}
        self._lifetimes: dict[tuple[str, int], float] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def session(self, provider: Provider) -> aiohttp.ClientSession:
        key = (provider.name, provider.max_connections)
        session = self._sessions.get(key)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=provider.max_connections,
                limit_per_host=provider.max_connections,
                keepalive_timeout=30,
                ttl_dns_cache=60,
                enable_cleanup_closed=True,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                # Timers are applied per phase by the proxy; aiohttp's own only bound the connect.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=provider.timeouts.connect),
                auto_decompress=True,
                skip_auto_headers=("User-Agent", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),  # never carry one client's cookies to another
                read_bufsize=2**16,
            )
            self._sessions[key] = session
        self._lifetimes[key] = provider.timeouts.total
        return session

    def retain(self, providers: list[Provider]) -> None:
        """After a reload: close sessions no provider uses any more, once their requests must be over.

        No exchange outlives its provider's total timeout, so a stream that began on the old table
        finishes on its old session before that session closes.
        """
        live = {(p.name, p.max_connections) for p in providers}
        for key in [k for k in self._sessions if k not in live]:
            session = self._sessions.pop(key)
            task = asyncio.create_task(_close_after(session, self._lifetimes.pop(key, 0.0) + 5.0))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for task in self._retiring:
            task.cancel()
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


async def _close_after(session: aiohttp.ClientSession, delay: float) -> None:
    try:
        await asyncio.sleep(delay)
    finally:
        await session.close()


def is_connect_error(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError | socket.gaierror)
