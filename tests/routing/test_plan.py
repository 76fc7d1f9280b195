"""Route execution: matchers, fields, every node kind, nesting, split statistics and stickiness, explain."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gateway.config.compiler import compile_config
from gateway.core.errors import GatewayError
from gateway.routing.plan import (
    Candidate,
    Facts,
    LimitReached,
    NoRoute,
    Unresolved,
    decide,
    explain,
    explain_decision,
    json_equal,
    make_facts,
    matches,
    plan,
)
from gateway.routing.resolve import lookup
from gateway.routing.table import Leaf, Limit, Matcher, RouteRef, RoutingTable

PROVIDERS = """
version: 1
providers:
  anthropic: { type: anthropic, base_url: https://api.anthropic.com }
  openai: { type: openai, base_url: https://api.openai.com/v1 }
models:
  claude-*: anthropic/*
  fast: anthropic/claude-haiku-4-5
"""

# The `routes:` part of the config.md example, with the budgets it names.
REFERENCE_ROUTES = """  smart: dynamic/coding
routes:
  customer-support:
    switch:
      - when: { metadata.tier: enterprise }
        to:
          fallback: [anthropic/claude-sonnet-4-5, openai/gpt-5.2]
    default:
      split:
        - { weight: 90, to: anthropic/claude-haiku-4-5 }
        - { weight: 10, to: { model: openai/gpt-5-mini, params: { temperature: 0.2 } } }
      sticky: metadata.user
  coding:
    limit: { budget: coding-monthly }
    to:
      fallback:
        on: [429, 5xx, timeout]
        to:
          - { model: anthropic/claude-opus-4-8, timeout: 120s, retries: 2 }
          - openai/gpt-5.2
    otherwise: anthropic/claude-haiku-4-5
budgets:
  support-monthly: { usd: 500, period: month, warn_at: 0.8 }
  coding-monthly:  { usd: 2000, period: month, by: metadata.user }
  per-token-daily: { usd: 20, period: day }
"""


def table_from(tmp_path: Path, text: str, name: str = "t") -> RoutingTable:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "gateway.yaml").write_text(textwrap.dedent(text))
    return compile_config(folder, {}, strict_env=False)


@pytest.fixture
def reference(tmp_path: Path) -> RoutingTable:
    return table_from(tmp_path, PROVIDERS + REFERENCE_ROUTES)


def route_decide(
    table: RoutingTable, name: str, facts: Facts, rand: Any = None, gate: Any = None
) -> tuple[Candidate, ...]:
    rng = rand or random.Random(0).random
    return decide(table, RouteRef(name), facts, rng, gate).candidates


def targets(candidates: tuple[Candidate, ...]) -> list[str]:
    return [c.leaf.target for c in candidates]


# Fields and matchers ----------------------------------------------------------------------------------------


FACTS = Facts(
    metadata={"tier": "enterprise", "n": 5, "s": "5", "flag": True, "one": 1, "f": 2.5},
    headers={"x-team": "search"},
    token="bot",
    model="dynamic/x",
    stream=True,
    has_tools=False,
    has_images=True,
    input_tokens=1200,
)


def check(field: str, matcher: Matcher, facts: Facts = FACTS) -> bool:
    return matches(matcher, *facts.field(field))


def test_fields() -> None:
    assert FACTS.field("metadata.tier") == (True, "enterprise")
    assert FACTS.field("metadata.nope") == (False, None)
    assert FACTS.field("header.x-team") == (True, "search")
    assert FACTS.field("header.X-Team") == (True, "search")
    assert FACTS.field("header.absent") == (False, None)
    assert FACTS.field("token") == (True, "bot")
    assert Facts().field("token") == (False, None)
    assert FACTS.field("model") == (True, "dynamic/x")
    assert FACTS.field("stream") == (True, True)
    assert FACTS.field("has_tools") == (True, False)
    assert FACTS.field("has_images") == (True, True)
    assert FACTS.field("input_tokens") == (True, 1200)
    assert FACTS.field("unknown") == (False, None)


def test_equality_uses_json_semantics() -> None:
    assert check("metadata.n", Matcher("eq", 5))
    assert check("metadata.n", Matcher("eq", 5.0))
    assert not check("metadata.n", Matcher("eq", "5"))
    assert check("metadata.s", Matcher("eq", "5"))
    assert not check("metadata.s", Matcher("eq", 5))
    assert check("metadata.flag", Matcher("eq", True))
    assert not check("metadata.flag", Matcher("eq", 1))
    assert not check("metadata.one", Matcher("eq", True))
    assert check("metadata.one", Matcher("eq", 1))
    assert check("stream", Matcher("eq", True))
    assert not check("has_tools", Matcher("eq", 0))
    assert check("header.x-team", Matcher("eq", "search"))
    assert json_equal([1, "a"], (1, "a")) and not json_equal([1], [True])
    assert json_equal({"a": 1}, {"a": 1.0}) and not json_equal({"a": 1}, {"a": "1"})
    assert json_equal(None, None) and not json_equal(None, 0)


def test_in_not_numbers_regex_exists() -> None:
    assert check("metadata.tier", Matcher("in", ("pro", "enterprise")))
    assert not check("metadata.n", Matcher("in", ("5", True)))
    assert check("metadata.one", Matcher("in", (1,)))
    assert not check("metadata.flag", Matcher("in", (1,)))
    assert check("metadata.tier", Matcher("not", Matcher("eq", "free")))
    assert not check("metadata.tier", Matcher("not", Matcher("eq", "enterprise")))
    assert check("input_tokens", Matcher("gt", 1000)) and not check("input_tokens", Matcher("gt", 1200))
    assert check("input_tokens", Matcher("gte", 1200)) and not check("input_tokens", Matcher("lt", 1200))
    assert check("input_tokens", Matcher("lte", 1200)) and check("metadata.f", Matcher("lt", 3))
    assert not check("metadata.s", Matcher("gt", 1)), "a string is not a number"
    assert not check("metadata.flag", Matcher("gte", 0)), "a bool is not a number"
    assert not check("metadata.n", Matcher("gt", True))
    assert check("model", Matcher("matches", "^dynamic/")) and check(
        "header.x-team", Matcher("matches", "ear")
    )
    assert not check("model", Matcher("matches", "^openai/"))
    assert not check("metadata.n", Matcher("matches", "5")), "regex applies to strings only"
    assert check("metadata.tier", Matcher("exists", True)) and not check(
        "metadata.tier", Matcher("exists", False)
    )


def test_absent_fields_fail_everything_but_exists_false_and_not() -> None:
    for m in (
        Matcher("eq", None),
        Matcher("eq", "x"),
        Matcher("in", ("x",)),
        Matcher("gt", 0),
        Matcher("lte", 0),
        Matcher("matches", ".*"),
        Matcher("exists", True),
    ):
        assert not check("metadata.absent", m), m
        assert check("metadata.absent", Matcher("not", m)), m
    assert check("metadata.absent", Matcher("exists", False))
    assert not check("metadata.absent", Matcher("not", Matcher("exists", False)))
    assert not check("header.absent", Matcher("eq", "")) and not check("token", Matcher("eq", None), Facts())


def test_switch_matchers_compile_from_yaml(tmp_path: Path) -> None:
    table = table_from(
        tmp_path,
        PROVIDERS
        + """
routes:
  r:
    switch:
      - when: { metadata.n: "5" }
        to: openai/string-five
      - when: { metadata.n: 5, stream: true }
        to: openai/five-streaming
      - when: { metadata.n: 5 }
        to: openai/five
      - when: { header.x-team: { matches: "^sea" }, input_tokens: { gte: 100 } }
        to: openai/search-big
      - when: { metadata.plan: { in: [pro, team] } }
        to: openai/pro
      - when: { token: { not: { in: [a, b] } }, metadata.flag: true }
        to: openai/flag
      - when: { metadata.user: { exists: false } }
        to: openai/anonymous
    default: anthropic/default
""",
    )

    def pick(**kw: Any) -> str:
        return targets(route_decide(table, "r", Facts(**kw)))[0]

    assert pick(metadata={"n": "5"}) == "openai/string-five"
    assert pick(metadata={"n": 5}, stream=True) == "openai/five-streaming"
    assert pick(metadata={"n": 5}) == "openai/five"
    assert pick(metadata={"n": 5.0}) == "openai/five"
    assert pick(metadata={"user": "u"}, headers={"x-team": "search"}, input_tokens=100) == "openai/search-big"
    assert pick(metadata={"user": "u"}, headers={"x-team": "search"}, input_tokens=99) == "anthropic/default"
    assert pick(metadata={"plan": "team", "user": "u"}) == "openai/pro"
    assert pick(metadata={"flag": True, "user": "u"}, token="c") == "openai/flag"
    assert pick(metadata={"flag": True, "user": "u"}) == "openai/flag", "absent token: not(in) holds"
    assert pick(metadata={"flag": 1, "user": "u"}) == "anthropic/default"
    assert pick(metadata={"flag": True, "user": "u"}, token="a") == "anthropic/default"
    assert pick() == "openai/anonymous"


# The config.md routes -------------------------------------------------------------------------------------


def test_enterprise_tier_falls_back_from_sonnet_to_gpt(reference: RoutingTable) -> None:
    cands = route_decide(reference, "customer-support", Facts(metadata={"tier": "enterprise", "user": "u"}))
    assert targets(cands) == ["anthropic/claude-sonnet-4-5", "openai/gpt-5.2"]
    assert cands[0].on == ("429", "5xx", "timeout", "connect") and cands[1].on is None
    assert {c.route for c in cands} == {"customer-support"}


def test_other_tiers_split_90_10_sticky_on_user(reference: RoutingTable) -> None:
    seen = set()
    for i in range(200):
        cands = route_decide(reference, "customer-support", Facts(metadata={"tier": "free", "user": f"u{i}"}))
        assert len(cands) == 1 and cands[0].on is None
        seen.add(cands[0].leaf.target)
        if cands[0].leaf.target == "openai/gpt-5-mini":
            assert dict(cands[0].leaf.params) == {"temperature": 0.2}
    assert seen == {"anthropic/claude-haiku-4-5", "openai/gpt-5-mini"}


def test_coding_limit_takes_to_then_falls_back(reference: RoutingTable) -> None:
    decision = decide(reference, RouteRef("coding"), Facts(), random.Random(0).random)
    opus, gpt = decision.candidates
    assert (opus.leaf.target, opus.leaf.timeout, opus.leaf.retries) == ("anthropic/claude-opus-4-8", 120.0, 2)
    assert opus.on == ("429", "5xx", "timeout") and opus.route == "coding"
    assert gpt.leaf.target == "openai/gpt-5.2" and gpt.on is None
    assert (
        "route coding: limit budget coding-monthly: assumed not spent (explain counts nothing), taking 'to'"
        in decision.steps
    )


def test_limit_gate_hook(reference: RoutingTable) -> None:
    seen: list[Limit] = []

    def spent(limit: Limit, facts: Facts, route: str | None) -> bool:
        seen.append(limit)
        return True

    cands = route_decide(reference, "coding", Facts(), gate=spent)
    assert targets(cands) == ["anthropic/claude-haiku-4-5"] and seen[0].budget == "coding-monthly"
    assert targets(route_decide(reference, "coding", Facts(), gate=lambda lim, f, r: False))[0].endswith(
        "opus-4-8"
    )


def test_limit_without_otherwise_raises(tmp_path: Path) -> None:
    table = table_from(
        tmp_path,
        PROVIDERS
        + """
routes:
  r: { limit: { rate: { requests: 5, per: 1m, by: metadata.user } }, to: openai/a }
""",
    )
    assert targets(route_decide(table, "r", Facts())) == ["openai/a"]
    with pytest.raises(LimitReached) as info:
        route_decide(table, "r", Facts(), gate=lambda lim, f, r: True)
    assert "rate 5 requests per 1m by metadata.user" in info.value.message and info.value.steps


def test_switch_without_default_raises_no_route(tmp_path: Path) -> None:
    table = table_from(
        tmp_path,
        PROVIDERS + "routes:\n  r: { switch: [ { when: { metadata.tier: pro }, to: openai/a } ] }\n",
    )
    assert targets(route_decide(table, "r", Facts(metadata={"tier": "pro"}))) == ["openai/a"]
    with pytest.raises(NoRoute) as info:
        route_decide(table, "r", Facts(metadata={"tier": "free"}))
    assert 'switch case 0 (metadata.tier = "pro") not matched: metadata.tier is "free"' in info.value.steps[0]


# Nesting ------------------------------------------------------------------------------------------------


NESTED = """
routes:
  inner:
    switch:
      - when: { stream: true }
        to: openai/streamer
    default: { fallback: { on: [5xx], to: [openai/i1, openai/i2] } }
  outer:
    fallback:
      on: [429]
      to:
        - split:
            - { weight: 1, to: dynamic/inner }
            - { weight: 1, to: { switch: [ { when: { has_tools: true }, to: anthropic/tools } ],
                                  default: anthropic/plain } }
          sticky: metadata.user
        - dynamic/last
        - anthropic/final
  last: openai/last
"""


def test_nested_nodes_compose(tmp_path: Path) -> None:
    table = table_from(tmp_path, PROVIDERS + NESTED)
    low, high = (lambda: 0.1), (lambda: 0.9)
    cands = route_decide(table, "outer", Facts(), rand=low)
    assert [(c.leaf.target, c.on, c.route) for c in cands] == [
        ("openai/i1", ("5xx",), "outer"),
        ("openai/i2", ("429",), "outer"),
        ("openai/last", ("429",), "outer"),
        ("anthropic/final", None, "outer"),
    ]
    assert targets(route_decide(table, "outer", Facts(stream=True), rand=low))[:2] == [
        "openai/streamer",
        "openai/last",
    ]
    assert targets(route_decide(table, "outer", Facts(has_tools=True), rand=high))[0] == "anthropic/tools"
    assert targets(route_decide(table, "outer", Facts(), rand=high))[0] == "anthropic/plain"
    steps = decide(table, RouteRef("outer"), Facts(), low).steps
    assert "route outer: follows dynamic/inner" in steps and any("route inner: switch" in s for s in steps)


def test_lookup_and_the_request_plan(reference: RoutingTable) -> None:
    assert lookup(reference, "dynamic/coding") == ("coding", RouteRef("coding"))
    assert lookup(reference, "smart") == ("coding", RouteRef("coding"))
    assert lookup(reference, "fast") == (None, Leaf("anthropic", "claude-haiku-4-5"))
    assert lookup(reference, "claude-x") == (None, Leaf("anthropic", "claude-x"))
    assert lookup(reference, "openai/gpt-5.2") == (None, Leaf("openai", "gpt-5.2"))
    with pytest.raises(GatewayError):
        lookup(reference, "nope")
    default = reference.gateways["default"]
    plain = plan(
        reference, default, "fast", lambda: pytest.fail("a plain model needs no facts"), random.random
    )
    assert [c.leaf.target for c in plain] == ["anthropic/claude-haiku-4-5"]
    coding = plan(
        reference, default, "dynamic/coding", lambda: make_facts(reference, "default", "x"), random.random
    )
    assert [c.leaf.target for c in coding] == ["anthropic/claude-opus-4-8", "openai/gpt-5.2"]
    assert coding[0].on == ("429", "5xx", "timeout")


# Splits -------------------------------------------------------------------------------------------------


def test_split_weights_hold_statistically(reference: RoutingTable) -> None:
    rng = random.Random(1234)
    n = 10_000
    haiku = sum(
        route_decide(reference, "customer-support", Facts(), rand=rng.random)[0].leaf.model
        == "claude-haiku-4-5"
        for _ in range(n)
    )
    assert abs(haiku / n - 0.9) < 0.015


def test_sticky_users_always_take_the_same_branch(tmp_path: Path, reference: RoutingTable) -> None:
    again = table_from(tmp_path, PROVIDERS + REFERENCE_ROUTES, name="again")
    rng = random.Random(7)
    first: dict[str, str] = {}
    for i in range(1000):
        user = f"user-{i}"
        facts = Facts(metadata={"user": user})
        choices = {
            route_decide(t, "customer-support", facts, rand=rng.random)[0].leaf.target
            for t in (reference, again, reference)
        }
        assert len(choices) == 1, user
        first[user] = choices.pop()
    share = sum(t == "anthropic/claude-haiku-4-5" for t in first.values()) / len(first)
    assert abs(share - 0.9) < 0.04
    # A number and a string with the same digits are different sticky values, and each is stable.
    a = route_decide(reference, "customer-support", Facts(metadata={"user": 5}))
    assert a == route_decide(reference, "customer-support", Facts(metadata={"user": 5}))


def test_sticky_is_stable_across_processes(reference: RoutingTable) -> None:
    import subprocess
    import sys

    script = textwrap.dedent(
        """
        import sys
        from gateway.routing.plan import sticky_point
        print(",".join(f"{sticky_point('customer-support', f'u{i}'):.12f}" for i in range(20)))
        """
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": s},
        ).stdout
        for s in ("1", "2")
    }
    assert len(runs) == 1


def test_sticky_field_missing_is_random_by_weight(reference: RoutingTable) -> None:
    picks = {
        route_decide(reference, "customer-support", Facts(), rand=lambda v=v: v)[0].leaf.target  # type: ignore[misc]
        for v in (0.0, 0.5, 0.89, 0.91, 0.999)
    }
    assert picks == {"anthropic/claude-haiku-4-5", "openai/gpt-5-mini"}
    steps = decide(reference, RouteRef("customer-support"), Facts(), lambda: 0.95).steps
    assert any("branch 2 of 2 (weight 10, p=0.10) chosen by weight (random)" in s for s in steps)


# Explain ------------------------------------------------------------------------------------------------


def test_explain_enterprise(reference: RoutingTable) -> None:
    facts = make_facts(reference, "default", "dynamic/customer-support", metadata={"tier": "enterprise"})
    lines = explain(reference, "default", "dynamic/customer-support", facts)
    assert lines[0].startswith(
        "model 'dynamic/customer-support' on gateway 'default': route customer-support"
    )
    assert 'route customer-support: switch case 0 (metadata.tier = "enterprise") matched' in lines
    assert lines[-1] == (
        "-> anthropic/claude-sonnet-4-5, then openai/gpt-5.2 on [429, 5xx, timeout, connect]"
    )


def test_explain_split_shows_probabilities(reference: RoutingTable) -> None:
    facts = make_facts(reference, "default", "dynamic/customer-support", metadata={"user": "u1"})
    result = explain_decision(reference, "default", "dynamic/customer-support", facts)
    text = "\n".join(result.lines)
    assert "p=0.90 (weight 90) anthropic/claude-haiku-4-5" in text
    assert "p=0.10 (weight 10) openai/gpt-5-mini" in text
    assert 'sticky metadata.user="u1"' in text
    assert result.lines[-1] == "-> " + result.decision.candidates[0].leaf.target
    assert [b.probability for b in result.decision.splits[0].branches] == [0.9, 0.1]


def test_explain_alias_coding_and_failures(reference: RoutingTable) -> None:
    lines = explain(reference, "default", "smart", Facts(model="smart"))
    assert "exact alias under models: smart -> dynamic/coding" in lines[0]
    assert lines[-1] == "-> anthropic/claude-opus-4-8, then openai/gpt-5.2 on [429, 5xx, timeout]"
    assert explain(reference, "default", "claude-x", Facts())[-1] == "-> anthropic/claude-x"
    with pytest.raises(Unresolved, match="unknown model 'nope'"):
        explain(reference, "default", "nope", Facts())
    with pytest.raises(Unresolved, match="unknown gateway"):
        explain(reference, "nope", "fast", Facts())


def test_make_facts_merges_header_request_and_token_metadata(tmp_path: Path) -> None:
    table = table_from(
        tmp_path,
        PROVIDERS
        + """
gateways:
  g:
    auth: tokens
    tokens: [{ name: bot, secret: s3cret-value-123, metadata: { team: support } }]
""",
    )
    facts = make_facts(
        table,
        "g",
        "fast",
        metadata={"user": "u", "team": "spoof"},
        headers={"X-Gateway-Metadata": '{"tier": "pro"}', "X-Team": "a"},
        token="bot",
    )
    assert dict(facts.metadata) == {"tier": "pro", "user": "u", "team": "support"}
    assert facts.field("header.x-team") == (True, "a") and facts.token == "bot"
