"""Pooled upstream connections: one http1.Client per provider, kept across reloads while unchanged.

Our own HTTP/1.1 client rather than aiohttp's or httpx's: under load aiohttp's client was ~18% of the
gateway's CPU, and httpx's pool costs 3-15x more than aiohttp's (bench/ and
shared/reference/peer-benchmark.md); an LLM gateway mostly holds many slow requests in flight.
"""

from __future__ import annotations

import asyncio

from gateway.dataplane.http1 import Client, ConnectError, UpstreamError
from gateway.routing.table import Provider

__all__ = ["ConnectError", "UpstreamError", "UpstreamPool"]


class UpstreamPool:
    def __init__(self) -> None:
        self._clients: dict[tuple[str, int], Client] = {}
        self._lifetimes: dict[tuple[str, int], float] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def session(self, provider: Provider) -> Client:
        key = (provider.name, provider.max_connections)
        client = self._clients.get(key)
        if client is None or client.closed:
            client = self._clients[key] = Client(provider.max_connections, provider.timeouts.connect)
        else:
            client.connect_timeout = provider.timeouts.connect  # a reload may change it
        self._lifetimes[key] = provider.timeouts.total
        return client

    def retain(self, providers: list[Provider]) -> None:
        """After a reload: close clients no provider uses any more, once their requests must be over.

        No exchange outlives its provider's total timeout, so a stream that began on the old table
        finishes on its old connection before that connection closes.
        """
        live = {(p.name, p.max_connections) for p in providers}
        for key in [k for k in self._clients if k not in live]:
            client = self._clients.pop(key)
            task = asyncio.create_task(_close_after(client, self._lifetimes.pop(key, 0.0) + 5.0))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        for task in self._retiring:
            task.cancel()
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


async def _close_after(client: Client, delay: float) -> None:
    try:
        await asyncio.sleep(delay)
    finally:
        client.close()
