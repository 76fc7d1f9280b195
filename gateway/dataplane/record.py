"""The finished request as one record, for the access log and every observer (metrics, the log store,
tracing): built once, on the event loop, after the answer has gone."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from gateway.core.redact import redact
from gateway.dataplane.request import Request
from gateway.observe.record import RequestRecord, ms
from gateway.pricing.prices import format_usd
from gateway.routing import plan as routing

LOGGED_BODY_LIMIT = 1024 * 1024
_METADATA_HEADERS = tuple(h.encode() for h in routing.METADATA_HEADERS)
_CREDENTIAL_HEADERS = (
    b"authorization",
    b"x-api-key",
    b"x-goog-api-key",
    b"x-gateway-key",
    b"cf-aig-authorization",
)


def build(req: Request, cost_usd: Decimal | None) -> RequestRecord:
    usage = req.usage
    provider, _, model = (req.target or "").partition("/")
    record = RequestRecord(
        ts=time.time(),  # formatted by the writers, off the event loop
        id=req.id,
        gateway=req.gateway.name,
        method=req.scope["method"],
        path=req.scope["path"],
        endpoint=req.endpoint,
        route=req.route,
        provider=provider or None,
        model=model or None,
        client_model=req.client_model,
        status=req.status,
        stream=req.stream,
        latency_ms=ms(time.perf_counter() - req.started),
        ttfb_ms=round(req.ttfb_ms, 3) if req.ttfb_ms is not None else None,
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        cache_read_tokens=usage.cache_read_tokens if usage else None,
        cache_write_tokens=usage.cache_write_tokens if usage else None,
        token=req.token_name,
        key=req.key,
        cost_usd=(req.cost_text or format_usd(cost_usd)) if usage and cost_usd is not None else None,
        cache=req.cache,
        state_error=req.ticket.unavailable if req.ticket else None,
        config_version=req.table.version,
        attempts=req.attempts,
        error=req.error,
    )
    record.response_id = req.response_id
    record.usage_estimated = req.usage_estimated and req.cache != "HIT"
    record.guardrails = req.guardrails
    record.prompt = req.prompt
    if req.caller is not None or any(h in req.headers for h in _METADATA_HEADERS):
        record.metadata = _metadata(req)
    parent = req.headers.get(b"traceparent")
    if parent is not None:  # for OpenTelemetry: the request's span continues the client's trace
        record.traceparent = parent.decode("latin-1")
    if req.request_body is not None:
        secrets = _client_secrets(req)
        record.request_body = redact(req.request_body.decode("utf-8", "replace"), secrets)
        sent = req.response
        if sent is not None:
            text = (
                "(over 1 MiB: not kept)"
                if sent.too_large
                else b"".join(sent.chunks).decode("utf-8", "replace")
            )
            record.response_body = redact(text, secrets)
    return record


def _metadata(req: Request) -> dict[str, Any]:
    """The request's metadata as routing sees it: the header's, overridden by the token's."""
    merged: dict[str, Any] = routing.header_metadata(
        next((req.headers[h] for h in _METADATA_HEADERS if h in req.headers), None)
    )
    token = req.caller.token if req.caller is not None else None
    if token is not None:
        merged.update(token.metadata)
    return merged


def _client_secrets(req: Request) -> list[str]:
    """Every credential the client sent and every stored key: none may reach a logged body."""
    found = [
        value.decode("latin-1").removeprefix("Bearer ").strip()
        for name, value in req.headers.items()
        if name in _CREDENTIAL_HEADERS
    ]
    return found + [k.secret for k in req.table.keys.values() if k.secret]
