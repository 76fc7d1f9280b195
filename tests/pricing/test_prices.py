"""Prices from genai-prices and `pricing:`, exact costs, and the `x-gateway-cost-usd` format."""

from __future__ import annotations

import socket
import textwrap
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.config.compiler import compile_config
from gateway.core.usage import Usage
from gateway.pricing.prices import Price, Prices, PriceTable, cost, format_usd
from gateway.routing.table import RoutingTable

CONFIG = """\
version: 1
providers:
  anthropic: { type: anthropic }
  openai: { type: openai }
  google: { type: gemini }
  local: { type: openai, base_url: "http://127.0.0.1:8000/v1" }
  local-vllm: { type: openai, base_url: "http://127.0.0.1:8001/v1" }
pricing:
  local-vllm/*: { input: 0, output: 0 }
  openai/my-finetune: { input: 3.0, output: 12.0, cache_read: 0.3, cache_write: 3.75 }
  openai/gpt-4o: { input: 5, output: 20 }
  openai/gpt-4o*: { input: 7, output: 21 }
  anthropic/house-*: { input: 2, output: 8 }
"""


def compiled(tmp_path: Path, text: str = CONFIG) -> RoutingTable:
    (tmp_path / "gateway.yaml").write_text(textwrap.dedent(text))
    return compile_config(tmp_path, {})


@pytest.fixture
def table(tmp_path: Path) -> PriceTable:
    return PriceTable(compiled(tmp_path))


def usd(text: str) -> Decimal:
    return Decimal(text)


def expected(inp: int, out: int, read: int, write: int, prices: tuple[str, str, str, str]) -> Decimal:
    counts = (inp, out, read, write)
    return sum((Decimal(n) * Decimal(p) for n, p in zip(counts, prices, strict=True)), Decimal(0)) / 1_000_000


USAGE = Usage(input_tokens=1_234, output_tokens=567, cache_read_tokens=8_900, cache_write_tokens=1_000)


@pytest.mark.parametrize(
    ("provider", "model", "prices"),
    [
        pytest.param("anthropic", "claude-sonnet-4-5", ("3", "15", "0.30", "3.75"), id="sonnet-4.5"),
        pytest.param(
            "anthropic", "claude-sonnet-4-5-20250929", ("3", "15", "0.30", "3.75"), id="sonnet-dated"
        ),
        pytest.param("anthropic", "claude-haiku-4-5", ("1", "5", "0.10", "1.25"), id="haiku-4.5"),
        pytest.param("anthropic", "claude-opus-4-1", ("15", "75", "1.50", "18.75"), id="opus-4.1"),
        # Gemini has no cache-write price in the package: tokens entering the cache cost the input price
        pytest.param("google", "gemini-2.5-flash", ("0.30", "2.50", "0.03", "0.30"), id="gemini-2.5-flash"),
        pytest.param(
            "anthropic", "claude-haiku-4-5@20251001", ("1", "5", "0.10", "1.25"), id="vertex-style-date"
        ),
    ],
)
def test_published_prices(
    table: PriceTable, provider: str, model: str, prices: tuple[str, str, str, str]
) -> None:
    price = table.price(provider, model)
    assert price is not None and price.source == "genai-prices"
    assert (price.input, price.output, price.cache_read, price.cache_write) == tuple(usd(p) for p in prices)
    assert cost(price, USAGE) == expected(1_234, 567, 8_900, 1_000, prices)


def test_gpt_4o_from_the_package_when_config_does_not_override(tmp_path: Path) -> None:
    table = PriceTable(compiled(tmp_path, CONFIG.split("pricing:")[0]))
    price = table.price("openai", "gpt-4o")
    assert price is not None and price.source == "genai-prices"
    assert (price.input, price.output, price.cache_read) == (usd("2.5"), usd("10"), usd("1.25"))
    assert price.cache_write == price.input
    # 1,234 uncached input + 8,900 cached input + 567 output
    assert cost(price, Usage(1_234, 567, 8_900, None)) == usd("0.0030850") + usd("0.005670") + usd("0.011125")


