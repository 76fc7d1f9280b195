"""Model name -> request plan: which route, provider and upstream model serve a request."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import GatewayError
from gateway.table import Gateway, Leaf, Node, Provider, RouteRef, RoutingTable

HOW_NAMES_RESOLVE = (
    "names resolve as: an exact alias under `models:`, then provider/model (or @provider/model), "
    "then dynamic/<route>, then a glob under `models:`"
)


@dataclass(frozen=True, slots=True)
class Plan:
    route: str | None
    leaf: Leaf
    provider: Provider


def resolve(table: RoutingTable, gateway: Gateway, model: str) -> Plan:
    if not gateway.allows(model):
        allowed = ", ".join(gateway.allow_text or ())
        raise GatewayError(
            "permission_error",
            f"model {model!r} is not allowed on gateway {gateway.name!r} (allow: {allowed})",
        )
    route, node = _lookup(table, model)
    seen: list[str] = []
    while isinstance(node, RouteRef):
        if node.route in seen:  # cycles are rejected at compile time; this guards the loop regardless
            break
        seen.append(node.route)
        route = route or node.route
        node = table.routes[node.route].node
    if not isinstance(node, Leaf):
        kind = type(node).__name__.lower()
        raise GatewayError(
            "invalid_request_error",
            f"route {seen[-1]!r} is a {kind} node; this version executes routes whose node is a single "
            "model (provider/model or a leaf with model:)",
            status=501,
        )
    provider = table.providers[node.provider]
    return Plan(route, node, provider)


def _lookup(table: RoutingTable, model: str) -> tuple[str | None, Node]:
    target = table.models.exact.get(model)
    if target is not None:
        return _target(table, target, model)
    name = model.lstrip("@")
    provider, sep, rest = name.partition("/")
    if sep and rest:
        if provider == "dynamic" and rest in table.routes:
            return rest, RouteRef(rest)
        if provider in table.providers:
            return None, Leaf(provider, rest)
    for _, pattern, glob_target in table.models.globs:
        if pattern.fullmatch(model):
            return _target(table, glob_target, model)
    raise GatewayError("not_found_error", f"unknown model {model!r}: {HOW_NAMES_RESOLVE}")


def _target(table: RoutingTable, target: str, model: str) -> tuple[str | None, Node]:
    provider, _, rest = target.lstrip("@").partition("/")
    if provider == "dynamic":
        return rest, RouteRef(rest)
    return None, Leaf(provider, rest.replace("*", model))
