"""Usage read from SSE streams on the side, however the bytes are chunked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.core.usage import StreamSniffer
from gateway.providers import anthropic, gemini, openai

ANTHROPIC_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":472,'
    b'"cache_creation_input_tokens":3,"cache_read_input_tokens":10240,"output_tokens":2}}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":"usage error"}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":91}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
OPENAI_STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":2060,"completion_tokens":40,'
    b'"prompt_tokens_details":{"cached_tokens":2048}}}\n\ndata: [DONE]\n\n'
)
GEMINI_STREAM = (
    b'data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":9,'
    b'"candidatesTokenCount":4,"thoughtsTokenCount":2}}\r\n\r\n'
)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(st.lists(st.integers(min_value=0), max_size=12))
def test_anthropic_usage_whatever_the_chunking(cuts: list[int]) -> None:
    sniffer = StreamSniffer(anthropic.read_usage)
    for chunk in split_at(ANTHROPIC_STREAM, cuts):
        sniffer.feed(chunk)
    u = sniffer.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens) == (472, 91, 10240, 3)
    assert sniffer.error is None  # the word "error" inside text is not an error event


@given(st.lists(st.integers(min_value=0), max_size=12))
def test_openai_usage_is_made_exclusive_of_cache(cuts: list[int]) -> None:
    sniffer = StreamSniffer(openai.read_usage)
    for chunk in split_at(OPENAI_STREAM, cuts):
        sniffer.feed(chunk)
    u = sniffer.usage
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens) == (12, 2048, 40)


@given(st.lists(st.integers(min_value=0), max_size=6))
def test_gemini_crlf_framing(cuts: list[int]) -> None:
    sniffer = StreamSniffer(gemini.read_usage)
    for chunk in split_at(GEMINI_STREAM, cuts):
        sniffer.feed(chunk)
    assert (sniffer.usage.input_tokens, sniffer.usage.output_tokens) == (9, 6)


def test_error_events_are_noticed() -> None:
    sniffer = StreamSniffer(anthropic.read_usage)
    sniffer.feed(
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    assert sniffer.error == "Overloaded"
