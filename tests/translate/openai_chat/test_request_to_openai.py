"""Requests, Anthropic Messages -> OpenAI Chat Completions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)

from gateway.translate import Untranslatable
from gateway.translate.openai_chat import (
    anthropic_request_to_openai,
    fit_tool_ids,
    short_tool_name,
    tool_name_map,
)
from tests.fakes.upstream import FakeUpstream
from tests.translate.openai_chat.support import (
    OPENAI_NAME,
    PDF,
    PNG,
    WEATHER,
    conforms,
    fixture_body,
    post_openai,
    tool_loop,
)

# Requests: Anthropic -> OpenAI


def test_claude_code_request_to_openai(openai_up: FakeUpstream) -> None:
    body = fixture_body()
    out = anthropic_request_to_openai(body, "gpt-5")
    conforms(out, CompletionCreateParamsStreaming)
    blob = json.dumps(out)
    assert "x-anthropic-billing-header" not in blob
    assert "cache_control" not in blob and "context_management" not in blob
    system = out["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You are a Claude agent")
    # The first user turn, then Claude Code's mid-conversation system message, in place.
    assert [m["role"] for m in out["messages"]] == ["system", "user", "system"]
    assert out["messages"][2]["content"].startswith("Available agent types")
    assert [t["function"]["name"] for t in out["tools"]] == [t["name"] for t in body["tools"]]
    bash = next(t["function"] for t in out["tools"] if t["function"]["name"] == "Bash")
    assert bash["parameters"] == next(t["input_schema"] for t in body["tools"] if t["name"] == "Bash")
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out["max_completion_tokens"] == 64000
    assert out["reasoning_effort"] == "high"  # adaptive thinking with output_config.effort high
    assert out["user"] == hashlib.sha256(body["metadata"]["user_id"].encode()).hexdigest()
    assert tool_name_map(body) == {}
    response = post_openai(openai_up, {**out, "stream": False, "stream_options": None})
    assert response.status_code == 200, response.text


def test_billing_header_only_as_first_system_text() -> None:
    line = "x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=cli; cch=12345;"
    base = {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    out = anthropic_request_to_openai({**base, "system": f"{line}\nBe brief."}, "gpt-5")
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    blocks = [{"type": "text", "text": "Be brief."}, {"type": "text", "text": line}]
    out = anthropic_request_to_openai({**base, "system": blocks}, "gpt-5")
    assert out["messages"][0]["content"] == f"Be brief.\n\n{line}"
    out = anthropic_request_to_openai({**base, "system": [{"type": "text", "text": line}]}, "gpt-5")
    assert out["messages"] == [{"role": "user", "content": "hi"}]


def test_user_blocks_to_openai_parts() -> None:
    content = [
        {"type": "text", "text": "Look:", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "Spec",
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
        {
            "type": "search_result",
            "source": "https://s",
            "title": "T",
            "content": [{"type": "text", "text": "found"}],
        },
        {"type": "thinking", "thinking": "x", "signature": "y"},
    ]
    out = anthropic_request_to_openai(
        {"max_tokens": 5, "messages": [{"role": "user", "content": content}]}, "m"
    )
    conforms(out, CompletionCreateParamsNonStreaming)
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                {
                    "type": "file",
                    "file": {"filename": "Spec", "file_data": f"data:application/pdf;base64,{PDF}"},
                },
                {"type": "text", "text": "plain doc"},
                {"type": "text", "text": "T\nhttps://s\nfound"},
            ],
        }
    ]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
    ],
)
def test_untranslatable_user_blocks(block: dict[str, Any]) -> None:
    body = {
        "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, block]}],
    }
    with pytest.raises(Untranslatable) as info:
        anthropic_request_to_openai(body, "m")
    assert info.value.param == "messages[0].content[1]"


def test_tool_loop_to_openai(openai_up: FakeUpstream) -> None:
    out = anthropic_request_to_openai(tool_loop(), "gpt-5")
    conforms(out, CompletionCreateParamsNonStreaming)
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                {
                    "id": "toolu_01",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "toolu_02",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
        {
            "role": "tool",
            "tool_call_id": "toolu_02",
            "content": "Error: station down\n(attachments are in the next user message)",
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Attachments returned by tool call toolu_02:"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    # The fake checks the tool-call pairing rules OpenAI enforces.
    assert post_openai(openai_up, out).status_code == 200


def test_long_tool_ids_are_shortened_the_same_way_on_call_and_result(openai_up: FakeUpstream) -> None:
    # Gemini's ids carry its thought signature (hundreds of characters); OpenAI takes 40 at most.
    long_id = "toolu_" + "0" * 24 + "_gsig_" + "Q2lRQlZLaGM3dkIrZlEzay9aejlHYldRMXc" * 4
    body = tool_loop()
    assistant, results = body["messages"][1], body["messages"][2]
    assistant["content"][3]["id"] = long_id
    results["content"][0]["tool_use_id"] = long_id
    out = anthropic_request_to_openai(body, "gpt-5")
    short = out["messages"][1]["tool_calls"][0]["id"]
    assert short == "call_" + hashlib.sha256(long_id.encode()).hexdigest()[:32] and len(short) <= 40
    assert out["messages"][2] == {"role": "tool", "tool_call_id": short, "content": "18C"}
    assert out["messages"][1]["tool_calls"][1]["id"] == "toolu_02"  # ids that fit are kept
    assert post_openai(openai_up, out).status_code == 200
    # The fake refuses the long id as OpenAI does.
    out["messages"][1]["tool_calls"][0]["id"] = out["messages"][2]["tool_call_id"] = long_id
    refused = post_openai(openai_up, out)
    assert refused.status_code == 400 and "string too long" in refused.json()["error"]["message"]


def test_an_openai_clients_history_with_long_ids_fits_openai(openai_up: FakeUpstream) -> None:
    long_id = "toolu_" + "0" * 24 + "_gsig_" + "Q2lRQlZLaGM3dkIrZlEzay9aejlHYldRMXc" * 4
    body = {
        "model": "gpt-5",
        "messages": [
            {"role": "user", "content": "ls?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": long_id, "type": "function", "function": {"name": "ls", "arguments": "{}"}},
                    {"id": "call_short", "type": "function", "function": {"name": "ls", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": long_id, "content": "a"},
            {"role": "tool", "tool_call_id": "call_short", "content": "b"},
        ],
    }
    assert post_openai(openai_up, body).status_code == 400
    out = fit_tool_ids(body)
    short = "call_" + hashlib.sha256(long_id.encode()).hexdigest()[:32]
    assert [c["id"] for c in out["messages"][1]["tool_calls"]] == [short, "call_short"]
    assert [m["tool_call_id"] for m in out["messages"][2:]] == [short, "call_short"]
    assert post_openai(openai_up, out).status_code == 200
    assert fit_tool_ids(out) is out and body["messages"][2]["tool_call_id"] == long_id


def test_tools_server_tools_and_names() -> None:
    long_name = "mcp__" + "very_long_server_name__" * 3 + "tool"
    tools = [
        WEATHER,
        {"type": "custom", "name": "strict_one", "input_schema": {"type": "object"}, "strict": True},
        {"name": "no_schema"},
        {"name": long_name, "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
        {"name": "bad.name:1", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    ]
    history = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t1", "name": long_name, "input": {}}],
    }
    body = {
        "max_tokens": 5,
        "tools": tools,
        "messages": [
            {"role": "user", "content": "a"},
            history,
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ],
    }
    out = anthropic_request_to_openai(body, "m")
    conforms(out, CompletionCreateParamsNonStreaming)
    functions = [t["function"] for t in out["tools"]]
    short = short_tool_name(long_name)
    assert [f["name"] for f in functions] == [
        "get_weather",
        "strict_one",
        "no_schema",
        short,
        short_tool_name("bad.name:1"),
    ]
    assert all(OPENAI_NAME.match(f["name"]) for f in functions)
    assert len(short) == 64 and short.startswith(long_name[:55] + "_")
    assert short_tool_name(long_name) == short != short_tool_name(long_name + "x")
    assert functions[1]["strict"] is True and "strict" not in functions[0]
    assert functions[2]["parameters"] == {"type": "object", "properties": {}}
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == short
    assert tool_name_map(body) == {short: long_name, short_tool_name("bad.name:1"): "bad.name:1"}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "get_weather"},
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        ),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        ({"type": "any", "disable_parallel_tool_use": False}, {"tool_choice": "required"}),
    ],
)
def test_tool_choice_to_openai(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    body = {
        "max_tokens": 5,
        "tools": [WEATHER],
        "tool_choice": choice,
        "messages": [{"role": "user", "content": "a"}],
    }
    out = anthropic_request_to_openai(body, "m")
    assert {k: out[k] for k in ("tool_choice", "parallel_tool_calls") if k in out} == expected


def test_only_server_tools_or_forced_server_tool() -> None:
    server = {"type": "web_search_20260209", "name": "web_search"}
    body = {
        "max_tokens": 5,
        "tools": [server],
        "tool_choice": {"type": "auto"},
        "messages": [{"role": "user", "content": "a"}],
    }
    out = anthropic_request_to_openai(body, "m")
    assert "tools" not in out and "tool_choice" not in out
    body = {**body, "tools": [WEATHER, server], "tool_choice": {"type": "tool", "name": "web_search"}}
    with pytest.raises(Untranslatable) as info:
        anthropic_request_to_openai(body, "m")
    assert info.value.param == "tool_choice"


@pytest.mark.parametrize(
    ("extra", "effort"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 31999}}, "high"),
        ({"thinking": {"type": "enabled", "budget_tokens": 500}}, "minimal"),
        ({"thinking": {"type": "adaptive"}}, "medium"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}, "output_config": {"effort": "low"}}, "low"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}}, "high"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}, "high"),
        ({"thinking": {"type": "disabled"}, "output_config": {"effort": "high"}}, None),
        ({"output_config": {"effort": "high"}}, None),
    ],
)
def test_thinking_to_reasoning_effort(extra: dict[str, Any], effort: str | None) -> None:
    body = {"max_tokens": 50000, "messages": [{"role": "user", "content": "a"}], "temperature": 0.5, **extra}
    out = anthropic_request_to_openai(body, "m")
    assert out.get("reasoning_effort") == effort
    # Reasoning models take only the default sampling.
    assert ("temperature" in out) is (effort is None)


def test_sampling_stop_format_metadata() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    body = {
        "max_tokens": 0,
        "messages": [{"role": "user", "content": "a"}],
        "stop_sequences": ["END", "STOP"],
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
        "metadata": {"user_id": "user_abc"},
        "stream": False,
        "service_tier": "auto",
        "container": "c1",
    }
    out = anthropic_request_to_openai(body, "gpt-5")
    conforms(out, CompletionCreateParamsNonStreaming)
    assert out == {
        "model": "gpt-5",
        "messages": [{"role": "user", "content": "a"}],
        "max_completion_tokens": 1,
        "stop": ["END", "STOP"],
        "temperature": 0.3,
        "top_p": 0.9,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": True},
        },
        "user": "user_abc",
    }
    beta = {
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "a"}],
        "output_format": {"type": "json_schema", "schema": schema},
    }
    assert anthropic_request_to_openai(beta, "m")["response_format"]["json_schema"]["schema"] == schema
    with pytest.raises(Untranslatable) as info:
        anthropic_request_to_openai({**body, "stop_sequences": list("abcde")}, "m")
    assert info.value.param == "stop_sequences"
