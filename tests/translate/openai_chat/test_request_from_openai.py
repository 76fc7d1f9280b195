"""Requests, OpenAI Chat Completions -> Anthropic Messages."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)

from gateway.translate import Untranslatable
from gateway.translate.openai_chat import (
    DEFAULT_MAX_TOKENS,
    drop_unsigned_thinking,
    openai_request_to_anthropic,
    openai_response_to_anthropic,
    thinking_off_for_foreign_loop,
)
from tests.fakes.anthropic_wire import thinking_signature
from tests.fakes.upstream import FakeUpstream
from tests.translate.openai_chat.support import (
    PDF,
    PNG,
    TOOL_ID,
    TOOLS,
    conforms_anthropic,
    openai_completion,
    post_anthropic,
)

# Requests: OpenAI -> Anthropic


def test_openai_request_to_anthropic(anthropic_up: FakeUpstream) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Be terse."},
            {
                "role": "system",
                "content": [{"type": "text", "text": "Be polite.", "cache_control": {"type": "ephemeral"}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "auto"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                    {
                        "type": "file",
                        "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "a.pdf"},
                    },
                    {
                        "type": "file",
                        "file": {
                            "file_data": "data:text/plain;base64," + base64.b64encode(b"notes").decode()
                        },
                    },
                ],
            },
            {"role": "assistant", "content": "A picture.  "},
            {"role": "system", "content": "From now on answer in French."},
            {"role": "user", "content": "Merci", "name": "bob"},
        ],
        "max_tokens": 300,
        "stop": "END",
        "temperature": 1.7,
        "top_p": 0.5,
        "seed": 1,
        "frequency_penalty": 0.5,
        "user": "user-42",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    out = openai_request_to_anthropic(body, "claude-sonnet-4-6")
    conforms_anthropic(out, MessageCreateParamsStreaming)
    assert out["model"] == "claude-sonnet-4-6" and out["max_tokens"] == 300
    assert out["system"] == [
        {"type": "text", "text": "Be terse."},
        {"type": "text", "text": "Be polite.", "cache_control": {"type": "ephemeral"}},
    ]
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                    "title": "a.pdf",
                },
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "A picture.  "}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "<system_message>\nFrom now on answer in French.\n</system_message>",
                },
                {"type": "text", "text": "Merci"},
            ],
        },
    ]
    # Clamped to Anthropic's range; top_p dropped because temperature is set.
    assert out["temperature"] == 1.0 and "top_p" not in out
    assert out["stop_sequences"] == ["END"]
    assert out["metadata"] == {"user_id": "user-42"}
    assert out["stream"] is True
    assert "seed" not in out and "frequency_penalty" not in out and "stream_options" not in out
    assert post_anthropic(anthropic_up, {**out, "stream": False}).status_code == 200


def test_openai_defaults_and_small_mappings() -> None:
    base = {"messages": [{"role": "user", "content": "hi"}]}
    out = openai_request_to_anthropic(base, "claude-x")
    conforms_anthropic(out, MessageCreateParamsNonStreaming)
    assert out == {
        "model": "claude-x",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    out = openai_request_to_anthropic(
        {**base, "max_completion_tokens": 10, "max_tokens": 99, "stop": ["\n", " ", "##"]}, "c"
    )
    assert out["max_tokens"] == 10 and out["stop_sequences"] == ["##"]
    assert openai_request_to_anthropic({**base, "top_p": 0.8}, "c")["top_p"] == 0.8
    assert "metadata" not in openai_request_to_anthropic({**base, "user": "jane@example.com"}, "c")
    assert "metadata" not in openai_request_to_anthropic({**base, "user": "+1 (555) 123-4567"}, "c")
    assert openai_request_to_anthropic({**base, "safety_identifier": "hash1", "user": "u"}, "c")[
        "metadata"
    ] == {"user_id": "hash1"}
    # A final assistant message is a prefill: trailing whitespace is trimmed (Anthropic rejects it).
    prefill = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "The answer is "}]
    }
    assert openai_request_to_anthropic(prefill, "c")["messages"][-1]["content"] == [
        {"type": "text", "text": "The answer is"}
    ]


def test_openai_tool_conversation(anthropic_up: FakeUpstream) -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "functions.get_weather:0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": "Which is warmer?"},
            {"role": "assistant", "content": "Rome."},
            {"role": "assistant", "content": [{"type": "text", "text": " Clearly."}]},
            {"role": "user", "content": "ok"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "strict": True,
                },
            }
        ],
    }
    out = openai_request_to_anthropic(body, "claude-sonnet-4-6")
    conforms_anthropic(out, MessageCreateParamsNonStreaming)
    call_id = "functions_get_weather_0"
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call_id, "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "21C"}],
                },
                {"type": "text", "text": "Which is warmer?"},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Rome."}, {"type": "text", "text": " Clearly."}],
        },
        {"role": "user", "content": [{"type": "text", "text": "ok"}]},
    ]
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        }
    ]
    assert all(
        TOOL_ID.match(b["id"]) for m in out["messages"] for b in m["content"] if b["type"] == "tool_use"
    )
    assert post_anthropic(anthropic_up, out).status_code == 200


def test_tool_results_go_first_in_their_turn() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "user", "content": "note"},
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ]
    }
    turn = openai_request_to_anthropic(body, "c")["messages"][-1]
    assert [b["type"] for b in turn["content"]] == ["tool_result", "text"]


def test_legacy_functions() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"x": 1}'}},
            {"role": "function", "name": "f", "content": "result"},
        ],
        "functions": [{"name": "f", "parameters": {"properties": {"x": {"type": "integer"}}}}],
        "function_call": {"name": "f"},
    }
    out = openai_request_to_anthropic(body, "c")
    conforms_anthropic(out, MessageCreateParamsNonStreaming)
    call = out["messages"][1]["content"][0]
    assert call["type"] == "tool_use" and call["input"] == {"x": 1}
    assert out["messages"][2]["content"][0]["tool_use_id"] == call["id"]
    assert out["tools"][0]["input_schema"] == {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert out["tool_choice"] == {"type": "tool", "name": "f"}


@pytest.mark.parametrize(
    ("extra", "choice"),
    [
        ({}, None),
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        ({"tool_choice": {"type": "function", "function": {"name": "g"}}}, {"type": "tool", "name": "g"}),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"tool_choice": "required", "parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        ({"tool_choice": "none", "parallel_tool_calls": False}, {"type": "none"}),
        ({"parallel_tool_calls": True}, None),
    ],
)
def test_tool_choice_to_anthropic(extra: dict[str, Any], choice: dict[str, Any] | None) -> None:
    out = openai_request_to_anthropic(
        {"messages": [{"role": "user", "content": "a"}], "tools": TOOLS, **extra}, "c"
    )
    conforms_anthropic(out, MessageCreateParamsNonStreaming)
    assert out.get("tool_choice") == choice
    assert [t["input_schema"] for t in out["tools"]] == [{"type": "object", "properties": {}}] * 2


def test_allowed_tools_and_no_tools() -> None:
    allowed = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "g"}}]},
    }
    out = openai_request_to_anthropic(
        {"messages": [{"role": "user", "content": "a"}], "tools": TOOLS, "tool_choice": allowed}, "c"
    )
    assert [t["name"] for t in out["tools"]] == ["g"] and out["tool_choice"] == {"type": "any"}
    out = openai_request_to_anthropic(
        {
            "messages": [{"role": "user", "content": "a"}],
            "tool_choice": "required",
            "parallel_tool_calls": False,
        },
        "c",
    )
    assert "tool_choice" not in out and "tools" not in out
    bad = {
        "messages": [{"role": "user", "content": "a"}],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "zz"}},
    }
    with pytest.raises(Untranslatable):
        openai_request_to_anthropic(bad, "c")


def test_web_search_options_become_the_server_tool() -> None:
    location = {"type": "approximate", "approximate": {"city": "Paris", "country": "FR", "region": None}}
    out = openai_request_to_anthropic(
        {
            "messages": [{"role": "user", "content": "news?"}],
            "web_search_options": {"user_location": location},
        },
        "c",
    )
    conforms_anthropic(out, MessageCreateParamsNonStreaming)
    assert out["tools"] == [
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
        }
    ]


@pytest.mark.parametrize(
    ("model", "effort", "max_tokens", "thinking", "config_effort"),
    [
        ("claude-sonnet-4-6", "high", None, {"type": "adaptive"}, "high"),
        ("claude-opus-4-7", "max", None, {"type": "adaptive"}, "max"),
        ("gemini-2.5-pro", "low", None, {"type": "adaptive"}, "low"),
        ("claude-sonnet-4-5-20250929", "medium", 8000, {"type": "enabled", "budget_tokens": 2048}, None),
        ("claude-3-7-sonnet-latest", "high", None, {"type": "enabled", "budget_tokens": 4095}, None),
        (
            "anthropic.claude-opus-4-1-20250805-v1:0",
            "xhigh",
            20000,
            {"type": "enabled", "budget_tokens": 8192},
            None,
        ),
        ("claude-sonnet-4-20250514", "low", 1000, None, None),  # no room for the minimum budget
        ("claude-sonnet-4-6", "none", None, {"type": "disabled"}, None),
        ("claude-sonnet-4-6", "minimal", None, {"type": "disabled"}, None),
    ],
)
def test_reasoning_effort_to_thinking(
    model: str,
    effort: str,
    max_tokens: int | None,
    thinking: dict[str, Any] | None,
    config_effort: str | None,
) -> None:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": "a"}],
        "reasoning_effort": effort,
        "temperature": 0.2,
        "top_p": 0.9,
    }
    if max_tokens:
        body["max_completion_tokens"] = max_tokens
    out = openai_request_to_anthropic(body, model)
    conforms_anthropic(out, MessageCreateParamsNonStreaming)
    assert out.get("thinking") == thinking
    assert out.get("output_config", {}).get("effort") == config_effort
    on = thinking is not None and thinking["type"] != "disabled"
    # With thinking Anthropic wants temperature unset and top_p >= 0.95.
    assert ("temperature" in out) is (not on) and "top_p" not in out


def test_thinking_left_off_where_anthropic_would_reject_it() -> None:
    base = {"messages": [{"role": "user", "content": "a"}], "reasoning_effort": "high", "tools": TOOLS}
    assert "thinking" not in openai_request_to_anthropic(
        {**base, "tool_choice": "required"}, "claude-sonnet-4-6"
    )
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    loop = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
    ]
    # Inside a tool loop whose assistant turn has no replayable (signed) thinking: off.
    assert "thinking" not in openai_request_to_anthropic({**base, "messages": loop}, "claude-sonnet-4-6")
    # With the signed thinking blocks a LiteLLM-style client sends back: on, and the block comes first.
    signed = {
        **loop[1],
        "reasoning_content": "plan",
        "thinking_blocks": [{"type": "thinking", "thinking": "plan", "signature": "sig"}],
    }
    out = openai_request_to_anthropic({**base, "messages": [loop[0], signed, loop[2]]}, "claude-sonnet-4-6")
    assert out["thinking"] == {"type": "adaptive"}
    assert out["messages"][1]["content"][0] == {"type": "thinking", "thinking": "plan", "signature": "sig"}
    # Unsigned reasoning is never sent as thinking.
    unsigned = {
        **loop[1],
        "reasoning_content": "plan",
        "thinking_blocks": [{"type": "thinking", "thinking": "plan"}],
    }
    out = openai_request_to_anthropic({"messages": [loop[0], unsigned, loop[2]]}, "c")
    assert [b["type"] for b in out["messages"][1]["content"]] == ["tool_use"]
    redacted = {**loop[1], "thinking_blocks": [{"type": "redacted_thinking", "data": "EmwK"}]}
    out = openai_request_to_anthropic({"messages": [loop[0], redacted, loop[2]]}, "c")
    assert out["messages"][1]["content"][0] == {"type": "redacted_thinking", "data": "EmwK"}


def test_drop_unsigned_thinking_before_anthropic() -> None:
    # A Claude Code history whose earlier turns came from an OpenAI upstream, now bound for Anthropic.
    first = openai_response_to_anthropic(openai_completion(content="Hi", reasoning_content="think"), "c")
    only_thinking = openai_response_to_anthropic(openai_completion(reasoning_content="hmm", content=""), "c")
    signed = {"type": "thinking", "thinking": "real", "signature": "EqQB"}
    body = {
        "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": first["content"]},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": only_thinking["content"]},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": [signed, {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "d"},
        ],
    }
    out = drop_unsigned_thinking(body)
    assert [m["content"] for m in out["messages"] if m["role"] == "assistant"] == [
        [{"type": "text", "text": "Hi"}],
        [signed, {"type": "text", "text": "ok"}],
    ]
    assert body["messages"][1]["content"][0]["type"] == "thinking"  # the input is not modified
    assert drop_unsigned_thinking(out) is out


def _loop_from(turn: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A Claude Code-shaped request answering the tool call of `turn` (an assistant turn)."""
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [
            {"role": "user", "content": "ls?"},
            {"role": "assistant", "content": turn},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a b"}]},
        ],
        **extra,
    }


