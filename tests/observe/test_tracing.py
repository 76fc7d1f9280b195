"""OpenTelemetry: spans reach a real OTLP/HTTP endpoint (a small collector decoding the protobuf), with
GenAI attributes, one child per upstream attempt, and the client's traceparent continued."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script


class Collector:
    def __init__(self) -> None:
        self.spans: list[Any] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        collector.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.spans) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.spans


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    c = Collector()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    yield c
    c.server.shutdown()


def attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = value.string_value or value.int_value or value.double_value
    return out


def test_a_span_per_request_with_a_child_per_attempt(
    collector: Collector, make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            """
routes:
  sturdy:
    fallback: [anthropic/claude-haiku-4-5, openai/gpt-5-mini]
""",
        )
    )
    anthropic_up.push(Script(status=500))
    openai_up.push(Script(usage={"prompt_tokens": 21, "completion_tokens": 8}))
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = "00f067aa0ba902b7"
    sdk = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    sdk.messages.create(
        model="dynamic/sturdy",
        max_tokens=20,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    spans = collector.wait(3)
    assert len(spans) == 3
    (root,) = [s for s in spans if s.kind == 2]  # SERVER
    children = sorted((s for s in spans if s.kind == 3), key=lambda s: s.start_time_unix_nano)  # CLIENT
    assert root.trace_id.hex() == trace_id and root.parent_span_id.hex() == parent
    a = attrs(root)
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "dynamic/sturdy" and a["gen_ai.response.model"] == "gpt-5-mini"
    assert a["gen_ai.usage.input_tokens"] == 21 and a["gen_ai.usage.output_tokens"] == 8
    assert a["gateway.attempts"] == 2 and a["gateway.route"] == "sturdy"
    assert [attrs(c)["gen_ai.system"] for c in children] == ["anthropic", "openai"]
    assert [attrs(c)["http.response.status_code"] for c in children] == [500, 200]
    assert children[0].status.code == 2 and children[1].status.code != 2  # ERROR, then not
    for c in children:
        assert c.trace_id == root.trace_id and c.parent_span_id == root.span_id
        assert (
            root.start_time_unix_nano
            <= c.start_time_unix_nano
            <= c.end_time_unix_nano
            <= root.end_time_unix_nano
        )


def test_tracing_is_off_without_an_endpoint(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up))
    assert gw.app.tracing is None
