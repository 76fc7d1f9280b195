"""Hub answer -> Response object: item kinds, names and namespaces, status, usage, echoed fields; every
object checked against the SDK's `Response` type."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.translate.responses import ToolNames, anthropic_response_to_responses, new_response_id
from gateway.translate.responses.reasoning import decode
from tests.translate.responses.support import strict_response

TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
    {"type": "custom", "name": "apply_patch"},
    {
        "type": "namespace",
        "name": "crm",
        "description": "d",
        "tools": [{"type": "function", "name": "lookup"}],
    },
]
REQUEST: dict[str, Any] = {
    "model": "m",
    "input": "Q",
    "instructions": "Be brief.",
    "tools": TOOLS,
    "reasoning": {"effort": "low", "summary": "auto"},
    "include": ["reasoning.encrypted_content"],
    "store": False,
    "max_output_tokens": 300,
    "metadata": {"a": "b"},
}
THINKING = {"type": "thinking", "thinking": "Hmm.", "signature": "sig-123"}


def hub(content: list[dict[str, Any]], stop: str = "end_turn") -> dict[str, Any]:
    usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 2,
        "cache_read_input_tokens": 5,
        "output_tokens": 9,
    }
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop,
        "usage": usage,
    }


def convert(answer: dict[str, Any], request: dict[str, Any] = REQUEST) -> dict[str, Any]:
    rid = new_response_id()
    out = anthropic_response_to_responses(answer, request, rid, "client-model", ToolNames.of(request))
    assert out["id"] == rid and rid.startswith("resp_gw")
    strict_response(out)
    return out


def test_every_item_kind() -> None:
    out = convert(
        hub(
            [
                THINKING,
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "One."},
                {"type": "text", "text": "Two."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "apply_patch", "input": {"input": "*** Begin"}},
                {"type": "tool_use", "id": "toolu_3", "name": "crm__lookup", "input": {}},
            ],
            stop="tool_use",
        )
    )
    rs, redacted, msg, fc, ctc, ns = out["output"]
    assert rs["type"] == "reasoning" and rs["summary"] == [{"type": "summary_text", "text": "Hmm."}]
    assert decode(rs["encrypted_content"], "anthropic") == THINKING
    assert redacted["summary"] == [] and decode(redacted["encrypted_content"], "anthropic") == {
        "type": "redacted_thinking",
        "data": "opaque",
    }
    assert msg["type"] == "message" and msg["status"] == "completed" and msg["role"] == "assistant"
    assert [p["text"] for p in msg["content"]] == ["One.", "Two."]
    assert all(p["annotations"] == [] and p["type"] == "output_text" for p in msg["content"])
    assert fc["id"].startswith("fc_") and fc == {
        "id": fc["id"],
        "type": "function_call",
        "status": "completed",
        "arguments": '{"city":"Paris"}',
        "call_id": "toolu_1",
        "name": "get_weather",
    }
    assert ctc["id"].startswith("ctc_") and ctc == {
        "id": ctc["id"],
        "type": "custom_tool_call",
        "call_id": "toolu_2",
        "name": "apply_patch",
        "input": "*** Begin",
    }
    assert (ns["name"], ns["namespace"]) == ("lookup", "crm")
    assert len({i["id"] for i in out["output"]}) == 6
    assert out["status"] == "completed" and out["incomplete_details"] is None


def test_usage_counts_cached_input() -> None:
    out = convert(hub([{"type": "text", "text": "x"}]))
    assert out["usage"] == {
        "input_tokens": 17,
        "input_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 2},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 26,
    }


def test_echoed_fields() -> None:
    out = convert(hub([{"type": "text", "text": "x"}]))
    assert out["object"] == "response" and out["model"] == "client-model"
    assert out["instructions"] == "Be brief." and out["tools"] == TOOLS and out["store"] is False
    assert out["max_output_tokens"] == 300 and out["metadata"] == {"a": "b"}
    assert out["reasoning"] == {"effort": "low", "summary": "auto"}
    assert out["tool_choice"] == "auto" and out["parallel_tool_calls"] is True
    assert out["text"] == {"format": {"type": "text"}, "verbosity": "medium"}


@pytest.mark.parametrize(
    ("stop", "reason"), [("max_tokens", "max_output_tokens"), ("refusal", "content_filter")]
)
def test_incomplete(stop: str, reason: str) -> None:
    out = convert(hub([{"type": "text", "text": "cut"}], stop=stop))
    assert out["status"] == "incomplete" and out["incomplete_details"] == {"reason": reason}


def test_no_summary_or_carrier_unless_asked() -> None:
    request = {"model": "m", "input": "Q"}
    out = convert(hub([THINKING, {"type": "text", "text": "x"}]), request)
    assert out["output"][0] == {"id": out["output"][0]["id"], "type": "reasoning", "summary": []}


def test_unsigned_thinking_has_no_carrier() -> None:
    out = convert(hub([{"type": "thinking", "thinking": "Gemini's", "signature": ""}]))
    assert out["output"][0]["encrypted_content"] is None
