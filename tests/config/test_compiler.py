"""The config compiler: merging, references, locations of every error, interpolation, versions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.config.compiler import compile_config
from gateway.config.issues import ConfigError
from gateway.routing.table import Fallback, Leaf, Limit, RouteRef, Split, Switch

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
version: 1
providers:
  anthropic: { type: anthropic }
  openai: { type: openai }
keys:
  anthropic-main: { provider: anthropic, secret: sk-a }
budgets:
  monthly: { usd: 10, period: month }
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def errors_of(folder: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        compile_config(folder, env or {})
    return [str(i) for i in info.value.errors]


def test_every_example_and_the_default_config_compile() -> None:
    paths = [ROOT / "routes", *sorted((ROOT / "examples" / "configs").glob("*.yaml"))]
    assert len(paths) >= 2
    for path in paths:
        table = compile_config(path, {}, strict_env=False)
        assert table.version


def test_default_config_serves_the_documented_models() -> None:
    table = compile_config(ROOT / "routes", {"ANTHROPIC_API_KEY": "sk-x"})
    assert set(table.providers) == {"anthropic", "openai", "google"}
    assert [g for g, _, _ in table.models.globs] == ["claude-*", "gpt-*", "o[0-9]*", "gemini-*"]
    gw = table.gateways["default"]
    assert gw.auth == "none" and gw.provider_keys == ("stored", "request")
    assert table.keys["anthropic-main"].available and not table.keys["openai-main"].available


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"a.yaml": BASE + "models:\n  fast: nowhere/model-x\n"},
            "a.yaml:10:3: models.fast: unknown provider 'nowhere' in 'nowhere/model-x' "
            "(defined: anthropic, openai)",
            id="unknown-provider-in-alias",
        ),
        pytest.param(
            {"a.yaml": BASE + "keys:\n  k2: { provider: azure, secret: x }\n"},
            None,  # duplicate section key `keys` is a YAML-level duplicate
            id="duplicate-yaml-key",
        ),
        pytest.param(
            {"a.yaml": BASE + "models:\n  smart: dynamic/nope\n"},
            "a.yaml:10:3: models.smart: unknown route 'nope' (no routes are defined)",
            id="unknown-route",
        ),
        pytest.param(
            {"a.yaml": BASE, "b.yaml": "providers:\n  anthropic: { type: anthropic }\n"},
            "b.yaml:2:3: providers.anthropic: providers.anthropic is defined twice (first at",
            id="duplicate-across-files",
        ),
        pytest.param(
            {"a.yaml": BASE + "routes:\n  r:\n    model: anthropic/claude-x\n    key: nope\n"},
            "a.yaml:12:5: routes.r.key: unknown key 'nope' (defined: anthropic-main)",
            id="unknown-key-in-leaf",
        ),
        pytest.param(
            {"a.yaml": BASE + "routes:\n  r:\n    model: openai/gpt-x\n    key: anthropic-main\n"},
            "a.yaml:12:5: routes.r.key: key 'anthropic-main' belongs to provider 'anthropic', not 'openai'",
            id="key-of-other-provider",
        ),
        pytest.param(
            {"a.yaml": BASE + "routes:\n  a: dynamic/b\n  b:\n    fallback: [anthropic/x, dynamic/a]\n"},
            "routes.a: route cycle: a -> b -> a",
            id="route-cycle",
        ),
        pytest.param(
            {"a.yaml": BASE + "routes:\n  r:\n    limit: { budget: yearly }\n    to: anthropic/x\n"},
            "a.yaml:11:14: routes.r.limit.budget: unknown budget 'yearly' (defined: monthly)",
            id="unknown-budget-in-limit",
        ),
        pytest.param(
            {"a.yaml": BASE + "providers:\n  v1: { type: openai }\n"},
            None,
            id="section-twice-in-one-file",
        ),
        pytest.param(
            {"a.yaml": BASE, "b.yaml": "providers:\n  v1: { type: openai }\n"},
            "b.yaml:2:3: providers.v1: provider name 'v1' is reserved",
            id="reserved-provider-name",
        ),
        pytest.param(
            {"a.yaml": BASE + "gateways:\n  g: { auth: tokens }\n"},
            "a.yaml:10:3: gateways.g: 'tokens' is required",
            id="tokens-without-tokens",
        ),
        pytest.param(
            {"a.yaml": BASE + "gateways:\n  g: { budgets: [nope] }\n"},
            "a.yaml:10:8: gateways.g.budgets: unknown budget 'nope' (defined: monthly)",
            id="unknown-gateway-budget",
        ),
        pytest.param(
            {"a.yaml": BASE + "keys2: {}\n"},
            "a.yaml:9:1: keys2: unknown key 'keys2'",
            id="unknown-section",
        ),
        pytest.param(
            {"a.yaml": "version: 1\nproviders:\n  p: { type: anthropic\n"},
            "a.yaml:4:1: (top level): YAML syntax error",
            id="yaml-syntax",
        ),
        pytest.param(
            {
                "a.yaml": BASE
                + "routes:\n  r:\n    switch:\n      - when: { metadata.t: { matches: '(' } }\n"
                "        to: anthropic/x\n"
            },
            "routes.r.switch.0.when.metadata.t: bad regex",
            id="bad-regex",
        ),
        pytest.param(
            {
                "a.yaml": BASE
                + "gateways:\n  g:\n    auth: tokens\n    tokens:\n      - { name: t, secret: s }\n"
                "      - { name: u, secret: s }\n"
            },
            "gateways.g.tokens.1: same secret as token 't'",
            id="duplicate-token-secret",
        ),
        pytest.param(
            {"a.yaml": BASE + "server:\n  listen: localhost\n"},
            "a.yaml:10:3: server.listen: 'localhost' is not valid here: host:port to listen on",
            id="bad-listen",
        ),
        pytest.param(
            {"a.yaml": BASE + "routes:\n  r: { model: anthropic/x, timeout: 10 minutes }\n"},
            "routes.r.timeout",
            id="bad-duration",
        ),
    ],
)
def test_broken_configs_name_file_line_and_key(
    tmp_path: Path, files: dict[str, str], expected: str | None
) -> None:
    errors = errors_of(write(tmp_path, files))
    assert errors, "expected the config to be rejected"
    if expected is None:
        assert any("duplicate key" in e for e in errors), errors
        return
    assert any(expected in e for e in errors), errors
    for e in errors:  # every error carries FILE:LINE:COLUMN
        file, line, col = e.split(":")[:3]
        assert file.startswith(str(tmp_path)) and line.isdigit() and col.isdigit(), e


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, {"a.yaml": BASE + "models:\n  a: x/y\n  b: dynamic/z\n  c: q/r\n"}))
    assert len(errors) == 3


def test_interpolation_defaults_literal_dollar_and_missing_vars(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"a.yaml": BASE.replace("sk-a", '"${KEY:-fallback}"') + "server:\n  admin_token: 'a$${b}'\n"},
    )
    table = compile_config(tmp_path, {})
    assert table.keys["anthropic-main"].secret == "fallback"
    assert table.keys["anthropic-main"].env_vars == ("KEY",)
    assert table.server.admin_token == "a${b}"
    assert compile_config(tmp_path, {"KEY": "from-env"}).keys["anthropic-main"].secret == "from-env"

    write(tmp_path, {"a.yaml": BASE.replace("sk-a", '"${MISSING}"')})
    assert any(
        "a.yaml:6:50: keys.anthropic-main.secret: environment variable MISSING is not set" in e
        for e in errors_of(tmp_path)
    )
    # gateway validate treats a missing variable as a warning: CI rarely holds production secrets
    table = compile_config(tmp_path, {}, strict_env=False)
    assert any("warning:" in w and "MISSING" in w for w in table.warnings)


def test_empty_secret_makes_the_key_unavailable_not_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": BASE.replace("sk-a", '"${KEY:-}"')})
    assert not compile_config(tmp_path, {}).keys["anthropic-main"].available


def test_version_is_a_content_hash(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": BASE})
    v1 = compile_config(tmp_path, {}).version
    assert compile_config(tmp_path, {}).version == v1
    write(tmp_path, {"a.yaml": BASE + "models:\n  fast: anthropic/claude-haiku-4-5\n"})
    assert compile_config(tmp_path, {}).version != v1


def test_route_nodes_compile_to_frozen_dataclasses(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yaml": BASE
            + textwrap.dedent("""\
        routes:
          support:
            switch:
              - when: { metadata.tier: enterprise }
                to: { fallback: [anthropic/claude-sonnet-4-5, openai/gpt-5.2] }
            default:
              split:
                - { weight: 90, to: anthropic/claude-haiku-4-5 }
                - { weight: 10, to: { model: openai/gpt-5-mini, params: { temperature: 0.2 } } }
              sticky: metadata.user
          coding:
            limit: { budget: monthly }
            to:
              fallback:
                on: [429, 5xx, timeout]
                to: [{ model: anthropic/claude-opus-4-8, timeout: 120s, retries: 2 }, openai/gpt-5.2]
            otherwise: dynamic/support
        """)
        },
    )
    table = compile_config(tmp_path, {})
    support = table.routes["support"].node
    assert isinstance(support, Switch) and isinstance(support.cases[0][1], Fallback)
    assert isinstance(support.default, Split) and support.default.sticky == "metadata.user"
    assert support.default.branches[1][1] == Leaf("openai", "gpt-5-mini", params={"temperature": 0.2})
    coding = table.routes["coding"].node
    assert (
        isinstance(coding, Limit) and coding.budget == "monthly" and coding.otherwise == RouteRef("support")
    )
    assert isinstance(coding.to, Fallback) and coding.to.on == ("429", "5xx", "timeout")
    assert coding.to.nodes[0] == Leaf("anthropic", "claude-opus-4-8", timeout=120.0, retries=2)
    with pytest.raises(AttributeError):
        table.routes["coding"].name = "x"  # type: ignore[misc]


def test_models_list_names_aliases_routes_and_concrete_targets(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yaml": BASE
            + textwrap.dedent("""\
        models:
          claude-*: anthropic/*
          fast: anthropic/claude-haiku-4-5
        routes:
          r: { fallback: [openai/gpt-5.2, anthropic/claude-opus-4-8] }
        gateways:
          default: {}
          narrow: { allow: [fast] }
        """)
        },
    )
    table = compile_config(tmp_path, {})
    ids = [m for m, _ in table.gateways["default"].listed]
    assert ids == [
        "fast",
        "dynamic/r",
        "anthropic/claude-haiku-4-5",
        "openai/gpt-5.2",
        "anthropic/claude-opus-4-8",
    ]
    assert [m for m, _ in table.gateways["narrow"].listed] == ["fast"]


def test_budgets_rate_limits_cache_and_state_compile(tmp_path: Path) -> None:
    from decimal import Decimal

    from gateway.routing.table import Budget, Rate, State

    write(
        tmp_path,
        {
            "a.yaml": BASE
            + """\
  team: { usd: 12.5, period: week, by: metadata.team, warn_at: 0.8 }
gateways:
  support:
    auth: none
    cache: { ttl: 10m }
    rate_limits:
      - { requests: 600, per: 1m }
      - { tokens: 2000000, per: 1d, by: metadata.user }
    budgets: [monthly]
  quiet: { auth: none, cache: { enabled: false } }
routes:
  gated: { limit: { rate: { requests: 5, per: 30s, by: token } }, to: anthropic/claude-x }
state: { store: "redis://127.0.0.1:6379/0", on_unavailable: open }
"""
        },
    )
    table = compile_config(tmp_path, {})
    assert table.budgets["team"] == Budget("team", Decimal("12.5"), "week", "metadata.team", 0.8)
    assert table.budgets["monthly"].usd == Decimal(10)
    support = table.gateways["support"]
    assert support.rate_limits == (
        Rate("requests", 600, 60.0, "1m"),
        Rate("tokens", 2_000_000, 86400.0, "1d", "metadata.user"),
    )
    assert support.budgets == ("monthly",) and support.cache_ttl == 600.0
    assert table.gateways["quiet"].cache_ttl is None
    node = table.routes["gated"].node
    assert isinstance(node, Limit) and node.rate == Rate("requests", 5, 30.0, "30s", "token")
    assert table.state == State("redis://127.0.0.1:6379/0", "open")


def test_several_workers_with_a_memory_store_warn(tmp_path: Path) -> None:
    workers = "server: { workers: 4 }\ngateways:\n  default: { auth: none, budgets: [monthly] }\n"
    write(tmp_path, {"a.yaml": BASE + workers + "state: { store: memory }\n"})
    warnings = compile_config(tmp_path, {}).warnings
    assert any(
        "a.yaml:" in w
        and "workers is 4 but state.store is memory" in w
        and "gateway serve refuses it" in w
        and "sqlite:///./data/state.db" in w
        for w in warnings
    ), warnings
    write(tmp_path, {"a.yaml": BASE + workers})  # left out: the workers share an SQLite file
    table = compile_config(tmp_path, {})
    assert table.state.store is None and not any("state.store" in w for w in table.warnings)
