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

# Provider type -> gen_ai.system (OpenTelemetry GenAI semantic conventions).
SYSTEMS = {"anthropic": "anthropic", "openai": "openai", "gemini": "gcp.gemini", "bedrock": "aws.bedrock",
           "vertex": "gcp.vertex_ai", "azure-openai": "az.ai.openai"}  # fmt: skip
OPERATIONS = {
    "/v1/messages": "chat",
    "/v1/chat/completions": "chat",
    "/v1/messages/count_tokens": "count_tokens",
}


def enabled() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


class Tracing:
    def __init__(
        self, provider_type: Callable[[str], str | None], exporter: SpanExporter | None = None
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
        self.provider_type = provider_type
        self.propagator = TraceContextTextMapPropagator()

    def observe(self, record: dict[str, Any]) -> None:
        # Imported here, not at module level (see above); loaded by __init__, so a dict lookup.
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        end = int(record["ts"] * 1e9)
        start = end - int((record.get("latency_ms") or 0) * 1e6)
        parent = (
            self.propagator.extract({"traceparent": record["traceparent"]})
            if "traceparent" in record
            else None
        )
        operation = OPERATIONS.get(_endpoint(record.get("path") or ""), "http")
        model = record.get("client_model") or record.get("model")
        span = self.tracer.start_span(
            f"{operation} {model}" if model else f"{record.get('method')} {record.get('path')}",
            context=parent,
            kind=SpanKind.SERVER,
            start_time=start,
            attributes=_attributes(record, operation, self._system(record.get("provider"))),
        )
        context = trace.set_span_in_context(span)
        for attempt in record.get("attempts") or ():
            provider, _, upstream_model = str(attempt.get("target", "")).partition("/")
            begin = start + int((attempt.get("start_ms") or 0) * 1e6)
            child = self.tracer.start_span(
                f"{operation} {upstream_model}",
                context=context,
                kind=SpanKind.CLIENT,
                start_time=begin,
                attributes={
                    "gen_ai.operation.name": operation,
                    "gen_ai.system": self._system(provider),
                    "gen_ai.request.model": upstream_model,
                    "http.response.status_code": attempt.get("status") or 0,
                },
            )
            if attempt.get("error") or (attempt.get("status") or 0) >= 400:
                child.set_status(Status(StatusCode.ERROR, str(attempt.get("error") or attempt.get("status"))))
            child.end(end_time=begin + int((attempt.get("duration_ms") or 0) * 1e6))
        if (record.get("status") or 0) >= 400:
            span.set_status(Status(StatusCode.ERROR, str(record.get("error") or record.get("status"))))
        span.end(end_time=end)

    def _system(self, provider: str | None) -> str:
        kind = self.provider_type(provider) if provider else None
        return SYSTEMS.get(kind or "", kind or provider or "unknown")

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes what is batched


def _endpoint(path: str) -> str:
    return "/" + path.split("/", 3)[3] if path.startswith("/g/") and path.count("/") >= 3 else path


def _attributes(record: dict[str, Any], operation: str, system: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.system": system,
        "http.request.method": record.get("method") or "",
        "http.response.status_code": record.get("status") or 0,
        "gateway.request_id": record.get("id") or "",
        "gateway.name": record.get("gateway") or "",
        "gateway.config_version": record.get("config_version") or "",
    }
    optional = {
        "gen_ai.request.model": record.get("client_model"),
        "gen_ai.response.model": record.get("model"),
        "gen_ai.usage.input_tokens": record.get("input_tokens"),
        "gen_ai.usage.output_tokens": record.get("output_tokens"),
        "gen_ai.usage.cache_read_input_tokens": record.get("cache_read_tokens"),
        "gen_ai.usage.cache_creation_input_tokens": record.get("cache_write_tokens"),
        "gateway.route": record.get("route"),
        "gateway.provider": record.get("provider"),
        "gateway.cost_usd": record.get("cost_usd"),
        "gateway.cache": record.get("cache"),
        "gateway.attempts": len(record.get("attempts") or ()) or None,
        "gateway.token": record.get("token"),
        "error.type": record.get("error") and str(record.get("status")),
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    return attributes
