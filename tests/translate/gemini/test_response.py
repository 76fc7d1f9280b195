"""Gemini answers -> Anthropic Messages, checked by the Anthropic SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from gateway.translate.gemini import (
    anthropic_request_to_gemini,
    gemini_response_to_anthropic,
)
from tests.fakes.upstream import FakeUpstream
from tests.translate.gemini.support import (
    TOOL_ID,
    WEATHER_TOOL,
    accepted,
    convert_stream,
    request,
    user,
)
from tests.translate.stream_contract import through_sdk


def test_response_content_usage_and_ids() -> None:
    resp = {
        "candidates": [
            {
                "index": 0,
                "finishReason": "STOP",
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "User wants ", "thought": True},
                        {"text": "weather.", "thought": True},
                        {"text": "Let me "},
                        {"text": "check."},
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "CiQB+/9x",
                        },
                        {"functionCall": {"name": "get_time"}},
                    ],
                },
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 120,
            "cachedContentTokenCount": 100,
            "candidatesTokenCount": 30,
            "thoughtsTokenCount": 55,
            "totalTokenCount": 205,
        },
        "modelVersion": "gemini-2.5-pro",
        "responseId": "abc123",
    }
    message = gemini_response_to_anthropic(resp, "claude-sonnet-4-6")
    assert message["id"] == "msg_abc123" and message["model"] == "claude-sonnet-4-6"
    assert message["stop_reason"] == "tool_use"  # Gemini says STOP for function calls
    assert message["usage"] == {
        "input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
        "output_tokens": 85,
    }
    content = message["content"]
    assert content[0] == {"type": "thinking", "thinking": "User wants weather.", "signature": ""}
    assert content[1] == {"type": "text", "text": "Let me check."}
    assert [(b["name"], b["input"]) for b in content[2:]] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]
    assert all(TOOL_ID.match(b["id"]) for b in content[2:])
    assert content[2]["id"] != content[3]["id"]
    anthropic.types.Message.model_validate(message)


def test_thought_signature_survives_a_tool_loop(fake: FakeUpstream) -> None:
    signature = "CiQBVKhc7vB+fQ3k/Zz9GbWQ1w=="
    resp = {
        "candidates": [
            {
                "finishReason": "STOP",
                "content": {
                    "parts": [
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                            "thoughtSignature": signature,
                        }
                    ]
                },
            }
        ]
    }
    message = gemini_response_to_anthropic(resp, "claude-x")
    tool_use = message["content"][0]
    assert TOOL_ID.match(tool_use["id"])
    streamed = convert_stream([resp])
    assert TOOL_ID.match(streamed[1]["content_block"]["id"])
    follow_up = request(
        [
            user("Weather in Oslo?"),
            {"role": "assistant", "content": message["content"]},
            user([{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "-3C"}]),
        ],
        tools=[WEATHER_TOOL],
    )
    out = anthropic_request_to_gemini(follow_up)
    assert out["contents"][1]["parts"][0]["thoughtSignature"] == signature
    assert out["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"
    accepted(fake, out)


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [
        ("STOP", False, "end_turn"),
        ("STOP", True, "tool_use"),
        (None, False, "end_turn"),
        ("MAX_TOKENS", False, "max_tokens"),
        ("SAFETY", False, "refusal"),
        ("RECITATION", False, "refusal"),
        ("BLOCKLIST", False, "refusal"),
        ("PROHIBITED_CONTENT", False, "refusal"),
        ("SPII", False, "refusal"),
        ("OTHER", False, "end_turn"),
        ("MALFORMED_FUNCTION_CALL", False, "end_turn"),
    ],
)
def test_finish_reasons(reason: str | None, calls: bool, expected: str) -> None:
    parts: list[dict[str, Any]] = [{"text": "partial"}]
    if calls:
        parts.append({"functionCall": {"name": "f", "args": {}}})
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if reason:
        candidate["finishReason"] = reason
    message = gemini_response_to_anthropic({"candidates": [candidate]}, "m")
    assert message["stop_reason"] == expected
    assert ("stop_details" in message) == (expected == "refusal")
    streamed = through_sdk(
        convert_stream([{"candidates": [{**candidate, "finishReason": reason or "STOP"}]}])
    )
    assert streamed.stop_reason == (expected if reason else "end_turn")


def test_blocked_prompt_is_a_refusal_with_no_content() -> None:
    resp = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 9}}
    message = gemini_response_to_anthropic(resp, "m")
    assert message["content"] == [] and message["stop_reason"] == "refusal"
    assert message["stop_details"]["type"] == "refusal"
    assert message["usage"]["input_tokens"] == 9 and message["usage"]["output_tokens"] == 0
    final = through_sdk(convert_stream([resp]))
    assert final.content == [] and final.stop_reason == "refusal" and final.usage.input_tokens == 9
