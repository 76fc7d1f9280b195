"""Output guardrails: the answer's text and tool-call arguments, as the client will read them, checked
on their way out (config.md, "Defaults and precedence").

One relay wraps any other (byte-exact or translated), so each path has one place where its client-bound
answer passes: a whole answer is rewritten (redact), replaced by the client's 400 (block, the upstream
call still charged) or only recorded (flag); a stream is read event by event in the client's format.

Streams: each text block and each tool call's arguments is a window that holds back only what could
still be part of a match: the trailing run of characters some pattern can match (an email cannot hold a
space), at most `max_match - 1` (the longest possible match, less the one character a match needs to be
unfinished), so no match ever reaches the client whole or in part; a window is released at its block's
end (Anthropic `content_block_stop`, a Chat choice's next block or its `finish_reason`, a Responses
`.done` event) or the stream's end. A match never spans two blocks: each block is its own text, as a
client reads it (two text blocks are two strings, not one). `block` ends the stream with the client
format's error event as soon as a match is in a window; what was held is never sent.

Tool-call arguments stream as JSON text and are matched as such (a match outside a string, a number, is
redacted as a JSON string); a whole answer's arguments are parsed and each key, string and number is
matched, so the JSON stays valid and its structure untouched. Hits from two guardrails that overlap in a
stream are redacted as one (their union); a whole text goes through the guardrails in order.

Regex and builtin checks only: a webhook guardrail on output is not called here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from gateway.core.errors import render
from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.dataplane.exchange import AnswerReplaced, PolicyStop, Relay, StreamRelay
from gateway.policy.guardrails.chars import Tail
from gateway.policy.guardrails.model import Probe, probe_of
from gateway.translate.sse import encode_anthropic, encode_openai, encode_responses, stream_error


class Hit(Protocol):
    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def kind(self) -> str: ...


class Guardrail(Protocol):
    """The matcher side of a compiled guardrail (gateway/policy/guardrails)."""

    @property
    def name(self) -> str: ...

    @property
    def action(self) -> str: ...

    @property
    def max_match(self) -> int: ...

    @property
    def tails(self) -> Sequence[Tail]: ...

    @property
    def patterns(self) -> tuple[str, ...]: ...

    def find(self, text: str) -> Sequence[Hit]: ...


BLOCKED = "guardrail_blocked"
# Characters of already released text a window's matching sees before its held text, so that a pattern
# anchored on what precedes it (a word boundary, "not after a digit") reads the same as on whole text.
_CONTEXT = 16


class Blocked(PolicyStop):
    def __init__(self, name: str) -> None:
        super().__init__("invalid_request_error", f"guardrail {name!r} blocked the answer")
        self.name = name


@dataclass(slots=True)
class OutputGuard:
    """The output guardrails of one request, in the gateway's order, and the hits they made
    (`report(name, action)`, once per guardrail)."""

    guardrails: tuple[Guardrail, ...]
    report: Callable[[str, str], None]
    max_match: int = 0
    blocking: bool = False  # a guardrail blocks: a stream is matched at every piece, to stop it early
    seen: set[str] = field(default_factory=set)
    # Texts a check rewrote: none, and a whole answer goes byte-exact (a stream's finished texts too).
    redactions: int = 0
    tails: tuple[Tail, ...] = ()
    # Every character some pattern can match (None: any): a text ending in none of them holds nothing.
    ends: frozenset[str] | None = None
    probe: Probe | None = None  # every pattern in one search: no match in a text, no guardrail to ask

    def __post_init__(self) -> None:
        self.max_match = max(1, max((g.max_match for g in self.guardrails), default=1))
        self.blocking = any(g.action == "block" for g in self.guardrails)
        self.tails = tuple(t for g in self.guardrails for t in g.tails)
        chars = [t.chars for t in self.tails if t.width > 1]
        self.ends = None if None in chars else frozenset("".join(c for c in chars if c is not None))
        self.probe = probe_of(self.guardrails)

    def hit(self, g: Guardrail) -> None:
        if g.name not in self.seen:
            self.seen.add(g.name)
            self.report(g.name, g.action)

    def hold(self, text: str) -> int:
        """How much of the text's end could still be part of an unfinished match (see Guardrail.hold)."""
        if self.ends is not None and (not text or text[-1] not in self.ends):
            return 0  # prose usually: a piece ending in a space
        return max([t.hold(text) for t in self.tails], default=0)

    def text(self, text: str) -> str:
        """A whole text: redacted, or Blocked."""
        if not text or (self.probe is not None and not self.probe.found(text)):
            return text
        for g in self.guardrails:
            hits = g.find(text)
            if not hits:
                continue
            self.hit(g)
            if g.action == "block":
                raise Blocked(g.name)
            if g.action == "redact":
                text = _replace(text, hits)
                self.redactions += 1
        return text

    def window(self, json: bool = False) -> Window:
        return Window(self, json)


