"""Token prices per provider/model, and the cost of one call from the upstream's real usage.

Where a price comes from, first match wins:

1. `pricing:` in the config, keyed `provider/model`: an exact key, then globs (fnmatch, case-sensitive)
   in file order, the same precedence as `models:`.
2. The `genai-prices` package's bundled data snapshot. The provider is found from the provider's
   `base_url` (the package knows each provider's API URL, so an `openai`-type provider pointing at
   api.groq.com is priced as Groq), else from its `type` (anthropic -> anthropic, openai -> openai,
   gemini/vertex -> google, bedrock -> aws, azure-openai -> azure). The model name is matched by the
   package (it knows aliases and dated snapshots such as `claude-sonnet-4-5-20250929`); if that fails
   a trailing date suffix (`-20250929`, `-2025-09-29`, `@20250929`) is dropped and the lookup retried.

3. For embedding models the package leaves out, the providers' published per-token prices below
   (`EMBEDDING_PRICES`). An embedding model has an input price and no output (its answer is vectors,
   billed as nothing): the package's input-only entries (`text-embedding-3-small`,
   `gemini-embedding-001`, `amazon.titan-embed-text-v2:0`) are priced with output 0. Vertex's
   `text-embedding-00x` are billed per 1,000 characters, not per token: they stay unpriced.

Nothing else: a model found in neither has no price (`None`), never a price of zero. Only an explicit
`pricing:` entry can make a model free.

Offline: this module only reads the data snapshot that ships inside the package. It never starts
`genai_prices.UpdatePrices` (the package's only code that fetches, and only when started), so prices
change when the locked package version changes, not at run time.

Cache prices: when the package or the config gives no cache-read or cache-write price, the provider's
convention decides. Anthropic-type providers: cache read 0.1x input, cache write 1.25x input (the
5-minute write price). Every other type: the input price. That is what OpenAI and Gemini bill for
tokens that enter a cache (writes are not billed separately), and for reads it errs towards charging
too much, never too little. The package's own numbers are used whenever it has them (OpenAI and Gemini
publish discounted cached-input prices there).

Long-context tiers (e.g. Claude Sonnet 4.5 above 200K prompt tokens): the package's tiers are kept on
the `Price`; like the providers (and the package), a tier applies to every token of a call whose whole
prompt (input + cache read + cache write) exceeds the tier's start.

Web searches (`Usage.web_search_requests`) are priced per search, from `web_search` in the config or
the package's `web_searches_kcount` (USD per 1,000). The package's numbers and their sources, as of its
locked version: Anthropic $10 per 1,000 searches (platform.claude.com pricing, web search tool);
OpenAI $10 per 1,000 web search tool calls (openai.com/api/pricing, "Web search"); Gemini 2.x $35 and
Gemini 3 $14 per 1,000 (ai.google.dev/gemini-api/docs/pricing, "Grounding with Google Search"). Where
the package has no number for a search model (OpenAI's `gpt-4o-search-preview`, `gpt-5-search-api`) the
base model's is used (`gpt-4o`, `gpt-5`): OpenAI bills the search call by the model family, and the
search models are those families with search built in. Not modelled: Gemini 2.x bills per grounded
prompt, not per query (a prompt that ran three queries is charged three times here: too much, never too
little), and the providers' free daily or monthly search allowances. A model with no search price
gets no search cost (an unknown, not a zero), like an unpriced model.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import genai_prices
from genai_prices.types import ModelPrice, TieredPrices

from gateway.core.usage import Usage
from gateway.providers.registry import TYPES
from gateway.routing.table import RoutingTable

__all__ = ("PACKAGE_PROVIDERS", "Price", "PriceTable", "cost", "format_usd")

MILLION = Decimal(1_000_000)
USD_PLACES = Decimal("1e-10")  # `x-gateway-cost-usd` carries at most 10 decimals
# Wide enough that no product or sum of realistic counts is ever rounded. Passed explicitly: entering a
# `localcontext()` twice per request showed in profiles.
EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)
CACHE_SIZE = 4096

# Gateway provider type -> the genai-prices provider id used when the base_url names no known provider
# (local presets have none).
PACKAGE_PROVIDERS: Mapping[str, str] = {name: t.pricing_id for name, t in TYPES.items() if t.pricing_id}
# (cache read, cache write) as multiples of the input price, when no one gives a number.
_CACHE_MULTIPLIERS: Mapping[str, tuple[Decimal, Decimal]] = {
    "anthropic": (Decimal("0.1"), Decimal("1.25")),
}
_NO_MULTIPLIERS = (Decimal(1), Decimal(1))
# Embedding prices the package lacks, USD per million input tokens, from the providers' price pages:
# Cohere's embed models on AWS Bedrock (aws.amazon.com/bedrock/pricing).
EMBEDDING_PRICES: Mapping[tuple[str, str], Decimal] = {
    ("aws", "cohere.embed-english-v3"): Decimal("0.10"),
    ("aws", "cohere.embed-multilingual-v3"): Decimal("0.10"),
    ("aws", "cohere.embed-v4:0"): Decimal("0.12"),
}
_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|global|us-gov)\.")
DATE_SUFFIX = re.compile(r"[-@](?:20\d{6}|20\d{2}-\d{2}-\d{2})$")
# OpenAI's Chat Completions search models: the model family whose search price applies.
SEARCH_SUFFIX = re.compile(r"-search-(?:preview|api)(?=$|-)")
THOUSAND = Decimal(1000)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. `input` is for uncached input tokens only."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    source: str  # "config pricing: <key>" or "genai-prices"
    # (start, price): when the whole prompt exceeds `start` tokens, `price` applies to every token.
    # Ascending by start; the last one exceeded wins.
    tiers: tuple[tuple[int, Price], ...] = field(default=())
    web_search: Decimal | None = None  # USD per web search; None: not known

    def for_prompt(self, prompt_tokens: int) -> Price:
        """The price that applies to a call whose prompt (input + cache read + cache write) is this long."""
        chosen = self
        for start, tier in self.tiers:
            if prompt_tokens > start:
                chosen = tier
        return chosen


def cost(price: Price, usage: Usage) -> Decimal:
    """Exact USD cost of one call. Missing counts are 0; `usage.input_tokens` excludes cache tokens."""
    input_tokens = usage.input_tokens or 0
    output_tokens = usage.output_tokens or 0
    cache_read = usage.cache_read_tokens or 0
    cache_write = usage.cache_write_tokens or 0
    p = price.for_prompt(input_tokens + cache_read + cache_write)
    mul, add = EXACT.multiply, EXACT.add
    total = add(
        add(mul(input_tokens, p.input), mul(output_tokens, p.output)),
        add(mul(cache_read, p.cache_read), mul(cache_write, p.cache_write)),
    )
    tokens = EXACT.divide(total, MILLION)
    if usage.web_search_requests and price.web_search is not None:
        tokens = add(tokens, mul(usage.web_search_requests, price.web_search))
    return tokens


def format_usd(value: Decimal) -> str:
    """Plain decimal string: no exponent, at most 10 decimals (rounded half-even), trailing zeros trimmed.

    0.0001875 -> "0.0001875", 3 -> "3", 0.10 -> "0.1", 1e-12 -> "0".
    """
    rounded = value.quantize(USD_PLACES, context=EXACT)
    if rounded.is_zero():
        return "0"
    text = f"{rounded:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TypeError(f"price must be a number, got {value!r}")
    result = Decimal(str(value))  # str() so that 0.3 from YAML is 0.3, not its binary approximation
    if not result.is_finite() or result < 0:
        raise ValueError(f"price must be a finite number >= 0, got {value!r}")
    return result


class PriceTable:
    """Prices for one compiled config. Build a new one when the config is reloaded."""

    def __init__(self, table: RoutingTable, *, cache_size: int = CACHE_SIZE) -> None:
        pricing: Mapping[str, Any] = table.extra.get("pricing") or {}
        self._types: dict[str, str] = {name: p.type for name, p in table.providers.items()}
        self._urls: dict[str, str] = {name: p.base_url for name, p in table.providers.items()}
        self._exact: dict[str, Price] = {}
        self._globs: list[tuple[str, Price]] = []
        for key, entry in pricing.items():
            provider = key.partition("/")[0]
            price = self._config_price(key, entry, self._types.get(provider, ""))
            if any(c in key for c in "*?["):
                self._globs.append((key, price))
            else:
                self._exact[key] = price
        self._cache: dict[tuple[str, str], Price | None] = {}
        self._cache_size = cache_size

    @staticmethod
    def _config_price(key: str, entry: Mapping[str, Any], provider_type: str) -> Price:
        input_price = _decimal(entry["input"])
        read_x, write_x = _CACHE_MULTIPLIERS.get(provider_type, _NO_MULTIPLIERS)
        cache_read = entry.get("cache_read")
        cache_write = entry.get("cache_write")
        search = entry.get("web_search")
        return Price(
            input=input_price,
            output=_decimal(entry["output"]),
            cache_read=input_price * read_x if cache_read is None else _decimal(cache_read),
            cache_write=input_price * write_x if cache_write is None else _decimal(cache_write),
            source=f"config pricing: {key}",
            web_search=None if search is None else _decimal(search),
        )

    def price(self, provider_name: str, model: str) -> Price | None:
        """The price of `model` on the provider named `provider_name`, or None when nobody knows it."""
        key = (provider_name, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._lookup(provider_name, model)
        if len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)))  # oldest first; clients choose model names
        self._cache[key] = found
        return found

    def _lookup(self, provider_name: str, model: str) -> Price | None:
        target = f"{provider_name}/{model}"
        exact = self._exact.get(target)
        if exact is not None:
            return exact
        for glob, price in self._globs:
            if fnmatch.fnmatchcase(target, glob):
                return price
        provider_type = self._types.get(provider_name)
        if provider_type is None:
            return None
        model_price = self._package_price(provider_name, provider_type, model)
        if model_price is None:
            stripped = DATE_SUFFIX.sub("", model)
            if stripped != model:
                model_price = self._package_price(provider_name, provider_type, stripped)
        if model_price is None:
            return _embedding_price(provider_type, model)
        found = _from_package(model_price, provider_type, embedding="embed" in model.lower())
        if found is not None and found.web_search is None and SEARCH_SUFFIX.search(model):
            family = self._package_price(provider_name, provider_type, SEARCH_SUFFIX.sub("", model))
            search = _per_search(family)
            if search is not None:
                found = replace(found, web_search=search)
        return found

    def _package_price(self, provider_name: str, provider_type: str, model: str) -> ModelPrice | None:
        """The package's current prices for `model`, looked up by base_url, then by provider type."""
        now = datetime.now(tz=UTC)
        nothing = genai_prices.Usage()
        base_url = self._urls.get(provider_name, "")
        if base_url:
            try:
                return genai_prices.calc_price(
                    nothing, model, provider_api_url=base_url, genai_request_timestamp=now
                ).model_price
            except LookupError:
                pass
        package_provider = PACKAGE_PROVIDERS.get(provider_type)
        if package_provider is None:
            return None
        try:
            return genai_prices.calc_price(
                nothing, model, provider_id=package_provider, genai_request_timestamp=now
            ).model_price
        except LookupError:
            return None


