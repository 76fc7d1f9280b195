"""The compiled guardrail: what it checks, where (input, output) and what a hit does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import re2

from gateway.policy.guardrails.builtins import DETECTORS
from gateway.policy.guardrails.chars import Tail, matchable
from gateway.policy.guardrails.matcher import (
    Detector,
    Hit,
    Matcher,
    PatternError,
    check_pattern,
    compile_pattern,
)

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
    # Per pattern: its characters and width, for how much of a stream's text must still be held back.
    tails: tuple[Tail, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.matcher is not None:
            object.__setattr__(self, "tails", tuple(tail_of(d) for d in self.matcher.detectors))

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

    @property
    def patterns(self) -> tuple[str, ...]:
        """The RE2 pattern of each detector (builtins too), for a pass over several guardrails at once."""
        if self.matcher is None:
            return ()
        return tuple(str(d.program.pattern) for d in self.matcher.detectors)

    def hold(self, text: str) -> int:
        """How many characters at the end of `text` could be the start of a match still unfinished:
        the trailing run of characters some pattern can match, at most its width less one."""
        return max((t.hold(text) for t in self.tails), default=0)

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


def tail_of(detector: Detector) -> Tail:
    """A builtin's characters are those of its hit (the group it reports), a regex's of its match."""
    pattern = getattr(detector.program, "pattern", None)
    chars = matchable(pattern, detector.group) if isinstance(pattern, str) else None
    return Tail(chars, detector.width)


def matcher_of(name: str, patterns: Sequence[str], builtins: Sequence[str]) -> Matcher | None:
    """The matcher of a guardrail's regex and builtin checks (patterns already validated); a regex's
    hits are called by the guardrail's name."""
    detectors: list[Detector] = [Detector(name, compile_pattern(p), check_pattern(p)) for p in patterns]
    detectors += [DETECTORS[b] for b in builtins]
    return Matcher.of(detectors) if detectors else None


class _Patterned(Protocol):
    @property
    def patterns(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Probe:
    """One RE2 program matching wherever any of several guardrails' patterns does: a text it finds
    nothing in has no hit for any of them (a hit needs its pattern's match), at one search instead of
    one per pattern."""

    program: Any  # re2 _Regexp

    def found(self, text: str) -> bool:
        # The compiled RE2 under google-re2's wrapper, on the UTF-8 bytes (as Matcher.find does): the
        # wrapper's search costs twice as much on the short texts of a stream.
        data = text.encode("utf-8", "surrogatepass")
        return bool(self.program._regexp.Match(_UNANCHORED, data, 0, len(data))[0][0] >= 0)


_UNANCHORED = re2._Anchor.UNANCHORED
# Probes by the identity of the guardrails they were built from (a config's: a handful), which the entry
# keeps alive, so an id is not reused while its entry stands.
_PROBES: dict[tuple[int, ...], tuple[tuple[_Patterned, ...], Probe | None]] = {}


def probe_of(guardrails: Sequence[_Patterned]) -> Probe | None:
    """The probe of the guardrails' patterns (cached). None: no pattern, or RE2 refused the union
    (then each guardrail is asked)."""
    rails = tuple(guardrails)
    key = tuple(id(g) for g in rails)
    cached = _PROBES.get(key)
    if cached is not None and all(a is b for a, b in zip(cached[0], rails, strict=True)):
        return cached[1]
    patterns = [p for g in rails for p in g.patterns]
    try:
        program = Probe(compile_pattern("|".join(f"(?:{p})" for p in patterns))) if patterns else None
    except PatternError:
        program = None
    if len(_PROBES) >= 64:  # configs reloaded many times: start over
        _PROBES.clear()
    _PROBES[key] = (rails, program)
    return program