def _replace(text: str, hits: Sequence[Hit], bare: frozenset[int] = frozenset()) -> str:
    """`bare`: the starts of hits outside any JSON string (a number in streamed JSON): their redaction
    is quoted, a JSON string, so the JSON stays valid."""
    out: list[str] = []
    at = 0
    for h in sorted(hits, key=lambda h: h.start):
        if h.start < at:  # overlaps one already replaced (two guardrails): the union goes
            at = max(at, h.end)
            continue
        out.append(text[at : h.start])
        out.append(f'"[REDACTED:{h.kind}]"' if h.start in bare else f"[REDACTED:{h.kind}]")
        at = h.end
    out.append(text[at:])
    return "".join(out)


def _lex(state: tuple[bool, bool], text: str, starts: Sequence[int]) -> tuple[tuple[bool, bool], set[int]]:
    """JSON text read on from `state` (inside a string, after a backslash): the state at its end, and
    which of `starts` lie outside any string."""
    in_string, escaped = state
    wanted = set(starts)
    bare: set[int] = set()
    for i, ch in enumerate(text):
        if i in wanted and not in_string:
            bare.add(i)
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
    return (in_string, escaped), bare


class Window:
    """One text block's or tool call's streamed text: what may go out now, what is held back."""

    __slots__ = ("context", "guard", "held", "json", "sent")

    def __init__(self, guard: OutputGuard, json: bool = False) -> None:
        self.guard = guard
        # Tool-call arguments: JSON text, read as it is released (None: plain text). A match outside
        # a string (a number) is redacted as a JSON string.
        self.json: tuple[bool, bool] | None = (False, False) if json else None
        self.held = ""
        self.context = ""  # the last released characters, as the model wrote them
        self.sent: list[str] = []  # everything released, as the client read it

    def push(self, piece: str, final: bool = False) -> str:
        """Add the model's next piece; returns what may be released (raises Blocked)."""
        held = self.held + piece
        if not held:
            return ""
        guard = self.guard
        text = self.context + held
        skip = len(self.context)
        cut = len(text) if final else max(skip, len(text) - guard.hold(text))
        if cut == skip and not guard.blocking:
            # Nothing could go out yet, and no block to see early: matched once there is.
            self.held = held
            return ""
        hits: list[tuple[Hit, Guardrail]] = []
        probe = guard.probe
        for g in guard.guardrails if probe is None or probe.found(text) else ():
            found = [h for h in g.find(text) if h.end > skip and h.start >= skip]
            if not found:
                continue
            if g.action == "block":
                guard.hit(g)
                raise Blocked(g.name)
            hits.extend((h, g) for h in found)
        # A match that starts before the cut is complete: everything it could cover is here.
        for h, _ in hits:
            if h.start < cut < h.end:
                cut = h.end
        redacting = [h for h, g in hits if h.end <= cut and g.action == "redact"]
        if redacting:
            guard.redactions += 1
        for h, g in hits:
            if h.end <= cut:
                guard.hit(g)
        shifted = [_Shifted(h, skip) for h in redacting]
        bare: frozenset[int] = frozenset()
        if self.json is not None:
            self.json, outside = _lex(self.json, text[skip:cut], [h.start for h in shifted])
            bare = frozenset(outside)
        released = _replace(text[skip:cut], shifted, bare)
        self.context = text[max(skip, cut - _CONTEXT) : cut] if cut > skip else self.context
        self.held = text[cut:]
        if released:
            self.sent.append(released)
        return released

    def flush(self) -> str:
        return self.push("", final=True)

    @property
    def whole(self) -> str:
        return "".join(self.sent)


@dataclass(frozen=True, slots=True)
class _Shifted:
    hit: Hit
    by: int

    @property
    def start(self) -> int:
        return self.hit.start - self.by

    @property
    def end(self) -> int:
        return self.hit.end - self.by

    @property
    def kind(self) -> str:
        return self.hit.kind


# -- whole answers ------------------------------------------------------------------------------------