def test_cost_is_exact_and_documented_example() -> None:
    price = Price(usd("3"), usd("15"), usd("0.3"), usd("3.75"), "test")
    assert cost(
        price, Usage(input_tokens=10, output_tokens=10, cache_read_tokens=0, cache_write_tokens=0)
    ) == usd("0.00018")
    assert (
        format_usd(cost(price, Usage(input_tokens=10, output_tokens=10, cache_write_tokens=2))) == "0.0001875"
    )
    assert cost(price, Usage()) == 0
    big = Usage(input_tokens=10**12, output_tokens=10**12 + 1)
    assert cost(price, big) == usd("3000000") + usd("15000000.000015")


def test_long_context_tier_applies_to_the_whole_call(table: PriceTable) -> None:
    price = table.price("anthropic", "claude-sonnet-4-5")
    assert price is not None
    at_limit = Usage(input_tokens=150_000, output_tokens=1_000, cache_read_tokens=50_000)
    over = Usage(input_tokens=150_001, output_tokens=1_000, cache_read_tokens=50_000)
    assert cost(price, at_limit) == expected(150_000, 1_000, 50_000, 0, ("3", "15", "0.3", "3.75"))
    assert cost(price, over) == expected(150_001, 1_000, 50_000, 0, ("6", "22.5", "0.6", "7.5"))


def test_config_overrides_the_package_exact_beats_glob(table: PriceTable) -> None:
    exact = table.price("openai", "gpt-4o")
    assert exact is not None and exact.source == "config pricing: openai/gpt-4o"
    assert (exact.input, exact.output) == (usd("5"), usd("20"))
    glob = table.price("openai", "gpt-4o-mini")
    assert glob is not None and glob.source == "config pricing: openai/gpt-4o*"
    assert (glob.input, glob.output, glob.cache_read, glob.cache_write) == (
        usd("7"),
        usd("21"),
        usd("7"),
        usd("7"),
    )


def test_config_entries(table: PriceTable) -> None:
    finetune = table.price("openai", "my-finetune")
    assert finetune is not None
    assert (finetune.input, finetune.output, finetune.cache_read, finetune.cache_write) == (
        usd("3.0"),
        usd("12.0"),
        usd("0.3"),  # from YAML's float 0.3, not its binary approximation
        usd("3.75"),
    )
    free = table.price("local-vllm", "meta-llama/Llama-3.3-70B-Instruct")
    assert free is not None and free.source == "config pricing: local-vllm/*"
    assert cost(free, USAGE) == 0
    # no cache prices given on an Anthropic-type provider: Anthropic's multipliers of input
    house = table.price("anthropic", "house-model")
    assert house is not None
    assert (house.cache_read, house.cache_write) == (usd("0.2"), usd("2.5"))


def test_unknown_models_have_no_price(table: PriceTable) -> None:
    assert table.price("local", "my-model") is None
    assert table.price("openai", "not-a-model") is None
    assert table.price("anthropic", "claude-unknown-9") is None
    assert table.price("no-such-provider", "gpt-4o") is None
    # a known model name on an unrecognised OpenAI-compatible URL falls back to the provider type
    assert table.price("local", "gpt-4o-2024-08-06") is not None


def test_base_url_picks_the_package_provider(tmp_path: Path) -> None:
    config = """\
    version: 1
    providers:
      groq: { type: openai, base_url: "https://api.groq.com/openai/v1" }
    """
    price = PriceTable(compiled(tmp_path, config)).price("groq", "llama-3.3-70b-versatile")
    assert price is not None and (price.input, price.output) == (usd("0.59"), usd("0.79"))


def test_cache_is_bounded(tmp_path: Path) -> None:
    table = PriceTable(compiled(tmp_path), cache_size=3)
    for i in range(10):
        assert table.price("local", f"model-{i}") is None
    assert len(table._cache) == 3
    assert table.price("anthropic", "claude-haiku-4-5") is table.price("anthropic", "claude-haiku-4-5")


