"""Server-sent events: an incremental decoder and the two encoders the gateway speaks.

Decoding follows the WHATWG event-stream rules the SDKs implement: lines end in `\\n`, `\\r\\n` or `\\r`; a
blank line dispatches the event; `:` lines are comments (keepalives); several `data:` lines join with
`\\n`; an event without any `data:` line is not dispatched (a bare `event: keepalive` carries nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.errors import render
from gateway.core.formats import Format

OPENAI_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: str


class SSEDecoder:
    """Turns a byte stream, cut anywhere (inside a line, a UTF-8 sequence or a `\\r\\n`), into events."""

    def __init__(self) -> None:
        # Bytes of an unfinished line, kept as pieces so a long line arriving in many small chunks is
        # joined once instead of re-copied on every chunk.
        self._partial: list[bytes] = []
        # The previous chunk ended in `\r`: a `\n` opening the next chunk belongs to that line ending.
        self._after_cr = False
        self._first_line = True
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._after_cr = False
        if not chunk:
            return []
        if b"\n" not in chunk and b"\r" not in chunk:
            self._partial.append(chunk)
            return []
        if self._partial:
            self._partial.append(chunk)
            chunk = b"".join(self._partial)
            self._partial = []
        lines = chunk.splitlines(keepends=True)
        last = lines[-1]
        if not last.endswith((b"\n", b"\r")):
            self._partial.append(lines.pop())
        elif last.endswith(b"\r"):
            self._after_cr = True
        events: list[SSEEvent] = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r\n"))
            if event is not None:
                events.append(event)
        return events

    def finish(self) -> list[SSEEvent]:
        """Flush at end of stream: a last event without its closing blank line is still delivered,
        because several OpenAI-compatible servers end with `data: [DONE]` and no blank line."""
        events: list[SSEEvent] = []
        if self._partial:
            event = self._line(b"".join(self._partial))
            self._partial = []
            if event is not None:
                events.append(event)
        event = self._line(b"")
        if event is not None:
            events.append(event)
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        line = raw.decode("utf-8", errors="replace")
        if self._first_line:
            self._first_line = False
            line = line.removeprefix("\ufeff")
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        # `id` and `retry` only matter to a browser reconnecting; nothing here reconnects.
        return None

    def _dispatch(self) -> SSEEvent | None:
        event, data = self._event, self._data
        self._event, self._data = None, []
        if not data:
            return None
        return SSEEvent(event=event or None, data="\n".join(data))


def encode_anthropic(event: dict[str, Any]) -> bytes:
    """`event: <type>` is mandatory: both Anthropic SDKs dispatch on it and drop data-only events."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def encode_openai(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def encode_responses(event: dict[str, Any]) -> bytes:
    """A Responses API stream event: `event: <type>` and its JSON, as OpenAI sends them (no `[DONE]`)."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def stream_error(fmt: Format, kind: str, message: str, request_id: str) -> bytes:
    """A mid-stream error event in the client's stream format; the stream ends after it."""
    if fmt is Format.RESPONSES:
        # The Responses API's own `error` event (the SDK's ResponseErrorEvent), never a clean end. A relay
        # that knows the stream's sequence (translated.py) sends `response.failed` before it instead.
        error = orjson.loads(render(fmt, kind, message, request_id))["error"]
        event = {
            "type": "error",
            "code": error["code"],
            "message": message,
            "param": None,
            "sequence_number": 0,
        }
        return b"\n\n" + encode_responses(event)
    payload = render(fmt, kind, message, request_id)
    if fmt is Format.ANTHROPIC:
        return b"\n\nevent: error\ndata: " + payload + b"\n\n"
    return b"\n\ndata: " + payload + b"\n\n"