def _arguments(guard: OutputGuard, raw: str) -> str:
    """Tool-call arguments as a JSON string: each string value checked, the JSON kept valid."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return guard.text(raw)  # not JSON: checked as text
    new = _values(guard, value)
    return raw if new == value else orjson.dumps(new).decode()


def _values(guard: OutputGuard, value: Any) -> Any:
    """A JSON value with each string (keys too) checked; a number that matches (a card number written
    as one) becomes its redaction, a string, so the JSON stays valid."""
    if isinstance(value, str):
        return guard.text(value)
    if isinstance(value, list):
        return [_values(guard, v) for v in value]
    if isinstance(value, dict):
        return {guard.text(k): _values(guard, v) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        written = str(value)
        checked = guard.text(written)
        return value if checked == written else checked
    return value


def guard_answer(guard: OutputGuard, fmt: Format, answer: Any) -> bool:
    """Check a whole answer in place; True when something changed (raises Blocked)."""
    if not isinstance(answer, dict):
        return False
    before = guard.redactions
    if fmt is Format.ANTHROPIC:
        for block in _dicts(answer.get("content")):
            _block(guard, block)
    elif fmt is Format.OPENAI:
        for choice in _dicts(answer.get("choices")):
            message = choice.get("message")
            if not isinstance(message, dict):
                continue
            if isinstance(message.get("content"), str):
                message["content"] = guard.text(message["content"])
            for call in _dicts(message.get("tool_calls")):
                function = call.get("function")
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    function["arguments"] = _arguments(guard, function["arguments"])
    else:
        for item in _dicts(answer.get("output")):
            _item(guard, item)
    return guard.redactions != before


def _block(guard: OutputGuard, block: dict[str, Any]) -> None:
    if block.get("type") == "text" and isinstance(block.get("text"), str):
        block["text"] = guard.text(block["text"])
    elif block.get("type") == "tool_use" and "input" in block:
        block["input"] = _values(guard, block["input"])


def _item(guard: OutputGuard, item: dict[str, Any]) -> None:
    """A Responses output item of a whole answer."""
    if item.get("type") == "message":
        for part in _dicts(item.get("content")):
            if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                part["text"] = guard.text(part["text"])
    elif item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
        item["arguments"] = _arguments(guard, item["arguments"])
    elif item.get("type") == "custom_tool_call" and isinstance(item.get("input"), str):
        item["input"] = guard.text(item["input"])  # a custom tool's input is free text


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


class GuardedRelay:
    """Any relay, its client-bound answer checked by the request's output guardrails."""

    def __init__(self, inner: Relay, fmt: Format, request_id: str, guard: OutputGuard) -> None:
        self.inner = inner
        self.fmt = fmt
        self.request_id = request_id
        self.guard = guard

    def content_type(self, streaming: bool) -> bytes | None:
        return self.inner.content_type(streaming)

    def response(self, status: int, data: bytes, usage: Usage) -> bytes:
        data = self.inner.response(status, data, usage)  # usage read first: a blocked call is charged
        if status != 200:
            return data
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        try:
            changed = guard_answer(self.guard, self.fmt, answer)
        except Blocked as exc:
            if getattr(self.inner, "final_response", None) is not None:
                self.inner.final_response = None  # type: ignore[attr-defined]  # never kept, never GET
            body = render(self.fmt, "invalid_request_error", exc.message, self.request_id, code=BLOCKED)
            raise AnswerReplaced(400, body, exc.message) from None
        if not changed:
            return data  # byte-exact when nothing was redacted
        if getattr(self.inner, "final_response", None) is not None:
            self.inner.final_response = answer  # type: ignore[attr-defined]  # a kept Response: redacted too
        return orjson.dumps(answer)

    def stream(self) -> StreamRelay:
        return GuardedStream(self.inner, self.inner.stream(), self.fmt, self.request_id, self.guard)