CALL_BLOCK = {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}
BUDGET = {"type": "enabled", "budget_tokens": 1024}


def test_a_tool_loop_another_provider_wrote_goes_to_anthropic_without_thinking(
    anthropic_up: FakeUpstream,
) -> None:
    # The turn came from Gemini or OpenAI: their reasoning unsigned, no thinking block Anthropic signed.
    unsigned = {"type": "thinking", "thinking": "list it", "signature": ""}
    management = {
        "edits": [{"type": "clear_thinking_20251015", "keep": "all"}, {"type": "clear_tool_uses_20250919"}]
    }
    body = _loop_from([unsigned, CALL_BLOCK], thinking=BUDGET, context_management=management)
    # The fake refuses it as Anthropic does: unsigned thinking, then (once dropped) a turn without thinking.
    assert post_anthropic(anthropic_up, body).status_code == 400
    assert post_anthropic(anthropic_up, drop_unsigned_thinking(body)).status_code == 400
    out = thinking_off_for_foreign_loop(drop_unsigned_thinking(body))
    assert thinking_off_for_foreign_loop(body) == out | {"messages": body["messages"]}  # either order
    assert "thinking" not in out and out["messages"][1]["content"] == [CALL_BLOCK]
    # Claude Code's clear_thinking edit needs thinking on; its other edits stay.
    assert out["context_management"] == {"edits": [{"type": "clear_tool_uses_20250919"}]}
    assert post_anthropic(anthropic_up, out).status_code == 200
    assert body["thinking"] == BUDGET  # the input is not modified


