"""The model catalogue: every name a gateway serves, with its provider, prices and context window where
known, for `GET /v1/models` and the dashboard's Models page.

A gateway's catalogue is, in this order:

1. The names config gives it (what `GET /v1/models` has always listed): exact aliases, routes as
   `dynamic/<name>`, and every `provider/model` named in `models:` or a route, in the compiler's order.
   Each carries the provider and upstream model it resolves to when that is one fixed target (an alias
   of a route, or a route, resolves only when the route is a single leaf).
2. Per configured provider (sorted by name), the models the price catalogue knows for it, as
   `<provider>/<model>` (the name a client sends), sorted by model id: the exact (non-glob) keys of
   `pricing:` for that provider, plus, for a provider whose models are knowable, the models of the
   `genai-prices` package's bundled snapshot (never fetched at run time) that it prices per token.
   Names already listed in 1. are not repeated, and the gateway's `allow` list filters both parts.

Which package provider lists a provider's models: the one whose API URL pattern matches the
provider's `base_url` (an `openai`-type provider at api.groq.com lists Groq's), else the one its type
names (`gemini`/`vertex` -> google, `bedrock` -> aws, `azure-openai` -> azure, presets -> theirs, as in
`pricing.PACKAGE_PROVIDERS`). The generic wire-format types `anthropic` and `openai` at any other URL
(a local server, a proxy) list nothing: what such a server serves is unknowable. Local presets (ollama,
vllm, lmstudio, llamacpp) list only `pricing:` keys. Per type:

- `gemini` leaves out the Claude models Google's list holds (they are served on Vertex only);
  `vertex` keeps them (Claude on Vertex has Google's own prices in the package).
- `bedrock` lists AWS's model ids (`anthropic.claude-sonnet-4-5-20250929-v1:0`), the `global.`
  inference profiles, and for models the package keeps as `regional.` (its name for them) both the
  plain id and the inference profile of the provider's region (`us.`, `eu.`, `apac.`, `us-gov.`).
- `azure-openai` also lists its `deployments:` model names.

A package model is listed under its id, or when the package only recognises it by another exact name
(Fireworks' `accounts/fireworks/models/...`), under that name; only if that name is priced back to
that same model (so the price shown is the price charged), and only with a per-token price: input and
output, or input alone for an embedding model (speech and per-request models are left out).

Each entry that resolves to one model says its kind in `mode` (both list shapes): `"embedding"` for a
model `POST /v1/embeddings` serves (its name holds `embed`, as `translate/embeddings.py` decides),
`"chat"` for the others. Prices come from
`pricing.PriceTable`: a `pricing:` entry wins over the package, exactly as for billing. The package
has context windows for most models and no maximum output, so `max_output_tokens` is absent today.

Built once per compiled table, on first use (the first `GET /v1/models` or Models page after a
reload), off the event loop, and kept in `RoutingTable.derived`: a reload compiles a new table, so a
new catalogue; requests never rebuild it. Bounded: at most `PROVIDER_LIMIT` package models per
provider, all from the bundled snapshot and the config, never from client input.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ClauseEquals, ClauseOr, ModelInfo
from genai_prices.types import Provider as PackageProvider

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.pricing.prices import DATE_SUFFIX, PACKAGE_PROVIDERS, Price, PriceTable, format_usd
from gateway.providers.registry import TYPES
from gateway.routing.table import Fallback, Gateway, Leaf, Node, Provider, RouteRef, RoutingTable, Split

__all__ = (
    "Catalogue",
    "Entry",
    "GatewayCatalogue",
    "ProviderCatalogue",
    "build",
    "catalogue_for",
    "catalogue_of",
    "models_answer",
)

log = logging.getLogger("gateway.catalogue")

KEY = "catalogue"  # in RoutingTable.derived
PENDING = "catalogue.pending"  # the build under way, which concurrent first requests share
PROVIDER_LIMIT = 2000  # package models listed per provider (OpenRouter, the largest, has under 1,000)
ANTHROPIC_DEFAULT_LIMIT = 20  # Anthropic's list API: `limit` defaults to 20, ranges from 1 to 1000
ANTHROPIC_MAX_LIMIT = 1000
EPOCH = "1970-01-01T00:00:00Z"
GENERIC_TYPES = frozenset({"anthropic", "openai"})  # wire formats any server may speak
_PREFIX_PATTERN = re.compile(r"(^ft:)|[-.:_/]$")  # package ids that are name prefixes, not model names


@dataclass(frozen=True, slots=True)
class Entry:
    """One name a client may send, and what is known about it."""

    id: str  # the name a client sends
    kind: str  # alias | route | model (a provider/model named in config) | catalogue
    owned_by: str  # OpenAI's `owned_by`: the provider name, `gateway` for routes
    provider: str | None = None  # the configured provider it resolves to, when that is one
    model: str | None = None  # the upstream model id there
    name: str | None = None  # the package's display name
    context_window: int | None = None
    max_output_tokens: int | None = None
    price: Price | None = None
    deprecated: bool = False

    @property
    def target(self) -> str | None:
        return f"{self.provider}/{self.model}" if self.provider and self.model else None

    def extras(self) -> dict[str, Any]:
        """The fields both list shapes add to each entry, where known."""
        out: dict[str, Any] = {}
        if self.provider and self.model:
            out["provider"] = self.provider
            out["upstream_model"] = self.model
            out["mode"] = "embedding" if "embed" in self.model.lower() else "chat"
        if self.context_window is not None:
            out["context_window"] = self.context_window
        if self.max_output_tokens is not None:
            out["max_output_tokens"] = self.max_output_tokens
        if self.price is not None:
            out["pricing"] = pricing(self.price)
        if self.deprecated:
            out["deprecated"] = True
        return out

    def openai(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": 0, "owned_by": self.owned_by, **self.extras()}

    def anthropic(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": EPOCH,
            "lifecycle": "deprecated" if self.deprecated else "active",
        }
        # Anthropic's own names for the two limits, which its SDK's ModelInfo types.
        if self.context_window is not None:
            out["max_input_tokens"] = self.context_window
        if self.max_output_tokens is not None:
            out["max_tokens"] = self.max_output_tokens
        return {**out, **self.extras()}

    @property
    def display_name(self) -> str:
        if self.kind == "catalogue" and self.name:
            return f"{self.name} ({self.provider})"
        return self.id


def pricing(price: Price) -> dict[str, Any]:
    """USD per million tokens as plain decimal strings; long-context tiers when the model has them."""
    out: dict[str, Any] = {
        "input": format_usd(price.input),
        "output": format_usd(price.output),
        "cache_read": format_usd(price.cache_read),
        "cache_write": format_usd(price.cache_write),
    }
    if price.tiers:
        out["tiers"] = [{"above_prompt_tokens": start, **pricing(tier)} for start, tier in price.tiers]
    return out


@dataclass(frozen=True, slots=True)
class ProviderCatalogue:
    """What one configured provider is known to serve."""

    provider: str
    type: str
    source: str | None  # the genai-prices provider its models were listed from; None: not listable
    entries: tuple[Entry, ...]  # sorted by model id


class GatewayCatalogue:
    """One gateway's list, with its two answers' entry dicts rendered once."""

    def __init__(self, gateway: str, entries: Iterable[Entry], providers: Iterable[str] = ()) -> None:
        self.gateway = gateway
        self.known_providers = frozenset(providers)  # every configured provider, for `?provider=`
        self.entries = tuple(entries)
        self.positions = {e.id: i for i, e in enumerate(self.entries)}
        self._dicts: dict[Format, list[dict[str, Any]]] = {}
        self._full_openai: bytes | None = None

    def dicts(self, fmt: Format) -> list[dict[str, Any]]:
        found = self._dicts.get(fmt)
        if found is None:
            render = Entry.anthropic if fmt is Format.ANTHROPIC else Entry.openai
            found = self._dicts[fmt] = [render(e) for e in self.entries]
        return found

    def providers(self) -> list[str]:
        return sorted({e.provider for e in self.entries if e.provider})

    def answer(self, fmt: Format, params: Mapping[str, list[str]]) -> bytes:
        """The `GET /v1/models` body for these query parameters. GatewayError 400 on bad ones."""
        provider = _one(params, "provider")
        if provider is not None and provider not in self.known_providers:
            known = ", ".join(sorted(self.known_providers)) or "none"
            raise GatewayError(
                "invalid_request_error",
                f"provider: no provider named {provider!r} (configured: {known})",
                param="provider",
            )
        if fmt is Format.OPENAI and provider is None:
            if self._full_openai is None:
                self._full_openai = orjson.dumps({"object": "list", "data": self.dicts(fmt)})
            return self._full_openai
        indexes = [i for i, e in enumerate(self.entries) if provider is None or e.provider == provider]
        dicts = self.dicts(fmt)
        if fmt is Format.OPENAI:  # OpenAI's list has no pagination: the whole (filtered) list
            return orjson.dumps({"object": "list", "data": [dicts[i] for i in indexes]})
        return orjson.dumps(self._page(dicts, indexes, params))

    def _page(
        self, dicts: list[dict[str, Any]], indexes: list[int], params: Mapping[str, list[str]]
    ) -> dict[str, Any]:
        """Anthropic's cursor pagination: `limit` (default 20, 1 to 1000), `after_id`, `before_id`."""
        text = _one(params, "limit")
        limit = ANTHROPIC_DEFAULT_LIMIT
        if text is not None:
            if not text.isdigit() or not 1 <= int(text) <= ANTHROPIC_MAX_LIMIT:
                raise GatewayError(
                    "invalid_request_error",
                    f"limit: must be an integer from 1 to {ANTHROPIC_MAX_LIMIT}, got {text!r}",
                    param="limit",
                )
            limit = int(text)
        after, before = _one(params, "after_id"), _one(params, "before_id")
        low, high = 0, len(indexes)
        where = {position: n for n, position in enumerate(indexes)}  # entry position -> place here
        for name, cursor in (("after_id", after), ("before_id", before)):
            if cursor is None:
                continue
            spot = where.get(self.positions.get(cursor, -1))
            if spot is None:
                raise GatewayError(
                    "invalid_request_error",
                    f"{name}: {cursor!r} is not in this list (it may have left it with a config reload)",
                    param=name,
                )
            if name == "after_id":
                low = max(low, spot + 1)
            else:
                high = min(high, spot)
        if before is not None and after is None:  # the page just before the cursor
            start, end = max(low, high - limit), high
            has_more = start > low
        else:
            start, end = low, min(high, low + limit)
            has_more = end < high
        data = [dicts[i] for i in indexes[start:end]]
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }


