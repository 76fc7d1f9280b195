"""gateway/config/config.schema.json: valid for the config language (config.md), readable when it rejects.

Every broken snippet below must produce exactly one error (one mistake, one message), at the path the
user would look at, with a message that names the problem.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "gateway" / "config" / "config.schema.json"
EXAMPLE_PATH = Path(__file__).parent / "data" / "config_md_example.yaml"

# The loader's interpolation with an empty environment: ${VAR:-default} -> default, ${VAR} -> "x".
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _TextKeysLoader(yaml.SafeLoader):
    """Like the gateway's loader: mapping keys keep their text, so YAML 1.1's `on:` is "on", not True."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    return {str(k.value): loader.construct_object(v, deep=True) for k, v in node.value}


_TextKeysLoader.add_constructor("tag:yaml.org,2002:map", _mapping)


def load(text: str) -> Any:
    loader = _TextKeysLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def interpolate(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, str):

        def replace(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            return m.group(2) if m.group(2) is not None else "x"

        return _VAR.sub(replace, value)
    return value


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def test_schema_is_valid_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_config_md_example_validates(validator: Draft202012Validator) -> None:
    doc = interpolate(load(EXAMPLE_PATH.read_text()))
    # The example uses every section; a vacuous pass (e.g. an empty document) would prove nothing.
    assert set(doc) == {
        "version",
        "server",
        "providers",
        "keys",
        "models",
        "gateways",
        "routes",
        "budgets",
        "pricing",
        "state",
        "logs",
    }
    assert doc["routes"]["coding"]["to"]["fallback"]["on"] == [429, "5xx", "timeout"]
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []


VALID = [
    pytest.param("", id="empty-file"),
    pytest.param(
        """
        guardrails:
          no-secrets: {check: {regex: ['sk-ant-[A-Za-z0-9_-]{20,200}'], builtin: [aws_key]}, action: block}
          pii: {on: both, check: {builtin: [email, iban]}, action: redact}
          size: {check: {max_input_tokens: 100000}, action: flag}
          mod:
            check: {webhook: {url: "https://m.internal/c", timeout: 2s, headers: {authorization: "Bearer x"}}}
            action: block
            on_error: block
        gateways: {default: {guardrails: [no-secrets, pii, size, mod]}}
        """,
        id="guardrails-every-check",
    ),
    pytest.param("version: 1", id="version-only"),
    pytest.param(
        """
        server:
          listen: "[::1]:8787"
          admin_token: ""
          max_body: 1048576
          workers: 4
          access_log: false
          drain: 1.5s
        """,
        id="server-all-keys",
    ),
    pytest.param("server: {listen: 0.0.0.0:80, max_body: 64KiB}", id="server-size-string"),
    pytest.param(
        """
        providers:
          openai:
            type: openai
            timeouts: {connect: 500ms, first_byte: 30s, idle: 2m, total: 1h}
            max_connections: 64
            headers: {x-team: support, OpenAI-Organization: org-1}
          anthropic: {type: anthropic}
          bedrock: {type: bedrock, region: eu-west-1, base_url: "https://bedrock.example"}
          vertex: {type: vertex, project: p, region: us-east5}
          azure: {type: azure-openai, base_url: "https://r.openai.azure.com", api_version: "2024-10-21"}
        """,
        id="providers-every-type-and-extension",
    ),
    pytest.param(
        """
        keys:
          aws: {provider: bedrock, access_key_id: a, secret_access_key: b, session_token: c}
          gcp: {provider: vertex, credentials_file: /etc/gcp.json}
          empty: {provider: openai, secret: ""}
          chain: {provider: bedrock}
        """,
        id="keys-every-kind",
    ),
    pytest.param(
        """
        models:
          "*": openai/*
          llama: workers-ai/@cf/meta/llama-3.3-70b-instruct
          sonnet: bedrock/anthropic.claude-sonnet-4-5-v1:0
          portkey: "@anthropic/claude-sonnet-4-5"
          Fancy Name: dynamic/coding
        """,
        id="models-target-spellings",
    ),
    pytest.param(
        """
        gateways:
          team:
            auth: tokens
            tokens:
              - name: hashed
                sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
                metadata: {user: u1, tier: 2, beta: true}
                budgets: [daily]
              - {name: plain, secret: s3cret}
            cache: {enabled: false}
            rate_limits:
              - {tokens: 1000, per: 1h, by: header.x-user-id}
              - {requests: 5, per: 1s, by: token}
            logs: {bodies: false}
            allow: ["claude-*"]
        """,
        id="gateway-tokens-cache-off-limits",
    ),
    pytest.param(
        """
        routes:
          plain: openai/gpt-5.2
          list: {fallback: [anthropic/a, {model: openai/b, key: openai-main, params: {max_tokens: 10}}]}
          codes: {fallback: {on: [500, 4xx, "429", connect], to: [dynamic/plain]}}
          gate:
            limit: {rate: {tokens: 100000, per: 1m, by: metadata.user}}
            to: dynamic/list
          matchers:
            switch:
              - when:
                  stream: true
                  input_tokens: {gt: 1000}
                  model: {in: [a, b, 3, null]}
                  header.x-env: {not: {matches: "^prod"}}
                  metadata.user: {exists: false}
                  has_tools: {not: {not: false}}
                  metadata.score: {lte: 0.5}
                  token: null
                to: dynamic/gate
            default: {split: [{weight: 0.5, to: a/b}, {weight: 2, to: a/c}]}
        """,
        id="routes-every-node-kind-and-matcher",
    ),
    pytest.param(
        """
        budgets: {all: {usd: 0.01, period: total, warn_at: 1}}
        pricing: {"openai/gpt-5*": {input: 1.25, output: 10, cache_read: 0.125, cache_write: 0}}
        state: {store: "rediss://user:pw@redis:6380/1", on_unavailable: open}
        logs: {store: "postgres://u@h/db", bodies: true, retention: 12h}
        """,
        id="budgets-pricing-state-logs",
    ),
    pytest.param("state: {store: sqlite:///./data/state.db}", id="state-sqlite"),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_snippets(validator: Draft202012Validator, text: str) -> None:
    doc = load(textwrap.dedent(text)) or {}
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []


INVALID = [
    # -- top level ---------------------------------------------------------------------------------------
    ("unknown-top-level-key", "route: {}", (), "'route' was unexpected"),
    ("version-2", "version: 2", ("version",), "1 was expected"),
    ("section-not-a-mapping", "providers: [openai]", ("providers",), "is not of type 'object'"),
    # -- server ------------------------------------------------------------------------------------------
    ("server-unknown-key", "server: {port: 8787}", ("server",), "'port' was unexpected"),
    ("listen-without-port", "server: {listen: localhost}", ("server", "listen"), "does not match"),
    ("workers-zero", "server: {workers: 0}", ("server", "workers"), "0 is less than the minimum of 1"),
    ("workers-string", "server: {workers: '2'}", ("server", "workers"), "'2' is not of type 'integer'"),
    ("bad-size", "server: {max_body: 32 MB}", ("server", "max_body"), "'32 MB' does not match"),
    ("bad-drain", "server: {drain: 10sec}", ("server", "drain"), "'10sec' does not match"),
    # -- providers ---------------------------------------------------------------------------------------
    (
        "bad-provider-type",
        "providers: {x: {type: cohere}}",
        ("providers", "x", "type"),
        "'cohere' is not one of",
    ),
    (
        "provider-without-type",
        "providers: {x: {base_url: 'http://h'}}",
        ("providers", "x"),
        "'type' is a required",
    ),
    ("bad-name-pattern", "providers: {Open_AI: {type: openai}}", ("providers",), "'Open_AI' does not match"),
    ("name-too-long", f"budgets: {{{'b' * 65}: {{usd: 1, period: day}}}}", ("budgets",), "does not match"),
    (
        "key-of-other-type",
        "providers: {x: {type: anthropic, region: us}}",
        ("providers", "x"),
        "'region' was unexpected",
    ),
    (
        "bedrock-without-region",
        "providers: {x: {type: bedrock}}",
        ("providers", "x"),
        "'region' is a required",
    ),
    (
        "vertex-without-project",
        "providers: {x: {type: vertex, region: r}}",
        ("providers", "x"),
        "'project' is a required",
    ),
    (
        "azure-without-base-url",
        "providers: {x: {type: azure-openai, api_version: '1'}}",
        ("providers", "x"),
        "'base_url' is a required",
    ),
    (
        "base-url-scheme",
        "providers: {x: {type: openai, base_url: 'ftp://h'}}",
        ("providers", "x", "base_url"),
        "https?",
    ),
    (
        "bad-duration",
        "providers: {x: {type: openai, timeouts: {first_byte: 10sec}}}",
        ("providers", "x", "timeouts", "first_byte"),
        "'10sec' does not match",
    ),
    (
        "duration-as-number",
        "providers: {x: {type: openai, timeouts: {total: 30}}}",
        ("providers", "x", "timeouts", "total"),
        "30 is not of type 'string'",
    ),
    (
        "unknown-timeout",
        "providers: {x: {type: openai, timeouts: {read: 1s}}}",
        ("providers", "x", "timeouts"),
        "'read' was unexpected",
    ),
    (
        "max-connections-zero",
        "providers: {x: {type: openai, max_connections: 0}}",
        ("providers", "x", "max_connections"),
        "less than the minimum of 1",
    ),
    (
        "header-value-not-string",
        "providers: {x: {type: openai, headers: {x-n: 1}}}",
        ("providers", "x", "headers", "x-n"),
        "1 is not of type 'string'",
    ),
    # -- keys and models ---------------------------------------------------------------------------------
    ("key-without-provider", "keys: {k: {secret: s}}", ("keys", "k"), "'provider' is a required"),
    ("key-unknown-field", "keys: {k: {provider: p, api_key: s}}", ("keys", "k"), "'api_key' was unexpected"),
    (
        "aws-key-half",
        "keys: {k: {provider: p, access_key_id: a}}",
        ("keys", "k"),
        "'secret_access_key' is a dependency of 'access_key_id'",
    ),
    (
        "secret-not-string",
        "keys: {k: {provider: p, secret: 12}}",
        ("keys", "k", "secret"),
        "not of type 'string'",
    ),
    (
        "model-target-without-provider",
        "models: {fast: claude}",
        ("models", "fast"),
        "'claude' does not match",
    ),
    # -- gateways ----------------------------------------------------------------------------------------
    ("bad-auth", "gateways: {g: {auth: token}}", ("gateways", "g", "auth"), "'token' is not one of"),
    (
        "auth-tokens-without-tokens",
        "gateways: {g: {auth: tokens}}",
        ("gateways", "g"),
        "'tokens' is a required",
    ),
    (
        "token-secret-and-sha256",
        f"gateways: {{g: {{tokens: [{{name: t, secret: s, sha256: {'a' * 64}}}]}}}}",
        ("gateways", "g", "tokens", 0),
        "'secret' was unexpected",
    ),
    (
        "token-without-secret",
        "gateways: {g: {tokens: [{name: t}]}}",
        ("gateways", "g", "tokens", 0),
        "'secret' is a",
    ),
    (
        "token-sha256-not-hex",
        "gateways: {g: {tokens: [{name: t, sha256: abc}]}}",
        ("gateways", "g", "tokens", 0, "sha256"),
        "'abc' does not match",
    ),
    (
        "token-bad-name",
        "gateways: {g: {tokens: [{name: Support Bot, secret: s}]}}",
        ("gateways", "g", "tokens", 0, "name"),
        "'Support Bot' does not match",
    ),
    (
        "token-nested-metadata",
        "gateways: {g: {tokens: [{name: t, secret: s, metadata: {team: {a: 1}}}]}}",
        ("gateways", "g", "tokens", 0, "metadata", "team"),
        "is not of type 'string', 'number', 'boolean'",
    ),
    (
        "provider-keys-duplicate",
        "gateways: {g: {provider_keys: [stored, stored]}}",
        ("gateways", "g", "provider_keys"),
        "has non-unique elements",
    ),
    (
        "provider-keys-unknown",
        "gateways: {g: {provider_keys: [byok]}}",
        ("gateways", "g", "provider_keys", 0),
        "'byok' is not one of",
    ),
    (
        "provider-keys-empty",
        "gateways: {g: {provider_keys: []}}",
        ("gateways", "g", "provider_keys"),
        "non-empty",
    ),
    (
        "rate-requests-and-tokens",
        "gateways: {g: {rate_limits: [{requests: 1, tokens: 2, per: 1m}]}}",
        ("gateways", "g", "rate_limits", 0),
        "'requests' was unexpected",
    ),
    (
        "rate-neither",
        "gateways: {g: {rate_limits: [{per: 1m}]}}",
        ("gateways", "g", "rate_limits", 0),
        "'requests' is a required",
    ),
    (
        "rate-requests-zero",
        "gateways: {g: {rate_limits: [{requests: 0, per: 1m}]}}",
        ("gateways", "g", "rate_limits", 0, "requests"),
        "0 is less than or equal to the minimum of 0",
    ),
    (
        "rate-bad-by",
        "gateways: {g: {rate_limits: [{requests: 1, per: 1m, by: user}]}}",
        ("gateways", "g", "rate_limits", 0, "by"),
        "'user' does not match",
    ),
    ("cache-without-ttl", "gateways: {g: {cache: {}}}", ("gateways", "g", "cache"), "'ttl' is a required"),
    ("gateway-unknown-key", "gateways: {g: {budget: [b]}}", ("gateways", "g"), "'budget' was unexpected"),
    # -- routes ------------------------------------------------------------------------------------------
    (
        "fallback-non-string-model",
        "routes: {x: {fallback: [{model: 1}]}}",
        ("routes", "x", "fallback", 0, "model"),
        "1 is not of type 'string'",
    ),
    (
        "fallback-bad-on-item",
        "routes: {x: {fallback: {on: [429, 5XX], to: [a/b]}}}",
        ("routes", "x", "fallback", "on", 1),
        "'5XX' is not one of",
    ),
    (
        "fallback-on-status-out-of-range",
        "routes: {x: {fallback: {on: [99], to: [a/b]}}}",
        ("routes", "x", "fallback", "on", 0),
        "99 is less than the minimum of 100",
    ),
    (
        "fallback-options-without-to",
        "routes: {x: {fallback: {on: [429]}}}",
        ("routes", "x", "fallback"),
        "'to' is a required",
    ),
    (
        "fallback-not-a-list",
        "routes: {x: {fallback: a/b}}",
        ("routes", "x", "fallback"),
        "is not of type 'array'",
    ),
    ("node-kind-typo", "routes: {x: {fallbak: [a/b]}}", ("routes", "x"), "'fallbak' was unexpected"),
    ("node-empty", "routes: {x: {}}", ("routes", "x"), "should be non-empty"),
    ("node-not-string-or-object", "routes: {x: 5}", ("routes", "x"), "5 is not of type 'string', 'object'"),
    ("node-bad-target", "routes: {x: gpt-5}", ("routes", "x"), "'gpt-5' does not match"),
    (
        "leaf-with-fallback",
        "routes: {x: {model: a/b, fallback: [a/c]}}",
        ("routes", "x"),
        "'fallback' was unexpected",
    ),
    (
        "leaf-negative-retries",
        "routes: {x: {model: a/b, retries: -1}}",
        ("routes", "x", "retries"),
        "less than",
    ),
    (
        "split-weight-zero",
        "routes: {x: {split: [{weight: 0, to: a/b}]}}",
        ("routes", "x", "split", 0, "weight"),
        "0 is",
    ),
    (
        "split-bad-sticky",
        "routes: {x: {split: [{weight: 1, to: a/b}], sticky: metadata}}",
        ("routes", "x", "sticky"),
        "'metadata' does not match",
    ),
    (
        "switch-without-when",
        "routes: {x: {switch: [{to: a/b}]}}",
        ("routes", "x", "switch", 0),
        "'when' is a required",
    ),
    (
        "unknown-matcher-operator",
        "routes: {x: {switch: [{when: {metadata.tier: {eq: gold}}, to: a/b}]}}",
        ("routes", "x", "switch", 0, "when", "metadata.tier"),
        "'eq' was unexpected",
    ),
    (
        "matcher-two-operators",
        "routes: {x: {switch: [{when: {input_tokens: {gt: 1, lt: 9}}, to: a/b}]}}",
        ("routes", "x", "switch", 0, "when", "input_tokens"),
        "has too many properties",
    ),
    (
        "matcher-gt-not-number",
        "routes: {x: {switch: [{when: {input_tokens: {gt: many}}, to: a/b}]}}",
        ("routes", "x", "switch", 0, "when", "input_tokens", "gt"),
        "'many' is not of type 'number'",
    ),
    (
        "when-bad-field",
        "routes: {x: {switch: [{when: {tier: gold}, to: a/b}]}}",
        ("routes", "x", "switch", 0, "when"),
        "'tier' does not match",
    ),
    (
        "limit-budget-and-rate",
        "routes: {x: {limit: {budget: b, rate: {requests: 1, per: 1m}}, to: a/b}}",
        ("routes", "x", "limit"),
        "has too many properties",
    ),
    ("limit-without-to", "routes: {x: {limit: {budget: b}}}", ("routes", "x"), "'to' is a required"),
    (
        "deep-error-keeps-its-path",
        "routes: {x: {switch: [{when: {model: m},"
        " to: {fallback: [{split: [{weight: 1, to: {model: a/b, timeout: 5}}]}]}}]}}",
        ("routes", "x", "switch", 0, "to", "fallback", 0, "split", 0, "to", "timeout"),
        "5 is not of type 'string'",
    ),
    # -- budgets, pricing, state, logs -------------------------------------------------------------------
    (
        "budget-period-year",
        "budgets: {b: {usd: 1, period: year}}",
        ("budgets", "b", "period"),
        "'year' is not one of",
    ),
    (
        "budget-warn-at-1.5",
        "budgets: {b: {usd: 1, period: day, warn_at: 1.5}}",
        ("budgets", "b", "warn_at"),
        "1.5 is greater than the maximum of 1",
    ),
    ("budget-usd-zero", "budgets: {b: {usd: 0, period: day}}", ("budgets", "b", "usd"), "less than or equal"),
    ("budget-without-period", "budgets: {b: {usd: 5}}", ("budgets", "b"), "'period' is a required"),
    (
        "pricing-negative",
        "pricing: {a/b: {input: -1, output: 0}}",
        ("pricing", "a/b", "input"),
        "-1 is less than",
    ),
    (
        "pricing-string",
        "pricing: {a/b: {input: 1, output: $3}}",
        ("pricing", "a/b", "output"),
        "not of type 'number'",
    ),
    ("pricing-without-output", "pricing: {a/b: {input: 1}}", ("pricing", "a/b"), "'output' is a required"),
    (
        "pricing-key-without-model",
        "pricing: {gpt-5: {input: 1, output: 2}}",
        ("pricing",),
        "'gpt-5' does not match",
    ),
    (
        "state-store-mysql",
        "state: {store: 'mysql://h/db'}",
        ("state", "store"),
        "'mysql://h/db' does not match",
    ),
    (
        "state-on-unavailable",
        "state: {on_unavailable: retry}",
        ("state", "on_unavailable"),
        "'retry' is not one of",
    ),
    (
        "guardrail-bad-action",
        "guardrails: {g: {check: {builtin: [email]}, action: hide}}",
        ("guardrails", "g", "action"),
        "'hide' is not one of",
    ),
    (
        "guardrail-no-check",
        "guardrails: {g: {check: {}, action: block}}",
        ("guardrails", "g", "check"),
        "should be non-empty",
    ),
    (
        "guardrail-webhook-without-url",
        "guardrails: {g: {check: {webhook: {timeout: 2s}}, action: block}}",
        ("guardrails", "g", "check", "webhook"),
        "'url' is a required",
    ),
    (
        "guardrail-bad-on-error",
        "guardrails: {g: {check: {max_input_tokens: 5}, action: block, on_error: retry}}",
        ("guardrails", "g", "on_error"),
        "'retry' is not one of",
    ),
    (
        "gateway-guardrails-not-a-list",
        "gateways: {g: {guardrails: pii}}",
        ("gateways", "g", "guardrails"),
        "'pii' is not of type 'array'",
    ),
    ("logs-store-mysql", "logs: {store: 'mysql://h/db'}", ("logs", "store"), "'mysql://h/db' does not match"),
    ("logs-retention", "logs: {retention: 30 days}", ("logs", "retention"), "'30 days' does not match"),
]


@pytest.mark.parametrize(("text", "path", "message"), [pytest.param(t, p, m, id=i) for i, t, p, m in INVALID])
def test_invalid_snippets(
    validator: Draft202012Validator, text: str, path: tuple[Any, ...], message: str
) -> None:
    doc = load(text)
    errors = list(validator.iter_errors(doc))
    assert len(errors) == 1, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    best = best_match(validator.iter_errors(doc))
    assert best is not None
    assert tuple(best.absolute_path) == path
    assert message in best.message


def test_secrets_stay_out_of_messages(validator: Draft202012Validator) -> None:
    """Reload errors reach logs and /readyz: a broken token must not print its secret."""
    doc = load(
        f"gateways: {{g: {{tokens: [{{name: t, secret: hunter2, sha256: {'a' * 64}, team: x}}]}}}}\n"
        "keys: {k: {provider: p, secret: hunter2, region: x}}"
    )
    messages = [e.message for e in validator.iter_errors(doc)]
    assert len(messages) == 2
    assert not [m for m in messages if "hunter2" in m]


def test_invalid_table_is_big_enough() -> None:
    assert len(INVALID) >= 25
    assert len({i for i, *_ in INVALID}) == len(INVALID)


# -- the schema's own hygiene: descriptions for editors, no silently accepted typos ----------------------

# Schemas that list `properties` but must stay open: the provider dispatcher (each `type` branch closes it),
# token and rate (their secret|sha256 / requests|tokens branches close them) and the gateway's
# `auth: tokens` refinement.
_OPEN = {"/$defs/provider", "/$defs/token", "/$defs/rate", "/$defs/gateway/then"}


def _walk(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            if key in ("if", "not"):  # conditions, not structure
                continue
            yield from _walk(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{i}")


def _describes(schema: dict[str, Any] | bool, root: dict[str, Any]) -> bool:
    if schema is True:  # `name: true` in a branch that only closes an object described above it
        return True
    if not isinstance(schema, dict):
        return False
    if "description" in schema:
        return True
    ref = schema.get("$ref", "")
    return ref.startswith("#/$defs/") and "description" in root["$defs"][ref.removeprefix("#/$defs/")]


def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    missing = [
        f"{pointer}/properties/{name}"
        for pointer, node in _walk(schema)
        if pointer not in _OPEN and isinstance(node.get("properties"), dict)
        for name, sub in node["properties"].items()
        if not _describes(sub, schema)
    ]
    assert missing == []
    assert [name for name, sub in schema["$defs"].items() if "description" not in sub] == []


def test_objects_with_properties_reject_unknown_keys(schema: dict[str, Any]) -> None:
    open_objects = [
        pointer
        for pointer, node in _walk(schema)
        if "properties" in node
        and not pointer.endswith("/properties")
        and pointer not in _OPEN
        and node.get("additionalProperties") is not False
    ]
    assert open_objects == []
