"""Errors the gateway makes, rendered in the envelope of the API the client called."""

from __future__ import annotations

import orjson

from gateway.core.formats import Format

# error type -> (HTTP status, OpenAI `code`)
KINDS: dict[str, tuple[int, str]] = {
    "invalid_request_error": (400, "invalid_request"),
    "authentication_error": (401, "invalid_api_key"),
    "billing_error": (402, "insufficient_quota"),
    "permission_error": (403, "permission_denied"),
    "not_found_error": (404, "model_not_found"),
    "conflict_error": (409, "conflict"),
    "request_too_large": (413, "request_too_large"),
    "rate_limit_error": (429, "rate_limit_exceeded"),
    "api_error": (502, "upstream_error"),
    "timeout_error": (504, "upstream_timeout"),
    "overloaded_error": (529, "upstream_error"),
}

# HTTP status -> Anthropic error type (protocols.md §3.1), for statuses from an upstream or a route.
STATUS_KINDS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",  # OpenAI and Gemini answer 503 when the model is overloaded
    504: "timeout_error",
    529: "overloaded_error",
}


class GatewayError(Exception):
    """A request the gateway answers itself, with a status and a message that says how to fix it."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        cause: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = headers or []  # sent with the error, e.g. retry-after
        self.cause = cause  # for fallback `on`: "timeout" or "connect" when the upstream never answered
        default_status, default_code = KINDS[kind]
        self.kind = kind
        self.message = message
        self.status = status or default_status
        self.code = code or default_code
        self.param = param

    def body(self, fmt: Format, request_id: str) -> bytes:
        return render(fmt, self.kind, self.message, request_id, code=self.code, param=self.param)


def render(
    fmt: Format,
    kind: str,
    message: str,
    request_id: str,
    *,
    code: str | None = None,
    param: str | None = None,
) -> bytes:
    known = KINDS.get(kind, KINDS["api_error"])  # upstream error types we have no row for
    if fmt is Format.OPENAI or fmt is Format.RESPONSES:  # one error envelope for both OpenAI APIs
        return orjson.dumps(
            {"error": {"message": message, "type": kind, "param": param, "code": code or known[1]}}
        )
    if fmt is Format.GEMINI:
        status = known[0]
        return orjson.dumps({"error": {"code": status, "message": message, "status": kind.upper()}})
    return orjson.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    )


def kind_for_status(status: int) -> str:
    return upstream_kind(status)


def upstream_kind(status: int | None, named: str | None = None) -> str:
    """The error type of an upstream's error. Its status decides when the table has it: the SDKs pick
    their exception class by status alone, so type and class agree (Bedrock's 403
    InvalidSignatureException is a permission_error). The provider's own name for the error (`named`,
    already an Anthropic type) decides otherwise: a status outside the table (Bedrock's 424
    ModelErrorException) or none at all (an error inside a stream). Then the status class."""
    if status is not None and status in STATUS_KINDS:
        return STATUS_KINDS[status]
    if named is not None and named in KINDS:
        return named
    if status is None or status >= 500:
        return "api_error"
    return "invalid_request_error" if status >= 400 else "api_error"


class NotJSON(Exception):
    """A 200 answer whose body is not complete JSON (cut short): whoever reads it (a relay, a provider's
    decoder) raises this, and the data plane answers 502 in the client's envelope instead of a 200."""
