"""Gemini's errors: an error body -> Anthropic's error envelope, an error inside a 200 stream -> a
StreamFailure."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.errors import upstream_kind
from gateway.translate import StreamFailure
from gateway.translate.hub import int_or_none

# google.rpc.Code names (the `status` of Google's error envelope) -> Anthropic error types; the HTTP
# status decides first (core.errors.upstream_kind), the name when the status is missing or unusual.
_STATUS_NAMES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "ALREADY_EXISTS": "conflict_error",
    "ABORTED": "conflict_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "CANCELLED": "api_error",
    "UNKNOWN": "api_error",
    "INTERNAL": "api_error",
    "DATA_LOSS": "api_error",
    "UNAVAILABLE": "overloaded_error",
    "DEADLINE_EXCEEDED": "timeout_error",
}


def error_kind(status: int | None, name: Any) -> str:
    """Google's error (HTTP status or `code`, and `status` name) -> Anthropic error type."""
    return upstream_kind(status, _STATUS_NAMES.get(name) if isinstance(name, str) else None)


class GeminiStreamError(StreamFailure):
    """Gemini sent `{"error": {...}}` inside a 200 stream. The kind follows Gemini's code, or its status
    name (api_error when it gave neither)."""

    def __init__(self, message: str, code: int | None = None, status: str | None = None) -> None:
        super().__init__(error_kind(code, status), message)
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


def _error(body: bytes) -> tuple[str, Any]:
    """The message of Google's error envelope (or the start of a body that is not one), and its
    `status` name."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]  # streamGenerateContent without alt=sse wraps its error in an array
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            return str(error["message"]), error.get("status")
        if isinstance(error, str) and error:
            return error, None
    return body.decode("utf-8", "replace").strip()[:_MAX_RAW_ERROR], None


def gemini_error_to_anthropic(status: int, body: bytes) -> bytes:
    """A Gemini (or Google front door) error response -> Anthropic's error body; the type follows the
    HTTP status (§3.1), or Google's status name for a status outside the table."""
    message, name = _error(body)
    kind = error_kind(status, name)
    message = message or f"the Gemini upstream answered HTTP {status}"
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def retry_delay(body: bytes) -> float | None:
    """Seconds to wait from a Google error's google.rpc.RetryInfo (`"retryDelay": "27s"`): Gemini and
    Vertex say when to come back in the body of a 429, not in a retry-after header."""
    if _RETRY_INFO.encode() not in body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and detail.get("@type") == _RETRY_INFO:
            delay = detail.get("retryDelay")
            try:
                return max(float(str(delay).removesuffix("s")), 0.0)
            except ValueError:
                return None
    return None
