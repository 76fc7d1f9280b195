"""The guardrail matcher: each builtin detector with true and false positives, patterns' widths, the
order and overlap of hits, and redaction marks."""

from __future__ import annotations

import itertools

import pytest

from gateway.policy.guardrails import (
    BUILTINS,
    DETECTORS,
    MAX_MATCH,
    Detector,
    Guardrail,
    Hit,
    Matcher,
    PatternError,
    apply,
    check_pattern,
    compile_pattern,
    matcher_of,
)
from gateway.policy.guardrails.builtins import iban_valid, luhn
from gateway.policy.guardrails.matcher import Validator, _iter_spans

ANT = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
PAT = "github_pat_11ABCDEFG0123456789_abcdefghij"
# (builtin, text that holds one, the matched part)
TRUE_POSITIVES = [
    ("email", "write to bob.smith+ai@mail.example.co.uk today", "bob.smith+ai@mail.example.co.uk"),
    ("phone", "call +1 (555) 123-4567 now", "+1 (555) 123-4567"),
    ("phone", "call 555-123-4567.", "555-123-4567"),
    ("phone", "ring +44 20 7946 0958", "+44 20 7946 0958"),
    ("credit_card", "card 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
    ("credit_card", "card 5500-0000-0000-0004.", "5500-0000-0000-0004"),
    ("credit_card", "amex 3782 822463 10005", "3782 822463 10005"),
    ("credit_card", "plain 4012888888881881", "4012888888881881"),
    ("iban", "pay GB82 WEST 1234 5698 7654 32 please", "GB82 WEST 1234 5698 7654 32"),
    ("iban", "to DE89370400440532013000.", "DE89370400440532013000"),
    ("us_ssn", "ssn 123-45-6789", "123-45-6789"),
    ("ipv4", "host 192.168.10.255:8080", "192.168.10.255"),
    ("anthropic_key", "key=" + ANT, ANT),
    ("openai_key", "OPENAI=sk-proj-abcdefghijklmnopqrstuvwxyz0123", "sk-proj-abcdefghijklmnopqrstuvwxyz0123"),
    ("openai_key", "sk-abcdefghijklmnopqrstuvwxyzABCD", "sk-abcdefghijklmnopqrstuvwxyzABCD"),
    ("aws_key", "id AKIAIOSFODNN7EXAMPLE,", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_key", "id ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    ("google_key", "k=AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("github_token", "token ghp_" + "a1" * 18 + " x", "ghp_" + "a1" * 18),
    ("github_token", PAT + ".", PAT),
]  # fmt: skip

FALSE_POSITIVES = [
    ("email", "not an address: bob@localhost or @example.com"),
    ("phone", "order 4111 1111 1111 1112 shipped"),  # groups of a longer number
    ("phone", "version 12.3"),
    ("credit_card", "card 4111 1111 1111 1112"),  # Luhn-invalid
    ("credit_card", "id 1234567890123"),
    ("credit_card", "run 41111111111111110000000"),  # part of a longer digit run
    ("iban", "pay GB82 WEST 1234 5698 7654 33"),  # bad mod-97 checksum
    ("iban", "DE89370400440532013001"),
    ("us_ssn", "ssn 000-45-6789 666-12-3456 900-12-3456 123-00-6789 123-45-0000"),
    ("us_ssn", "phone 1123-45-67890"),
    ("ipv4", "256.1.1.1 and 1.2.3.999"),
    ("ipv4", "version 1.2.3.4.5"),
    ("ipv4", "octets 01.02.03.04"),
    ("anthropic_key", "sk-ant-short"),
    ("openai_key", "sk-short and task-abcdefghijklmnopqrstuvwxyz"),
    ("aws_key", "AKIAIOSFODNN7EXAMPL and AKIAIOSFODNN7EXAMPLEX"),
    ("google_key", "AIzaShort"),
    ("github_token", "ghp_short and ghx_" + "a" * 40),
    ("credit_card", "ids 4111 1111 1111 1111 2222 3333"),  # a stretch of a longer run of groups
    ("phone", "555 123 4567 8"),
    ("ipv4", "1.2.3.4.5.6.7.8 and .9.9.9.9.9"),
]

# Several hits side by side, separated by one character (the boundary one hit's pattern consumes must
# still lead the next), and text beyond ASCII (offsets are characters, not UTF-8 bytes).
NEIGHBOURS = [
    ("ipv4", "1.2.3.4 5.6.7.8,9.9.9.9. and 10.0.0.1", ["1.2.3.4", "5.6.7.8", "9.9.9.9", "10.0.0.1"]),
    ("ipv4", "😀1.2.3.4😀 ü1.2.3.5", ["1.2.3.4", "1.2.3.5"]),
    ("phone", "555-123-4567, 555-987-6543;+1 555 123 4567.", [
        "555-123-4567", "555-987-6543", "+1 555 123 4567",
    ]),
    ("credit_card", "4111 1111 1111 1111,5500-0000-0000-0004 é4012888888881881", [
        "4111 1111 1111 1111", "5500-0000-0000-0004", "4012888888881881",
    ]),
    ("email", "😀bob@example.com😀ü x@y.org", ["bob@example.com", "x@y.org"]),
    ("us_ssn", "123-45-6789,123-45-6780", ["123-45-6789", "123-45-6780"]),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "text", "matched"), TRUE_POSITIVES)
def test_builtin_finds(kind: str, text: str, matched: str) -> None:
    hits = Matcher.of([DETECTORS[kind]]).find(text)
    assert [(text[h.start : h.end], h.kind) for h in hits] == [(matched, kind)]


@pytest.mark.parametrize(("kind", "text"), FALSE_POSITIVES)
def test_builtin_ignores(kind: str, text: str) -> None:
    assert Matcher.of([DETECTORS[kind]]).find(text) == []


@pytest.mark.parametrize(("kind", "text", "matched"), NEIGHBOURS)
def test_neighbouring_hits_and_character_offsets(kind: str, text: str, matched: list[str]) -> None:
    hits = Matcher.of([DETECTORS[kind]]).find(text)
    assert [text[h.start : h.end] for h in hits] == matched


def test_checksums() -> None:
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("GB82-WEST")


def test_every_builtin_is_bounded_and_listed() -> None:
    assert set(BUILTINS) == set(DETECTORS)
    for d in DETECTORS.values():
        assert 0 < d.width <= MAX_MATCH, d.kind


def test_pattern_widths_and_rejections() -> None:
    assert check_pattern(r"sk-ant-[A-Za-z0-9_-]{20,200}") == 207
    assert check_pattern(r"AKIA[0-9A-Z]{16}") == 20
    assert check_pattern(r"(?:ab|c){3}") == 6
    with pytest.raises(PatternError, match="more than 1024"):
        check_pattern(r"secret-\w+")
    with pytest.raises(PatternError, match="more than 1024"):
        check_pattern(r"x{2,}")
    with pytest.raises(PatternError, match="more than 1024"):
        check_pattern(r"[a-z]{1025}")
    with pytest.raises(PatternError, match="not a valid regular expression"):
        check_pattern(r"([a-z]")
    with pytest.raises(PatternError, match="RE2"):
        check_pattern(r"(?<=user )\d{4}")  # look-behind: Python parses it, RE2 cannot run it
    with pytest.raises(PatternError, match="RE2"):
        check_pattern(r"(a)\1")


def test_hits_are_ordered_without_overlap_and_redacted() -> None:
    rail = Guardrail(
        "pii",
        "both",
        "redact",
        matcher_of("pii", [r"ACME-[0-9]{4}"], ["email", "credit_card", "phone"]),
    )
    text = "Ünïcode bob@example.com card 4111 1111 1111 1111 ACME-1234; call 555-123-4567"
    hits = rail.find(text)
    assert [h.kind for h in hits] == ["email", "credit_card", "pii", "phone"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(hits))
    assert rail.redact(text) == (
        "Ünïcode [REDACTED:email] card [REDACTED:credit_card] [REDACTED:pii]; call [REDACTED:phone]"
    )
    assert rail.max_match == DETECTORS["email"].width
    assert rail.input and rail.output
    assert not Guardrail("x", "output", "flag").input
    # A card is also a run of digit groups: the longer match wins at the same start.
    assert Matcher.of([DETECTORS["phone"], DETECTORS["credit_card"]]).redact("4111 1111 1111 1111") == (
        "[REDACTED:credit_card]"
    )
    assert rail.redact("nothing here") == "nothing here"
    assert Guardrail("size", "input", "block", max_input_tokens=10).find("bob@example.com") == []


# IBANs of several registry lengths (15 to 33), compact and in printed groups.
IBANS = [
    "NO9386011117947",
    "BE68 5390 0754 7034",
    "NL91ABNA0417164300",
    "CH93 0076 2011 6238 5295 7",
    "FR1420041010050500013M02606",
    "MT84MALT011000012345MTLCAST001S",
    "LC55 HEMM 0001 0001 0012 0012 0002 3015",
    "RU0304452522540817810538091310419",
]


@pytest.mark.parametrize("iban", IBANS)
def test_ibans_of_every_registered_length(iban: str) -> None:
    text = f"pay {iban}, thanks"
    assert [text[h.start : h.end] for h in Matcher.of([DETECTORS["iban"]]).find(text)] == [iban]


@pytest.mark.parametrize(
    "text",
    [
        "GB82 WEST 1234 5698 7654 3",  # GB is 22 characters: one short
        "GB82WEST123456987654321",  # one long
        "NO938601111794",  # Norway's 15, less one
        "XX82WEST12345698765432",  # no such country
        "GB82 WEST GB82 WEST GB82 WEST GB82 WEST",  # look-alikes
    ],
)
def test_an_iban_of_the_wrong_length_is_no_candidate(text: str) -> None:
    # Refused inside RE2: the checksum in Python never sees it (a prompt of them costs no Python).
    assert list(_iter_spans(DETECTORS["iban"], text.encode())) == []
    assert not iban_valid(text)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("us_ssn", "000-12-3456 666-12-3456 912-12-3456 123-00-4567 123-45-0000"),
        ("ipv4", "1.2.3.999 256.0.0.1 01.2.3.4 1.2.3.04"),
    ],
)
def test_what_the_validators_refuse_never_leaves_re2(kind: str, text: str) -> None:
    assert list(_iter_spans(DETECTORS[kind], text.encode())) == []
    edges = {"us_ssn": "001-01-0001 665-99-9999 667-01-0001 899-99-9999", "ipv4": "0.0.0.0 255.249.199.9"}
    assert len(Matcher.of([DETECTORS[kind]]).find(edges[kind])) == len(edges[kind].split())


