"""Hub (Anthropic Messages) -> Responses API requests: the SDK's request types accept every body, and the
strict fake Responses endpoint takes them (item pairing, reasoning it minted, tool shapes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)

from gateway.translate import Untranslatable
from gateway.translate.openai_chat import tool_name_map
from gateway.translate.responses import (
    REASONING_PREFIX,
    anthropic_request_to_responses,
    reasoning_from_signature,
    responses_response_to_anthropic,
)
from tests.conftest import CLAUDE_CODE_CAPTURE
from tests.fakes.upstream import FakeUpstream, Script
from tests.translate.openai_chat.support import PDF, PNG, WEATHER, conforms

MODEL = "gpt-5.1-codex"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai") as upstream:
        yield upstream


def _accepted(fake: FakeUpstream, body: dict[str, Any]) -> dict[str, Any]:
    """The fake's answer to `body`; fails on a 4xx, with the fake's reason."""
    response = httpx.post(f"{fake.base_url}/responses", json=body, headers={"Authorization": "Bearer k"})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _convert(hub: dict[str, Any]) -> dict[str, Any]:
    body = anthropic_request_to_responses(hub, MODEL)
    conforms(body, ResponseCreateParamsStreaming if body.get("stream") else ResponseCreateParamsNonStreaming)
    return body


def test_plain_request() -> None:
    body = _convert(
        {
            "model": "x",
            "max_tokens": 8,
            "system": [
                {"type": "text", "text": "x-anthropic-billing-header: cc=1"},
                {"type": "text", "text": "Rules."},
            ],
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.3,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u" * 100},
        }
    )
    assert body["model"] == MODEL and body["instructions"] == "Rules." and body["store"] is False
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]
    assert body["max_output_tokens"] == 16  # the API's minimum
    assert len(body["safety_identifier"]) == 64
    for dropped in ("temperature", "stop", "stream", "reasoning", "include", "tools"):
        assert dropped not in body


def test_claude_code_request_is_accepted(fake: FakeUpstream) -> None:
    hub = json.loads(CLAUDE_CODE_CAPTURE.read_text())["body"]
    body = _convert(hub)
    assert body["stream"] is True and body["tools"]
    assert all(tool["type"] == "function" and tool["strict"] is False for tool in body["tools"])
    assert "x-anthropic-billing-header" not in body.get("instructions", "")
    fake.push(Script(text="ok"))
    events = httpx.post(f"{fake.base_url}/responses", json=body, headers={"Authorization": "Bearer k"})
    assert events.status_code == 200 and "response.completed" in events.text


def test_media_tool_loop_and_results(fake: FakeUpstream) -> None:
    long_name = "mcp__server__" + "x" * 70
    hub: dict[str, Any] = {
        "model": "x",
        "max_tokens": 1000,
        "tools": [
            WEATHER,
            {**WEATHER, "name": long_name},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "tool", "name": long_name, "disable_parallel_tool_use": True},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    {
                        "type": "document",
                        "title": "a.pdf",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                    },
                    {"type": "text", "text": "look"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "anthropic-signature"},
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_" + "a" * 60,
                        "name": long_name,
                        "input": {"city": "P"},
                    },
                    {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_" + "a" * 60, "content": "sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_b",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "failed"},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                            },
                        ],
                    },
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
    }
    body = _convert(hub)
    types = [item["type"] for item in body["input"]]
    # Anthropic's thinking is dropped; the tool outputs come before the rest of the user turn.
    assert types == [
        "message",
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "message",
    ]
    image, url_image, pdf, _text = body["input"][0]["content"]
    assert image["image_url"] == f"data:image/png;base64,{PNG}" and url_image["image_url"].startswith(
        "https://"
    )
    assert pdf == {
        "type": "input_file",
        "filename": "a.pdf",
        "file_data": f"data:application/pdf;base64,{PDF}",
    }
    # Assistant text as a string: the SDK types take output_text parts only on a replayed output message.
    assert body["input"][1] == {"type": "message", "role": "assistant", "content": "Checking."}
    first_call, _, first_output, error_output, _ = body["input"][2:]
    assert len(first_call["call_id"]) <= 40 and first_output["call_id"] == first_call["call_id"]
    assert error_output["output"][0] == {"type": "input_text", "text": "Error:"}
    assert error_output["output"][2]["type"] == "input_image"
    short = first_call["name"]
    assert len(short) <= 64 and tool_name_map(hub)[short] == long_name
    # Anthropic's web_search becomes the Responses API's own web_search tool, in its place.
    assert [tool.get("name", tool["type"]) for tool in body["tools"]] == ["get_weather", short, "web_search"]
    assert body["tool_choice"] == {"type": "function", "name": short} and body["parallel_tool_calls"] is False
    _accepted(fake, body)


def test_reasoning_round_trips_through_the_signature(fake: FakeUpstream) -> None:
    hub: dict[str, Any] = {
        "model": "x",
        "max_tokens": 4000,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "max"},
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "Weather?"}],
    }
    body = _convert(hub)
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    fake.push(Script(thinking="Look it up.", tool_calls=[{"name": "get_weather", "input": {"city": "P"}}]))
    message = responses_response_to_anthropic(_accepted(fake, body), "client-model")
    thinking, tool = message["content"]
    assert thinking["signature"].startswith(REASONING_PREFIX) and reasoning_from_signature(
        thinking["signature"]
    )
    hub["messages"] += [
        {"role": "assistant", "content": message["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool["id"], "content": "sunny"}]},
    ]
    replay = _convert(hub)
    reasoning = replay["input"][1]
    assert reasoning["type"] == "reasoning" and reasoning["summary"][0]["text"] == "Look it up."
    _accepted(fake, replay)  # the fake verifies the encrypted content it minted
    # A forged carrier is refused upstream, as the real API refuses reasoning it did not mint.
    forged = f"{REASONING_PREFIX}rs_x:gAAAAforged"
    hub["messages"][1]["content"][0]["signature"] = forged
    response = httpx.post(
        f"{fake.base_url}/responses", json=_convert(hub), headers={"Authorization": "Bearer k"}
    )
    assert response.status_code == 400 and "could not be verified" in response.text


@pytest.mark.parametrize(
    ("thinking", "effort", "model", "expected"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, None, MODEL, "low"),
        ({"type": "enabled", "budget_tokens": 3000}, None, MODEL, "medium"),
        ({"type": "enabled", "budget_tokens": 9000}, None, MODEL, "high"),
        ({"type": "adaptive"}, "low", MODEL, "low"),
        ({"type": "adaptive"}, None, MODEL, "medium"),
        ({"type": "adaptive"}, "low", "gpt-5-pro", "high"),  # the pro models take high only
        ({"type": "adaptive"}, "low", "gpt-5.2-pro-2025-12-11", "high"),
        ({"type": "disabled"}, None, MODEL, None),
    ],
)
def test_effort(thinking: dict[str, Any], effort: str | None, model: str, expected: str | None) -> None:
    hub: dict[str, Any] = {
        "max_tokens": 100,
        "thinking": thinking,
        "messages": [{"role": "user", "content": "q"}],
    }
    if effort:
        hub["output_config"] = {"effort": effort}
    body = anthropic_request_to_responses(hub, model)
    assert (body.get("reasoning") or {}).get("effort") == expected


def test_structured_output_and_choices() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    base: dict[str, Any] = {
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "q"}],
        "tools": [WEATHER],
    }
    body = _convert({**base, "output_config": {"format": {"type": "json_schema", "schema": schema}}})
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "output", "schema": schema, "strict": True}
    }
    for choice, expected in (
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
    ):
        assert _convert({**base, "tool_choice": choice})["tool_choice"] == expected
    with pytest.raises(Untranslatable) as caught:
        anthropic_request_to_responses({**base, "tool_choice": {"type": "tool", "name": "nope"}}, MODEL)
    assert caught.value.param == "tool_choice"
    with pytest.raises(Untranslatable) as bad_image:
        bad: Any = [{"type": "image", "source": {"type": "file", "file_id": "f"}}]
        anthropic_request_to_responses({**base, "messages": [{"role": "user", "content": bad}]}, MODEL)
    assert bad_image.value.param == "messages.0.content.0"
