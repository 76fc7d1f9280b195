"""OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
is set: one span per request with the GenAI semantic-convention attributes, and a child span per
upstream attempt, continuing the client's `traceparent`. Spans are built from the finished request's
record (its timings are in it), so tracing adds nothing to the request path but a queue put; the
exporter batches and sends from its own thread. The usual OTEL_* variables configure the exporter.

OpenTelemetry is the `otel` extra: it is imported only when tracing is on, so the core package runs
without it (`gateway serve` names the extra when the environment asks for tracing and it is missing)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

from gateway.observe.record import RequestRecord

OPERATIONS = {
    "/v1/messages": "chat",
    "/v1/chat/completions": "chat",
    "/v1/responses": "chat",
    "/v1/messages/count_tokens": "count_tokens",
}


def enabled() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


class Tracing:
    def __init__(
        self, provider_system: Callable[[str], str | None], exporter: SpanExporter | None = None
    ) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        service = os.environ.get("OTEL_SERVICE_NAME", "llm-gateway")
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("llm-gateway")
        self.provider_system = provider_system  # provider name -> gen_ai.system (its type's)
        self.propagator = TraceContextTextMapPropagator()

    def observe(self, record: RequestRecord) -> None:
        # Imported here, not at module level (see above); loaded by __init__, so a dict lookup.
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        end = int(record.ts * 1e9)
        start = end - int(record.latency_ms * 1e6)
        parent = (
            self.propagator.extract({"traceparent": record.traceparent})
            if record.traceparent is not None
            else None
        )
        operation = OPERATIONS.get(_endpoint(record.path), "http")
        model = record.client_model or record.model
        span = self.tracer.start_span(
            f"{operation} {model}" if model else f"{record.method} {record.path}",
            context=parent,
            kind=SpanKind.SERVER,
            start_time=start,
            attributes=_attributes(record, operation, self._system(record.provider)),
        )
        context = trace.set_span_in_context(span)
        for attempt in record.attempts:
            if attempt.skipped:
                continue  # no upstream call, no client span
            provider, _, upstream_model = attempt.target.partition("/")
            begin = start + int(attempt.start_ms * 1e6)
            child = self.tracer.start_span(
                f"{operation} {upstream_model}",
                context=context,
                kind=SpanKind.CLIENT,
                start_time=begin,
                attributes={
                    "gen_ai.operation.name": operation,
                    "gen_ai.system": self._system(provider),
                    "gen_ai.request.model": upstream_model,
                    "http.response.status_code": attempt.status,
                },
            )
            if attempt.error or attempt.status >= 400:
                child.set_status(Status(StatusCode.ERROR, str(attempt.error or attempt.status)))
            child.end(end_time=begin + int(attempt.duration_ms * 1e6))
        if record.status >= 400:
            span.set_status(Status(StatusCode.ERROR, str(record.error or record.status)))
        span.end(end_time=end)

    def _system(self, provider: str | None) -> str:
        system = self.provider_system(provider) if provider else None
        return system or provider or "unknown"

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes what is batched


def _endpoint(path: str) -> str:
    return "/" + path.split("/", 3)[3] if path.startswith("/g/") and path.count("/") >= 3 else path


def _attributes(record: RequestRecord, operation: str, system: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.system": system,
        "http.request.method": record.method,
        "http.response.status_code": record.status,
        "gateway.request_id": record.id,
        "gateway.name": record.gateway,
        "gateway.config_version": record.config_version,
    }
    optional = {
        "gen_ai.request.model": record.client_model,
        "gen_ai.response.model": record.model,
        "gen_ai.usage.input_tokens": record.input_tokens,
        "gen_ai.usage.output_tokens": record.output_tokens,
        "gen_ai.usage.cache_read_input_tokens": record.cache_read_tokens,
        "gen_ai.usage.cache_creation_input_tokens": record.cache_write_tokens,
        "gateway.route": record.route,
        "gateway.provider": record.provider,
        "gateway.cost_usd": record.cost_usd,
        "gateway.cache": record.cache,
        "gateway.attempts": sum(not a.skipped for a in record.attempts) or None,
        "gateway.token": record.token,
        "error.type": record.error and str(record.status),
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    return attributes
