"""Bedrock's errors: exception names -> Anthropic error types, error bodies and exception events ->
their message, a ConverseStream exception -> a StreamFailure."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.translate import StreamFailure

# Bedrock exception name (lowercased, without the `:<namespace>` suffix) -> Anthropic error type.
_EXCEPTION_KINDS = {
    "throttlingexception": "rate_limit_error",
    "servicequotaexceededexception": "rate_limit_error",
    "serviceunavailableexception": "overloaded_error",
    "modelnotreadyexception": "overloaded_error",
    "validationexception": "invalid_request_error",
    "accessdeniedexception": "permission_error",
    "resourcenotfoundexception": "not_found_error",
    "modeltimeoutexception": "timeout_error",  # gateway.errors.KINDS has timeout_error (504)
}


class ConverseStreamError(StreamFailure):
    """Bedrock failed mid-stream (an exception event); `kind` is the Anthropic error type."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(kind, message)


def exception_kind(name: str) -> str:
    """A Bedrock exception name as it appears in x-amzn-ErrorType or an event-stream :exception-type
    (e.g. 'ThrottlingException', 'throttlingException', 'ValidationException:http://...') -> Anthropic
    error type. Case-insensitive; anything after ':' is stripped."""
    base = name.partition(":")[0].rpartition("#")[2].strip().lower()
    return _EXCEPTION_KINDS.get(base, "api_error")


def stream_error(event_type: str, payload: Any) -> ConverseStreamError:
    """An exception event of a ConverseStream (decoded JSON payload) -> the stream's failure."""
    message = None
    if isinstance(payload, dict):
        for key in ("message", "Message", "originalMessage"):
            if isinstance(payload.get(key), str) and payload[key]:
                message = payload[key]
                break
    return ConverseStreamError(
        message or f"Bedrock reported {event_type} mid-stream", exception_kind(event_type)
    )


def exception_message(data: bytes) -> str:
    """The message of a Bedrock error body or exception frame (`{"message": ...}`), or the start of a
    body that is not JSON."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data[:300].decode("utf-8", "replace").strip()
    if isinstance(obj, dict):
        text = obj.get("message") or obj.get("Message")
        if isinstance(text, str):
            return text
    return ""