class Catalogue:
    """Every gateway's catalogue and every provider's, for one compiled table."""

    def __init__(
        self,
        version: str,
        providers: Mapping[str, ProviderCatalogue],
        gateways: Mapping[str, GatewayCatalogue],
    ) -> None:
        self.version = version
        self.providers = providers
        self.gateways = gateways


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


# Building ---------------------------------------------------------------------------------------------


def build(table: RoutingTable) -> Catalogue:
    """The catalogue of a table (seconds at most for the largest configs; callers memoize it)."""
    prices = PriceTable(table)
    providers = {name: _provider_catalogue(table, name, prices) for name in sorted(table.providers)}
    gateways = {
        name: GatewayCatalogue(name, _gateway_entries(table, gateway, providers, prices), providers)
        for name, gateway in table.gateways.items()
    }
    return Catalogue(table.version, providers, gateways)


def catalogue_of(table: RoutingTable) -> Catalogue:
    """The table's catalogue, built on the first call and kept on the table."""
    found = table.derived.get(KEY)
    if found is None:
        found = table.derived.setdefault(KEY, build(table))
    assert isinstance(found, Catalogue)
    return found


async def catalogue_for(table: RoutingTable) -> Catalogue:
    """As `catalogue_of`, for the event loop: the first build runs in a thread, and requests that
    arrive meanwhile wait for that one build."""
    found = table.derived.get(KEY)
    if isinstance(found, Catalogue):
        return found
    pending: asyncio.Future[Catalogue] | None = table.derived.get(PENDING)
    if pending is None:
        pending = table.derived[PENDING] = asyncio.ensure_future(asyncio.to_thread(build, table))
    try:
        built = await asyncio.shield(pending)
    finally:
        if pending.done() and table.derived.get(PENDING) is pending:
            del table.derived[PENDING]  # built, or failed: the next request tries again
    found = table.derived.setdefault(KEY, built)
    assert isinstance(found, Catalogue)
    return found