# Texts with several kinds of hit, overlaps and text beyond ASCII: what `first` and `redact` must agree
# with `find` on.
MIXED = [
    "Ünïcode bob@example.com card 4111 1111 1111 1111 ACME-1234; call 555-123-4567",
    "4111 1111 1111 1111",  # card and phone at the same start: the longer wins
    "😀 ACME-1234 then a@b.co and 1.2.3.4",
    "4111 1111 1111 1112 ACME-0001",  # a Luhn-invalid candidate before the hit
    "nothing here",
    "",
]
PII = ["email", "credit_card", "phone", "ipv4", "iban"]


def _corpus() -> list[tuple[Matcher, str]]:
    out = [(Matcher.of([DETECTORS[k]]), t) for k, t, _ in TRUE_POSITIVES]
    out += [(Matcher.of([DETECTORS[k]]), t) for k, t in FALSE_POSITIVES]
    out += [(Matcher.of([DETECTORS[k]]), t) for k, t, _ in NEIGHBOURS]
    pii = matcher_of("pii", [r"ACME-[0-9]{4}"], PII)
    assert pii is not None
    return out + [(pii, t) for t in MIXED] + [(pii, t) for _, t, _ in NEIGHBOURS]


@pytest.mark.parametrize(("matcher", "text"), _corpus())
def test_first_and_redact_agree_with_find(matcher: Matcher, text: str) -> None:
    hits = matcher.find(text)
    assert matcher.first(text) == (hits[0] if hits else None)
    assert matcher.redact(text) == apply(text, hits)


