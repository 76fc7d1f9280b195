"""Translation between wire formats, through one hub: the Anthropic Messages shape.

A request from a client in format C to a provider in format P (C != P) is translated C -> Anthropic ->
P; the answer P -> Anthropic -> C. Same-format traffic never comes here (it is forwarded byte-exact).
Anthropic is the hub because it is the richest of the three (thinking with signatures, cache_control,
documents, citations), so nothing a client sent is lost before the provider side decides what it can
express.

Modules (pure functions and small stateful stream converters, no I/O):
- `sse.py`: incremental SSE decoding (bytes -> events) and encoding (events -> bytes) for both dialects.
- `openai_chat.py`: OpenAI Chat Completions <-> Anthropic Messages: requests both ways, responses both
  ways, streams both ways, errors both ways.
- `gemini.py`: Anthropic Messages <-> Gemini generateContent: request Anthropic -> Gemini, response and
  stream Gemini -> Anthropic, errors Gemini -> Anthropic.
- `converse.py`: Anthropic Messages <-> AWS Bedrock Converse: request Anthropic -> Converse, response and
  stream Converse -> Anthropic, Bedrock exception names -> error types.
- `hub.py`: what the converters share (content blocks, custom tools, the system prompt,
  search results, renamed tool names, a stream's message_start).
- `tokens.py`: an offline input-token estimate for providers without a count endpoint.

Contract every converter follows:
- A request that cannot be expressed on the target (e.g. a PDF to a provider without PDF input) raises
  `Untranslatable(message, param)`; the data plane turns it into a 400 in the client's envelope.
- Unknown fields the target does not have are dropped, never forwarded to a strict upstream.
- Stream converters take parsed event objects and return lists of event objects in the target dialect;
  `finish()` returns the closing events (or raises `StreamIncomplete` when the upstream ended without
  its terminal event, so the data plane sends an error event instead of a clean end).
"""


class Untranslatable(ValueError):
    """The request uses something the target format cannot express; becomes a 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class StreamIncomplete(Exception):
    """The upstream stream ended without its terminal event (message_stop / finish_reason / [DONE])."""


class StreamFailure(Exception):
    """A stream that cannot continue (translated error event, missing terminal event)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
