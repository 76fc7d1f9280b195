"""Converse requests fitted to the model they go to (what it would reject is left out)."""

from __future__ import annotations

import json

import pytest

from gateway.translate.converse import (
    anthropic_request_to_converse,
)
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.translate.converse.support import (
    WEATHER_TOOL,
    assert_valid_converse,
    assistant,
    cached_request,
    request,
    user,
)


@pytest.mark.parametrize(
    "model", [None, "anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-x"]
)
def test_without_a_model_or_for_claude_the_body_is_complete(model: str | None) -> None:
    out = anthropic_request_to_converse(cached_request(), model=model)
    assert out == anthropic_request_to_converse(cached_request())
    assert out["additionalModelRequestFields"] == {"top_k": 3, "thinking": {"type": "adaptive"}}
    assert out["outputConfig"]["effort"] == "high"
    assert {"cachePoint": {"type": "default", "ttl": "1h"}} in out["toolConfig"]["tools"]


def test_nova_keeps_message_and_system_cache_points_only() -> None:
    out = anthropic_request_to_converse(cached_request(), model="us.amazon.nova-pro-v1:0")
    assert out["system"] == [{"text": "S"}, {"cachePoint": {"type": "default"}}]
    assert out["messages"][0]["content"] == [{"text": "Q"}, {"cachePoint": {"type": "default"}}]
    assert all("cachePoint" not in tool for tool in out["toolConfig"]["tools"])
    assert "additionalModelRequestFields" not in out
    assert "effort" not in out["outputConfig"] and "textFormat" in out["outputConfig"]
    assert_valid_converse(out)


@pytest.mark.parametrize(
    "model", ["meta.llama3-3-70b-instruct-v1:0", "us.deepseek.r1-v1:0", "openai.gpt-oss-120b-1:0"]
)
def test_models_without_prompt_caching_get_no_cache_points(model: str) -> None:
    body = cached_request()
    del body["output_config"]["format"]
    out = anthropic_request_to_converse(body, model=model)
    assert "cachePoint" not in json.dumps(out)
    assert "additionalModelRequestFields" not in out and "outputConfig" not in out
    assert_valid_converse(out)
    capture = anthropic_request_to_converse(json.loads(FIXTURE.read_text())["body"], model=model)
    assert "cachePoint" not in json.dumps(capture) and "additionalModelRequestFields" not in capture
    assert_valid_converse(capture)


def test_merged_user_turns_keep_tool_results_first_and_compaction_text() -> None:
    out = anthropic_request_to_converse(
        request(
            [
                user("Go"),
                assistant(
                    [
                        {"type": "compaction", "content": "Summary of earlier work."},
                        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}},
                    ]
                ),
                {"role": "system", "content": "Note."},
                user([{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]),
            ],
            tools=[WEATHER_TOOL],
        )
    )
    assert out["messages"][1]["content"][0] == {"text": "Summary of earlier work."}
    last = out["messages"][2]["content"]
    assert [next(iter(block)) for block in last] == ["toolResult", "text"]
    assert_valid_converse(out)
