"""Memory under reloads and streams (reliability.md R4, "RSS grows < 10%"): what a request or a reload
leaves behind must be freed by reference counting, not left in reference cycles for the cyclic
collector. `gateway serve` runs that collector rarely (gateway.app.tune_collector), so every cycle a
stream leaves holds its connection's objects (uvicorn's cycle, the transport, buffers) until a full
collection: at 50 requests a second, 70% streams, that garbage peaked at tens of thousands of objects
and grew the process by 20 MB over 1,000 reloads.

Each test turns the collector off, drives the real gateway over loopback, then asks the collector what
it would free: none of it may be the gateway's objects (other libraries' own cycles, the test client's
among them, are not counted)."""

from __future__ import annotations

import collections
import gc
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
STREAMS = 12


def _message(model: str, stream: bool) -> dict[str, object]:
    return {
        "model": model,
        "max_tokens": 20,
        "stream": stream,
        "messages": [{"role": "user", "content": "Hi"}],
    }


@pytest.fixture
def cycles() -> Iterator[Callable[[], collections.Counter[str]]]:
    """Collector off for the test; calling the result collects and counts the gateway's objects (by type)
    among the garbage found since."""
    gc.collect()
    gc.disable()

    def gateway_garbage() -> collections.Counter[str]:
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection frees lands in gc.garbage, to be counted
        try:
            gc.collect()
            return collections.Counter(
                f"{type(o).__module__}.{type(o).__qualname__}"
                for o in gc.garbage
                if type(o).__module__.startswith("gateway.")
            )
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.collect()

    try:
        yield gateway_garbage
    finally:
        gc.enable()


@pytest.fixture
def garbage_gw(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> GatewayServer:
    return make_gateway(standard_config(anthropic_up, openai_up))


def test_streams_leave_no_cycles(
    garbage_gw: GatewayServer,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    cycles: Callable[[], collections.Counter[str]],
) -> None:
    """Native and translated streams, in both client formats (each one holds a keepalive timer)."""
    anthropic_up.push(*(Script(chunk_delay=0.01) for _ in range(STREAMS)))
    openai_up.push(*(Script(chunk_delay=0.01) for _ in range(STREAMS)))
    cycles()  # the start-up's own garbage is not the requests'
    with httpx.Client(base_url=garbage_gw.url, timeout=30) as client:
        for i in range(STREAMS):
            model = "claude-haiku-4-5" if i % 2 == 0 else "gpt-5.2"
            if i % 4 < 2:
                r = client.post("/v1/messages", json=_message(model, True), headers=ANTHROPIC_HEADERS)
            else:
                r = client.post("/v1/chat/completions", json=_message(model, True))
            assert r.status_code == 200 and (b"message_stop" in r.content or b"[DONE]" in r.content)
    assert garbage_gw.records(STREAMS)
    found = cycles()
    assert not found, found


def test_answers_and_refusals_leave_no_cycles(
    garbage_gw: GatewayServer,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    cycles: Callable[[], collections.Counter[str]],
) -> None:
    """Whole answers, upstream errors and the gateway's own refusals."""
    cycles()
    with httpx.Client(base_url=garbage_gw.url, timeout=30) as client:
        for i in range(4):
            model = "claude-haiku-4-5" if i % 2 == 0 else "gpt-5.2"
            stream = i > 1
            r = client.post("/v1/messages", json=_message(model, False), headers=ANTHROPIC_HEADERS)
            assert r.status_code == 200
            assert client.post("/v1/chat/completions", json=_message(model, False)).status_code == 200
            (anthropic_up if i % 2 == 0 else openai_up).push(Script(status=500))
            r = client.post("/v1/messages", json=_message(model, stream), headers=ANTHROPIC_HEADERS)
            assert r.status_code == 500
            r = client.post("/v1/messages", json=_message("no-such-model", False), headers=ANTHROPIC_HEADERS)
            assert r.status_code == 404
            assert client.post("/v1/chat/completions", content=b"{not json").status_code == 400
            assert client.get("/v1/models").status_code == 200
    found = cycles()
    assert not found, found


def test_reloads_leave_no_cycles(
    garbage_gw: GatewayServer, cycles: Callable[[], collections.Counter[str]]
) -> None:
    """Valid reloads that swap tables, and rejected ones."""
    config = garbage_gw.config / "gateway.yaml"
    good = config.read_text()
    cycles()
    for i in range(6):
        config.write_text(good.replace("claude-haiku-4-5", "claude-opus-4-8") if i % 2 == 0 else good)
        assert garbage_gw.reload().ok
        config.write_text(good + "models2: {}\n")
        assert not garbage_gw.reload().ok
    config.write_text(good)
    found = cycles()
    assert not found, found


def test_closed_upstream_connections_leave_no_cycles(
    garbage_gw: GatewayServer,
    anthropic_up: FakeUpstream,
    cycles: Callable[[], collections.Counter[str]],
) -> None:
    """Upstream connections that end: a stream the upstream cuts, a client that leaves mid-stream."""
    anthropic_up.push(*(Script(cut_after=2) for _ in range(3)))
    anthropic_up.push(*(Script(stall_after=2, stall_seconds=5) for _ in range(3)))
    cycles()
    with httpx.Client(base_url=garbage_gw.url, timeout=30) as client:
        for _ in range(3):
            r = client.post(
                "/v1/messages", json=_message("claude-haiku-4-5", True), headers=ANTHROPIC_HEADERS
            )
            assert r.status_code == 200 and b"event: error" in r.content
    for _ in range(3):
        with httpx.stream(
            "POST",
            garbage_gw.url + "/v1/messages",
            json=_message("claude-haiku-4-5", True),
            headers=ANTHROPIC_HEADERS,
        ) as r:
            next(r.iter_raw())  # then leave
    assert garbage_gw.records(6)
    time.sleep(0.5)  # the gateway sees the disconnects and closes the upstream connections
    found = cycles()
    assert not found, found