# An event's end: SSE allows three line endings; a blank line ends an event.
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class GuardedStream:
    """Reads the inner relay's client-format stream event by event; text and arguments go through
    windows, every other event as it came (byte-exact, unless a Responses stream's numbering moved)."""

    def __init__(
        self, relay: Relay, inner: StreamRelay, fmt: Format, request_id: str, guard: OutputGuard
    ) -> None:
        self.relay = relay
        self.inner = inner
        self.fmt = fmt
        self.request_id = request_id
        self.guard = guard
        self.rest = b""
        self.unsent = b""  # output released before a block, sent with the error event
        self.windows: dict[tuple[Any, ...], Window] = {}
        self.delta_of: dict[tuple[Any, ...], dict[str, Any]] = {}  # a window's last event, the flush's shape
        self.blocked: Blocked | None = None
        # Chat: the key of the window a choice is streaming; Responses: numbering and the Response so far.
        self.current: dict[int, tuple[Any, ...]] = {}
        self.offset = 0
        self.next_seq = 0
        self.snapshot: dict[str, Any] | None = None

    @property
    def usage(self) -> Usage:
        return self.inner.usage

    @property
    def error(self) -> str | None:
        return self.inner.error

    def feed(self, chunk: bytes) -> bytes:
        return self._events(self.inner.feed(chunk), end=False)

    def close(self) -> bytes:
        return self._events(self.inner.close(), end=True)

    def error_event(self, kind: str, message: str) -> bytes:
        unsent, self.unsent = self.unsent, b""
        if self.blocked is None:
            # The upstream's failure: the inner relay's error event, and whatever text it still had
            # (a translated chunk's earlier events), read like the rest of the stream. An event cut
            # short is dropped, never relayed raw: its text was not checked.
            self.rest = b""
            try:
                return unsent + b"\n\n" + self._events(self.inner.error_event(kind, message), end=True)
            except Blocked as exc:  # the text it still had held a match: blocked instead
                unsent += self.unsent
                self.unsent = b""
                kind, message = exc.kind, exc.message
        if self.fmt is Format.RESPONSES:
            response = dict(self.snapshot or {})
            response.update(status="failed", error={"code": BLOCKED, "message": message})
            failed = {"type": "response.failed", "response": response, "sequence_number": self.next_seq}
            error = {
                "type": "error",
                "code": BLOCKED,
                "message": message,
                "param": None,
                "sequence_number": self.next_seq + 1,
            }
            return unsent + b"\n\n" + encode_responses(failed) + encode_responses(error)
        payload = render(self.fmt, kind, message, self.request_id, code=BLOCKED)
        if self.fmt is Format.ANTHROPIC:
            return unsent + b"\n\nevent: error\ndata: " + payload + b"\n\n"
        return unsent + b"\n\ndata: " + payload + b"\n\n"

    # -- events ---------------------------------------------------------------------------------------

    def _events(self, data: bytes, end: bool) -> bytes:
        if self.rest:
            data = self.rest + data
        out: list[bytes] = []
        at = 0
        try:
            for m in _EVENT_END.finditer(data):
                self._event(data[at : m.end()], out)
                at = m.end()
            self.rest = data[at:]
            if end:
                if self.rest:
                    self._event(self.rest, out)
                    self.rest = b""
                self._flush_all(out)
        except Blocked as exc:
            self.blocked = exc
            self.unsent = b"".join(out)
            if getattr(self.relay, "final_response", None) is not None:
                self.relay.final_response = None  # type: ignore[attr-defined]  # a blocked answer is never kept
            raise
        return b"".join(out)

    def _event(self, raw: bytes, out: list[bytes]) -> None:
        if self.fmt is Format.ANTHROPIC and not any(name in raw for name in _ANTHROPIC_READ):
            out.append(raw)  # message_start, ping, content_block_start: nothing to check or release
            return
        payload = _data(raw)
        if payload is None or payload == b"[DONE]":
            if payload == b"[DONE]":
                self._flush_all(out)
            out.append(raw)
            return
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            out.append(raw)
            return
        if not isinstance(obj, dict):
            out.append(raw)
        elif self.fmt is Format.ANTHROPIC:
            self._anthropic(raw, obj, out)
        elif self.fmt is Format.OPENAI:
            self._chat(raw, obj, out)
        else:
            self._responses(raw, obj, out)

    def _window(self, key: tuple[Any, ...], json: bool = False) -> Window:
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = self.guard.window(json)
        return window

    def _flush_all(self, out: list[bytes]) -> None:
        for key in list(self.windows):
            self._flush(key, out)

    def _flush(self, key: tuple[Any, ...], out: list[bytes]) -> None:
        window = self.windows.get(key)
        if window is None or not window.held:
            return
        rest = window.flush()
        shape = self.delta_of.get(key)
        if not rest or shape is None:
            return
        if self.fmt is Format.ANTHROPIC:
            event = {**shape, "delta": {**shape["delta"], _ANTHROPIC_FIELD[shape["delta"]["type"]]: rest}}
            out.append(encode_anthropic(event))
        elif self.fmt is Format.OPENAI:
            out.append(encode_openai(_chat_piece(shape, key, rest)))
        else:
            # A delta the upstream did not send: numbered next, every later event one further on.
            event = {**shape, "delta": rest, "sequence_number": self.next_seq}
            self.next_seq += 1
            self.offset += 1
            out.append(encode_responses(event))

    # -- Anthropic Messages -----------------------------------------------------------------------------

    def _anthropic(self, raw: bytes, obj: dict[str, Any], out: list[bytes]) -> None:
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj.get("delta")
            field_name = _ANTHROPIC_FIELD.get(str(delta.get("type"))) if isinstance(delta, dict) else None
            if (
                field_name is None
                or not isinstance(delta, dict)
                or not isinstance(delta.get(field_name), str)
            ):
                out.append(raw)
                return
            key = (obj.get("index"),)
            self.delta_of[key] = obj
            piece = delta[field_name]
            released = self._window(key, field_name == "partial_json").push(piece)
            if released == piece:
                out.append(raw)  # the event as it came: its text goes out unchanged
            elif released:
                out.append(encode_anthropic({**obj, "delta": {**delta, field_name: released}}))
            return
        if kind == "content_block_stop":
            self._flush((obj.get("index"),), out)
        elif kind in ("message_delta", "message_stop", "error"):
            self._flush_all(out)
        out.append(raw)

    # -- Chat Completions -------------------------------------------------------------------------------

    def _chat(self, raw: bytes, obj: dict[str, Any], out: list[bytes]) -> None:
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            if obj.get("usage") is not None or obj.get("error") is not None:
                self._flush_all(out)
            out.append(raw)
            return
        changed = False
        for choice in _dicts(choices):
            index = choice.get("index", 0)
            delta = choice.get("delta")
            # The choice's last chunk: what it carries goes out whole, after the rest of earlier blocks.
            last = choice.get("finish_reason") is not None
            if isinstance(delta, dict):
                piece = delta.get("content")
                if isinstance(piece, str) and piece:
                    key: tuple[Any, ...] = (index, "content")
                    self._switch(index, key, obj, out)
                    delta["content"] = self._window(key).push(piece, last)
                    changed = changed or delta["content"] != piece
                for call in _dicts(delta.get("tool_calls")):
                    function = call.get("function")
                    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                        key = (index, "tool", call.get("index", 0))
                        self._switch(index, key, obj, out)
                        window = self._window(key, json=True)
                        piece = function["arguments"]
                        function["arguments"] = window.push(piece, last)
                        changed = changed or function["arguments"] != piece
            if last:
                for key in [k for k in self.windows if k[0] == index]:
                    self._flush(key, out)
        out.append(encode_openai(obj) if changed else raw)

    def _switch(self, index: int, key: tuple[Any, ...], obj: dict[str, Any], out: list[bytes]) -> None:
        """A choice moved on to another block (text, then a tool call): the previous one has ended."""
        previous = self.current.get(index)
        if previous is not None and previous != key:
            self._flush(previous, out)
        self.current[index] = key
        self.delta_of[key] = obj

    # -- Responses --------------------------------------------------------------------------------------

    def _responses(self, raw: bytes, obj: dict[str, Any], out: list[bytes]) -> None:
        kind = obj.get("type")
        key: tuple[Any, ...]
        changed = False  # a text in the event is not what the upstream wrote: encoded anew
        if kind in _DELTAS:
            key = (obj.get("output_index"), obj.get("content_index"))
            piece = obj.get("delta")
            if isinstance(piece, str):
                self.delta_of[key] = obj  # the flush's shape: its delta and number are set there
                json = kind == "response.function_call_arguments.delta"
                released = self._window(key, json).push(piece)
                if released != piece:
                    obj = {**obj, "delta": released}
                    changed = True
        elif kind in _DONES:
            key = (obj.get("output_index"), obj.get("content_index"))
            self._flush(key, out)
            window = self.windows.get(key)
            field_name = _DONES[kind]
            value = obj.get(field_name)
            if window is not None and isinstance(value, str):
                obj[field_name] = window.whole
            elif isinstance(value, str):  # no deltas came: checked whole
                json_text = field_name == "arguments"
                obj[field_name] = _arguments(self.guard, value) if json_text else self.guard.text(value)
            changed = obj.get(field_name) != value
        elif kind == "response.content_part.done":
            window = self.windows.get((obj.get("output_index"), obj.get("content_index")))
            part = obj.get("part")
            if window is not None and isinstance(part, dict) and isinstance(part.get("text"), str):
                changed = part["text"] != window.whole
                part["text"] = window.whole
        elif kind == "response.output_item.done":
            if isinstance(obj.get("item"), dict):
                changed = self._item(obj.get("output_index"), obj["item"])
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._flush_all(out)
            response = obj.get("response")
            if isinstance(response, dict):
                for index, item in enumerate(_dicts(response.get("output"))):
                    changed = self._item(index, item) or changed
                if isinstance(self.relay_final, dict):
                    self.relay.final_response = response  # type: ignore[attr-defined]
        elif kind in ("response.created", "response.in_progress") and isinstance(obj.get("response"), dict):
            self.snapshot = obj["response"]
        elif kind == "error":
            self._flush_all(out)
        if not self.offset and not changed:
            seq = obj.get("sequence_number")
            if isinstance(seq, int):
                self.next_seq = seq + 1
            out.append(raw)  # as it came: nothing in it to check, nothing renumbered
            return
        self._number(obj)
        out.append(encode_responses(obj))

    @property
    def relay_final(self) -> Any:
        return getattr(self.relay, "final_response", None)

    def _item(self, index: Any, item: dict[str, Any]) -> bool:
        """A finished output item: its texts as the stream released them (or checked whole); whether
        one of them is not what the upstream wrote."""
        changed = False
        if item.get("type") == "message":
            for content_index, part in enumerate(_dicts(item.get("content"))):
                window = self.windows.get((index, content_index))
                text = part.get("text")
                if isinstance(text, str):
                    part["text"] = window.whole if window is not None else self.guard.text(text)
                    changed = changed or part["text"] != text
        elif item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            window = self.windows.get((index, None))
            before = item["arguments"]
            item["arguments"] = window.whole if window is not None else _arguments(self.guard, before)
            changed = item["arguments"] != before
        elif item.get("type") == "custom_tool_call" and isinstance(item.get("input"), str):
            window = self.windows.get((index, None))
            before = item["input"]
            item["input"] = window.whole if window is not None else self.guard.text(before)
            changed = item["input"] != before
        return changed

    def _number(self, obj: dict[str, Any]) -> None:
        seq = obj.get("sequence_number")
        if isinstance(seq, int):
            obj["sequence_number"] = seq + self.offset
            self.next_seq = seq + self.offset + 1


