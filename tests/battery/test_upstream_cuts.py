"""R2, upstreams that die (reliability.md section 7; http.md, Errors): a stream whose upstream is reset
at chunk 0, 1 or 10, sends a malformed chunk, an error event, stalls, or ends cleanly without its terminal
event, for each provider format (Anthropic, OpenAI, Gemini, Claude on Bedrock, Converse on Bedrock),
same-format and translated, read by both SDKs. Every one must end with the client dialect's error event
(the SDK raises), none with `message_stop` or `[DONE]`, after exactly one upstream attempt, logged as an
error. A non-streamed answer cut short (truncated JSON) is a 502 in the client's envelope.

The SDKs read through a recording transport, so the bytes the client got are checked too."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from tests.battery.conftest import scale
from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config, with_clouds
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

IDLE = 0.6  # the providers' idle timer here: a stall must be reported within IDLE + 0.5 s
MODELS = {
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-5.2",
    "gemini": "gemini-2.5-flash",
    "bedrock": "br-claude",  # InvokeModel: Anthropic's events in AWS event-stream frames
    "converse": "br-llama",  # ConverseStream, translated to Anthropic's events
}
HI = [{"role": "user", "content": "Hi"}]
FAULTS: dict[str, Script] = {
    "rst-0": Script(cut_after=0, text_chunks=12),
    "rst-1": Script(cut_after=1, text_chunks=12),
    "rst-10": Script(cut_after=10, text_chunks=12),
    "malformed": Script(malformed_after=3, text_chunks=12),
    "error-event": Script(error_event_after=3, text_chunks=12),
    "stall": Script(stall_after=3, stall_seconds=30, text_chunks=12),
    "clean-end": Script(end_after=4, text_chunks=12),
}


class _Recording(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, sink: list[bytes]) -> None:
        self.inner, self.sink = inner, sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.sink.append(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class Tee(httpx2.HTTPTransport):
    """An httpx2 transport (the SDKs' HTTP client) keeping a copy of each body as the SDK reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[list[bytes]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        resp = super().handle_request(request)
        sink: list[bytes] = []
        self.bodies.append(sink)
        assert isinstance(resp.stream, httpx2.SyncByteStream)
        return httpx2.Response(
            resp.status_code,
            headers=resp.headers,
            stream=_Recording(resp.stream, sink),
            extensions=resp.extensions,
            request=request,
        )

    def last(self) -> bytes:
        return b"".join(self.bodies[-1])


def _short_idle(config: str) -> str:
    """Every provider with a short idle timer, so stalls are reported quickly."""
    return re.sub(
        r"^(  [\w-]+: \{ type: .*) \}$",
        lambda m: f"{m.group(1)}, timeouts: {{ idle: {int(IDLE * 1000)}ms }} }}",
        config,
        flags=re.MULTILINE,
    )


@pytest.fixture
def gw(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    bedrock_up: FakeUpstream,
    vertex_up: FakeUpstream,
    tmp_path: Path,
) -> GatewayServer:
    config = standard_config(anthropic_up, openai_up)
    config = config.replace(
        "providers:\n", f'providers:\n  google: {{ type: gemini, base_url: "{gemini_up.base_url}" }}\n'
    )
    config = config.replace("keys:\n", 'keys:\n  google-main: { provider: google, secret: "gemini-key" }\n')
    models = """
        gemini-*: google/*
        br-claude: "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        br-llama: "bedrock/meta.llama3-3-70b-instruct-v1:0"
    """
    config = _short_idle(with_clouds(config, bedrock_up, vertex_up, tmp_path, models))
    assert config.count(f"idle: {int(IDLE * 1000)}ms") >= 5
    return make_gateway(config)


def _stream(gw: GatewayServer, client: str, model: str) -> tuple[BaseException | None, bytes, float]:
    """One streamed call through `client`'s SDK; (what it raised, the raw body, seconds taken)."""
    tee = Tee()
    started = time.monotonic()
    raised: BaseException | None = None
    try:
        if client == "anthropic":
            sdk = anthropic_client(gw, key="client-key", http_client=httpx2.Client(transport=tee))
            with sdk.messages.stream(
                model=model, max_tokens=256, messages=[{"role": "user", "content": "Hi"}]
            ) as s:
                for _ in s:
                    pass
        else:
            osdk = openai_client(gw, key="client-key", http_client=httpx2.Client(transport=tee))
            with osdk.chat.completions.stream(model=model, messages=[{"role": "user", "content": "Hi"}]) as o:
                for _ in o:
                    pass
    except (anthropic.APIError, openai.APIError, ValueError) as exc:
        # A malformed same-format chunk is relayed as it came (byte-exact): the SDK's JSON parse fails
        # on it (ValueError) before it reads the error event that follows.
        raised = exc
    return raised, tee.last(), time.monotonic() - started


def _raw_stream(gw: GatewayServer, client: str, model: str) -> bytes:
    message = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    if client == "anthropic":
        headers = {"anthropic-version": "2023-06-01", "x-api-key": "client-key"}
        body = {**message, "max_tokens": 64}
        return httpx.post(gw.url + "/v1/messages", headers=headers, json=body).content
    headers = {"authorization": "Bearer client-key"}
    return httpx.post(gw.url + "/v1/chat/completions", headers=headers, json=message).content


def _ends_with_error_event(raw: bytes, client: str) -> bool:
    blocks = [b for b in raw.replace(b"\r\n", b"\n").split(b"\n\n") if b.strip()]
    if not blocks:
        return False
    last = blocks[-1]
    if client == "anthropic":
        return last.startswith(b"event: error\ndata: {") and b'"type":"error"' in last
    return last.startswith(b'data: {"error":')


def test_every_cut_stream_ends_with_an_error_event(
    gw: GatewayServer,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    bedrock_up: FakeUpstream,
    figures: dict[str, Any],
) -> None:
    fakes = {
        "anthropic": anthropic_up,
        "openai": openai_up,
        "gemini": gemini_up,
        "bedrock": bedrock_up,
        "converse": bedrock_up,
    }
    rounds = scale(1, 4)
    problems: list[str] = []
    lock = threading.Lock()
    count = 0
    stall_times: list[float] = []

    def run_group(upstreams: tuple[str, ...]) -> None:
        # One fake's scripts are a FIFO: its cases run one at a time; different fakes run in parallel.
        nonlocal count
        for _ in range(rounds):
            for upstream in upstreams:
                fake = fakes[upstream]
                for client in ("anthropic", "openai"):
                    for fault, script in FAULTS.items():
                        before = len(fake.requests)
                        fake.push(script)
                        raised, raw, took = _stream(gw, client, MODELS[upstream])
                        attempts = len(fake.requests) - before
                        if isinstance(raised, ValueError):
                            # The SDK stopped reading at the malformed chunk: read what follows raw.
                            before = len(fake.requests)
                            fake.push(script)
                            raw = _raw_stream(gw, client, MODELS[upstream])
                            attempts = max(attempts, len(fake.requests) - before)
                            with lock:
                                count += 1
                        case = f"{client}-sdk -> {upstream}, {fault}"
                        found = []
                        if raised is None:
                            found.append("the SDK did not raise")
                        if not _ends_with_error_event(raw, client):
                            found.append(f"no {client} error event at the end: {raw[-300:]!r}")
                        if b"event: message_stop" in raw or b"data: [DONE]" in raw:
                            found.append("a clean end after the failure")
                        if attempts != 1:
                            found.append(f"{attempts} upstream attempts")
                        with lock:
                            count += 1
                            if fault == "stall":
                                stall_times.append(took)
                                if took > IDLE + 0.5 + 0.5:  # the SDK's own set-up, on a loaded machine
                                    found.append(f"the stall was reported after {took:.2f}s")
                            problems.extend(f"{case}: {p}" for p in found)

    groups = [("anthropic",), ("openai",), ("gemini",), ("bedrock", "converse")]
    with ThreadPoolExecutor(len(groups)) as pool:
        for done in [pool.submit(run_group, g) for g in groups]:
            done.result()

    records = gw.records(count, timeout=10)
    model_records = [r for r in records if r["path"] in ("/v1/messages", "/v1/chat/completions")]
    clean = [r for r in model_records if r["status"] == 200 or not r["error"]]
    figures.update(
        streams=count,
        failures=len(problems),
        records_logged_clean=len(clean),
        stall_report_max_s=round(max(stall_times), 3),
        faults=sorted(FAULTS),
        upstreams=sorted(MODELS),
    )
    assert not problems, "\n".join(problems[:40])
    assert len(model_records) == count
    assert not clean, clean[:3]


@pytest.mark.parametrize("client", ["anthropic", "openai"])
@pytest.mark.parametrize("upstream", sorted(MODELS))
def test_a_truncated_answer_is_a_502_in_the_clients_envelope(
    gw: GatewayServer,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    bedrock_up: FakeUpstream,
    client: str,
    upstream: str,
) -> None:
    fake = {"anthropic": anthropic_up, "openai": openai_up, "gemini": gemini_up}.get(upstream, bedrock_up)
    fake.push(Script(body=b'{"id": "cut-short", "content": [{"type": "text", "text": "Hel'))
    if client == "anthropic":
        resp = httpx.post(
            gw.url + "/v1/messages",
            headers={"anthropic-version": "2023-06-01", "x-api-key": "client-key"},
            json={"model": MODELS[upstream], "max_tokens": 64, "messages": HI},
        )
        assert resp.status_code == 502, resp.text
        body = resp.json()
        assert body["type"] == "error" and body["error"]["type"] == "api_error"
    else:
        resp = httpx.post(
            gw.url + "/v1/chat/completions",
            headers={"authorization": "Bearer client-key"},
            json={"model": MODELS[upstream], "messages": HI},
        )
        assert resp.status_code == 502, resp.text
        assert resp.json()["error"]["type"] == "api_error"
    assert "not complete JSON" in resp.text
    record = gw.records(1)[-1]
    assert record["status"] == 502 and "not complete JSON" in record["error"]


def test_native_passthrough_of_a_truncated_answer_is_a_502(
    gw: GatewayServer, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> None:
    openai_up.push(Script(body=b'{"id": "chatcmpl-1", "choices": [{"mess'))
    resp = httpx.post(
        gw.url + "/openai/chat/completions",
        json={"model": "gpt-5.2", "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert resp.status_code == 502 and resp.json()["error"]["type"] == "api_error"
    # Another content type is relayed as it is: the gateway does not judge what it cannot read.
    openai_up.push(Script(body=b"plain text, not JSON", headers={"Content-Type": "text/plain"}))
    resp = httpx.post(
        gw.url + "/openai/chat/completions",
        json={"model": "gpt-5.2", "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert resp.status_code == 200 and resp.content == b"plain text, not JSON"
    # A native Gemini stream that ends without a finishReason ends with an error event too.
    gemini_up.push(Script(end_after=1, text_chunks=4))
    raw = httpx.post(
        gw.url + "/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        json={"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
    )
    assert raw.status_code == 200
    assert b'"finishReason"' not in raw.content and raw.content.rstrip().endswith(b"}")
    assert b'data: {"error":' in raw.content
    assert gw.records(3)[-1]["status"] == 502
