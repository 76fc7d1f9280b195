"""What `gateway serve` refuses in a config that compiles: at start, and at every reload after it (a
reload must not bring in what a start would have refused, such as a provider whose library is not
installed, which would otherwise fail as an ImportError on its first request)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from gateway.config.compiler import SHARED_STORES
from gateway.config.extras import missing_extras
from gateway.config.issues import Issue, Location
from gateway.routing.table import RoutingTable


def refusals(
    table: RoutingTable,
    config: str | Path,
    workers: int,
    environ: Mapping[str, str] = os.environ,
    exposed_host: str | None = None,
) -> list[Issue]:
    """Each reason to refuse `table` when `workers` processes serve it, located where known.
    `exposed_host`: the address served on, when gateways open to anyone there must be refused (not
    given: `--allow-unauthenticated`, or a caller that does not listen)."""
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
    for name in open_gateways(table, exposed_host) if exposed_host is not None else []:
        # An open gateway on a reachable address is an open relay for the stored keys.
        found.append(
            Issue(
                table.gateways[name].location,
                ("gateways", name, "auth"),
                f"`auth: none` while serving on {exposed_host}, which is not a loopback address: anyone "
                "who reaches it could spend the stored provider keys. Set `auth: tokens` with tokens, "
                "listen on 127.0.0.1, or pass --allow-unauthenticated if something in front of the "
                "gateway authenticates its clients.",
            )
        )
    return found


def open_gateways(table: RoutingTable, host: str) -> list[str]:
    """Gateways with `auth: none` when `host` is reachable from other machines (else none)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        loopback = False
    return [] if loopback else sorted(g.name for g in table.gateways.values() if g.auth == "none")
