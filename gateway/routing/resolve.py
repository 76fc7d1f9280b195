"""Model name -> node: how the name a client sends finds an alias, a provider model or a route."""

from __future__ import annotations

from gateway.core.errors import GatewayError
from gateway.routing.table import Gateway, Leaf, Node, RouteRef, RoutingTable

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


MEMO_SIZE = 4096  # names remembered per table; `provider/anything` resolves, so clients pick the names


def lookup(table: RoutingTable, model: str) -> tuple[str | None, Node]:
    """The client's model name -> (route name or None, node). GatewayError 404 when unknown."""
    found = table.lookups.get(model)
    if found is None:
        route, node, _ = _find(table, model)
        found = (route, node)
        if len(table.lookups) < MEMO_SIZE:
            table.lookups[model] = found
    return found


def lookup_explained(table: RoutingTable, model: str) -> tuple[str | None, Node, str]:
    """As `lookup`, plus how the name resolved, for `gateway explain`."""
    route, node, (how, *parts) = _find(table, model)
    if how == "exact":
        text = f"exact alias under models: {model} -> {parts[0]}"
    elif how == "route":
        text = f"route {route} (dynamic/{route})"
    elif how == "provider":
        assert isinstance(node, Leaf)
        text = f"provider/model: provider {node.provider}, model {node.model}"
    else:
        text = f"glob under models: {parts[0]} -> {parts[1]}"
    return route, node, text


def _find(table: RoutingTable, model: str) -> tuple[str | None, Node, tuple[str, ...]]:
    """(route, node, how it resolved); the explanation is only formatted when asked for, since this runs
    on every request."""
    target = table.models.exact.get(model)
    if target is not None:
        return (*_target(table, target, model), ("exact", target))
    name = model.lstrip("@")
    provider, sep, rest = name.partition("/")
    if sep and rest:
        if provider == "dynamic" and rest in table.routes:
            return rest, RouteRef(rest), ("route",)
        if provider in table.providers:
            return None, Leaf(provider, rest), ("provider",)
    for glob, pattern, glob_target in table.models.globs:
        if pattern.fullmatch(model):
            return (*_target(table, glob_target, model), ("glob", glob, glob_target))
    raise GatewayError("not_found_error", f"unknown model {model!r}: {HOW_NAMES_RESOLVE}")


def _target(table: RoutingTable, target: str, model: str) -> tuple[str | None, Node]:
    provider, _, rest = target.lstrip("@").partition("/")
    if provider == "dynamic":
        return rest, RouteRef(rest)
    return None, Leaf(provider, rest.replace("*", model))
