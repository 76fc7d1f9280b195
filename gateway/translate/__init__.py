"""Translation between wire formats, through one hub: the Anthropic Messages shape.

A request from a client in format C to a provider in format P (C != P) is translated C -> Anthropic ->
P; the answer P -> Anthropic -> C. Same-format traffic never comes here (it is forwarded byte-exact).
Anthropic is the hub because it is the richest of the three (thinking with signatures, cache_control,
documents, citations), so nothing a client sent is lost before the provider side decides what it can
express.

Packages and modules (pure functions and small stateful stream converters, no I/O):
- `sse.py`: incremental SSE decoding (bytes -> events) and encoding (events -> bytes) for both dialects.
- `openai_chat/`: OpenAI Chat Completions <-> Anthropic Messages: requests both ways (`request_from_openai`,
  `request_to_openai`), answers both ways (`response.py`), streams both ways (`stream_to_anthropic`,
  `stream_to_openai`), errors both ways (`errors.py`).
- `gemini/`: Anthropic Messages <-> Gemini generateContent: request and JSON Schema (`request.py`,
  `schema.py`), answer (`response.py`), stream (`stream.py`), errors and token counting (`errors.py`).
- `converse/`: Anthropic Messages <-> AWS Bedrock Converse: request (`request.py`, `messages.py`), answer
  (`response.py`), stream (`stream.py`), Bedrock exceptions (`errors.py`).
- `hub.py`: what the converters share on the hub side (content blocks, custom tools, the system prompt,
  search results, tool-name shortening, renamed tool names, usage, ints).
- `hub_stream.py`: the one Anthropic stream writer (message_start, content blocks, message_delta/stop)
  the provider -> Anthropic stream converters drive.
- `tokens.py`: an offline input-token estimate for providers without a count endpoint.

Contract every converter follows:
- A request that cannot be expressed on the target (e.g. a PDF to a provider without PDF input) raises
  `Untranslatable(message, param)`; the data plane turns it into a 400 in the client's envelope.
- Unknown fields the target does not have are dropped, never forwarded to a strict upstream.
- Stream converters take parsed event objects and return lists of event objects in the target dialect;
  `finish()` returns the closing events. A stream that cannot go on raises `StreamFailure(kind,
  message)` (or a subclass: `StreamIncomplete` when the upstream ended without its terminal event), so
  the data plane sends an error event instead of a clean end.
"""


class Untranslatable(ValueError):
    """The request uses something the target format cannot express; becomes a 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class StreamFailure(Exception):
    """A stream that cannot continue (an upstream error event, a missing terminal event). `kind` is an
    Anthropic error type, `message` what the client is told; the data plane renders both in the client's
    dialect."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# What a client is told when a stream stops before its terminal event.
INCOMPLETE_MESSAGE = "the provider's stream ended before its last event"


class StreamIncomplete(StreamFailure):
    """The upstream stream ended without its terminal event (message_stop / finish_reason / [DONE]).
    `detail` says which event was missing; the client gets the generic `INCOMPLETE_MESSAGE`."""

    def __init__(self, detail: str) -> None:
        super().__init__("api_error", INCOMPLETE_MESSAGE)
        self.detail = detail
