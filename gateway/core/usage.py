"""Token usage read from upstream answers, normalised to one shape for logs and cost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class Usage:
    """`input_tokens` excludes cache reads and writes (Anthropic's convention), whatever the provider."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    # Server-side web searches (Anthropic's web_search, OpenAI's search tool calls, Gemini's grounding
    # queries), billed per search on top of the tokens.
    web_search_requests: int | None = None


UsageReader = Callable[[Usage, dict[str, Any]], None]


class StreamSniffer:
    """Watches an SSE byte stream on the side: usage from events that carry it, and in-stream errors.

    Only events whose raw bytes mention usage or "error" are parsed, so plain text deltas cost a
    substring search and nothing more.
    """

    __slots__ = ("_read", "_tail", "error", "usage")

    def __init__(self, read: UsageReader) -> None:
        self._read = read
        self._tail = b""
        self.usage = Usage()
        self.error: str | None = None

    def feed(self, chunk: bytes) -> None:
        buf = self._tail + chunk if self._tail else chunk
        if b"\r" in buf:  # Gemini frames events with CRLF
            buf = buf.replace(b"\r\n", b"\n")
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._tail = buf
            return
        complete, self._tail = buf[:end], buf[end + 2 :]
        if b'"usage' in complete or b"error" in complete:
            for event in complete.split(b"\n\n"):
                self._event(event)

    def _event(self, event: bytes) -> None:
        if b"error" not in event and (b'"usage' not in event or b'"usage":null' in event):
            return  # OpenAI repeats "usage":null on every chunk
        for line in event.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if not data.startswith(b"{"):
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(obj, dict):
                continue
            err = obj.get("error")
            if err is None and obj.get("type") in ("error", "response.failed"):
                # The Responses API's error event (code and message top-level) and failed Response.
                inner = obj.get("response")
                err = inner.get("error") if isinstance(inner, dict) else obj
            if err:
                self.error = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            self._read(self.usage, obj)


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