async def models_answer(table: RoutingTable, gateway: Gateway, fmt: Format, query: bytes) -> bytes:
    """The `GET /v1/models` body: `?provider=` filters, Anthropic's shape pages."""
    try:
        params = parse_qs(query.decode("latin-1"), keep_blank_values=False)
    except ValueError:
        params = {}
    catalogue = await catalogue_for(table)
    return catalogue.gateways[gateway.name].answer(fmt, params)


def _gateway_entries(
    table: RoutingTable, gateway: Gateway, providers: Mapping[str, ProviderCatalogue], prices: PriceTable
) -> list[Entry]:
    out = [_configured(table, name, owner, prices) for name, owner in gateway.listed]
    seen = {e.id for e in out}
    for catalogue in providers.values():
        for entry in catalogue.entries:
            if entry.id not in seen and gateway.allows(entry.id):
                seen.add(entry.id)
                out.append(entry)
    return out


def _configured(table: RoutingTable, name: str, owner: str, prices: PriceTable) -> Entry:
    """A name from config, with its single target when it has one."""
    if name.startswith("dynamic/") and name[len("dynamic/") :] in table.routes:
        kind, leaf = "route", _single_leaf(table, RouteRef(name[len("dynamic/") :]), set())
    elif name in table.models.exact:
        target = table.models.exact[name]
        provider, _, model = target.lstrip("@").partition("/")
        kind = "alias"
        leaf = _single_leaf(table, RouteRef(model) if provider == "dynamic" else Leaf(provider, model), set())
    else:
        provider, _, model = name.lstrip("@").partition("/")
        kind, leaf = "model", Leaf(provider, model)
    if leaf is None or leaf.provider not in table.providers or not leaf.model or "*" in leaf.model:
        return Entry(name, kind, owner)
    info = _model_info(table, leaf.provider, leaf.model)
    return Entry(
        name,
        kind,
        owner,
        provider=leaf.provider,
        model=leaf.model,
        name=info.name if info else None,
        context_window=info.context_window if info else None,
        price=prices.price(leaf.provider, leaf.model),
        deprecated=bool(info and info.deprecated),
    )


