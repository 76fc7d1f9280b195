"""Bedrock's errors: exception names -> Anthropic error types, error bodies and exception events ->
their message, a ConverseStream exception -> a StreamFailure."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.errors import upstream_kind
from gateway.translate import StreamFailure

# Bedrock exception name (lowercased, without the `:<namespace>` suffix) -> Anthropic error type, from
# botocore's bedrock-runtime service model (its HTTP status in the comment). With an HTTP answer the
# status decides when http.md's table has it (core.errors.upstream_kind); the name decides mid-stream,
# where an exception frame has no status, and for 408 and 424.
_EXCEPTION_KINDS = {
    "validationexception": "invalid_request_error",  # 400
    "conflictexception": "invalid_request_error",  # 400
    "servicequotaexceededexception": "rate_limit_error",  # 400, but a quota
    "accessdeniedexception": "permission_error",  # 403
    "resourcenotfoundexception": "not_found_error",  # 404
    "modeltimeoutexception": "timeout_error",  # 408
    "modelerrorexception": "api_error",  # 424: the model failed
    "modelstreamerrorexception": "api_error",  # 424, mid-stream
    "throttlingexception": "rate_limit_error",  # 429
    "modelnotreadyexception": "overloaded_error",  # 429: retry later, as with an overloaded model
    "internalserverexception": "api_error",  # 500
    "serviceunavailableexception": "overloaded_error",  # 503
    # The AWS front door's own: Bedrock sends them with 403, which decides (permission_error); the
    # name speaks only where no status does.
    "unrecognizedclientexception": "authentication_error",
    "invalidsignatureexception": "authentication_error",
    "incompletesignatureexception": "authentication_error",
    "missingauthenticationtokenexception": "authentication_error",
    "expiredtokenexception": "authentication_error",
}


class ConverseStreamError(StreamFailure):
    """Bedrock failed mid-stream (an exception event); `kind` is the Anthropic error type."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(kind, message)


def exception_kind(name: str, status: int | None = None) -> str:
    """A Bedrock exception name as it appears in x-amzn-ErrorType or an event-stream :exception-type
    (e.g. 'ThrottlingException', 'throttlingException', 'ValidationException:http://...'), and the HTTP
    status it came with (None mid-stream) -> Anthropic error type. Case-insensitive; anything after
    ':' is stripped."""
    base = name.partition(":")[0].rpartition("#")[2].strip().lower()
    return upstream_kind(status, _EXCEPTION_KINDS.get(base))


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
