"""Model name -> node: how the name a client sends finds an alias, a provider model or a route."""

from __future__ import annotations

from gateway.core.errors import GatewayError
from gateway.routing.table import Gateway, Leaf, Node, RouteRef, RoutingTable

HOW_NAMES_RESOLVE = (
    "names resolve as: an exact alias under `models:`, then provider/model (or @provider/model; "
    "Cloudflare's provider names such as google-ai-studio/... reach the first provider of that type), "
    "then dynamic/<route>, then a glob under `models:`"
)

# Cloudflare AI Gateway's provider names (its unified endpoint's `{provider}/{model}`) -> the gateway's
# provider type of the same service. A name the config does not use for a provider of its own reaches the
# first provider of that type in the config, so `google-ai-studio/gemini-2.5-flash` works unchanged
# after a move. Cloudflare providers with no type here (perplexity-ai, cohere, replicate, ...) do not.
CLOUDFLARE_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google-ai-studio": "gemini",
    "google-vertex-ai": "vertex",
    "aws-bedrock": "bedrock",
    "azure-openai": "azure-openai",
    "workers-ai": "workers-ai",
    "groq": "groq",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "grok": "xai",
    "cerebras": "cerebras",
    "openrouter": "openrouter",
}


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
    elif how == "cloudflare":
        assert isinstance(node, Leaf)
        text = (
            f"Cloudflare's provider name {parts[0]}: the first {parts[1]} provider, {node.provider}, "
            f"model {node.model}"
        )
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
        ptype = CLOUDFLARE_PROVIDERS.get(provider)
        if ptype is not None:
            # Only names that miss the table reach here, and lookups are memoized per table.
            first = next((n for n, p in table.providers.items() if p.type == ptype), None)
            if first is not None:
                return None, Leaf(first, rest), ("cloudflare", provider, ptype)
    for glob, pattern, glob_target in table.models.globs:
        if pattern.fullmatch(model):
            return (*_target(table, glob_target, model), ("glob", glob, glob_target))
    raise GatewayError("not_found_error", f"unknown model {model!r}: {HOW_NAMES_RESOLVE}")


def _target(table: RoutingTable, target: str, model: str) -> tuple[str | None, Node]:
    provider, _, rest = target.lstrip("@").partition("/")
    if provider == "dynamic":
        return rest, RouteRef(rest)
    return None, Leaf(provider, rest.replace("*", model))
