"""Admission: whether a request may go ahead, and what it owes once it is done.

Before any upstream call, in this order: the gateway's rate limits; the route plan with its limit
gates (a spent gate sends the request to its `otherwise`, and the route is planned again with the same
random draws, so splits do not change their mind); then one atomic reservation of the request's worst
case on every budget that applies (the gateway's, the token's and the budget gates on the chosen path).
After the answer, `settle` turns the reservation into the real cost (or releases it) and adds the real
tokens to token windows, in the background. A state store that cannot be reached follows
`state.on_unavailable`: closed refuses with 503, open lets the request through uncounted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.policy.budgets import (
    DEFAULT_MAX_OUTPUT,
    Periods,
    counter,
    output_cap,
    spent_message,
    warning,
    worst_case,
)
from gateway.policy.ratelimit import Report, check, refusal_message, window_key
from gateway.policy.state import Store, StoreUnavailable, open_store
from gateway.policy.state.store import Counter, Refusal, to_units
from gateway.pricing.limits import max_output_tokens
from gateway.pricing.prices import Prices
from gateway.routing import plan as routing
from gateway.routing.plan import Candidate, Facts
from gateway.routing.table import Budget, Gateway, Leaf, Limit, Rate, RoutingTable
from gateway.translate import Untranslatable, pipeline
from gateway.translate.tokens import estimate_input_tokens

log = logging.getLogger("gateway.admission")

LEASE_MARGIN = 10.0  # seconds a hold outlives the longest the request may take, for its settlement
MAX_PLANS = 8  # route plans per request (each spent gate costs one more)

T = TypeVar("T")


@dataclass(slots=True)
class Ticket:
    """What one request holds in the state store; settled once, after the answer."""

    store: Store | None = None
    hold: str = ""
    counters: tuple[Counter, ...] = ()
    reserved: int = 0  # units held on each counter
    token_windows: list[tuple[str, Rate]] = field(default_factory=list)
    report: Report = field(default_factory=Report)
    warnings: list[str] = field(default_factory=list)
    unavailable: str | None = None  # the store error, when on_unavailable: open let the request pass
    settled: bool = False

    @property
    def metered(self) -> bool:
        """Whether the request's real usage must be known (a budget hold or a token window)."""
        return bool(self.counters or self.token_windows)


@dataclass(slots=True)  # not frozen: built per request, and frozen dataclasses are slower to build
class Ask:
    """What admission needs to know of a model call."""

    table: RoutingTable
    gateway: Gateway
    token: str | None  # gateway token name
    format: Format
    model: str
    obj: dict[str, Any]
    facts: Callable[[], Facts]
    priced: bool = True  # False for calls that cost nothing (count_tokens): no budget applies


