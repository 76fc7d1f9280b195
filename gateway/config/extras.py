"""Which optional dependencies (the package's extras) a compiled config needs, and which are missing.

`pip install llm-gateway` brings the core; a cloud SDK, database driver or exporter comes with an extra
(`pip install 'llm-gateway[aws]'`) and is imported only when a config uses it. Without this check a
missing one would surface as an ImportError on the first request that needs it; `gateway serve` stops
at start instead, and `gateway validate` warns, both naming the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config.issues import Location
    from gateway.routing.table import Provider, RoutingTable

# Extra -> the modules it provides that the gateway imports (all must be importable).
MODULES: Mapping[str, tuple[str, ...]] = {
    "aws": ("botocore",),
    "gcp": ("google.auth", "google.oauth2", "requests"),
    "azure": ("azure.identity",),
    "postgres": ("psycopg",),
    "redis": ("redis",),
    "otel": ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
}


@dataclass(frozen=True, slots=True)
class ProviderExtra:
    """The extra a provider type needs, when `applies` says this provider needs it."""

    extra: str
    applies: Callable[[Provider], bool] = lambda provider: True
    detail: str = ""  # the setting that makes it needed, shown next to the type


# Provider type -> its extra: the one place to extend when a provider type needs a library.
PROVIDER_EXTRAS: Mapping[str, ProviderExtra] = {
    "bedrock": ProviderExtra("aws"),
    "vertex": ProviderExtra("gcp"),
    "azure-openai": ProviderExtra(
        "azure", applies=lambda provider: provider.options.get("auth") == "entra-id", detail="auth: entra-id"
    ),
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
        rule = PROVIDER_EXTRAS.get(provider.type)
        if rule is not None and rule.applies(provider):
            detail = f", {rule.detail}" if rule.detail else ""
            what = f"provider {provider.name!r} (type {provider.type}{detail})"
            needs.append(MissingExtra(what, rule.extra, provider.location))
    # The URLs are not repeated: they may hold a password.
    if table.state.store.startswith(REDIS_SCHEMES):
        needs.append(MissingExtra("state.store (a Redis URL)", "redis"))
    if (table.logs.store or "").startswith(POSTGRES_SCHEMES):
        needs.append(MissingExtra("logs.store (a PostgreSQL URL)", "postgres"))
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
