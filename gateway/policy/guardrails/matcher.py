"""Text matchers for guardrails: compiled once per config, immutable, shared by input and output checks.

Patterns run on RE2 (google-re2), a linear-time engine: Python's `re` backtracks, and a user's pattern
such as `(a+)+b` would take exponential time on a hostile prompt. RE2 has no look-around or
back-references; `gateway validate` rejects a pattern it cannot compile.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import re2

# Python's own regex parser, for the width of a pattern (typeshed has no stub for the private module).
_sre_parse: Any = importlib.import_module("re._parser")

# Guardrail patterns are bounded so a stream's hold-back is bounded (config.md "Defaults and precedence").
MAX_MATCH = 1024

# A match is kept only when this says yes: checksums (Luhn, mod-97) and context RE2 cannot express
# without look-around (a number must not run on into more digits).
Validator = Callable[[str, int, int], bool]


class Hit(NamedTuple):
    """One match in one text: [start, end) in characters, and what it is (`[REDACTED:<kind>]`)."""

    start: int
    end: int
    kind: str


class PatternError(ValueError):
    """A pattern that cannot be a guardrail: invalid, unsupported by RE2, or unbounded / too long."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each rejected pattern to stderr
    return options


def max_width(pattern: str) -> int:
    """The longest text the pattern can match, in characters, from Python's parse of it (RE2's syntax
    is close enough for widths: classes, repeats and groups read the same). Raises PatternError when
    Python cannot parse it; an unbounded repeat gives a width above MAX_MATCH."""
    try:
        low, high = _sre_parse.parse(pattern).getwidth()
    except Exception as exc:  # re.error, and RecursionError/OverflowError on absurd input
        raise PatternError(f"not a valid regular expression: {exc}") from None
    del low
    return int(high)


def compile_pattern(pattern: str) -> Any:
    """The RE2 program of a pattern that passed `check_pattern`."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"not supported by the RE2 engine: {message}") from None


def check_pattern(pattern: str) -> int:
    """The pattern's longest match; PatternError when it is not a usable guardrail pattern."""
    width = max_width(pattern)
    if width > MAX_MATCH:
        raise PatternError(
            f"can match more than {MAX_MATCH} characters (an unbounded repeat such as `+`, `*` or "
            f"`{{n,}}`, or a bound too large): give every repeat an upper bound"
        )
    compile_pattern(pattern)
    return width


@dataclass(frozen=True, slots=True)
class Detector:
    """One compiled pattern and what its matches are called."""

    kind: str
    program: Any  # re2 _Regexp
    width: int
    validator: Validator | None = None
    # The group that is the hit (1: the pattern consumes a boundary character before it, as RE2 has
    # no look-behind: a run of digits then offers one candidate, not one per position).
    group: int = 0


# google-re2's `finditer` over a str re-encodes and maps offsets for every match in Python (several µs
# a match); the compiled RE2 object under it (`_regexp`, pinned by the lock files) searches the UTF-8
# bytes directly, and a text with many candidates costs a fraction of that.
_UNANCHORED = re2._Anchor.UNANCHORED


def _spans(detector: Detector, data: bytes) -> list[tuple[int, int]]:
    """The byte spans of the detector's hits (its group) in UTF-8 text, left to right, not overlapping.
    The next search starts where the hit ends, so a boundary character a pattern consumed after a
    hit (RE2 has no look-ahead) can lead the next one."""
    search = detector.program._regexp.Match
    group = detector.group
    out: list[tuple[int, int]] = []
    pos, end = 0, len(data)
    while pos <= end:
        spans = search(_UNANCHORED, data, pos, end)
        if spans[0][0] < 0:
            break
        start, stop = spans[group]
        if start < stop:
            out.append((start, stop))
        nxt = stop if group and start >= 0 else spans[0][1]
        if nxt <= pos:  # an empty match: step over one character
            nxt = pos + 1
            while nxt < end and data[nxt] & 0xC0 == 0x80:
                nxt += 1
        pos = nxt
    return out


def _char_offsets(data: bytes, offsets: set[int]) -> dict[int, int]:
    """byte offset -> character offset, for offsets on character boundaries (one pass over the text)."""
    out = {0: 0}
    last = chars = 0
    for offset in sorted(offsets):
        chars += len(data[last:offset].decode("utf-8", "surrogatepass"))
        out[offset] = chars
        last = offset
    return out


def redaction(kind: str) -> str:
    return f"[REDACTED:{kind}]"


@dataclass(frozen=True, slots=True)
class Matcher:
    """Detectors over one text at a time. `find` gives non-overlapping hits in text order (of two
    overlapping matches the earlier wins, then the longer, then the detector listed first)."""

    detectors: tuple[Detector, ...]
    max_match: int  # the longest text any detector matches: how much a stream must hold back

    @classmethod
    def of(cls, detectors: Sequence[Detector]) -> Matcher:
        return cls(tuple(detectors), max((d.width for d in detectors), default=0))

    def find(self, text: str) -> list[Hit]:
        if not text:
            return []
        data = text.encode("utf-8", "surrogatepass")  # once for every detector, not once per match
        raw: list[tuple[int, int, int]] = []  # (start, end, rank) in bytes
        for rank, detector in enumerate(self.detectors):
            raw += [(start, end, rank) for start, end in _spans(detector, data)]
        if not raw:
            return []
        if len(data) != len(text):  # not ASCII: byte offsets become character offsets
            chars = _char_offsets(data, {o for start, end, _ in raw for o in (start, end)})
            raw = [(chars[start], chars[end], rank) for start, end, rank in raw]
        found: list[tuple[int, int, int, str]] = []
        for start, end, rank in raw:
            detector = self.detectors[rank]
            check = detector.validator
            if check is None or check(text, start, end):
                found.append((start, -end, rank, detector.kind))
        if not found:
            return []
        found.sort()
        hits: list[Hit] = []
        last_end = -1
        for start, neg_end, _rank, kind in found:
            if start >= last_end:
                hits.append(Hit(start, -neg_end, kind))
                last_end = -neg_end
        return hits

    def redact(self, text: str) -> str:
        """The text with every hit replaced by `[REDACTED:<kind>]`."""
        return apply(text, self.find(text))


def apply(text: str, hits: Sequence[Hit]) -> str:
    """Replace non-overlapping hits (in text order) by their redaction marks."""
    if not hits:
        return text
    parts: list[str] = []
    pos = 0
    for hit in hits:
        parts.append(text[pos : hit.start])
        parts.append(redaction(hit.kind))
        pos = hit.end
    parts.append(text[pos:])
    return "".join(parts)
