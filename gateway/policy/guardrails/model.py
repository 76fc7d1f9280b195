"""The compiled guardrail: what it checks, where (input, output) and what a hit does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.policy.guardrails.builtins import DETECTORS
from gateway.policy.guardrails.matcher import Detector, Hit, Matcher, check_pattern, compile_pattern

On = Literal["input", "output", "both"]
Action = Literal["block", "redact", "flag"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """POST {"direction", "text", "model", "gateway", "metadata"} -> {"verdict", "reason"}.
    Header values are resolved from `${ENV}` at compile time and never logged."""

    url: str
    timeout: float  # seconds
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold secrets
    on_error: Literal["allow", "block"] = "allow"


@dataclass(frozen=True, slots=True)
class Guardrail:
    name: str
    on: On
    action: Action
    matcher: Matcher | None = None  # regex and builtin detectors
    max_input_tokens: int | None = None
    webhook: Webhook | None = None

    @property
    def input(self) -> bool:
        return self.on != "output"

    @property
    def output(self) -> bool:
        return self.on != "input"

    @property
    def max_match(self) -> int:
        """How much of a stream must be held back for this guardrail's patterns (0: none)."""
        return self.matcher.max_match if self.matcher is not None else 0

    def find(self, text: str) -> list[Hit]:
        return self.matcher.find(text) if self.matcher is not None else []

    def first(self, text: str) -> Hit | None:
        """The first hit only: all that block and flag need (see `Matcher.first`)."""
        return self.matcher.first(text) if self.matcher is not None else None

    def redact(self, text: str) -> str:
        """The text redacted; the same object when nothing matched."""
        return self.matcher.redact(text) if self.matcher is not None else text


@dataclass(frozen=True, slots=True)
class GuardrailHit:
    """One hit in a request's record: which guardrail, on input or output, what it did. Never the text."""

    name: str
    on: Literal["input", "output"]
    action: Action

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "on": self.on, "action": self.action}


def matcher_of(name: str, patterns: Sequence[str], builtins: Sequence[str]) -> Matcher | None:
    """The matcher of a guardrail's regex and builtin checks (patterns already validated); a regex's
    hits are called by the guardrail's name."""
    detectors: list[Detector] = [Detector(name, compile_pattern(p), check_pattern(p)) for p in patterns]
    detectors += [DETECTORS[b] for b in builtins]
    return Matcher.of(detectors) if detectors else None