def _at(value: Decimal | TieredPrices | None, prompt_tokens: int) -> Decimal | None:
    """One package price (flat or tiered) for a prompt of `prompt_tokens` tokens."""
    if value is None or isinstance(value, Decimal):
        return value
    chosen = value.base
    for tier in value.tiers:
        if prompt_tokens > tier.start:
            chosen = tier.price
    return chosen


def _embedding_price(provider_type: str, model: str) -> Price | None:
    package = PACKAGE_PROVIDERS.get(provider_type)
    found = EMBEDDING_PRICES.get((package or "", _REGION_PREFIX.sub("", model)))
    if found is None:
        return None
    return Price(found, Decimal(0), found, found, source="gateway: published embedding price")


def _per_search(model_price: ModelPrice | None) -> Decimal | None:
    """USD per web search from the package's price per 1,000 (never tiered in practice; a tiered one
    takes its base)."""
    per_k = _at(model_price.web_searches_kcount, 0) if model_price is not None else None
    return None if per_k is None else EXACT.divide(per_k, THOUSAND)


def _from_package(model_price: ModelPrice, provider_type: str, *, embedding: bool = False) -> Price | None:
    output = model_price.output_mtok
    if output is None and embedding and model_price.input_mtok is not None:
        output = Decimal(0)  # an embedding model's answer is vectors: nothing billed as output
    values: dict[str, Decimal | TieredPrices | None] = {
        "input": model_price.input_mtok,
        "output": output,
        "cache_read": model_price.cache_read_mtok,
        "cache_write": model_price.cache_write_mtok,
    }
    if values["input"] is None or values["output"] is None:
        return None  # priced per request, per second, ...: not a token price we can apply
    starts = sorted({t.start for v in values.values() if isinstance(v, TieredPrices) for t in v.tiers})
    read_x, write_x = _CACHE_MULTIPLIERS.get(provider_type, _NO_MULTIPLIERS)

    def flat(prompt_tokens: int) -> Price:
        input_price = _at(values["input"], prompt_tokens)
        output_price = _at(values["output"], prompt_tokens)
        assert input_price is not None and output_price is not None
        cache_read = _at(values["cache_read"], prompt_tokens)
        cache_write = _at(values["cache_write"], prompt_tokens)
        return Price(
            input=input_price,
            output=output_price,
            cache_read=input_price * read_x if cache_read is None else cache_read,
            cache_write=input_price * write_x if cache_write is None else cache_write,
            source="genai-prices",
        )

    base = replace(flat(0), web_search=_per_search(model_price))
    if not starts:
        return base
    tiers = tuple((start, flat(start + 1)) for start in starts)
    return replace(base, tiers=tiers)


class Prices:
    """The price tables of the configs in use, built once per config version. Around a reload requests
    of the old and the new version finish side by side: both tables are kept (the oldest of more goes),
    so they do not rebuild each other's in turn."""

    KEPT = 2

    def __init__(self) -> None:
        self._tables: dict[str, PriceTable] = {}  # by config version, oldest first

    def of(self, table: RoutingTable) -> PriceTable:
        found = self._tables.get(table.version)
        if found is None:
            if len(self._tables) >= self.KEPT:
                del self._tables[next(iter(self._tables))]
            found = self._tables[table.version] = PriceTable(table)
        return found

    def price(self, table: RoutingTable, target: str) -> Price | None:
        provider, _, model = target.partition("/")
        return self.of(table).price(provider, model) if model else None
