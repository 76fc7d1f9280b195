"""What `gateway serve` refuses in a config that compiles: at start, and at every reload after it (a
reload must not bring in what a start would have refused, such as a provider whose library is not
installed, which would otherwise fail as an ImportError on its first request)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gateway.config.compiler import SHARED_STORES
from gateway.config.extras import missing_extras
from gateway.config.issues import Issue, Location
from gateway.routing.table import RoutingTable


def refusals(
    table: RoutingTable, config: str | Path, workers: int, environ: Mapping[str, str] = os.environ
) -> list[Issue]:
    """Each reason to refuse `table` when `workers` processes serve it, located where known."""
    top = Location(str(config), 1, 1)
    missing = missing_extras(table, environ)
    found = [Issue(extra.location or top, extra.key, extra.message) for extra in missing]
    if workers > 1 and table.state.store == "memory":
        found.append(
            Issue(
                top,
                ("state", "store"),
                f"the {workers} workers cannot share state.store: memory (each would keep its own "
                f"budgets, rate limits and cache); {SHARED_STORES}",
            )
        )
    return found
