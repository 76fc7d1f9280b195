"""What the admin layer reads of the running gateway, handed down by gateway/app.py: the admin API and
the dashboard see these parts only, and never import the app (which sits above them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.config.reload import LiveConfig
from gateway.observe.logstore.service import RequestLog
from gateway.policy.state import Store
from gateway.routing.table import RoutingTable


@dataclass(frozen=True, slots=True)
class AdminSources:
    live: LiveConfig  # the live table (read per request), its status and reload
    requests: RequestLog  # the durable request log; its backend follows reloads
    store: Callable[[RoutingTable], Store]  # the state store a table names (budgets, rate limits)
    circuits: Callable[[], list[dict[str, Any]]]  # the circuit breakers' states
    metrics: Callable[[], Awaitable[bytes]]  # the Prometheus exposition
    draining: Callable[[], bool]  # True once a shutdown was asked for

    @property
    def admin_token(self) -> str:
        return self.live.table.server.admin_token
