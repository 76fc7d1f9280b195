"""The probe: one search of every pattern of several guardrails, which may skip them only where none of
them has a hit."""

from __future__ import annotations

import pytest

from gateway.policy.guardrails import BUILTINS, Guardrail, matcher_of
from gateway.policy.guardrails.model import probe_of
from tests.policy.guardrails.test_matcher import FALSE_POSITIVES, NEIGHBOURS, TRUE_POSITIVES

RAILS = (
    Guardrail("keys", "both", "redact", matcher_of("keys", [r"(?:AKIA|ASIA)[0-9A-Z]{16}"], [])),
    Guardrail("tickets", "both", "flag", matcher_of("tickets", [r"^TICKET-[0-9]{4,10}$", "INC[0-9]{6}"], [])),
    Guardrail("pii", "both", "block", matcher_of("pii", [], BUILTINS)),
)
TEXTS = (
    [text for _, text, _ in TRUE_POSITIVES]
    + [text for _, text in FALSE_POSITIVES]
    + [text for _, text, _ in NEIGHBOURS]
    + ["TICKET-12345", "see TICKET-12345", "INC123456", "plain prose, nothing to see", "", "😀"]
)


@pytest.mark.parametrize("text", TEXTS)
def test_a_text_the_probe_passes_has_no_hit(text: str) -> None:
    probe = probe_of(RAILS)
    assert probe is not None
    if not probe.found(text):
        assert [h for rail in RAILS for h in rail.find(text)] == []


@pytest.mark.parametrize("text", ["plain prose, nothing to see", "", "😀", "see TICKET-12345 now"])
def test_prose_passes_the_probe(text: str) -> None:
    probe = probe_of(RAILS)
    assert probe is not None and not probe.found(text)


def test_the_probe_is_built_once_per_set_of_guardrails() -> None:
    assert probe_of(RAILS) is probe_of(list(RAILS))
    assert probe_of(RAILS[:1]) is not probe_of(RAILS)
    assert probe_of([Guardrail("size", "input", "block", max_input_tokens=10)]) is None
