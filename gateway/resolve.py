"""Model name -> node: how the name a client sends finds an alias, a provider model or a route."""

from __future__ import annotations

from gateway.errors import GatewayError
from gateway.table import Gateway, Leaf, Node, RouteRef, RoutingTable

HOW_NAMES_RESOLVE = (
    "names resolve as: an exact alias under `models:`, then provider/model (or @provider/model), "
    "then dynamic/<route>, then a glob under `models:`"
)


def check_allowed(gateway: Gateway, model: str) -> None:
    if not gateway.allows(model):
        allowed = ", ".join(gateway.allow_text or ())
        raise GatewayError(
            "permission_error",
            f"model {model!r} is not allowed on gateway {gateway.name!r} (allow: {allowed})",
        )


def lookup(table: RoutingTable, model: str) -> tuple[str | None, Node]:
    """The client's model name -> (route name or None, node). Pure; GatewayError 404 when unknown."""
    route, node, _ = lookup_explained(table, model)
    return route, node


def lookup_explained(table: RoutingTable, model: str) -> tuple[str | None, Node, str]:
    """As `lookup`, plus how the name resolved, for `gateway explain`."""
    target = table.models.exact.get(model)
    if target is not None:
        return (*_target(table, target, model), f"exact alias under models: {model} -> {target}")
    name = model.lstrip("@")
    provider, sep, rest = name.partition("/")
    if sep and rest:
        if provider == "dynamic" and rest in table.routes:
            return rest, RouteRef(rest), f"route {rest} (dynamic/{rest})"
        if provider in table.providers:
            return None, Leaf(provider, rest), f"provider/model: provider {provider}, model {rest}"
    for glob, pattern, glob_target in table.models.globs:
        if pattern.fullmatch(model):
            return (*_target(table, glob_target, model), f"glob under models: {glob} -> {glob_target}")
    raise GatewayError("not_found_error", f"unknown model {model!r}: {HOW_NAMES_RESOLVE}")


def _target(table: RoutingTable, target: str, model: str) -> tuple[str | None, Node]:
    provider, _, rest = target.lstrip("@").partition("/")
    if provider == "dynamic":
        return rest, RouteRef(rest)
    return None, Leaf(provider, rest.replace("*", model))
