"""Which characters a pattern's match can consist of: a stream then holds back only the trailing run of
such characters (capped at the longest match less one), not a whole window of text.

A user's pattern is read with Python's parser (close to RE2's syntax for classes, literals and repeats);
whatever this cannot state for certain is "any character" (None): `.`, negated classes and categories,
large ranges, POSIX classes (`[[:alpha:]]`, which Python reads differently), unknown constructs. RE2's
`\\d`, `\\w` and `\\s` are ASCII; its case folding under `(?i)` maps ASCII letters to their other case
and `k`, `s` also to KELVIN SIGN and LONG S (the only non-ASCII folds of ASCII letters); a non-ASCII
character under `(?i)` is "any".
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

_sre_parse: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")

# A class range wider than this is taken as "any character" (the set is kept as a string for rstrip).
_MAX_RANGE = 256
_DIGIT = "0123456789"
_WORD = _DIGIT + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
_SPACE = "\t\n\f\r "
_CATEGORIES = {_c.CATEGORY_DIGIT: _DIGIT, _c.CATEGORY_WORD: _WORD, _c.CATEGORY_SPACE: _SPACE}
# RE2's simple case folding of ASCII letters beyond their other case (checked against RE2 in the tests).
_FOLDS = {"k": "\u212a", "s": "\u017f"}
# Zero-width or structural nodes: they add no character.
_NOTHING = frozenset({_c.AT})
_REPEATS = frozenset({_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)})


class _Any(Exception):
    """Some node could match a character this module cannot bound."""


def matchable(pattern: str, group: int = 0) -> str | None:
    """The characters a match of the pattern (or of its capture `group`: the hit of a builtin that
    consumes a boundary character) can contain, sorted, as one string; None: any character."""
    if "[:" in pattern:  # a POSIX class in RE2, literal characters to Python
        return None
    try:
        parsed = _sre_parse.parse(pattern)
        nodes = _group(parsed, group) if group else parsed
        chars: set[str] = set()
        _walk(nodes, chars)
        if parsed.state.flags & _c.SRE_FLAG_IGNORECASE:
            chars = _folded(chars)
    except Exception:  # _Any, and whatever the parser raises on input it was not meant for
        return None
    return "".join(sorted(chars))


def _group(nodes: Any, group: int) -> Any:
    """The parsed body of capture group `group` (raises _Any when it is not found)."""
    for op, arg in nodes:
        children: list[Any] = []
        if op is _c.SUBPATTERN:
            if arg[0] == group:
                return arg[3]
            children = [arg[3]]
        elif op is _c.BRANCH:
            children = list(arg[1])
        elif op in _REPEATS:
            children = [arg[2]]
        for child in children:
            try:
                return _group(child, group)
            except _Any:
                continue
    raise _Any


def _folded(chars: set[str]) -> set[str]:
    out = set(chars)
    for ch in chars:
        if not ch.isascii():
            raise _Any
        if ch.isalpha():
            out |= {ch.lower(), ch.upper()}
            out.update(_FOLDS.get(ch.lower(), ""))
    return out


def _walk(nodes: Any, chars: set[str]) -> None:
    for op, arg in nodes:
        if op is _c.LITERAL:
            chars.add(chr(arg))
        elif op is _c.IN:
            _class(arg, chars)
        elif op is _c.SUBPATTERN:
            add_flags, del_flags = arg[1], arg[2]
            if (add_flags | del_flags) & _c.SRE_FLAG_IGNORECASE:
                raise _Any  # a scoped (?i:...): not worth tracking; any character
            _walk(arg[3], chars)
        elif op is _c.BRANCH:
            for branch in arg[1]:
                _walk(branch, chars)
        elif op in _REPEATS:
            _walk(arg[2], chars)
        elif op in _NOTHING:
            continue
        else:  # ANY, NOT_LITERAL, assertions, group references, anything new
            raise _Any


def _class(items: Any, chars: set[str]) -> None:
    for op, arg in items:
        if op is _c.LITERAL:
            chars.add(chr(arg))
        elif op is _c.RANGE:
            low, high = arg
            if high - low >= _MAX_RANGE:
                raise _Any
            chars.update(chr(i) for i in range(low, high + 1))
        elif op is _c.CATEGORY and arg in _CATEGORIES:
            chars.update(_CATEGORIES[arg])
        else:  # NEGATE, negated categories, anything new
            raise _Any


@dataclass(frozen=True, slots=True)
class Tail:
    """How much of a text's end one pattern could still extend into a match: the trailing run of its
    characters, at most `width - 1` (a match of the full width is already whole)."""

    chars: str | None  # None: any character
    width: int

    def hold(self, text: str) -> int:
        cap = self.width - 1
        if cap <= 0:
            return 0
        end = text[-cap:]
        if self.chars is None:
            return len(end)
        return len(end) - len(end.rstrip(self.chars))