def _single_leaf(table: RoutingTable, node: Node | None, seen: set[str]) -> Leaf | None:
    """The one target a node always goes to, if it has one (routes through references and one-node
    fallbacks or splits); None for anything that decides per request."""
    match node:
        case Leaf():
            return node if node.provider else None
        case RouteRef(route=route) if route in table.routes and route not in seen:
            return _single_leaf(table, table.routes[route].node, seen | {route})
        case Fallback(nodes=(only,)):
            return _single_leaf(table, only, seen)
        case Split(branches=((_, only),)):
            return _single_leaf(table, only, seen)
    return None


def _package_provider_by_url(base_url: str) -> PackageProvider | None:
    if not base_url:
        return None
    for candidate in get_snapshot().providers:
        if re.match(candidate.api_pattern, base_url):
            return candidate
    return None


def _package_provider_by_id(provider_id: str | None) -> PackageProvider | None:
    if provider_id is None:
        return None
    for candidate in get_snapshot().providers:
        if candidate.id == provider_id:
            return candidate
    return None


def _model_info(table: RoutingTable, provider_name: str, model: str) -> ModelInfo | None:
    """The package's facts about a model, found as `pricing.PriceTable` finds its price: by the
    provider's base_url, then by its type, then again without a trailing date."""
    provider = table.providers[provider_name]
    candidates = [
        _package_provider_by_url(provider.base_url),
        _package_provider_by_id(PACKAGE_PROVIDERS.get(provider.type)),
    ]
    snapshot = get_snapshot()
    names = [model]
    stripped = DATE_SUFFIX.sub("", model)
    if stripped != model:
        names.append(stripped)
    for name in names:
        for candidate in candidates:
            if candidate is None:
                continue
            try:
                return snapshot.find_provider_model(name, candidate, None, None)[1]
            except LookupError:
                continue
    return None


def listing_source(table: RoutingTable, provider_name: str) -> PackageProvider | None:
    """The package provider whose models this provider is known to serve, or None."""
    provider = table.providers[provider_name]
    if not TYPES[provider.type].needs_key:
        return None  # a local server: serves whatever was pulled into it
    by_url = _package_provider_by_url(provider.base_url)
    if by_url is not None:
        return by_url
    if provider.type in GENERIC_TYPES:
        return None  # an Anthropic- or OpenAI-compatible server somewhere else: unknowable
    return _package_provider_by_id(PACKAGE_PROVIDERS.get(provider.type))


