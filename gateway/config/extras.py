"""Which optional dependencies (the package's extras) a compiled config needs, and which are missing.

`pip install llm-gateway` brings the core; a cloud SDK, database driver or exporter comes with an extra
(`pip install 'llm-gateway[aws]'`) and is imported only when a config uses it. Without this check a
missing one would surface as an ImportError on the first request that needs it; `gateway serve` stops
at start instead, and `gateway validate` warns, both naming the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.providers.registry import TYPES

if TYPE_CHECKING:
    from gateway.config.issues import Location
    from gateway.routing.table import RoutingTable

# Extra -> the modules it provides that the gateway imports (all must be importable).
MODULES: Mapping[str, tuple[str, ...]] = {
    "aws": ("botocore",),
    "gcp": ("google.auth", "google.oauth2", "requests"),
    "azure": ("azure.identity",),
    "postgres": ("psycopg",),
    "redis": ("redis",),
    "otel": ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
}


REDIS_SCHEMES = ("redis://", "rediss://")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# The variables that turn tracing on (gateway.observe.tracing.enabled reads the same ones).
OTEL_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


@dataclass(frozen=True, slots=True)
class MissingExtra:
    what: str  # the part of the config (or environment) that needs it
    extra: str
    location: Location | None = None  # where in the config files, when it is one entry
    key: tuple[str, ...] = ()  # the config key that needs it

    @property
    def command(self) -> str:
        return f"pip install 'llm-gateway[{self.extra}]'"

    @property
    def message(self) -> str:
        return f"{self.what} needs the {self.extra} extra: {self.command}"


def needed_extras(table: RoutingTable, environ: Mapping[str, str] = os.environ) -> list[MissingExtra]:
    """Every use of an optional dependency in this config and environment, installed or not."""
    needs: list[MissingExtra] = []
    for provider in table.providers.values():
        needed = TYPES[provider.type].extra_needed(provider)  # the provider type says (registry)
        if needed is not None:
            extra, setting = needed
            detail = f", {setting}" if setting else ""
            what = f"provider {provider.name!r} (type {provider.type}{detail})"
            needs.append(MissingExtra(what, extra, provider.location, ("providers", provider.name)))
    # The URLs are not repeated: they may hold a password.
    if (table.state.store or "").startswith(REDIS_SCHEMES):
        needs.append(MissingExtra("state.store (a Redis URL)", "redis", key=("state", "store")))
    if (table.logs.store or "").startswith(POSTGRES_SCHEMES):
        needs.append(MissingExtra("logs.store (a PostgreSQL URL)", "postgres", key=("logs", "store")))
    variables = [name for name in OTEL_VARIABLES if environ.get(name)]
    if variables:
        needs.append(MissingExtra(f"tracing ({variables[0]} is set)", "otel"))
    return needs


def missing_extras(table: RoutingTable, environ: Mapping[str, str] = os.environ) -> list[MissingExtra]:
    """The needed extras whose modules are not installed, in config order."""
    return [need for need in needed_extras(table, environ) if not installed(need.extra)]


def installed(extra: str) -> bool:
    return all(_importable(module) for module in MODULES[extra])


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is absent
        return False