def _counting(calls: list[str]) -> Validator:
    def check(text: str, start: int, end: int) -> bool:
        calls.append(text[start:end])
        return text[start:end] != "000"

    return check


def test_first_stops_at_the_first_valid_hit() -> None:
    calls: list[str] = []
    digits = Detector("n", compile_pattern(r"[0-9]{3}"), 3, _counting(calls))
    text = "000 111 222 333 000"
    assert Matcher.of([digits]).first(text) == Hit(4, 7, "n")
    assert calls == ["000", "111"]  # the rest is never searched for, let alone validated
    calls.clear()
    assert len(Matcher.of([digits]).find(text)) == 3 and len(calls) == 5
    # A second detector stops at a candidate starting after the best hit so far.
    calls.clear()
    words = Detector("w", compile_pattern(r"[a-z]{2}"), 2, _counting(calls))
    assert Matcher.of([digits, words]).first("ab 123 cd ef") == Hit(0, 2, "w")
    assert calls == ["123", "ab"]


def test_a_guardrail_s_first_hit_and_unchanged_text() -> None:
    rail = Guardrail("pii", "input", "flag", matcher_of("pii", [], ["email"]))
    assert rail.first("to a@b.co and c@d.co") == Hit(3, 9, "email")
    text = "nothing to see"
    assert rail.first(text) is None and rail.redact(text) is text  # the caller knows nothing changed
    assert Guardrail("size", "input", "block", max_input_tokens=10).first("a@b.co") is None


def _luhn_by_the_book(number: str) -> bool:
    digits = [int(c) for c in reversed(number)]
    doubled = [d * 2 - 9 if d * 2 > 9 else d * 2 for d in digits[1::2]]
    return (sum(digits[0::2]) + sum(doubled)) % 10 == 0


def test_luhn_agrees_with_its_definition_at_every_card_length() -> None:
    numbers = [
        f"{n:019d}"[-length:] for n in range(4111111111111100, 4111111111111300) for length in (13, 16, 19)
    ]
    assert [luhn(n) for n in numbers] == [_luhn_by_the_book(n) for n in numbers]
    assert sum(map(luhn, numbers)) == len(numbers) // 10  # one number in ten passes