def _sendable(provider: Provider, source: PackageProvider, model: ModelInfo) -> list[str]:
    """Names a client may send for a package model, best first (none when it should not be listed).
    The caller keeps those that price back to this model: its id, else the first exact name its match
    rule accepts (Fireworks' `accounts/fireworks/models/...`)."""
    ident = model.id
    if provider.type == "gemini" and ident.startswith("claude"):
        return []  # Claude is on Vertex, not on the Gemini API
    if source.id == "aws" and ident.startswith("regional."):
        # The package's name for a model Bedrock serves by its plain id and through the cross-region
        # inference profile of the provider's geography (`us.anthropic.claude-...`).
        ident = ident.removeprefix("regional.")
        geo = _bedrock_geography(provider.settings.region)
        names = [ident, f"{geo}.{ident}"] if geo else [ident]
    else:
        names = [ident, *_exact_names(model.match)]
    return [n for n in names if not (_PREFIX_PATTERN.search(n) or any(c.isspace() for c in n))]


def _exact_names(match: Any) -> list[str]:
    """The names an `equals` rule (alone or among `or` alternatives) accepts, in the package's order."""
    if isinstance(match, ClauseEquals):
        return [match.equals]
    if isinstance(match, ClauseOr):
        return [c.equals for c in match.or_ if isinstance(c, ClauseEquals)]
    return []


def _bedrock_geography(region: str) -> str | None:
    """The inference-profile prefix of an AWS region: us-east-1 -> us, eu-west-1 -> eu, ap-... -> apac."""
    for start, geo in (("us-gov-", "us-gov"), ("us-", "us"), ("eu-", "eu"), ("ap-", "apac")):
        if region.startswith(start):
            return geo
    return None


def _provider_catalogue(table: RoutingTable, name: str, prices: PriceTable) -> ProviderCatalogue:
    provider = table.providers[name]
    found: dict[str, Entry] = {}
    source = listing_source(table, name)
    try:
        if source is not None:
            _package_entries(name, provider, source, prices, found)
    except Exception:  # third-party data: a surprise in it costs this provider's list, never /v1/models
        log.exception("model catalogue: listing %s's models from genai-prices failed", name)
        found.clear()
    extra: list[str] = []
    if provider.type == "azure-openai":
        extra.extend(provider.settings.deployments)
    pricing_keys: Mapping[str, Any] = table.extra.get("pricing") or {}
    for key in pricing_keys:
        owner, _, model_name = key.partition("/")
        if owner == name and model_name and not any(c in key for c in "*?["):
            extra.append(model_name)
    for ident in extra:
        if ident in found:
            continue
        found[ident] = _listed(name, ident, _model_info(table, name, ident), prices.price(name, ident))
    entries = tuple(found[k] for k in sorted(found))
    return ProviderCatalogue(name, provider.type, source.id if source else None, entries)


def _listed(name: str, ident: str, info: ModelInfo | None, price: Price | None) -> Entry:
    """A provider's catalogue entry for model `ident`, with what the price data knows of it."""
    return Entry(
        f"{name}/{ident}",
        "catalogue",
        name,
        provider=name,
        model=ident,
        name=info.name if info else None,
        context_window=info.context_window if info else None,
        price=price,
        deprecated=bool(info and info.deprecated),
    )


def _package_entries(
    name: str, provider: Provider, source: PackageProvider, prices: PriceTable, found: dict[str, Entry]
) -> None:
    """Add the models `source` lists that this provider serves, each under the name a client sends,
    when that name prices back to the same model and the model has a per-token price."""
    snapshot = get_snapshot()
    for model in source.models[:PROVIDER_LIMIT]:
        names = _sendable(provider, source, model)
        aws_pair = source.id == "aws" and model.id.startswith("regional.")  # both names are listed
        for ident in names:
            if ident in found:
                continue
            try:
                _, resolved = snapshot.find_provider_model(ident, source, None, None)
            except LookupError:
                continue
            if resolved is not model:
                continue  # listed under this name, it would be priced as another model
            price = prices.price(name, ident)
            if price is None:
                break  # not priced per token: not a chat model the gateway can serve and bill
            found[ident] = _listed(name, ident, model, price)
            if not aws_pair:
                break  # one name per model
