"""Non-streamed answers both ways."""

from __future__ import annotations

import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion

from gateway.translate.openai_chat import (
    anthropic_response_to_openai,
    openai_response_to_anthropic,
    short_tool_name,
)
from tests.translate.openai_chat.support import (
    TOOL_ID,
    anthropic_message,
    openai_completion,
)


def test_openai_response_to_anthropic() -> None:
    long_name = "mcp__server__" + "x" * 70
    short = short_tool_name(long_name)
    resp = openai_completion(
        content="Let me check.",
        reasoning_content="User wants weather.",
        tool_calls=[
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {"id": "functions.x:1", "type": "function", "function": {"name": short, "arguments": '{"broken'}},
        ],
        finish_reason="stop",  # some servers say stop even with tool calls
    )
    out = openai_response_to_anthropic(resp, "claude-client", {short: long_name})
    Message.model_validate(out)
    assert out == {
        "id": "msg_chatcmpl-9x",
        "type": "message",
        "role": "assistant",
        "model": "claude-client",
        "content": [
            {"type": "thinking", "thinking": "User wants weather.", "signature": ""},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "functions_x_1", "name": long_name, "input": {}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 2048,
            "output_tokens": 40,
            "output_tokens_details": {"thinking_tokens": 16},
        },
    }


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("weird", "end_turn"),
    ],
)
def test_finish_reason_to_stop_reason(finish: str | None, stop: str) -> None:
    out = openai_response_to_anthropic(openai_completion(content="x", finish_reason=finish), "c")
    assert out["stop_reason"] == stop and out["stop_sequence"] is None


def test_openai_response_edge_cases() -> None:
    refusal = openai_response_to_anthropic(openai_completion(refusal="I can't help with that."), "c")
    assert (
        refusal["content"] == [{"type": "text", "text": "I can't help with that."}]
        and refusal["stop_reason"] == "refusal"
    )
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30},
    }
    out = openai_response_to_anthropic(openai_completion(content="x", usage=usage), "c")
    assert out["usage"] == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 60,
        "output_tokens": 5,
    }
    deepseek = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_cache_hit_tokens": 64,
        "prompt_cache_miss_tokens": 36,
    }
    assert (
        openai_response_to_anthropic(openai_completion(content="x", usage=deepseek), "c")["usage"][
            "cache_read_input_tokens"
        ]
        == 64
    )
    empty = openai_response_to_anthropic({"id": "x", "choices": []}, "c")
    Message.model_validate(empty)
    assert empty["content"] == [] and empty["usage"]["input_tokens"] == 0
    legacy = openai_response_to_anthropic(
        openai_completion(function_call={"name": "f", "arguments": "{}"}, finish_reason="function_call"), "c"
    )
    assert legacy["content"][0]["type"] == "tool_use" and TOOL_ID.match(legacy["content"][0]["id"])
    reasoning = openai_response_to_anthropic(openai_completion(content="a", reasoning="thought"), "c")
    assert reasoning["content"][0] == {"type": "thinking", "thinking": "thought", "signature": ""}


def test_anthropic_response_to_openai() -> None:
    out = anthropic_response_to_openai(anthropic_message(), "gpt-client")
    completion = ChatCompletion.model_validate(out)
    assert (
        out["id"] == "chatcmpl-msg_01XF"
        and out["model"] == "gpt-client"
        and out["object"] == "chat.completion"
    )
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Paris is sunny.",
        "refusal": None,
        "tool_calls": [
            {
                "id": "toolu_01A",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
        "reasoning_content": "Let me check.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Let me check.", "signature": "EqQB"},
            {"type": "redacted_thinking", "data": "EmwK"},
        ],
    }
    assert out["usage"] == {
        "prompt_tokens": 2160,
        "completion_tokens": 87,
        "total_tokens": 2247,
        "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 2048


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_stop_reason_to_finish_reason(stop: str | None, finish: str) -> None:
    message = anthropic_message(stop_reason=stop, content=[{"type": "text", "text": "x"}])
    out = anthropic_response_to_openai(message, "g")
    assert out["choices"][0]["finish_reason"] == finish
    assert out["choices"][0]["message"]["content"] == "x" and "tool_calls" not in out["choices"][0]["message"]
