"""What the admin API shows of shared state: budgets with their counters (`/api/budgets`), rate limits
with their windows (`/api/limits`) and whether the store answers (`/readyz`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from gateway.policy.budgets import period, reset_text
from gateway.policy.state import Store, StoreUnavailable
from gateway.policy.state.store import Counter, to_usd
from gateway.pricing.prices import format_usd
from gateway.routing.table import Fallback, Limit, Node, Rate, RouteRef, RoutingTable, Split, Switch

PING_TIMEOUT = 1.0


async def store_health(store: Store, table: RoutingTable) -> dict[str, Any]:
    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await store.ping()
        error = None
    except (StoreUnavailable, TimeoutError) as exc:
        error = str(exc) or "no answer within 1s"
    return {
        "store": store.name,
        "ok": error is None,
        "error": error,
        "on_unavailable": table.state.on_unavailable,
    }


async def budgets(store: Store, table: RoutingTable) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = []
    for b in table.budgets.values():
        label, end = period(b.period, now)
        limit = b.units
        reset = reset_text(Counter("", limit, end.timestamp() if end else None))
        counters = []
        for c in sorted(await store.counters(f"{b.name}|{label}|"), key=lambda c: c.key):
            counters.append(
                {
                    "by": c.key.split("|", 2)[2] if b.by else None,
                    "spent_usd": format_usd(to_usd(c.spent)),
                    "reserved_usd": format_usd(to_usd(c.reserved)),
                    "remaining_usd": format_usd(to_usd(max(0, limit - c.spent - c.reserved))),
                    "open_reservations": c.holds,
                }
            )
        out.append(
            {
                "name": b.name,
                "limit_usd": format_usd(b.usd),
                "period": b.period,
                "current_period": label,
                "by": b.by,
                "warn_at": b.warn_at,
                "reset": reset,
                "counters": counters,
            }
        )
    return out


async def limits(store: Store, table: RoutingTable) -> list[dict[str, Any]]:
    out = []
    for g in table.gateways.values():
        for rate in g.rate_limits:
            out.append(await _limit(store, "gateway", g.name, f"gateway:{g.name}", rate))
    for route in table.routes.values():
        for limit in _limits(route.node):
            if limit.rate is not None:
                out.append(await _limit(store, "route", route.name, f"route:{route.name}", limit.rate))
    return out


async def _limit(store: Store, kind: str, name: str, scope: str, rate: Rate) -> dict[str, Any]:
    prefix = f"{scope}|{rate.kind}:{rate.amount}/{rate.per_text}|"
    windows = sorted(await store.windows(prefix), key=lambda w: w.key)
    return {
        kind: name,
        "limit": rate.describe(),
        rate.kind: rate.amount,
        "per": rate.per_text,
        "by": rate.by,
        "windows": [
            {"by": w.key[len(prefix) :] if rate.by else None, "used": round(w.used, 3)} for w in windows
        ],
    }


def _limits(node: Node) -> Iterator[Limit]:
    """The limit nodes written inside one route (routes it refers to list their own)."""
    if isinstance(node, Limit):
        yield node
        yield from _limits(node.to)
        if node.otherwise is not None:
            yield from _limits(node.otherwise)
    elif isinstance(node, Fallback):
        for sub in node.nodes:
            yield from _limits(sub)
    elif isinstance(node, Split):
        for _, sub in node.branches:
            yield from _limits(sub)
    elif isinstance(node, Switch):
        for _, sub in node.cases:
            yield from _limits(sub)
        if node.default is not None:
            yield from _limits(node.default)
    elif isinstance(node, RouteRef):
        return