def test_no_network_and_no_updater_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pricing tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    table = PriceTable(compiled(tmp_path))
    for provider, model in [("anthropic", "claude-opus-4-1"), ("google", "gemini-2.5-pro"), ("openai", "o3")]:
        assert table.price(provider, model) is not None
    assert not any(t.name.startswith("genai_prices") for t in threading.enumerate())


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0.0001875", "0.0001875"),
        ("1e-12", "0"),
        ("3", "3"),
        ("0.10", "0.1"),
        ("0", "0"),
        ("0E-20", "0"),
        ("12.5000000000", "12.5"),
        ("1E+3", "1000"),
        ("0.00000000005", "0"),  # half-even: 0.5e-10 rounds to 0
        ("0.00000000015", "0.0000000002"),  # half-even: 1.5e-10 rounds to 2e-10
        ("0.000000000149", "0.0000000001"),
        ("123456789.123456789012", "123456789.123456789"),
    ],
)
def test_format_usd(value: str, text: str) -> None:
    assert format_usd(Decimal(value)) == text


def test_the_old_and_the_new_config_keep_their_price_tables_around_a_reload(tmp_path: Path) -> None:
    """Requests of both versions finish side by side after a swap: neither rebuilds the other's table."""
    old = compiled(tmp_path)
    new = compiled(tmp_path, CONFIG.replace("input: 5, output: 20", "input: 6, output: 20"))
    prices = Prices()
    first_old, first_new = prices.of(old), prices.of(new)
    assert prices.of(old) is first_old and prices.of(new) is first_new
    assert prices.price(new, "openai/gpt-4o") != prices.price(old, "openai/gpt-4o")
    third = compiled(tmp_path, CONFIG.replace("input: 5, output: 20", "input: 9, output: 20"))
    prices.of(third)  # a third version: the oldest goes
    assert prices.of(new) is first_new and prices.of(old) is not first_old


# -- web searches --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "per_search"),
    [
        ("anthropic", "claude-sonnet-4-5", "0.01"),  # $10 per 1,000 searches
        ("openai", "gpt-5", "0.01"),  # the Responses API's web search tool calls: $10 per 1,000
        # A Chat search model takes its family's price (the package has none of its own).
        ("openai", "gpt-5-search-api", "0.01"),
        ("google", "gemini-2.5-flash", "0.035"),  # Gemini 2.x: $35 per 1,000 grounded prompts
        ("google", "gemini-3-pro-preview", "0.014"),  # Gemini 3: $14 per 1,000 queries
    ],
)
def test_web_search_prices_from_the_package(
    table: PriceTable, provider: str, model: str, per_search: str
) -> None:
    price = table.price(provider, model)
    assert price is not None and price.web_search == Decimal(per_search)


def test_gpt_4o_search_preview_takes_the_gpt_4o_search_price(tmp_path: Path) -> None:
    prices = PriceTable(compiled(tmp_path, "version: 1\nproviders:\n  openai: { type: openai }\n"))
    price = prices.price("openai", "gpt-4o-search-preview")
    assert price is not None and price.web_search == Decimal("0.01") and price.input == Decimal("2.5")


def test_web_searches_add_to_the_token_cost(tmp_path: Path) -> None:
    config = CONFIG + "  openai/searcher: { input: 1, output: 2, web_search: 0.025 }\n"
    prices = PriceTable(compiled(tmp_path, config))
    price = prices.price("openai", "searcher")
    assert price is not None and price.web_search == Decimal("0.025")
    tokens = Usage(input_tokens=1000, output_tokens=100)
    searched = Usage(input_tokens=1000, output_tokens=100, web_search_requests=3)
    assert cost(price, tokens) == Decimal("0.0012")
    assert cost(price, searched) == Decimal("0.0762")
    # A config price without a search price: the searches are unknown, so they add nothing.
    unpriced = prices.price("openai", "my-finetune")
    assert unpriced is not None and unpriced.web_search is None
    assert cost(unpriced, searched) == cost(unpriced, tokens)
