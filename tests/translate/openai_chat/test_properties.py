"""Properties: what both formats express survives a round trip, and streams equal whole responses."""

from __future__ import annotations

import copy
from typing import Any

from anthropic.types import Message
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
)

from gateway.translate.openai_chat import (
    anthropic_request_to_openai,
    anthropic_response_to_openai,
    openai_request_to_anthropic,
    openai_response_to_anthropic,
)
from tests.translate.openai_chat.support import (
    a2o_stream,
    anthropic_accumulate,
    anthropic_events,
    anthropic_requests,
    anthropic_responses,
    call_delta,
    canonical_anthropic,
    canonical_openai,
    conforms,
    conforms_anthropic,
    joined_text,
    o2a_stream,
    openai_accumulate,
    openai_chunk,
    openai_requests,
    openai_responses,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(anthropic_requests())
def test_property_anthropic_request_round_trip(body: dict[str, Any]) -> None:
    openai_body = anthropic_request_to_openai(copy.deepcopy(body), "gpt-5")
    conforms(openai_body, CompletionCreateParamsNonStreaming)
    back = openai_request_to_anthropic(openai_body, "claude-x")
    conforms_anthropic(back, MessageCreateParamsNonStreaming)
    assert canonical_anthropic(back) == canonical_anthropic(body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(openai_requests())
def test_property_openai_request_round_trip(body: dict[str, Any]) -> None:
    hub = openai_request_to_anthropic(copy.deepcopy(body), "claude-x")
    conforms_anthropic(hub, MessageCreateParamsNonStreaming)
    back = anthropic_request_to_openai(hub, "gpt-5")
    conforms(back, CompletionCreateParamsNonStreaming)
    assert canonical_openai(back) == canonical_openai(body)


@settings(max_examples=80, deadline=None)
@given(anthropic_responses())
def test_property_anthropic_response_round_trip(resp: dict[str, Any]) -> None:
    openai_resp = anthropic_response_to_openai(resp, "gpt-client")
    ChatCompletion.model_validate(openai_resp)
    back = openai_response_to_anthropic(openai_resp, "claude-x")
    Message.model_validate(back)
    assert joined_text(back["content"]) == joined_text(resp["content"])
    assert [b for b in back["content"] if b["type"] in ("tool_use", "thinking")] == [
        b for b in resp["content"] if b["type"] in ("tool_use", "thinking")
    ]
    assert back["stop_reason"] == resp["stop_reason"]
    assert back["usage"] == resp["usage"]


@settings(max_examples=80, deadline=None)
@given(openai_responses())
def test_property_openai_response_round_trip(resp: dict[str, Any]) -> None:
    hub = openai_response_to_anthropic(resp, "claude-x")
    Message.model_validate(hub)
    back = anthropic_response_to_openai(hub, "gpt-5")
    ChatCompletion.model_validate(back)
    original, returned = resp["choices"][0], back["choices"][0]
    assert returned["finish_reason"] == original["finish_reason"]
    assert (returned["message"]["content"] or None) == original["message"]["content"]
    assert returned["message"].get("tool_calls") == original["message"].get("tool_calls")
    assert returned["message"].get("reasoning_content") == original["message"].get("reasoning_content")
    assert back["usage"] == resp["usage"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resp=openai_responses(), data=st.data())
def test_property_openai_stream_equals_the_whole_response(resp: dict[str, Any], data: st.DataObject) -> None:
    message = resp["choices"][0]["message"]
    pieces: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]

    def cut(text: str) -> list[str]:
        points = sorted(set(data.draw(st.lists(st.integers(1, max(len(text) - 1, 1)), max_size=3))))
        return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True) if text[a:b]]

    pieces += [{"reasoning_content": p} for p in cut(message.get("reasoning_content") or "")]
    pieces += [{"content": p} for p in cut(message["content"] or "")]
    # Tool calls start in index order, but their argument fragments interleave arbitrarily.
    queues = []
    for index, call in enumerate(message.get("tool_calls", [])):
        head = call_delta(index, call["id"], call["function"]["name"])
        queues.append([head] + [call_delta(index, args=p) for p in cut(call["function"]["arguments"])])
    started = 0
    while any(queues):
        ready = [i for i, q in enumerate(queues) if q and (i < started or i == started)]
        pick = data.draw(st.sampled_from(ready))
        started = max(started, pick + 1)
        pieces.append(queues[pick].pop(0))
    chunks = [openai_chunk(p) for p in pieces]
    chunks.append(openai_chunk({}, resp["choices"][0]["finish_reason"]))
    chunks.append(openai_chunk(None, usage=resp["usage"]))
    streamed = anthropic_accumulate(o2a_stream(chunks)).to_dict()
    whole = openai_response_to_anthropic(resp, "claude-client-model")
    for block in streamed["content"]:
        block.pop("citations", None)
    assert streamed["content"] == whole["content"]
    assert streamed["stop_reason"] == whole["stop_reason"]
    assert {k: streamed["usage"][k] for k in whole["usage"]} == whole["usage"]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resp=anthropic_responses(), size=st.integers(1, 7))
def test_property_anthropic_stream_equals_the_whole_response(resp: dict[str, Any], size: int) -> None:
    chunks = a2o_stream(anthropic_events(resp, cut=size))
    streamed = openai_accumulate(chunks)
    whole = anthropic_response_to_openai(resp, "gpt-client-model")
    choice, expected = streamed.choices[0], whole["choices"][0]
    assert choice.finish_reason == expected["finish_reason"]
    assert (choice.message.content or None) == (expected["message"]["content"] or None)
    calls = [
        {
            "id": t.id,
            "type": "function",
            "function": {"name": t.function.name, "arguments": t.function.arguments},
        }
        for t in choice.message.tool_calls or []
    ]
    assert calls == expected["message"].get("tool_calls", [])
    assert (choice.message.model_extra or {}).get("reasoning_content") == expected["message"].get(
        "reasoning_content"
    )
    assert streamed.usage is not None and streamed.usage.model_dump(exclude_none=True) == whole["usage"]
