"""Byte-exact edits of JSON request bodies: change one top-level value and nothing else."""

from __future__ import annotations

import re

import orjson

_STRING = rb'"(?:[^"\\]|\\.)*"'
_TOKENS = re.compile(_STRING + rb"|[{}\[\]]")


def replace_top_level_string(body: bytes, key: str, old: str, new: str) -> bytes:
    """Return `body` with the top-level `key` (whose value is `old`) set to `new`; every other byte kept.

    Found by searching `"key": "..."` pairs whose decoded value is `old`; only when more than one such
    pair exists (the same key nested deeper) is nesting depth worked out to pick the top-level one(s).
    """
    pattern = re.compile(rb'"' + re.escape(key.encode()) + rb'"\s*:\s*(' + _STRING + rb")")
    spans = [m.span(1) for m in pattern.finditer(body) if _decodes_to(m.group(1), old)]
    if len(spans) > 1:
        spans = [s for s in spans if _depth_at(body, s[0]) == 1]
    if not spans:
        raise ValueError(f"top-level {key!r} not found")
    encoded = orjson.dumps(new)
    out = bytearray()
    last = 0
    for start, end in spans:
        out += body[last:start]
        out += encoded
        last = end
    out += body[last:]
    return bytes(out)


def _decodes_to(raw: bytes, value: str) -> bool:
    try:
        return bool(orjson.loads(raw) == value)
    except orjson.JSONDecodeError:
        return False


def _depth_at(body: bytes, pos: int) -> int:
    depth = 0
    for m in _TOKENS.finditer(body, 0, pos):
        c = m.group(0)
        if c in (b"{", b"["):
            depth += 1
        elif c in (b"}", b"]"):
            depth -= 1
    return depth
