"""The record of one finished request, and its published shape.

The data plane builds one `RequestRecord` per request, on the event loop, at its end; every observer
(the access log, metrics, tracing, the request log) reads it by attribute. Values are kept as published
(milliseconds to the microsecond, cost as a decimal string) so every reader sees the same numbers;
`ts` stays epoch seconds, cheaper to take than to format. `RequestRecord.as_dict` is the one place that
turns a record into the JSON shape the access log prints (README "Access log"): the writers call it
off the event loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


def ms(seconds: float) -> float:
    """A duration in milliseconds, as records carry it: rounded to the microsecond."""
    return round(seconds * 1000, 3)


def iso_ts(ts: float) -> str:
    """Epoch seconds as the access log and the logs API show them: ISO 8601 UTC, to the millisecond."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


# What a request called, from its path under the gateway's base URL (README "Request log"): the API
# family, so logs and analytics can tell chat from embeddings or file uploads. Exact paths first (the hot
# ones are one dict lookup); the families with ids in their paths by prefix.
ENDPOINTS = {
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens",
    "/v1/chat/completions": "chat",
    "/compat/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/responses/input_tokens": "count_tokens",
    "/v1/embeddings": "embeddings",
    "/v1/models": "models",
}
ENDPOINT_PREFIXES = (
    ("/v1/messages/batches", "batches"),
    ("/v1/batches", "batches"),
    ("/v1/files", "files"),
    ("/v1/uploads", "files"),  # an upload's parts become one file
    ("/v1/responses", "responses"),
    ("/v1/models", "models"),
    ("/v1/prompts", "prompts"),  # list and render; a prompt's call is logged as messages or chat
)
ENDPOINT_KINDS = (
    "messages", "count_tokens", "chat", "responses", "embeddings", "files", "batches", "models",
    "prompts", "passthrough",
)  # fmt: skip


def endpoint_of(path: str) -> str:
    """The endpoint kind of a path under a base URL; anything else is a provider's `passthrough`."""
    found = ENDPOINTS.get(path)
    if found is not None:
        return found
    if path.startswith("/v1/"):
        for prefix, kind in ENDPOINT_PREFIXES:
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                return kind
    return "passthrough"


@dataclass(slots=True)
class Attempt:
    """One upstream try, in the order they were made. Not frozen: built on the request path, where a
    frozen dataclass's slower __init__ would show."""

    target: str  # provider/model
    status: int  # the upstream's status, or the gateway's for a failure without an answer
    error: str | None
    start_ms: float  # since the request arrived
    duration_ms: float
    # A target the gateway did not call: it cannot take the request (dataplane/capability.py), `error`
    # says why. Not an upstream try: metrics, traces and the attempt count leave it out.
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        out = {
            "target": self.target,
            "status": self.status,
            "error": self.error,
            "start_ms": self.start_ms,
            "duration_ms": self.duration_ms,
        }
        if self.skipped:
            out["skipped"] = True
        return out


@dataclass(slots=True)
class RequestRecord:
    """What one request did, once it is done. Field order is the access-log line's key order."""

    ts: float  # epoch seconds when the request finished
    id: str
    gateway: str
    method: str
    path: str
    endpoint: str  # the kind of call (ENDPOINT_KINDS), from the path
    route: str | None
    provider: str | None  # of the target that answered (or was tried last)
    model: str | None  # the upstream model name
    client_model: str | None  # the model name as the client sent it
    status: int
    stream: bool
    latency_ms: float
    ttfb_ms: float | None
    input_tokens: int | None  # token counts and cost only when usage is known
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    token: str | None  # the gateway token's name
    key: str | None  # which stored key, or `request`
    cost_usd: str | None
    cache: str | None  # HIT, MISS or BYPASS when the cache applies
    state_error: str | None  # why the state store could not be used, when it could not
    config_version: str
    attempts: list[Attempt]
    error: str | None
    # Published only when set (None: the key is left out of the line).
    metadata: dict[str, Any] | None = None  # when there is a caller or a metadata header; may be {}
    traceparent: str | None = None
    request_body: str | None = None  # with `logs.bodies`, redacted
    response_body: str | None = None
    response_id: str | None = None  # the Responses API id the request made, asked for or continued
    usage_estimated: bool = False  # the token counts are the gateway's estimate (the upstream gave none)
    # Guardrail hits, in the order they happened: [{name, on, action}], never the matched text.
    guardrails: list[dict[str, str]] | None = None
    prompt: str | None = None  # the prompt template the request was rendered from (POST /v1/prompts/...)

    def as_dict(self) -> dict[str, Any]:
        """The access-log line: the keys in field order, `ts` as ISO 8601, the optional keys last."""
        out: dict[str, Any] = {
            "ts": iso_ts(self.ts),
            "id": self.id,
            "gateway": self.gateway,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "route": self.route,
            "provider": self.provider,
            "model": self.model,
            "client_model": self.client_model,
            "status": self.status,
            "stream": self.stream,
            "latency_ms": self.latency_ms,
            "ttfb_ms": self.ttfb_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "token": self.token,
            "key": self.key,
            "cost_usd": self.cost_usd,
            "cache": self.cache,
            "state_error": self.state_error,
            "config_version": self.config_version,
            "attempts": [a.as_dict() for a in self.attempts],
            "error": self.error,
        }
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.traceparent is not None:
            out["traceparent"] = self.traceparent
        if self.request_body is not None:
            out["request_body"] = self.request_body
        if self.response_body is not None:
            out["response_body"] = self.response_body
        if self.response_id is not None:
            out["response_id"] = self.response_id
        if self.usage_estimated:
            out["usage_estimated"] = True
        if self.guardrails:
            out["guardrails"] = self.guardrails
        if self.prompt is not None:
            out["prompt"] = self.prompt
        return out
