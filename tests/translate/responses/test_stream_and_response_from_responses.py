"""Responses API answers and streams -> the hub: the fake Responses endpoint's real output, converted and
read with the Anthropic SDK's own accumulator; failures and cut streams as StreamFailure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.translate import StreamFailure, StreamIncomplete
from gateway.translate.responses import (
    REASONING_PREFIX,
    ResponsesStreamToAnthropic,
    responses_response_to_anthropic,
)
from gateway.translate.sse import SSEDecoder
from tests.fakes.upstream import FakeUpstream, Script
from tests.translate.stream_contract import through_sdk

TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}
WEATHER = {"id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}


@pytest.fixture(scope="module")
def _fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai") as upstream:
        yield upstream


@pytest.fixture
def fake(_fake: FakeUpstream) -> FakeUpstream:
    _fake.reset()
    return _fake


def _request(stream: bool, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-5-codex", "input": "q", "tools": [TOOL], "stream": stream, **extra}


def _post(fake: FakeUpstream, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{fake.base_url}/responses", json=body, headers={"Authorization": "Bearer k"})


def _events(fake: FakeUpstream, script: Script, **extra: Any) -> list[dict[str, Any]]:
    fake.push(script)
    decoder = SSEDecoder()
    raw = _post(fake, _request(True, **extra)).content
    return [orjson.loads(event.data) for event in decoder.feed(raw)]


def _convert(events: list[dict[str, Any]], names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    converter = ResponsesStreamToAnthropic("client-model", 42, names)
    out = [hub for event in events for hub in converter.feed(event)]
    return out + converter.finish()


INCLUDE = {"include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low", "summary": "auto"}}


def test_stream_reasoning_text_and_tools(fake: FakeUpstream) -> None:
    script = Script(
        thinking="First I think.",
        text="Here it is.",
        tool_calls=[WEATHER, {"id": "call_2", "name": "short_x", "input": {}}],
        usage={"input_tokens": 50, "cached_tokens": 20, "output_tokens": 9, "reasoning_tokens": 3},
    )
    hub = _convert(_events(fake, script, **INCLUDE), {"short_x": "a_long_client_name"})
    assert hub[0]["message"]["usage"]["input_tokens"] == 42  # the estimate until the answer's usage
    message = through_sdk(hub)
    thinking, text, weather, renamed = message.content
    assert thinking.type == "thinking" and thinking.thinking == "First I think."
    assert thinking.signature.startswith(REASONING_PREFIX)
    assert text.type == "text" and text.text == "Here it is."
    assert weather.type == "tool_use" and weather.input == {"city": "Paris"} and weather.id == "call_1"
    assert renamed.type == "tool_use" and renamed.name == "a_long_client_name" and renamed.input == {}
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 30 and message.usage.cache_read_input_tokens == 20
    assert message.usage.output_tokens == 9


def test_stream_and_whole_answer_agree(fake: FakeUpstream) -> None:
    script = Script(thinking="Think.", text="Answer.", tool_calls=[WEATHER])
    streamed = through_sdk(_convert(_events(fake, script, **INCLUDE)))
    fake.push(script)
    whole = responses_response_to_anthropic(_post(fake, _request(False, **INCLUDE)).json(), "client-model")
    assert [b["type"] for b in whole["content"]] == [b.type for b in streamed.content]
    assert whole["content"][1]["text"] == "Answer." and whole["stop_reason"] == "tool_use"
    assert whole["content"][2]["input"] == {"city": "Paris"}
    assert whole["id"].startswith("msg_") and whole["model"] == "client-model"


def test_reasoning_without_summary_or_include(fake: FakeUpstream) -> None:
    # Not included: no encrypted content, so the item carries nothing and opens no block.
    hub = _convert(_events(fake, Script(thinking="", text="Plain.")))
    assert [b.type for b in through_sdk(hub).content] == ["text"]
    # Included but nothing shown: an empty thinking block that carries the reasoning item.
    hub = _convert(_events(fake, Script(thinking="", text="Plain."), include=["reasoning.encrypted_content"]))
    thinking, _ = through_sdk(hub).content
    assert (
        thinking.type == "thinking"
        and thinking.thinking == ""
        and thinking.signature.startswith(REASONING_PREFIX)
    )


def test_incomplete_answer(fake: FakeUpstream) -> None:
    hub = _convert(_events(fake, Script(text="cut", stop_reason="max_output_tokens")))
    assert through_sdk(hub).stop_reason == "max_tokens"
    fake.push(Script(stop_reason="content_filter"))
    whole = responses_response_to_anthropic(_post(fake, _request(False)).json(), "m")
    assert whole["stop_reason"] == "refusal"


@pytest.mark.parametrize("error_event_type", [None, "error"])
def test_failures_raise(fake: FakeUpstream, error_event_type: str | None) -> None:
    events = _events(
        fake, Script(text="some text here", error_event_after=5, error_event_type=error_event_type)
    )
    converter = ResponsesStreamToAnthropic("m", 1)
    with pytest.raises(StreamFailure) as caught:
        for event in events:
            converter.feed(event)
    assert "error occurred" in caught.value.message and not isinstance(caught.value, StreamIncomplete)


def test_stream_without_terminal_event(fake: FakeUpstream) -> None:
    events = _events(fake, Script(text="some text", end_after=6))
    converter = ResponsesStreamToAnthropic("m", 1)
    for event in events:
        converter.feed(event)
    with pytest.raises(StreamIncomplete):
        converter.finish()


def test_rate_limit_failure_kind() -> None:
    nested = {
        "type": "error",
        "sequence_number": 1,
        "error": {"code": "rate_limit_exceeded", "message": "slow"},
    }
    with pytest.raises(StreamFailure) as flat:
        ResponsesStreamToAnthropic("m", 1).feed(nested)
    assert flat.value.kind == "rate_limit_error" and flat.value.message == "slow"
    converter = ResponsesStreamToAnthropic("m", 1)
    failed = {
        "type": "response.failed",
        "sequence_number": 3,
        "response": {
            "id": "resp_1",
            "status": "failed",
            "error": {"code": "rate_limit_exceeded", "message": "slow"},
        },
    }
    with pytest.raises(StreamFailure) as caught:
        converter.feed(failed)
    assert caught.value.kind == "rate_limit_error"


def test_custom_tool_call_and_refusal() -> None:
    answer = {
        "id": "resp_1",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "m",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "No."}],
            },
        ],
        "usage": {"input_tokens": 5, "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0}},
    }
    hub = responses_response_to_anthropic(answer, "m")
    assert hub["content"] == [{"type": "text", "text": "No."}] and hub["stop_reason"] == "refusal"
    assert hub["usage"]["output_tokens_details"] == {"thinking_tokens": 0}
    converter = ResponsesStreamToAnthropic("m", 1)
    item = {"type": "custom_tool_call", "id": "ctc", "call_id": "call_9", "name": "apply_patch", "input": ""}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_2"}},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.output_item.done", "output_index": 0, "item": {**item, "input": "*** Begin"}},
        {"type": "response.completed", "response": {"id": "resp_2", "status": "completed", "output": []}},
    ]
    out = [hub for event in events for hub in converter.feed(event)] + converter.finish()
    message = through_sdk(out)
    assert message.content[0].type == "tool_use" and message.content[0].input == {"input": "*** Begin"}
    assert message.stop_reason == "tool_use"
