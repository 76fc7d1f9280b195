"""Converse answers -> Anthropic Messages, checked by the Anthropic SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from gateway.translate.converse import (
    converse_response_to_anthropic,
)
from tests.translate.converse.support import (
    PNG,
    REDACTED,
    converse_response,
)


def test_response_content_usage_and_ids() -> None:
    resp = converse_response(
        [
            {"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "sig-9"}}},
            {"reasoningContent": {"redactedContent": REDACTED}},
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_Ab-1.x:2", "name": "get_weather", "input": {"city": "Paris"}}},
            {"citationsContent": {"content": [{"text": "Cited."}], "citations": [{"title": "Doc"}]}},
            {"image": {"format": "png", "source": {"bytes": PNG}}},
        ],
        stop="tool_use",
        cacheReadInputTokens=2048,
        cacheWriteInputTokens=100,
    )
    message = converse_response_to_anthropic(resp, "nova")
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", "nova")
    assert message["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig-9"},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "tooluse_Ab-1_x_2", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "text", "text": "Cited."},
    ]
    assert message["stop_reason"] == "tool_use" and message["stop_sequence"] is None
    # Converse's inputTokens already excludes cache reads and writes, as Anthropic's input_tokens does.
    assert message["usage"] == {
        "input_tokens": 12,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 2048,
        "output_tokens": 34,
    }
    anthropic.types.Message.model_validate(message)


def test_response_cache_details_and_unsigned_reasoning() -> None:
    resp = converse_response(
        [{"reasoningContent": {"reasoningText": {"text": "open-weight reasoning"}}}, {"text": "Hi"}],
        cacheWriteInputTokens=300,
    )
    resp["usage"]["cacheDetails"] = [{"ttl": "1h", "inputTokens": 200}, {"ttl": "5m", "inputTokens": 100}]
    message = converse_response_to_anthropic(resp, "m")
    assert message["content"][0] == {"type": "thinking", "thinking": "open-weight reasoning", "signature": ""}
    assert message["usage"]["cache_creation"] == {
        "ephemeral_5m_input_tokens": 100,
        "ephemeral_1h_input_tokens": 200,
    }
    anthropic.types.Message.model_validate(message)


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [
        ("end_turn", False, "end_turn"),
        ("end_turn", True, "tool_use"),
        ("tool_use", True, "tool_use"),
        ("tool_use", False, "end_turn"),
        ("max_tokens", False, "max_tokens"),
        ("stop_sequence", False, "stop_sequence"),
        ("guardrail_intervened", False, "refusal"),
        ("content_filtered", False, "refusal"),
        ("model_context_window_exceeded", False, "model_context_window_exceeded"),
        ("malformed_model_output", False, "end_turn"),
        ("malformed_tool_use", True, "tool_use"),
        ("something_new", False, "end_turn"),
    ],
)
def test_stop_reasons(reason: str, calls: bool, expected: str) -> None:
    content: list[dict[str, Any]] = [{"text": "x"}]
    if calls:
        content.append({"toolUse": {"toolUseId": "t", "name": "f", "input": {}}})
    message = converse_response_to_anthropic(converse_response(content, stop=reason), "m")
    assert message["stop_reason"] == expected
    assert ("stop_details" in message) == (expected == "refusal")
    if expected == "refusal":
        assert (
            message["stop_details"]["type"] == "refusal" and reason in message["stop_details"]["explanation"]
        )


def test_stop_sequence_is_filled_when_the_model_returns_it() -> None:
    resp = converse_response([{"text": "x"}], stop="stop_sequence")
    assert converse_response_to_anthropic(resp, "m")["stop_sequence"] is None
    resp["additionalModelResponseFields"] = {"stop_sequence": "END"}
    assert converse_response_to_anthropic(resp, "m")["stop_sequence"] == "END"


def test_response_survives_garbage() -> None:
    message = converse_response_to_anthropic(
        {"output": {"message": {"content": ["x", {"text": 3}, {"text": ""}]}}}, "m"
    )
    assert message["content"] == [] and message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] == 0
