"""The response cache on the data plane: answer a request from it, and keep a complete answer in it."""

from __future__ import annotations

import contextlib

from gateway.core.http import Recorder, Send
from gateway.core.usage import Usage
from gateway.dataplane.request import Request
from gateway.policy import cache
from gateway.policy.admission import Admission
from gateway.policy.state import StoreUnavailable


class Caching:
    def __init__(self, admission: Admission) -> None:
        self.admission = admission  # owns the state store the cache lives in

    async def answer(
        self, req: Request, policy: cache.Policy | None, send: Send
    ) -> tuple[bool, Send, Recorder | None]:
        """(answered from the cache, the send to answer with, the recorder that keeps a miss's answer)."""
        if policy is None:
            return False, send, None
        if policy.mode == "bypass":
            req.cache = "BYPASS"
            return False, send, None
        req.cache = "MISS"
        entry = await self._entry(req, policy.key)
        if entry is None:
            recorder = Recorder(send)
            return False, recorder, recorder
        req.cache, req.status, req.usage = "HIT", entry.status, entry.usage
        req.target, req.route = entry.target, entry.route
        report = req.ticket.report.headers() if req.ticket is not None else []
        await cache.replay(send, entry, req.response_headers() + report)
        return True, send, None

    async def keep(self, req: Request, recorder: Recorder | None, policy: cache.Policy | None) -> None:
        """Keep a complete 200 answer (never an error, a cut stream or an oversized one)."""
        if recorder is None or policy is None:
            return
        if not (recorder.complete and recorder.status == 200 and req.status == 200 and req.error is None):
            return
        if recorder.too_large:
            return
        entry = cache.Entry(
            200, recorder.content_type, recorder.chunks, req.target, req.route, req.usage or Usage()
        )
        with contextlib.suppress(StoreUnavailable):  # not kept this time; the answer was sent
            await self.admission.store(req.table).cache_put(policy.key, entry.encode(), policy.ttl)

    async def _entry(self, req: Request, key: str) -> cache.Entry | None:
        try:
            data = await self.admission.store(req.table).cache_get(key)
        except StoreUnavailable:
            return None  # an unreachable cache is a miss, never an error
        return cache.Entry.decode(data) if data is not None else None
