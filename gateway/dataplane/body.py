"""The body a same-format call sends upstream, made with byte-exact edits where it can be: one
top-level value changed and nothing else."""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.dataplane.request import Call
from gateway.routing.table import Leaf
from gateway.translate import openai_chat
from gateway.translate.hub import OPENAI_REASONING_PREFIX

_STRING = rb'"(?:[^"\\]|\\.)*"'
_TOKENS = re.compile(_STRING + rb"|[{}\[\]]")
_OPENAI_REASONING = b'"' + OPENAI_REASONING_PREFIX.encode()


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object, or the client's 400 saying what it is instead."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            "invalid_request_error", f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(obj, dict):
        raise GatewayError("invalid_request_error", "request body must be a JSON object", code="invalid_json")
    return obj


def replace_top_level_string(body: bytes, key: str, old: str, new: str) -> bytes:
    """Return `body` with the top-level `key` (whose value is `old`) set to `new`; every other byte kept.

    Found by searching `"key": "..."` pairs whose decoded value is `old`; only when more than one such
    pair exists (the same key nested deeper) is nesting depth worked out to pick the top-level one(s).
    """
    pattern = _pattern(key)
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


def repeated_top_level_key(body: bytes, key: str) -> bool:
    """Whether the object's top level names `key` more than once. A JSON parser keeps one of the
    values (orjson the last, others the first): the gateway must never route on one and forward the
    other, so such a body is refused."""
    quoted = b'"' + key.encode() + b'"'
    if body.count(quoted) < 2:  # almost every body: one scan, no regex
        return False
    keys = re.finditer(re.escape(quoted) + rb"\s*:", body)
    return sum(1 for m in keys if _depth_at(body, m.start()) == 1) > 1


@functools.lru_cache(maxsize=16)
def _pattern(key: str) -> re.Pattern[bytes]:
    """`"key": "<string>"`, compiled once per key (every aliased request asks for "model")."""
    return re.compile(rb'"' + re.escape(key.encode()) + rb'"\s*:\s*(' + _STRING + rb")")


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


def planned_body(call: Call, leaf: Leaf, fmt: Format, metered: bool) -> bytes:
    """The body sent upstream on a same-format call: byte-exact, but for the model name (when
    resolution changed it), the leaf's params, for Anthropic, thinking blocks without a signature (and
    enabled thinking in a tool loop another provider started), for OpenAI, tool ids over its 40
    characters, and for a metered OpenAI stream, the request for usage."""
    body, obj, model = call.body, call.obj, call.model
    if fmt is Format.OPENAI and b'"tool_call_id"' in body:
        # A tool loop another provider started may hold ids longer than OpenAI's 40 characters (Gemini's
        # carry its thought signature); OpenAI refuses the request, so they are shortened.
        fitted = openai_chat.fit_tool_ids(obj)
        if fitted is not obj:
            obj, body = fitted, _dumps(fitted)
    if fmt is Format.ANTHROPIC:
        # Calls another provider made, now in a tool loop bound for Anthropic, have no signed thinking
        # before them; with enabled thinking Anthropic refuses the turn, so thinking is off for this call.
        replayable = openai_chat.thinking_off_for_foreign_loop(obj)
        if replayable is not obj:
            obj, body = replayable, _dumps(replayable)
    if metered and fmt is Format.OPENAI and obj.get("stream") is True:
        options = obj.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage") is True):
            # Budgets and token limits need the real usage, which an OpenAI stream only reports when
            # asked: the client gets one more chunk (empty `choices`, the usage), as OpenAI documents.
            extra = {**(options if isinstance(options, dict) else {}), "include_usage": True}
            return _dumps({**obj, **leaf.params, "model": leaf.model, "stream_options": extra})
    if fmt is Format.ANTHROPIC and (
        b'"signature":""' in body or b'"signature": ""' in body or _OPENAI_REASONING in body
    ):
        # A conversation that was served by another provider (a fallback, a split) carries that
        # provider's reasoning as unsigned thinking blocks (OpenAI's Responses API's as carried
        # reasoning items); Anthropic rejects them, so they go.
        cleaned = openai_chat.drop_unsigned_thinking(obj)
        if cleaned is not obj:
            return _dumps({**cleaned, **leaf.params, "model": leaf.model})
    if leaf.params:
        return _dumps({**obj, **leaf.params, "model": leaf.model})
    if leaf.model != model:
        return replace_top_level_string(body, "model", model, leaf.model)
    return body


def _dumps(obj: dict[str, Any]) -> bytes:
    """A body the gateway had to rewrite; one nested past what orjson writes (254 levels) is a 400 (a
    byte-exact forward has no such limit: the provider decides)."""
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:
        raise GatewayError(
            "invalid_request_error", "request body nests too deep for the gateway to rewrite it"
        ) from None
