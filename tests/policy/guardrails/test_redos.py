"""Hostile input against every builtin detector and the example config's patterns: the right answer on
the near-miss shapes bench/redos.py times (its table is in `make bench`; no timing here), and the
textbook catastrophic patterns either refused or bounded."""

from __future__ import annotations

import pytest

from bench.redos import SHAPES, dense, hostile, matchers
from gateway.policy.guardrails import BUILTINS, PatternError, check_pattern, matcher_of

SIZE = 256 * 1024
# The shapes that hold real hits for some detector: sk-ant-/sk-proj- runs are key-shaped for the
# OpenAI detector and the example's sk-ant- pattern; everything else is a near miss everywhere.
EXPECTED_HITS = {
    ("key-prefixes", "builtin:openai_key"),
    ("key-prefixes", "builtin:anthropic_key"),  # the text's very start: sk-ant- then 200 key characters
    ("key-prefixes", "no-secrets#0"),
    ("short-keys", "builtin:openai_key"),  # sk- and 23 key characters
}


@pytest.fixture(scope="module")
def every() -> dict[str, object]:
    return matchers()


def test_the_bench_covers_every_builtin_and_the_example_patterns(every: dict[str, object]) -> None:
    assert {f"builtin:{b}" for b in BUILTINS} <= set(every)
    assert {"no-secrets#0", "no-secrets#1"} <= set(every)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_near_misses_find_nothing(shape: str, every: dict[str, object]) -> None:
    text = hostile(shape, SIZE)
    found = {name for name, m in every.items() if m.find(text)}  # type: ignore[attr-defined]
    assert found == {name for s, name in EXPECTED_HITS if s == shape}


def test_a_prompt_full_of_hits_is_redacted_whole() -> None:
    text = dense(SIZE)
    every = matcher_of("pii", [], list(BUILTINS))
    assert every is not None
    redacted = every.redact(text)
    assert "bob@example.com" not in redacted and "4111 1111" not in redacted and "10.0.0.1" not in redacted
    unit = "mail [REDACTED:email] card [REDACTED:credit_card] from [REDACTED:ipv4]; "
    assert redacted.startswith(unit * 100)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a+)+b", "more than 1024"),  # unbounded: refused before RE2 is even asked
        (r"(a|aa)*b", "more than 1024"),
        (r"(\w+)\1", "more than 1024"),
        (r"(a{1,5})\1", "RE2"),  # a back-reference, bounded: RE2 cannot run it
        (r"(?=ab)a{1,5}", "RE2"),  # look-ahead
    ],
)
def test_catastrophic_and_unsupported_patterns_are_refused(pattern: str, why: str) -> None:
    with pytest.raises(PatternError, match=why):
        check_pattern(pattern)
