"""The characters a pattern's match can hold (what a stream must keep back at its end): read from the
parsed pattern, "any character" whenever that cannot be stated for certain, and checked against RE2."""

from __future__ import annotations

import pytest

from gateway.policy.guardrails import DETECTORS, compile_pattern, matcher_of
from gateway.policy.guardrails.chars import Tail, matchable
from gateway.policy.guardrails.model import Guardrail, tail_of

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = UPPER.lower()
WORD = DIGITS + UPPER + LOWER + "_"

# What each builtin's hit (the part redacted) can consist of: the declaration the patterns must keep to.
BUILTIN_CHARS = {
    "email": WORD + ".%+-@",
    "phone": DIGITS + " ()+-.",
    "credit_card": DIGITS + " -",
    "iban": DIGITS + UPPER + " ",
    "us_ssn": DIGITS + "-",
    "ipv4": DIGITS + ".",
    "anthropic_key": WORD + "-",
    "openai_key": WORD + "-",
    "aws_key": DIGITS + UPPER,
    "google_key": WORD + "-",
    "github_token": WORD,
}


@pytest.mark.parametrize("name", sorted(BUILTIN_CHARS))
def test_each_builtins_hit_has_its_declared_characters(name: str) -> None:
    assert set(tail_of(DETECTORS[name]).chars or "") == set(BUILTIN_CHARS[name])


def test_the_email_builtin_is_as_long_as_rfc_5321_allows() -> None:
    assert DETECTORS["email"].width == 254
    # 64 + 1 + 189 = 254: the longest local part and the longest domain body before a 24-letter TLD
    local, domain = "a" * 64, "b" * 80 + "." + "b" * 83 + "." + "c" * 24
    text = f"to {local}@{domain} now"
    hits = matcher_of("x", [], ["email"]).find(text)  # type: ignore[union-attr]
    assert [text[h.start : h.end] for h in hits] == [f"{local}@{domain}"]


@pytest.mark.parametrize(
    ("pattern", "chars"),
    [
        (r"AKIA[0-9A-Z]{16}", DIGITS + UPPER),
        (r"TICKET-[0-9]{4,10}|INC[0-9]{6,9}", DIGITS + "TICKETNC-"),
        (r"\bfoo(?:bar)?\b", "fobar"),  # assertions add nothing
        (r"\w{2}\s\d", WORD + "\t\n\f\r "),  # RE2's classes are ASCII
        (r"(?i)key-[a-c]", "KEYkey-ABCabc\u212a"),  # RE2 folds k to KELVIN SIGN too
        (r"(?i)s", "Ss\u017f"),
    ],
)
def test_a_patterns_characters_are_read_from_its_parse(pattern: str, chars: str) -> None:
    assert set(matchable(pattern) or "") == set(chars)


@pytest.mark.parametrize(
    "pattern",
    [
        r"secret.{4}",  # any character
        r"id=[^ ]{8}",  # a negated class
        r"x\Dy",  # a negated category
        r"[[:alpha:]]{4}",  # POSIX class: RE2 and Python read it differently
        r"(?i:ab)c",  # scoped case folding
        "(?i)\u00e9t\u00e9",  # non-ASCII under case folding
        "[\x00-\uffff]{3}",  # a range too wide to list (the characters themselves: RE2 has no \\u)
    ],
)
def test_what_cannot_be_stated_for_certain_is_any_character(pattern: str) -> None:
    assert matchable(pattern) is None
    tail = tail_of(matcher_of("x", [pattern], []).detectors[0])  # type: ignore[union-attr]
    assert tail.hold("some prose, then more") == min(tail.width - 1, 21)


@pytest.mark.parametrize("pattern", [r"(?i)[a-z0-9]", r"\w", r"\s", r"\d"])
def test_the_characters_are_those_re2_matches(pattern: str) -> None:
    """Every code point RE2 matches is in the set (ASCII classes, case folding): none is missed."""
    program = compile_pattern(pattern)
    chars = set(matchable(pattern) or "")
    missed = [
        hex(cp)
        for cp in range(0x30000)
        if not 0xD800 <= cp < 0xE000 and chr(cp) not in chars and program.search(chr(cp))
    ]
    assert missed == []


def test_a_tail_is_the_run_of_matchable_characters_at_most_the_width_less_one() -> None:
    tail = Tail(DIGITS, 5)
    assert tail.hold("call 12") == 2
    assert tail.hold("call 123456789") == 4  # a match of 5 ending here would be whole
    assert tail.hold("call 12 now") == 0
    assert Tail(None, 5).hold("ab") == 2
    assert Tail(DIGITS, 1).hold("1") == 0
    rail = Guardrail("x", "output", "redact", matcher_of("x", [r"AKIA[0-9A-Z]{16}"], ["email"]))
    assert rail.hold("mail bob@exa") == len("bob@exa")  # the email's run, not the key's
    assert rail.hold("mail bob@example.com, ") == 0
