"""The compiled table for people (GET /api/config, the dashboard's config page, `gateway config`)."""

from __future__ import annotations

from typing import Any

from gateway.policy.state.store import display_url
from gateway.pricing.prices import format_usd
from gateway.routing.table import Leaf, RoutingTable


def describe(table: RoutingTable) -> dict[str, Any]:
    """The compiled table for people: secrets masked, nothing that could authenticate."""
    return {
        "version": table.version,
        "files": list(table.files),
        "server": {
            "listen": f"{table.server.host}:{table.server.port}",
            "admin_token": "(set)" if table.server.admin_token else "(none: loopback only)",
            "max_body": table.server.max_body,
            "workers": table.server.workers,
        },
        "providers": {p.name: {"type": p.type, "base_url": p.base_url} for p in table.providers.values()},
        "keys": {
            k.name: {"provider": k.provider, "secret": k.masked, "available": k.available}
            for k in table.keys.values()
        },
        "models": {**dict(table.models.exact), **{g: t for g, _, t in table.models.globs}},
        "gateways": {
            g.name: {
                "auth": g.auth,
                "tokens": [t.name for t in g.tokens],
                "allow": list(g.allow_text) if g.allow_text is not None else "all",
                "provider_keys": list(g.provider_keys),
                "budgets": list(g.budgets),
                "rate_limits": [r.describe() for r in g.rate_limits],
                "cache_ttl": g.cache_ttl,
            }
            for g in table.gateways.values()
        },
        "budgets": {
            b.name: {"usd": format_usd(b.usd), "period": b.period, "by": b.by, "warn_at": b.warn_at}
            for b in table.budgets.values()
        },
        "state": {
            "store": display_url(table.state.store or "default"),
            "on_unavailable": table.state.on_unavailable,
        },
        "routes": {
            r.name: (r.node.target if isinstance(r.node, Leaf) else type(r.node).__name__.lower())
            for r in table.routes.values()
        },
        "warnings": list(table.warnings),
    }