# Responses streams: the deltas of a text or a tool call's input, and the event that ends each (with the
# field holding the whole).
_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
    }
)
_DONES = {
    "response.output_text.done": "text",
    "response.function_call_arguments.done": "arguments",
    "response.custom_tool_call_input.done": "input",
}
# The Anthropic events this relay reads (the rest pass as they came, unparsed).
_ANTHROPIC_READ = (b"content_block_delta", b"content_block_stop", b"message_delta", b"message_stop", b"error")
_ANTHROPIC_FIELD = {"text_delta": "text", "input_json_delta": "partial_json"}


def _chat_piece(shape: dict[str, Any], key: tuple[Any, ...], text: str) -> dict[str, Any]:
    """A Chat chunk carrying only a window's released rest, in the shape of that window's chunks."""
    delta: dict[str, Any] = (
        {"content": text}
        if key[1] == "content"
        else {"tool_calls": [{"index": key[2], "function": {"arguments": text}}]}
    )
    piece = {k: v for k, v in shape.items() if k not in ("choices", "usage")}
    piece["choices"] = [{"index": key[0], "delta": delta, "finish_reason": None}]
    return piece


def _data(raw: bytes) -> bytes | None:
    """The data of one SSE event (its `data:` lines joined), or None when it has none."""
    at = raw.find(b"data:")
    if at < 0:
        return None
    if raw.find(b"data:", at + 5) < 0:  # one data line, the usual event: no split
        end = raw.find(b"\n", at)
        line = raw[at + 5 : end if end >= 0 else len(raw)].rstrip(b"\r")
        return line.removeprefix(b" ")
    lines = [line for line in raw.splitlines() if line.startswith(b"data:")]
    return b"\n".join(line[5:].removeprefix(b" ") for line in lines)


def guarded(
    relay: Relay,
    fmt: Format,
    request_id: str,
    guardrails: tuple[Guardrail, ...],
    report: Callable[[str, str], None],
) -> Relay:
    """The relay itself when no guardrail looks at output (the hot path pays nothing)."""
    if not guardrails:
        return relay
    return GuardedRelay(relay, fmt, request_id, OutputGuard(guardrails, report))


__all__ = ["Blocked", "GuardedRelay", "OutputGuard", "guarded", "stream_error"]
