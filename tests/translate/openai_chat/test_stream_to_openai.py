"""Streams, Anthropic events -> OpenAI chunks, checked by the OpenAI SDK."""

from __future__ import annotations

import pytest

from gateway.translate import StreamIncomplete
from gateway.translate.openai_chat import (
    AnthropicStreamToOpenAI,
    StreamError,
)
from tests.translate.openai_chat.support import (
    a2o_stream,
    anthropic_events,
    anthropic_message,
    openai_sdk_completion,
)


def test_realistic_anthropic_stream_through_the_openai_sdk() -> None:
    message = anthropic_message()
    message["content"].append({"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}})
    chunks = a2o_stream(anthropic_events(message))
    # Same id/created/model everywhere; role only first; each tool's id and name only in its first delta.
    assert {(c["id"], c["created"], c["model"]) for c in chunks} == {
        (chunks[0]["id"], chunks[0]["created"], "gpt-client-model")
    }
    assert [c["choices"][0]["delta"].get("role") for c in chunks if c["choices"]].count("assistant") == 1
    tool_deltas = [t for c in chunks if c["choices"] for t in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [t["index"] for t in tool_deltas if "id" in t] == [0, 1]
    assert all(
        set(t) == {"index", "function"} and set(t["function"]) == {"arguments"}
        for t in tool_deltas
        if "id" not in t
    )
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 2160
    final = openai_sdk_completion(chunks)
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Paris is sunny."
    assert choice.message.model_extra["reasoning_content"] == "Let me check."
    assert [(t.id, t.function.name, t.function.arguments) for t in choice.message.tool_calls] == [
        ("toolu_01A", "get_weather", '{"city":"Paris"}'),
        ("toolu_01B", "get_time", "{}"),
    ]
    assert (
        final.usage.prompt_tokens == 2160
        and final.usage.completion_tokens == 87
        and final.usage.total_tokens == 2247
    )
    assert final.usage.prompt_tokens_details.cached_tokens == 2048


def test_anthropic_stream_usage_chunk_only_when_asked() -> None:
    events = anthropic_events(
        anthropic_message(content=[{"type": "text", "text": "hi"}], stop_reason="end_turn")
    )
    chunks = a2o_stream(events, include_usage=False)
    assert all(c["choices"] for c in chunks) and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert openai_sdk_completion(chunks).choices[0].message.content == "hi"


def test_anthropic_stream_errors_and_truncation() -> None:
    converter = AnthropicStreamToOpenAI("g")
    converter.feed(anthropic_events(anthropic_message())[0])
    with pytest.raises(StreamError) as info:
        converter.feed({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert (info.value.kind, info.value.message) == ("overloaded_error", "Overloaded")
    assert info.value.openai_chunk() == {
        "error": {
            "message": "Overloaded",
            "type": "overloaded_error",
            "param": None,
            "code": "upstream_error",
        }
    }
    converter = AnthropicStreamToOpenAI("g")
    for event in anthropic_events(anthropic_message())[:-1]:
        converter.feed(event)
    with pytest.raises(StreamIncomplete):
        converter.finish()
