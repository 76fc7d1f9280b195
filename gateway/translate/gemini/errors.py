"""Gemini's errors: an error body -> Anthropic's error envelope, an error inside a 200 stream -> a
StreamFailure."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.errors import kind_for_status
from gateway.translate import StreamFailure
from gateway.translate.hub import int_or_none


class GeminiStreamError(StreamFailure):
    """Gemini sent `{"error": {...}}` inside a 200 stream. The kind follows Gemini's HTTP code
    (api_error when it gave none)."""

    def __init__(self, message: str, code: int | None = None, status: str | None = None) -> None:
        super().__init__(kind_for_status(code) if code is not None else "api_error", message)
        self.code = code
        self.status = status

    @property
    def error_type(self) -> str:
        """The Anthropic error type for an `event: error`."""
        return self.kind


def stream_error(error: Any) -> GeminiStreamError:
    if isinstance(error, dict):
        message = error.get("message")
        status = error.get("status")
        return GeminiStreamError(
            message if isinstance(message, str) and message else "Gemini reported an error mid-stream",
            int_or_none(error.get("code")),
            status if isinstance(status, str) else None,
        )
    return GeminiStreamError(str(error) or "Gemini reported an error mid-stream")


_MAX_RAW_ERROR = 2000


def _error_message(body: bytes) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]  # streamGenerateContent without alt=sse wraps its error in an array
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
    return body.decode("utf-8", "replace").strip()[:_MAX_RAW_ERROR]


def gemini_error_to_anthropic(status: int, body: bytes) -> bytes:
    """A Gemini error response -> Anthropic's error body; the type follows the HTTP status (§3.1)."""
    message = _error_message(body) or f"the Gemini upstream answered HTTP {status}"
    return orjson.dumps({"type": "error", "error": {"type": kind_for_status(status), "message": message}})
