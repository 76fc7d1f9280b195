"""How streams end (http.md, Errors): a stream without its terminal event is a failure even when the
upstream closes cleanly; a complete one stays byte-exact; an idle stream carries `: keepalive` comments
(server.stream_keepalive) between events, never inside one."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.dataplane.exchange import Ending, ending_for_path
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGE = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "user", "content": "Hi"}],
}
CHAT = {"model": "gpt-5.2", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}


def _fed(kind: str | None, chunks: list[bytes]) -> str | None:
    ending = Ending(kind)
    for chunk in chunks:
        ending.feed(chunk)
    return ending.missing


def test_terminal_events_are_found_across_chunk_boundaries() -> None:
    stream = b'event: message_start\ndata: {}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    for cut in range(1, len(stream)):
        assert _fed("anthropic", [stream[:cut], stream[cut:]]) is None, cut
    openai = b'data: {"choices":[{"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    for cut in range(1, len(openai)):
        assert _fed("openai", [openai[:cut], openai[cut:]]) is None, cut
    # Byte by byte, the slowest drip.
    assert _fed("openai", [openai[i : i + 1] for i in range(len(openai))]) is None
    assert _fed("gemini", [b'data: {"candidates":[{"finishReason": "STOP"}]}\r\n\r\n']) is None
    # Gemini's finishReason may be followed by a long groundingMetadata; OpenAI's by usage and [DONE].
    long_tail = b'"groundingMetadata": {"chunks": "' + b"x" * 20_000 + b'"}}]}\r\n\r\n'
    assert _fed("gemini", [b'data: {"candidates":[{"finishReason": "STOP", ', long_tail]) is None
    piece = b'data: {"choices":[{"delta":{"content":"%d"},"finish_reason":null}]}\n\n'
    events = [piece % i for i in range(500)]
    events += [openai]
    assert _fed("openai", events) is None
    assert _fed("openai", events[:-1]) == "a finish_reason"
    assert _fed("anthropic", [b"event: content_block_delta\ndata: {}\n\n" * 50 + stream] * 200) is None


def test_a_terminal_event_longer_than_what_is_kept_is_found_in_small_pieces() -> None:
    # Responses' response.completed carries the whole Response (Codex's reasoning: tens of KB); read in
    # small pieces (a loaded machine), its event line is let go long before the stream ends.
    completed = b'event: response.completed\ndata: {"response":{"output":"' + b"x" * 20_000 + b'"}}\n\n'
    stream = b"event: response.created\ndata: {}\n\n" + completed
    for size in (1, 7, 512, 4096):
        pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert _fed("responses", pieces) is None, size
        assert _fed("responses", pieces[: -len(completed) // size]) == "event: response.completed", size
    anthropic = b"event: message_stop\ndata: {" + b" " * 9_000 + b"}\n\n"
    assert _fed("anthropic", [anthropic[i : i + 100] for i in range(0, len(anthropic), 100)]) is None


def test_what_is_not_a_terminal_event() -> None:
    # A model writing the words, inside JSON strings, ends nothing.
    text = (
        b'event: content_block_delta\ndata: {"delta":{"text":"\\nevent: message_stop '
        b'\\"finish_reason\\":\\"x"}}\n\n'
    )
    assert _fed("anthropic", [text]) == "event: message_stop"
    assert _fed("openai", [b'data: {"choices":[{"finish_reason":null}]}\n\n']) == "a finish_reason"
    # OpenAI needs both: a finish_reason, then [DONE].
    assert _fed("openai", [b'data: {"choices":[{"finish_reason":"stop"}]}\n\n']) == "data: [DONE]"
    assert _fed("gemini", [b'data: {"candidates":[{"content":{}}]}\r\n\r\n']) == "a finishReason"
    assert _fed(None, [b"anything"]) is None  # a stream of unknown kind is not judged
    assert ending_for_path("/v1/chat/completions") == "openai"
    assert ending_for_path("/models/gemini-2.5-flash:streamGenerateContent") == "gemini"
    assert ending_for_path("/model/x/converse-stream") == "anthropic"
    assert ending_for_path("/v1/files") is None


@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_a_clean_close_without_the_terminal_event_is_an_error(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, client: str
) -> None:
    fake, path, body, headers = (
        (anthropic_up, "/v1/messages", MESSAGE, ANTHROPIC_HEADERS)
        if client == "anthropic"
        else (openai_up, "/v1/chat/completions", CHAT, {})
    )
    fake.push(Script(end_after=3))
    raw = httpx.post(gw.url + path, json=body, headers=headers).content
    if client == "anthropic":
        assert b"event: message_stop" not in raw
        assert raw.rstrip().split(b"\n\n")[-1].startswith(b"event: error\ndata: {")
    else:
        assert b"[DONE]" not in raw
        assert raw.rstrip().split(b"\n\n")[-1].startswith(b'data: {"error":')
    assert b"the provider's stream ended before its last event" in raw
    record = gw.records(1)[-1]
    assert record["status"] == 502 and "stream ended before its last event" in record["error"]
    assert len(fake.requests) == 1


def test_a_complete_stream_stays_byte_exact(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    anthropic_up.push(Script())
    with httpx.stream("POST", gw.url + "/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS) as r:
        got = r.read()
    assert got.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert b"event: error" not in got and b"keepalive" not in got
    assert gw.records(1)[-1]["status"] == 200 and gw.records(1)[-1]["error"] is None


@pytest.fixture
def keepalive_gw(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> GatewayServer:
    return make_gateway(standard_config(anthropic_up, openai_up, "server: { stream_keepalive: 300ms }"))


def test_an_idle_stream_gets_keepalive_comments_between_events(
    keepalive_gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    anthropic_up.push(Script(stall_after=3, stall_seconds=1.6))
    started = time.monotonic()
    with httpx.stream(
        "POST", keepalive_gw.url + "/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
    ) as resp:
        raw = resp.read()
    took = time.monotonic() - started
    events = raw.split(b"\n\n")
    comments = [i for i, e in enumerate(events) if e == b": keepalive"]
    # 1.6 s of silence at one comment per 0.3 s: about five (fewer on a loaded machine, never none).
    assert 2 <= len(comments) <= 6, (len(comments), took)
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    # Between whole events only: every other block is a complete event.
    assert all(e.startswith(b"event: ") for i, e in enumerate(events[:-1]) if i not in comments)
    # OpenAI's dialect takes the same comment (SSE), and a translated stream too.
    openai_up.push(Script(stall_after=2, stall_seconds=1.0))
    raw = httpx.post(keepalive_gw.url + "/v1/chat/completions", json=CHAT).content
    assert b"\n\n: keepalive\n\n" in raw and raw.endswith(b"data: [DONE]\n\n")
    openai_up.push(Script(stall_after=2, stall_seconds=1.0))
    raw = httpx.post(keepalive_gw.url + "/v1/messages", json={**MESSAGE, "model": "gpt-5.2"}).content
    assert b"\n\n: keepalive\n\n" in raw and raw.endswith(b'data: {"type":"message_stop"}\n\n')


def test_no_keepalive_inside_an_event(keepalive_gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    # One byte every 0.35 s (longer than the keepalive interval): the stream is idle, but mid-event.
    anthropic_up.push(Script(drip=0.35))
    with httpx.stream(
        "POST", keepalive_gw.url + "/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS
    ) as resp:
        got = b""
        for chunk in resp.iter_bytes():
            got += chunk
            if len(got) >= 8:
                break
    assert b"keepalive" not in got


def test_keepalive_off(gw: GatewayServer, make_gateway: GatewayFactory, anthropic_up: FakeUpstream) -> None:
    off = make_gateway(standard_config(anthropic_up, anthropic_up, "server: { stream_keepalive: 0 }"))
    anthropic_up.push(Script(stall_after=3, stall_seconds=0.5))
    raw = httpx.post(off.url + "/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS).content
    assert b"keepalive" not in raw and raw.endswith(b'data: {"type":"message_stop"}\n\n')


def test_a_native_bedrock_stream_cut_short_ends_with_an_aws_exception_frame(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    """AWS's SDK reads event-stream frames: the failure is one of them (an SSE error would be noise)."""
    from botocore.exceptions import EventStreamError

    from tests.providers.test_bedrock import LLAMA, bedrock_config, boto3_bedrock

    gw = make_gateway(bedrock_config(bedrock_up, provider_keys="[stored]"))
    client = boto3_bedrock(gw.url)
    bedrock_up.push(Script(end_after=3, text_chunks=6))
    stream = client.converse_stream(modelId=LLAMA, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    with pytest.raises(EventStreamError) as info:
        for _ in stream["stream"]:
            pass
    assert "internalServerException" in str(info.value)
    assert "stream ended before its last event" in str(info.value)
    record = gw.records(1)[-1]
    assert record["status"] == 502 and "message_stop" in record["error"]
