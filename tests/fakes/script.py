"""Value types shared by every fake: what a test scripts, and what the fake records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Script:
    """Controls the response to the next request that reaches a model endpoint.

    Every field is optional; an empty ``Script()`` means "the default, valid reply".
    """

    # Plain HTTP overrides. ``status`` >= 400 without ``body`` renders the provider's error envelope.
    status: int | None = None
    body: bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Overrides the envelope's default message for a scripted error status.
    error_message: str | None = None
    # The provider's own name for a scripted error status, where its envelope carries one: Bedrock's
    # exception (x-amzn-ErrorType), OpenAI's and Azure's `code`; None = the provider's default.
    error_code: str | None = None

    # Shape of the default reply. ``text=None`` means the default sentence, unless ``tool_calls`` are
    # given, in which case the reply is tool calls only (set ``text`` as well to get both).
    text: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    thinking: str | None = None
    # Web searches the reply ran, when the request turned its provider's search tool on (Anthropic
    # web_search, OpenAI search model or Responses web_search, Gemini google_search): each
    # {"query", "url", "title", "cite"}, the page found and the substring of the reply text citing it.
    searches: list[dict[str, str]] = field(default_factory=list)
    # Raw provider value (Anthropic stop_reason / OpenAI finish_reason / Gemini finishReason).
    stop_reason: str | None = None

    # Streaming controls, applied only when the request asks for a stream.
    chunk_delay: float = 0.0
    cut_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 3600.0
    error_event_after: int | None = None
    # The provider's error kind for that mid-stream error, where the provider has several (Bedrock: the
    # event-stream ``:exception-type``, e.g. "throttlingException"); None = the provider's default.
    error_event_type: str | None = None
    text_chunks: int = 3
    # Pieces a streamed tool call's arguments come in (None: about 24 characters each, at least two).
    argument_chunks: int | None = None
    # Before frame N: end the body cleanly (its terminating chunk) with no terminal event, as a server
    # that gives up politely does; or send a malformed frame (the format's, half an event) and end so.
    end_after: int | None = None
    malformed_after: int | None = None
    # Seconds between single bytes: the stream's frames trickle out one byte at a time (a hung upstream
    # that is not quite silent).
    drip: float = 0.0

    def reply_text(self, kind: str) -> str | None:
        """The assistant text to send, or None when the reply is tool calls only."""
        if self.text is not None:
            return self.text
        if self.tool_calls:
            return None
        return f"Hello from the fake {kind} upstream."


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived at the fake, before any validation."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # The path exactly as sent, percent-encoding and query included (``path`` is decoded, no query).
    raw_path: str = ""

    @property
    def json(self) -> Any:
        """The parsed body, or None when it is empty or not JSON."""
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return None


@dataclass(frozen=True)
class RecordedAnswer:
    """A whole (non-streamed) answer as the fake sent it, so a test can check what a gateway relayed."""

    status: int
    headers: dict[str, str]
    body: bytes