def test_a_tool_loop_claude_wrote_keeps_its_thinking(anthropic_up: FakeUpstream) -> None:
    signed = {"type": "thinking", "thinking": "list it", "signature": thinking_signature("list it")}
    body = _loop_from([signed, CALL_BLOCK], thinking=BUDGET)
    assert thinking_off_for_foreign_loop(body) is body
    assert post_anthropic(anthropic_up, body).status_code == 200
    # Adaptive thinking may skip a turn's thinking: a turn without it is left as it is.
    adaptive = _loop_from([CALL_BLOCK], thinking={"type": "adaptive"})
    assert thinking_off_for_foreign_loop(adaptive) is adaptive
    # A forged signature is refused by the fake, as Anthropic refuses it; the gateway never makes one.
    forged = _loop_from([{**signed, "signature": "sig-forged"}, CALL_BLOCK], thinking=BUDGET)
    assert post_anthropic(anthropic_up, forged).status_code == 400


def test_response_format_to_anthropic() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    base = {"messages": [{"role": "user", "content": "a"}]}
    spec = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    out = openai_request_to_anthropic({**base, "response_format": spec}, "c")
    conforms_anthropic(out, MessageCreateParamsNonStreaming)
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    out = openai_request_to_anthropic({**base, "response_format": {"type": "json_object"}}, "c")
    assert out["system"][-1]["text"] == "Respond with a single valid JSON object and nothing else."
    assert "system" not in openai_request_to_anthropic({**base, "response_format": {"type": "text"}}, "c")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True, "top_logprobs": 3}, "logprobs"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "modalities"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]},
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{not json"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"tools": [{"type": "custom", "custom": {"name": "grammar_tool"}}]}, "tools[0]"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"messages": [{"role": "critic", "content": "x"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}
                ]
            },
            "messages[0].content[0]",
        ),
    ],
)
def test_untranslatable_openai_requests(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(Untranslatable) as info:
        openai_request_to_anthropic({"messages": [{"role": "user", "content": "a"}], **extra}, "c")
    assert info.value.param == param and info.value.message
