"""OpenAI Chat errors both ways: error bodies (OpenAI -> Anthropic, Anthropic -> OpenAI) and errors
inside a stream."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.core.errors import KINDS, upstream_kind
from gateway.translate import StreamFailure

JSON = dict[str, Any]

# OpenAI's context overflow message; Claude Code compacts and retries only on Anthropic's wording.
_OPENAI_CONTEXT = re.compile(r"maximum context length is (\d+) tokens.*?resulted in (\d+) tokens", re.DOTALL)
_ANTHROPIC_CONTEXT = "prompt is too long"


class StreamError(StreamFailure):
    """An error reported inside an upstream stream (after the 200). `kind` is an Anthropic error.type;
    `anthropic_event()` and `openai_chunk()` are the error in either dialect."""

    def __init__(self, message: str, kind: str = "api_error") -> None:
        super().__init__(kind, message)

    def anthropic_event(self) -> JSON:
        return {"type": "error", "error": {"type": self.kind, "message": self.message}}

    def openai_chunk(self) -> JSON:
        code = KINDS.get(self.kind, KINDS["api_error"])[1]
        return {"error": {"message": self.message, "type": self.kind, "param": None, "code": code}}


def stream_error(error: Any) -> StreamError:
    """An OpenAI-compatible server's `error` chunk -> the stream's failure, its kind from the status or
    the code."""
    if not isinstance(error, dict):
        return StreamError(str(error), "api_error")
    message = str(error.get("message") or "upstream error")
    code = error.get("code")
    status = code if isinstance(code, int) else error.get("status")
    return StreamError(message, upstream_kind(status if isinstance(status, int) else None, _named(error)))


# Words in an OpenAI-compatible error's `type` or `code` -> the Anthropic type they mean.
_HINTS = (
    ("context_length", "invalid_request_error"),
    ("rate_limit", "rate_limit_error"),
    ("quota", "rate_limit_error"),
    ("overload", "overloaded_error"),
    ("capacity", "overloaded_error"),  # Groq's 498 capacity_exceeded
    ("unavailable", "overloaded_error"),
    ("timeout", "timeout_error"),
    ("api_key", "authentication_error"),
    ("auth", "authentication_error"),
    ("permission", "permission_error"),
    ("not_found", "not_found_error"),
    ("invalid_request", "invalid_request_error"),
)


def _named(error: JSON) -> str | None:
    """The Anthropic type an OpenAI-compatible error names by its `type` or `code`, if any."""
    hint = f"{error.get('type')} {error.get('code')}".lower()
    return next((kind for needle, kind in _HINTS if needle in hint), None)


def _error_message(body: bytes, status: int) -> tuple[str, JSON]:
    """The upstream's message and its error object, from whichever envelope it used."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", errors="replace").strip()
        return (text[:2000] or f"upstream returned HTTP {status}"), {}
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            return (str(message) if message else f"upstream returned HTTP {status}"), error
        if isinstance(error, str) and error:
            return error, {}
        for key in ("message", "detail"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                return parsed[key], {}
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        return _error_message(orjson.dumps(parsed[0]), status)
    return f"upstream returned HTTP {status}", {}


def openai_error_to_anthropic(status: int, body: bytes) -> bytes:
    message, error = _error_message(body, status)
    kind = upstream_kind(status, _named(error))
    if error.get("code") == "context_length_exceeded" or _OPENAI_CONTEXT.search(message):
        # Claude Code recognises an overflow (and compacts) by Anthropic's wording only.
        match = _OPENAI_CONTEXT.search(message)
        if match is not None:
            message = f"{_ANTHROPIC_CONTEXT}: {match.group(2)} tokens > {match.group(1)} maximum"
        elif _ANTHROPIC_CONTEXT not in message.lower():
            message = f"{_ANTHROPIC_CONTEXT}: {message}"
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def anthropic_error_to_openai(status: int, body: bytes) -> bytes:
    message, error = _error_message(body, status)
    # Anthropic's own type is already in the words OpenAI's envelope uses here: kept as it is.
    kind = error["type"] if error.get("type") in KINDS else upstream_kind(status)
    code = KINDS.get(kind, KINDS["api_error"])[1]
    if kind == "invalid_request_error" and _ANTHROPIC_CONTEXT in message.lower():
        # OpenAI clients (and LiteLLM) detect an overflow by this code.
        code = "context_length_exceeded"
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
