"""Streams, OpenAI chunks -> Anthropic events, checked by the Anthropic SDK."""

from __future__ import annotations

import pytest

from gateway.translate import StreamIncomplete
from gateway.translate.openai_chat import (
    OpenAIStreamToAnthropic,
    StreamError,
    short_tool_name,
)
from tests.translate.openai_chat.support import (
    anthropic_sdk_message,
    call_delta,
    o2a_stream,
    openai_chunk,
)

# Streams: OpenAI -> Anthropic


def test_realistic_openai_stream_through_the_anthropic_sdk() -> None:
    chunks = [
        openai_chunk({"role": "assistant", "content": "", "refusal": None}),
        openai_chunk({"reasoning_content": "The user "}),
        openai_chunk({"reasoning_content": "wants two cities."}),
        openai_chunk({"content": "Checking "}),
        openai_chunk({"content": "both."}),
        openai_chunk(call_delta(0, "call_a", "get_weather")),
        openai_chunk(call_delta(0, args='{"city": "Pa')),
        # Interleaved: the second call starts while the first one's arguments are incomplete.
        openai_chunk(call_delta(1, "call_b", "get_time")),
        openai_chunk(call_delta(1, args='{"tz": ')),
        openai_chunk(call_delta(0, args='ris"}')),
        openai_chunk(call_delta(1, args='"CET"}')),
        openai_chunk({}, "tool_calls"),
        openai_chunk(
            None,
            usage={
                "prompt_tokens": 2060,
                "completion_tokens": 40,
                "total_tokens": 2100,
                "prompt_tokens_details": {"cached_tokens": 2048},
            },
        ),
    ]
    events = o2a_stream(chunks, estimate=2100)
    assert events[0]["message"]["usage"] == {
        "input_tokens": 2100,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    message = anthropic_sdk_message(events)
    assert [b.to_dict() for b in message.content] == [
        {"type": "thinking", "thinking": "The user wants two cities.", "signature": ""},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {"tz": "CET"}},
    ]
    assert message.stop_reason == "tool_use" and message.model == "claude-client-model"
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (12, 2048, 40)
    # The second call's first fragment was held back until the first call's arguments were complete.
    order = [(e["type"], e.get("index")) for e in events if e["type"].startswith("content_block")]
    assert order.index(("content_block_stop", 2)) < order.index(("content_block_start", 3))
    deltas = [
        e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta" and e["index"] >= 2
    ]
    assert deltas == ['{"city": "Pa', 'ris"}', '{"tz": ', '"CET"}']


def test_text_while_a_tool_call_is_incomplete_waits_for_it() -> None:
    chunks = [
        openai_chunk(call_delta(0, "c0", "a", '{"x":')),
        openai_chunk({"content": "between"}),
        openai_chunk(call_delta(0, args=" 1}")),
        openai_chunk({"content": " more"}),
        openai_chunk(call_delta(1, "c1", "b", "{}")),
        openai_chunk({}, "tool_calls"),
    ]
    message = anthropic_sdk_message(o2a_stream(chunks))
    assert [b.to_dict() for b in message.content] == [
        {"type": "tool_use", "id": "c0", "name": "a", "input": {"x": 1}},
        {"type": "text", "text": "between more"},
        {"type": "tool_use", "id": "c1", "name": "b", "input": {}},
    ]


def test_stream_quirks_of_compatible_servers() -> None:
    chunks = [
        # Everything in one chunk, finish_reason included (fake streaming), with the usage attached.
        openai_chunk(
            {
                "reasoning": "hm",
                "content": "Hi",
                **call_delta(0, "functions.Bash:0", short_tool_name("x" * 80), '{"a":1}'),
            },
            "stop",
            usage={"prompt_tokens": 10, "completion_tokens": 3},
        ),
    ]
    events = o2a_stream(chunks, tool_names={short_tool_name("x" * 80): "x" * 80})
    message = anthropic_sdk_message(events)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    tool = message.content[2]
    assert (
        tool.type == "tool_use"
        and tool.name == "x" * 80
        and tool.id == "functions_Bash_0"
        and tool.input == {"a": 1}
    )
    assert message.stop_reason == "tool_use"  # upstream said stop, but there are tool calls
    # Every parallel call under index 0 with a fresh id (Portkey-style): still separate blocks.
    chunks = [
        openai_chunk(call_delta(0, "c1", "f", '{"n":1}')),
        openai_chunk(call_delta(0, "c2", "f", '{"n":2}')),
        openai_chunk({}, "tool_calls"),
    ]
    message = anthropic_sdk_message(o2a_stream(chunks))
    assert [(b.id, b.input) for b in message.content if b.type == "tool_use"] == [
        ("c1", {"n": 1}),
        ("c2", {"n": 2}),
    ]


def test_stream_without_usage_refusal_and_empty_deltas() -> None:
    chunks = [
        openai_chunk({"role": "assistant", "content": ""}),
        openai_chunk({"content": ""}),
        openai_chunk({"refusal": "I can't "}),
        openai_chunk({"refusal": "do that."}),
        openai_chunk({}, "stop"),
    ]
    events = o2a_stream(chunks, estimate=77)
    message = anthropic_sdk_message(events)
    assert message.content[0].to_dict() == {"type": "text", "text": "I can't do that."}
    assert message.stop_reason == "refusal"
    # No usage chunk: the estimate stays, output is estimated from the text.
    assert message.usage.input_tokens == 77 and message.usage.output_tokens == 4
    empty = anthropic_sdk_message(
        o2a_stream([openai_chunk({"role": "assistant"}), openai_chunk({}, "length")])
    )
    assert empty.content == [] and empty.stop_reason == "max_tokens"


def test_incomplete_and_failed_openai_streams() -> None:
    converter = OpenAIStreamToAnthropic("c", 5)
    converter.feed(openai_chunk({"content": "partial"}))
    with pytest.raises(StreamIncomplete):
        converter.finish()
    with pytest.raises(StreamIncomplete):
        OpenAIStreamToAnthropic("c", 5).finish()
    converter = OpenAIStreamToAnthropic("c", 5)
    converter.feed(openai_chunk({"content": "partial"}))
    with pytest.raises(StreamError) as info:
        converter.feed(
            {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
        )
    assert info.value.kind == "rate_limit_error" and info.value.message == "Rate limit reached"
    assert info.value.anthropic_event() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Rate limit reached"},
    }
    for error, kind in (
        ({"message": "x", "code": 503}, "overloaded_error"),
        ({"message": "x", "type": "server_error"}, "api_error"),
        ({"message": "x", "code": "context_length_exceeded"}, "invalid_request_error"),
        ("plain string", "api_error"),
    ):
        with pytest.raises(StreamError) as info:
            OpenAIStreamToAnthropic("c", 5).feed({"error": error})
        assert info.value.kind == kind
