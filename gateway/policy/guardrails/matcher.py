"""Text matchers for guardrails: compiled once per config, immutable, shared by input and output checks.

Patterns run on RE2 (google-re2), a linear-time engine: Python's `re` backtracks, and a user's pattern
such as `(a+)+b` would take exponential time on a hostile prompt. RE2 has no look-around or
back-references; `gateway validate` rejects a pattern it cannot compile.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
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


def _iter_spans(detector: Detector, data: bytes) -> Iterator[tuple[int, int]]:
    """The byte spans of the detector's candidates (its group) in UTF-8 text, left to right, not
    overlapping, one RE2 call each. The next search starts where a candidate ends, so a boundary
    character a pattern consumed after it (RE2 has no look-ahead) can lead the next one."""
    search = detector.program._regexp.Match
    group = detector.group
    pos, end = 0, len(data)
    while pos <= end:
        spans = search(_UNANCHORED, data, pos, end)
        if spans[0][0] < 0:
            return
        start, stop = spans[group]
        if start < stop:
            yield start, stop
        nxt = stop if group and start >= 0 else spans[0][1]
        if nxt <= pos:  # an empty match: step over one character
            nxt = pos + 1
            while nxt < end and data[nxt] & 0xC0 == 0x80:
                nxt += 1
        pos = nxt


class _Chars:
    """Byte offsets -> character offsets in UTF-8 text, asked in non-decreasing order (so one pass over
    the text however many candidates are asked about)."""

    __slots__ = ("byte", "char", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.byte = self.char = 0

    def __call__(self, offset: int) -> int:
        self.char += len(self.data[self.byte : offset].decode("utf-8", "surrogatepass"))
        self.byte = offset
        return self.char


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
        """Every hit (what redact needs)."""
        return list(map(Hit._make, self._resolve(text)))

    def first(self, text: str) -> Hit | None:
        """The hit `find` would list first, without looking for the others: block and flag need only
        know that a text has one (a record holds one entry per guardrail), so a prompt full of real
        hits costs them one search per detector, not one per hit. Each detector stops at its first
        valid candidate, or at a candidate that starts after the best hit so far."""
        if not text:
            return None
        data = text.encode("utf-8", "surrogatepass")
        ascii_text = len(data) == len(text)
        best: tuple[int, int, int] | None = None  # (start, -end, rank) in characters
        for rank, detector in enumerate(self.detectors):
            check = detector.validator
            chars = None if ascii_text else _Chars(data)
            for start, end in _iter_spans(detector, data):
                if chars is not None:
                    start, end = chars(start), chars(end)
                if best is not None and start > best[0]:
                    break
                if check is None or check(text, start, end):
                    if best is None or (start, -end, rank) < best:
                        best = (start, -end, rank)
                    break
        if best is None:
            return None
        return Hit(best[0], -best[1], self.detectors[best[2]].kind)

    def redact(self, text: str) -> str:
        """The text with every hit replaced by `[REDACTED:<kind>]`; the same object when nothing is."""
        found = self._resolve(text)
        if not found:
            return text
        # One join, no Hit per match: a prompt of secrets is tens of thousands of them.
        parts: list[str] = []
        pos = 0
        marks = self._marks
        for start, end, kind in found:
            parts += (text[pos:start], marks[kind])
            pos = end
        parts.append(text[pos:])
        return "".join(parts)

    @property
    def _marks(self) -> dict[str, str]:
        return {d.kind: redaction(d.kind) for d in self.detectors}

    def _resolve(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, kind) of every hit in characters: valid, in text order, not overlapping."""
        if not text:
            return []
        data = text.encode("utf-8", "surrogatepass")  # once for every detector, not once per match
        ascii_text = len(data) == len(text)
        if len(self.detectors) == 1:  # one detector's candidates are already in order and apart
            detector = self.detectors[0]
            spans = list(_iter_spans(detector, data))
            if not spans:
                return []
            if not ascii_text:
                chars = _Chars(data)
                spans = [(chars(start), chars(end)) for start, end in spans]
            kind, check = detector.kind, detector.validator
            if check is None:
                return [(start, end, kind) for start, end in spans]
            return [(start, end, kind) for start, end in spans if check(text, start, end)]
        raw: list[tuple[int, int, int]] = []  # (start, end, rank) in bytes
        for rank, detector in enumerate(self.detectors):
            raw += [(start, end, rank) for start, end in _iter_spans(detector, data)]
        if not raw:
            return []
        if not ascii_text:  # byte offsets become character offsets
            chars_of = _char_offsets(data, {o for start, end, _ in raw for o in (start, end)})
            raw = [(chars_of[start], chars_of[end], rank) for start, end, rank in raw]
        found: list[tuple[int, int, int]] = []
        for start, end, rank in raw:
            check = self.detectors[rank].validator
            if check is None or check(text, start, end):
                found.append((start, -end, rank))
        found.sort()
        out: list[tuple[int, int, str]] = []
        last_end = -1
        kinds = [d.kind for d in self.detectors]
        for start, neg_end, rank in found:
            if start >= last_end:
                out.append((start, -neg_end, kinds[rank]))
                last_end = -neg_end
        return out


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