class Admission:
    def __init__(self, prices: Prices, longest_retry_wait: float) -> None:
        self.prices = prices
        self.longest_retry_wait = longest_retry_wait  # seconds the data plane may wait before a retry
        self.periods = Periods()
        # Hold ids: unique across replicas (a random prefix per process) without a uuid per request.
        self._holder = uuid.uuid4().hex[:16]
        self._holds = itertools.count()
        self._stores: dict[str, Store] = {}
        # The store of a config that names none: memory, or the SQLite file `gateway serve --workers N`
        # gives its workers to share.
        self.default_store = "memory"
        self._settling: set[asyncio.Task[None]] = set()

    def store(self, table: RoutingTable) -> Store:
        url = table.state.store or self.default_store
        store = self._stores.get(url)
        if store is None:
            store = self._stores[url] = open_store(url)
        return store

    # -- before the call ---------------------------------------------------------------------------------

    async def gateway_limits(self, ticket: Ticket, ask: Ask) -> None:
        """The gateway's `rate_limits`; raises a 429 with retry-after when one is reached."""
        for rate in ask.gateway.rate_limits:
            refusal = await self._count(
                ticket, ask, rate, f"gateway:{ask.gateway.name}", f"gateway {ask.gateway.name!r}"
            )
            if refusal is not None:
                raise refusal

    async def _count(
        self, ticket: Ticket, ask: Ask, rate: Rate, scope: str, where: str
    ) -> GatewayError | None:
        """Count this request in one rate limit's window: the 429 to answer when the limit is reached,
        else None (also when the store is down and `on_unavailable: open` lets it pass)."""
        key = window_key(scope, rate, ask.facts())
        store = self.store(ask.table)
        window = await self._call(ticket, ask.table, check(store, key, rate))
        if window is None:
            return None
        ticket.report.add(rate, window)
        if not window.admitted:
            message = refusal_message(rate, where, window)
            return GatewayError("rate_limit_error", message, headers=_retry_after(window.reset))
        if rate.kind == "tokens":
            ticket.store = store
            ticket.token_windows.append((key, rate))
        return None

    async def plan(self, ticket: Ticket, ask: Ask, rand: Callable[[], float]) -> tuple[Candidate, ...]:
        """The route plan, with its gates passed and its budgets reserved."""
        draws: list[float] = []
        spent: set[int] = set()  # gates found spent: their `otherwise` is taken from now on
        passed: set[int] = set()  # rate gates already counted for this request
        refusal: GatewayError | None = None
        pending: list[tuple[Limit, str | None]] = []  # gates on the planned path, still to check
        position = 0

        def replay() -> float:
            nonlocal position
            if position == len(draws):
                draws.append(rand())
            position += 1
            return draws[position - 1]

        def gate(limit: Limit, facts: Facts, route: str | None) -> bool:
            if id(limit) in spent:
                return True
            if id(limit) not in passed:
                pending.append((limit, route))
            return False

        for _ in range(MAX_PLANS):
            pending.clear()
            position = 0
            try:
                candidates = routing.plan(ask.table, ask.gateway, ask.model, ask.facts, replay, gate)
            except GatewayError as exc:
                if refusal is not None and exc.kind == "rate_limit_error":
                    # A spent gate without `otherwise`: the gate's own reason, with its retry-after.
                    refusal.message = f"{exc.message}: {refusal.message}"
                    raise refusal from None
                raise
            refusal = await self._rate_gates(ticket, ask, pending, passed, spent)
            if refusal is not None:
                continue
            budgets: list[tuple[str, Limit | None]] = []
            if ask.priced:
                budgets += [(b, None) for b in _budget_names(ask)]
                budgets += [(limit.budget, limit) for limit, _ in pending if limit.budget is not None]
            if not budgets:
                return candidates
            refused_gate, refusal = await self._reserve(ticket, ask, budgets, candidates)
            if refused_gate is None:
                return candidates
            spent.add(id(refused_gate))
        raise GatewayError("rate_limit_error", "every limit gate on this route is spent")

    async def direct(self, ticket: Ticket, ask: Ask, leaf: Leaf) -> None:
        """A native passthrough call to one known target: the gateway's and token's budgets."""
        budgets: list[tuple[str, Limit | None]] = [(b, None) for b in _budget_names(ask)]
        if budgets:
            await self._reserve(ticket, ask, budgets, (Candidate(leaf, None, None),))

    async def _rate_gates(
        self,
        ticket: Ticket,
        ask: Ask,
        pending: list[tuple[Limit, str | None]],
        passed: set[int],
        spent: set[int],
    ) -> GatewayError | None:
        for limit, route in pending:
            if limit.rate is None:
                continue
            refusal = await self._count(ticket, ask, limit.rate, f"route:{route}", f"route {route!r}")
            if refusal is not None:
                spent.add(id(limit))
                return refusal
            passed.add(id(limit))
        return None

    async def _reserve(
        self,
        ticket: Ticket,
        ask: Ask,
        scopes: Sequence[tuple[str, Limit | None]],
        candidates: tuple[Candidate, ...],
    ) -> tuple[Limit | None, GatewayError | None]:
        """Reserve the worst case on every budget. Returns (a budget gate that did not fit, its error),
        (None, None) when reserved; raises when a budget that is not a gate does not fit."""
        table = ask.table
        seen: set[str] = set()
        chosen: list[tuple[Budget, Limit | None]] = []
        for name, gate in scopes:
            if name not in seen:
                seen.add(name)
                chosen.append((table.budgets[name], gate))
        targets = []
        for c in candidates:
            price = self.prices.price(table, c.leaf.target)
            if price is None:
                names = ", ".join(repr(b.name) for b, _ in chosen)
                raise GatewayError(
                    "permission_error",
                    f"model {c.leaf.target} has no known price and budget {names} applies to this "
                    f"request: add it under `pricing:` in the config, e.g. `{c.leaf.target}: "
                    "{input: 3.0, output: 15.0}` (USD per million tokens)",
                )
            uncapped = max_output_tokens(c.leaf.model) or DEFAULT_MAX_OUTPUT
            targets.append((price, output_cap(c.leaf.params, ask.obj, default=uncapped)))
        amount = to_units(worst_case(targets, _input_tokens(ask)), up=True)
        now = time.time()
        counters = tuple(counter(b, ask.facts(), self.periods.current(b.period, now)) for b, _ in chosen)
        hold = f"{self._holder}-{next(self._holds)}"
        # The longest the request may take: every attempt to its total timeout, every retry's wait.
        lease = LEASE_MARGIN + sum(
            (c.leaf.timeout or table.providers[c.leaf.provider].timeouts.total) * (1 + c.leaf.retries)
            + self.longest_retry_wait * c.leaf.retries
            for c in candidates
        )
        store = self.store(table)
        result = await self._call(ticket, table, store.reserve(counters, amount, hold, lease))
        if result is None:
            return None, None
        if isinstance(result, Refusal):
            budget, gate = chosen[result.index]
            full = counters[result.index]
            message = spent_message(budget, full, result.spent, result.reserved, amount)
            reset = (full.expires_at - now) if full.expires_at is not None else None
            error = GatewayError(
                "rate_limit_error",
                message,
                code="budget_exceeded",
                headers=_retry_after(reset) if reset is not None else [],
            )
            if gate is None:
                raise error
            return gate, error
        ticket.store, ticket.hold, ticket.counters, ticket.reserved = store, hold, counters, amount
        for (budget, _), spent in zip(chosen, result, strict=True):
            text = warning(budget, spent)
            if text:
                ticket.warnings.append(text)
        return None, None

    async def _call(self, ticket: Ticket, table: RoutingTable, op: Awaitable[T]) -> T | None:
        try:
            return await op
        except StoreUnavailable as exc:
            if table.state.on_unavailable == "open":
                ticket.unavailable = str(exc)
                return None
            raise GatewayError(
                "overloaded_error",
                f"the state store is unreachable ({exc}), so budgets and rate limits cannot be "
                "checked; requests under them are refused (state.on_unavailable: closed)",
                status=503,
            ) from None

    # -- after the call ----------------------------------------------------------------------------------

    def settle(
        self, ticket: Ticket, cost: Decimal | None, usage: Usage | None, *, answered: bool = False
    ) -> None:
        """Settle in the background: the client already has its answer. With a cost, that is spent;
        without one, a request that used something unmeasurable (usage without a price, or an answer
        that reported no usage) is charged its reservation, and one that used nothing is released."""
        if ticket.settled or not ticket.metered:
            return
        ticket.settled = True
        used = usage is not None and _tokens(usage) > 0
        if cost is not None and used:
            amount: int | None = to_units(cost)
        elif used or answered:
            amount = ticket.reserved
        else:
            amount = None
        task = asyncio.ensure_future(self._settle(ticket, amount, _tokens(usage) if usage else 0))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, ticket: Ticket, amount: int | None, tokens: int) -> None:
        store = ticket.store
        try:
            if store is not None and ticket.counters:
                await store.settle(ticket.counters, ticket.hold, amount)
            for key, rate in ticket.token_windows:
                if tokens and store is not None:
                    await store.tokens_add(key, tokens, rate.per)
        except StoreUnavailable as exc:
            # The hold ends with its lease; the spend itself is lost from the counter (it is logged).
            log.warning("could not settle request spend: %s", exc)

    async def drain(self) -> None:
        """Wait for settlements in flight (graceful stop), then close the stores."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        for store in self._stores.values():
            await store.close()
        self._stores.clear()


def _budget_names(ask: Ask) -> list[str]:
    names = list(ask.gateway.budgets)
    if ask.token is not None:
        for t in ask.gateway.tokens:
            if t.name == ask.token:
                names += t.budgets
    return names


def _input_tokens(ask: Ask) -> int:
    try:
        translated = ask.format is Format.OPENAI or ask.format is Format.RESPONSES
        hub = pipeline.to_hub(ask.format, ask.obj, ask.model) if translated else ask.obj
        return estimate_input_tokens(hub)
    except (Untranslatable, TypeError, ValueError, AttributeError):
        try:
            return len(orjson.dumps(ask.obj)) // 3
        except orjson.JSONEncodeError:
            # Nested past what orjson writes: forwarded byte-exact, the answer's usage settles it.
            return 0


def _tokens(usage: Usage) -> int:
    return sum(
        n or 0
        for n in (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
    )


def _retry_after(seconds: float) -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", str(max(1, math.ceil(seconds))).encode())]
