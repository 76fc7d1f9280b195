"""The attempt loop: each candidate target in order, with its retries, until one answers. Errors are
held back while another attempt exists, so the client sees one answer: the first success, or the last
failure. What to do after a failure is `failover.decide`'s pure decision."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from gateway.core.errors import GatewayError
from gateway.core.http import Send
from gateway.dataplane import exchange as proxy
from gateway.dataplane.circuit import Breakers
from gateway.dataplane.failover import DEFAULT_ON, Failure, RetryBudget, decide, failure_matches
from gateway.dataplane.request import Call, Request
from gateway.observe.record import Attempt, ms
from gateway.routing.table import Leaf

Candidate = tuple[str | None, Leaf, tuple[str, ...] | None]  # (route, target, fallback `on`)
CallLeaf = Callable[
    [Request, Call, Leaf, Send, Callable[[int], bool] | None], Awaitable[proxy.Exchange | None]
]


class Attempts:
    def __init__(self, call_leaf: CallLeaf, breakers: Breakers, budget: RetryBudget) -> None:
        self.call_leaf = call_leaf
        self.breakers = breakers  # per target: eject one that keeps failing, for a growing cooldown
        self.budget = budget
        self.rand: Callable[[], float] = random.random  # jitter; replaceable for tests

    async def run(self, req: Request, call: Call, candidates: list[Candidate], send: Send) -> None:
        budget = self.budget
        budget.active += 1
        # Ejected targets are skipped; the filter never empties the list (the last one stands).
        candidates = self.breakers.filter(candidates, key=lambda c: breaker_key(c[1]))
        try:
            for index, (route, leaf, on) in enumerate(candidates):
                req.route = route
                if await self._candidate(req, call, leaf, on, index == len(candidates) - 1, send):
                    return
        finally:
            budget.active -= 1

    async def _candidate(
        self, req: Request, call: Call, leaf: Leaf, on: tuple[str, ...] | None, last: bool, send: Send
    ) -> bool:
        """One candidate with its retries. True when the client has its answer; False to fall back."""
        budget = self.budget
        fallback_on = () if last else (on or ())
        attempt = 0
        while True:
            # Reserve a retry slot before the attempt, so concurrent failures cannot all retry at once.
            final = req.max_attempts is not None and len(req.attempts) - req.skipped + 1 >= req.max_attempts
            if final:
                fallback_on = ()
            may_retry = not final and attempt < leaf.retries and budget.allows()
            if may_retry:
                budget.retrying += 1
            try:
                hold = (DEFAULT_ON if may_retry else ()) + fallback_on
                retry_on = (lambda status, h=hold: failure_matches(h, status)) if hold else None
                started = time.perf_counter()
                error: GatewayError | None = None
                ex: proxy.Exchange | None = None
                try:
                    ex = await self.call_leaf(req, call, leaf, send, retry_on)
                except GatewayError as exc:
                    req.attempts.append(attempt_record(leaf, exc.status, exc.message, started, req.started))
                    if exc.cause is not None:
                        self.breakers.record(breaker_key(leaf), ok=False)
                    if not failure_matches(hold, None, exc.cause):
                        raise
                    error, failure = exc, Failure(None, exc.cause, None)
                else:
                    status = ex.status if ex else 200
                    req.attempts.append(
                        attempt_record(leaf, status, ex.error if ex else None, started, req.started)
                    )
                    if ex is not None:
                        # 5xx and broken streams count against a target; 4xx (429 too) is not its fault.
                        broken = ex.streamed and ex.error is not None and ex.status < 400 and not ex.stopped
                        self.breakers.record(breaker_key(leaf), ok=ex.status < 500 and not broken)
                    if ex is None or ex.held is None:
                        return True
                    failure = Failure(ex.status, None, ex.retry_after)
                decision = decide(failure, may_retry, attempt, fallback_on, self.rand)
                if decision.retry_after is not None:
                    await asyncio.sleep(decision.retry_after)
                    attempt += 1
                    continue
                if decision.fall_back:
                    return False
                # Nothing left to try here or after: the client gets the failure that was held back.
                if error is not None:
                    raise error
                assert ex is not None and ex.held is not None
                await proxy.send_held(send, *ex.held)
                req.adopt(ex)
                return True
            finally:
                if may_retry:
                    budget.retrying -= 1


def breaker_key(leaf: Leaf) -> str:
    return f"{leaf.target}#key:{leaf.key}" if leaf.key else leaf.target


def attempt_record(leaf: Leaf, status: int, error: str | None, started: float, request: float) -> Attempt:
    now = time.perf_counter()
    return Attempt(leaf.target, status, error, start_ms=ms(started - request), duration_ms=ms(now - started))
