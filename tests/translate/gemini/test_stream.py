"""Gemini streams -> Anthropic stream events, checked against the stream contract."""

from __future__ import annotations

import json

import pytest

from gateway.translate import StreamIncomplete
from gateway.translate.gemini import (
    GeminiStreamError,
    GeminiStreamToAnthropic,
    anthropic_request_to_gemini,
)
from tests.fakes.script import Script
from tests.fakes.upstream import FakeUpstream
from tests.translate.gemini.support import (
    MODEL,
    TOOL_ID,
    WEATHER_TOOL,
    convert_stream,
    gemini_sse,
    request,
    user,
)
from tests.translate.stream_contract import accumulate, through_sdk


def test_fake_text_stream_through_the_sdk(fake: FakeUpstream) -> None:
    body = anthropic_request_to_gemini(request([user("Say hello")]))
    fake.push(
        Script(text="Hello there, streaming world.", text_chunks=4, usage={"cachedContentTokenCount": 3})
    )
    chunks = gemini_sse(fake, body)
    assert len(chunks) == 4
    events = convert_stream(chunks, estimate=77)
    assert events[0]["message"]["usage"]["input_tokens"] == 77  # Claude Code reads it here
    final = through_sdk(events)
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == "Hello there, streaming world."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    last = chunks[-1]["usageMetadata"]
    assert final.usage.input_tokens == last["promptTokenCount"] - 3
    assert final.usage.cache_read_input_tokens == 3
    assert final.usage.output_tokens == last["candidatesTokenCount"]
    assert accumulate(events).content[0].text == final.content[0].text  # type: ignore[union-attr]


def test_fake_tool_call_stream_through_the_sdk(fake: FakeUpstream) -> None:
    body = anthropic_request_to_gemini(request([user("Weather in Paris?")], tools=[WEATHER_TOOL]))
    fake.push(Script(text="Let me check.", tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]))
    events = convert_stream(gemini_sse(fake, body))
    final = through_sdk(events)
    assert [b.type for b in final.content] == ["text", "tool_use"]
    tool = final.content[1]
    assert tool.type == "tool_use" and tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert TOOL_ID.match(tool.id)
    assert final.stop_reason == "tool_use"
    start = next(e for e in events if e["type"] == "content_block_start" and e["index"] == 1)
    assert start["content_block"]["input"] == {}
    deltas = [e for e in events if e["type"] == "content_block_delta" and e["index"] == 1]
    assert len(deltas) == 1 and json.loads(deltas[0]["delta"]["partial_json"]) == {"city": "Paris"}


def test_thinking_text_and_tools_stream_in_order() -> None:
    usage = {"promptTokenCount": 50}
    chunks = [
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Think ", "thought": True}]}}],
            "usageMetadata": usage,
            "responseId": "r1",
        },
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "more.", "thought": True}, {"text": ""}]}}
            ]
        },
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Answer"}]}}]},
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {
                                "functionCall": {"name": "a", "args": {"x": [1, 2]}},
                                "thoughtSignature": "AAAA",
                            },
                            {"functionCall": {"name": "b", "args": {}}},
                        ],
                    }
                }
            ]
        },
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "after"}]}, "finishReason": "STOP"}
            ]
        },
        {
            "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 7, "thoughtsTokenCount": 11},
        },
    ]
    events = convert_stream(chunks)
    assert events[0]["message"]["id"] == "msg_r1"
    final = through_sdk(events)
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use", "text"]
    assert final.content[0].thinking == "Think more."  # type: ignore[union-attr]
    assert final.content[0].signature == ""  # type: ignore[union-attr]
    assert final.content[2].input == {"x": [1, 2]} and final.content[3].input == {}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 18 and final.usage.input_tokens == 50


def test_stream_without_finish_reason_is_incomplete(fake: FakeUpstream) -> None:
    body = anthropic_request_to_gemini(request([user("hi")]))
    fake.push(Script(text_chunks=3))
    chunks = gemini_sse(fake, body)[:-1]  # the last chunk carries finishReason
    converter = GeminiStreamToAnthropic(MODEL, 10)
    for chunk in chunks:
        converter.feed(chunk)
    with pytest.raises(StreamIncomplete):
        converter.finish()
    with pytest.raises(StreamIncomplete):
        GeminiStreamToAnthropic(MODEL, 10).finish()


def test_stream_error_chunk_raises(fake: FakeUpstream) -> None:
    body = anthropic_request_to_gemini(request([user("hi")]))
    fake.push(Script(text_chunks=3, error_event_after=1))
    chunks = gemini_sse(fake, body)
    converter = GeminiStreamToAnthropic(MODEL, 10)
    assert converter.feed(chunks[0])[0]["type"] == "message_start"
    with pytest.raises(GeminiStreamError) as info:
        converter.feed(chunks[1])
    assert info.value.code == 503 and info.value.error_type == "overloaded_error"
    assert "overloaded" in info.value.message
