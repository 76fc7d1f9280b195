"""SSE decoding (any chunking, every line ending) and the two encoders, checked against the SDK decoders."""

from __future__ import annotations

import httpx2
import orjson
import pytest
from anthropic._streaming import SSEDecoder as AnthropicSDKDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.translate.sse import OPENAI_DONE, SSEDecoder, SSEEvent, encode_anthropic, encode_openai

ANTHROPIC_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1"}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"h\xc3\xa9llo \xe2\x9c\x93"}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def decode_all(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.finish()


def test_anthropic_stream_in_one_chunk() -> None:
    events = decode_all([ANTHROPIC_STREAM])
    assert [e.event for e in events] == ["message_start", "ping", "content_block_delta", "message_stop"]
    assert orjson.loads(events[2].data)["delta"]["text"] == "héllo ✓"


def test_split_at_every_byte_gives_the_same_events() -> None:
    whole = decode_all([ANTHROPIC_STREAM])
    for cut in range(1, len(ANTHROPIC_STREAM)):
        assert decode_all([ANTHROPIC_STREAM[:cut], ANTHROPIC_STREAM[cut:]]) == whole, cut
    # One byte at a time: also splits every UTF-8 sequence and line ending.
    assert decode_all([bytes([b]) for b in ANTHROPIC_STREAM]) == whole


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_endings(newline: bytes) -> None:
    stream = (b"event: a" + newline + b"data: 1" + newline + newline) * 2
    assert decode_all([stream]) == [SSEEvent("a", "1"), SSEEvent("a", "1")]
    # A \r\n split between chunks is one line ending, not two (which would dispatch an empty event early).
    chunks = (
        [stream[: stream.index(b"\r") + 1], stream[stream.index(b"\r") + 1 :]]
        if b"\r" in stream
        else [stream]
    )
    assert decode_all(chunks) == [SSEEvent("a", "1"), SSEEvent("a", "1")]


def test_comments_multiline_data_and_fields() -> None:
    stream = (
        b": keepalive\n\n"
        b"data: first\ndata:second\ndata\n\n"  # no space after the colon; a bare field name has value ""
        b"id: 7\nretry: 100\nevent: named\ndata: {}\n\n"
        b"event: keepalive\n\n"  # no data: not dispatched (the OpenAI SDK would crash on it)
        b"data: [DONE]\n\n"
    )
    assert decode_all([stream]) == [
        SSEEvent(None, "first\nsecond\n"),
        SSEEvent("named", "{}"),
        SSEEvent(None, "[DONE]"),
    ]


def test_bom_empty_data_and_unterminated_last_event() -> None:
    assert decode_all([b"\xef\xbb\xbfdata: x\n\ndata:\n\n"]) == [SSEEvent(None, "x"), SSEEvent(None, "")]
    # Servers that end with `data: [DONE]` and no blank line still deliver it at finish().
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: [DONE]") == [SSEEvent(None, "a")]
    assert decoder.finish() == [SSEEvent(None, "[DONE]")]
    decoder = SSEDecoder()
    assert decoder.feed(b"data: b\n") == []
    assert decoder.finish() == [SSEEvent(None, "b")]


def test_long_line_in_many_small_chunks() -> None:
    payload = "x" * 200_000
    stream = f"data: {payload}\n\n".encode()
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    assert decode_all(chunks) == [SSEEvent(None, payload)]


def test_encoders() -> None:
    event = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a\nb"}}
    encoded = encode_anthropic(event)
    assert encoded == b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,' + (
        b'"delta":{"type":"text_delta","text":"a\\nb"}}\n\n'
    )
    assert decode_all([encoded]) == [SSEEvent("content_block_delta", orjson.dumps(event).decode())]
    chunk = {"id": "c", "choices": []}
    assert encode_openai(chunk) == b'data: {"id":"c","choices":[]}\n\n'
    assert OPENAI_DONE == b"data: [DONE]\n\n"


def sdk_decode(stream: bytes) -> list[tuple[str | None, str]]:
    decoder = AnthropicSDKDecoder()
    response = httpx2.Response(200, content=stream)
    return [(e.event, e.data) for e in decoder.iter_bytes(response.iter_bytes())]


events_strategy = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from(["message_start", "content_block_delta", "ping", "error"])),
        st.lists(
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=30),
            min_size=1,
            max_size=3,
        ),
    ),
    max_size=8,
)


@settings(max_examples=100, deadline=None)
@given(
    events=events_strategy,
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6),
    comments=st.booleans(),
)
def test_property_any_chunking_matches_the_sdk_decoder(
    events: list[tuple[str | None, list[str]]], newline: bytes, cuts: list[int], comments: bool
) -> None:
    stream = b""
    for name, lines in events:
        if comments:
            stream += b": ping" + newline
        if name is not None:
            stream += b"event: " + name.encode() + newline
        for line in lines:
            stream += b"data: " + line.encode() + newline
        stream += newline
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    ours = [(e.event, e.data) for e in decode_all(chunks)]
    assert ours == [(name, "\n".join(lines)) for name, lines in events]
    if newline != b"\r":
        # The SDK's decoder, run on the same bytes, sees the same events (it also reports no-name events
        # as None and, unlike the spec, dispatches data-less ones, which these streams do not contain).
        assert sdk_decode(stream) == ours
