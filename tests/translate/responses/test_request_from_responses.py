"""Responses request -> hub request: every input item kind, tools, choices and parameters."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.translate import Untranslatable
from gateway.translate.responses import hub_tool_name, responses_request_to_anthropic
from gateway.translate.responses.reasoning import encode

MODEL = "claude-sonnet-4-5"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
PDF = base64.b64encode(b"%PDF-1.4").decode()


def convert(**obj: Any) -> dict[str, Any]:
    return responses_request_to_anthropic({"model": "x", **obj}, MODEL)


def test_string_input_and_instructions() -> None:
    hub = convert(input="Hi", instructions="Be brief.")
    assert hub == {
        "model": MODEL,
        "max_tokens": 4096,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }


def test_every_message_kind() -> None:
    hub = convert(
        input=[
            {"role": "developer", "content": "Rules."},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "More rules."}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                    {"type": "input_image", "image_url": "https://example.com/a.png"},
                    {
                        "type": "input_file",
                        "file_data": f"data:application/pdf;base64,{PDF}",
                        "filename": "a.pdf",
                    },
                ],
            },
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Seen."}]},
            {"role": "developer", "content": "Late rule."},
        ]
    )
    assert [b["text"] for b in hub["system"]] == ["Rules.", "More rules."]
    user, assistant, late = hub["messages"]
    assert [b["type"] for b in user["content"]] == ["text", "image", "image", "document"]
    assert user["content"][1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}
    assert user["content"][2]["source"] == {"type": "url", "url": "https://example.com/a.png"}
    assert user["content"][3]["source"]["media_type"] == "application/pdf"
    assert user["content"][3]["title"] == "a.pdf"
    assert assistant == {"role": "assistant", "content": [{"type": "text", "text": "Seen."}]}
    assert late["role"] == "user" and "Late rule." in late["content"][0]["text"]


def test_function_and_custom_calls_and_outputs() -> None:
    hub = convert(
        input=[
            {"role": "user", "content": "Go"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup",
                "namespace": "crm",
                "arguments": '{"id":7}',
            },
            {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin"},
            {"type": "function_call_output", "call_id": "call_1", "output": "found"},
            {
                "type": "custom_tool_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "applied"}],
            },
        ]
    )
    _, assistant, results = hub["messages"]
    assert assistant["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "crm__lookup", "input": {"id": 7}},
        {"type": "tool_use", "id": "call_2", "name": "apply_patch", "input": {"input": "*** Begin"}},
    ]
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "found"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "applied"}]},
    ]


def test_reasoning_items_replay_only_the_gateways_own_for_the_same_family() -> None:
    signed = {"type": "thinking", "thinking": "Hmm.", "signature": "sig-1"}
    redacted = {"type": "redacted_thinking", "data": "opaque"}
    items = [
        {"role": "user", "content": "Q"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encode(signed, "anthropic")},
        {
            "type": "reasoning",
            "id": "rs_2",
            "summary": [],
            "encrypted_content": encode(redacted, "anthropic"),
        },
        {"type": "reasoning", "id": "rs_3", "summary": [], "encrypted_content": "gAAAA-openai-own"},
        {"type": "reasoning", "id": "rs_4", "summary": [], "encrypted_content": encode(signed, "gemini")},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A"}]},
        {"role": "user", "content": "Q2"},
    ]
    hub = convert(input=items)
    assert hub["messages"][1]["content"] == [signed, redacted, {"type": "text", "text": "A"}]
    gemini = responses_request_to_anthropic({"input": items}, MODEL, family="gemini")
    assert gemini["messages"][1]["content"] == [signed, {"type": "text", "text": "A"}]


def test_thinking_opens_the_assistant_turn() -> None:
    signed = {"type": "thinking", "thinking": "Hmm.", "signature": "sig-1"}
    hub = convert(
        input=[
            {"role": "user", "content": "Q"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Let me look."}],
            },
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "encrypted_content": encode(signed, "anthropic"),
            },
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "ok"},
        ]
    )
    assert [b["type"] for b in hub["messages"][1]["content"]] == ["thinking", "text", "tool_use"]


def test_tools_choices_and_parameters() -> None:
    tools = [
        {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}, "strict": True},
        {"type": "custom", "name": "g", "format": {"type": "grammar", "syntax": "regex", "definition": "a+"}},
        {
            "type": "namespace",
            "name": "ns",
            "description": "Group",
            "tools": [{"type": "function", "name": "h"}],
        },
        {"type": "web_search"},
    ]
    hub = responses_request_to_anthropic(
        {
            "input": "Q",
            "tools": tools,
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
            "max_output_tokens": 500,
            "temperature": 0.3,
            "metadata": {"user_id": "u-1", "other": "x"},
            "stream": True,
            "store": False,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "k",
            "truncation": "auto",
            "service_tier": "auto",
            "client_metadata": {"a": 1},
        },
        MODEL,
        web_search=True,
    )
    assert [t["name"] for t in hub["tools"]] == ["f", "g", "ns__h", "web_search"]
    assert hub["tools"][0]["strict"] is True
    assert hub["tools"][1]["input_schema"]["properties"] == {"input": {"type": "string"}}
    assert "a+" in hub["tools"][1]["description"]
    assert hub["tools"][2]["description"].startswith("[ns: Group]")
    assert hub["tools"][3] == {"type": "web_search_20250305", "name": "web_search"}
    assert hub["tool_choice"] == {"type": "tool", "name": "f", "disable_parallel_tool_use": True}
    assert hub["max_tokens"] == 500 and hub["temperature"] == 0.3 and hub["stream"] is True
    assert hub["metadata"] == {"user_id": "u-1"}
    assert set(hub) == {
        "model",
        "max_tokens",
        "messages",
        "tools",
        "tool_choice",
        "temperature",
        "metadata",
        "stream",
    }
    dropped = responses_request_to_anthropic({"input": "Q", "tools": tools}, MODEL)
    assert [t["name"] for t in dropped["tools"]] == ["f", "g", "ns__h"]
    # Cached results only (Codex's default): Anthropic's live search is not what the client allowed.
    cached = [*tools[:3], {"type": "web_search", "external_web_access": False}]
    offline = responses_request_to_anthropic({"input": "Q", "tools": cached}, MODEL, web_search=True)
    assert [t["name"] for t in offline["tools"]] == ["f", "g", "ns__h"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]},
            {"type": "any"},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    tools = [{"type": "function", "name": "f"}, {"type": "function", "name": "g"}]
    hub = convert(input="Q", tools=tools, tool_choice=choice)
    assert hub["tool_choice"] == expected
    if isinstance(choice, dict):
        assert [t["name"] for t in hub["tools"]] == ["f"]


def test_structured_output_and_json_object() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    hub = convert(
        input="Q", text={"format": {"type": "json_schema", "name": "n", "schema": schema, "strict": True}}
    )
    assert hub["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    hub = convert(input="Q", text={"format": {"type": "json_object"}})
    assert "JSON" in hub["system"][-1]["text"]


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        ("claude-sonnet-4-5", "low", {"type": "enabled", "budget_tokens": 1024}),
        ("claude-sonnet-4-5", "high", {"type": "enabled", "budget_tokens": 4095}),
        ("claude-opus-4-6", "medium", {"type": "adaptive"}),
        ("claude-sonnet-4-5", "minimal", {"type": "disabled"}),
    ],
)
def test_reasoning_effort_to_thinking(model: str, effort: str, thinking: dict[str, Any]) -> None:
    hub = responses_request_to_anthropic(
        {"input": "Q", "reasoning": {"effort": effort, "summary": "auto"}}, model
    )
    assert hub["thinking"] == thinking
    if thinking["type"] == "adaptive":
        assert hub["output_config"]["effort"] == effort


def test_summary_alone_reasons_at_medium() -> None:
    hub = convert(input="Q", reasoning={"summary": "auto"})
    assert hub["thinking"] == {"type": "enabled", "budget_tokens": 2048}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"top_logprobs": 2}, "top_logprobs"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
            "input[0].content[0]",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "input[0].content[0]",
        ),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        ({"input": [{"type": "computer_call", "id": "c"}]}, "input[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": []}]}, "tools[0].type"),
        (
            {
                "tool_choice": {"type": "function", "name": "missing"},
                "tools": [{"type": "function", "name": "f"}],
            },
            "tool_choice",
        ),
        ({"text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format.schema"),
    ],
)
def test_inexpressible_is_untranslatable_naming_the_param(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(Untranslatable) as caught:
        convert(**{"input": "Q", **extra})
    assert caught.value.param == param


def test_flattened_names_fit_anthropics_pattern() -> None:
    name = hub_tool_name("a" * 60, "namespace.with.dots")
    assert len(name) <= 64 and name.replace("_", "").replace("-", "").isalnum()
    assert name == hub_tool_name("a" * 60, "namespace.with.dots")  # the same on every turn
    assert hub_tool_name("b" * 60, "namespace.with.dots") != name


def test_codex_second_turn() -> None:
    """Codex 0.169's second turn as recorded: developer messages with its own ids, OpenAI's encrypted
    reasoning (content null), its function call and output; a summary without an effort."""
    hub = convert(
        input=[
            {
                "type": "message",
                "id": "msg_1",
                "role": "developer",
                "content": [{"type": "input_text", "text": "Agent."}],
            },
            {
                "type": "message",
                "id": "msg_2",
                "role": "user",
                "content": [{"type": "input_text", "text": "Run it"}],
            },
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "Run it."}],
                "content": None,
                "encrypted_content": "gAAAA-opaque",
            },
            {
                "type": "function_call",
                "status": "completed",
                "id": "fc_1",
                "name": "exec_command",
                "arguments": '{"cmd": "echo hi"}',
                "call_id": "call_canary",
            },
            {"type": "function_call_output", "id": "fco_1", "call_id": "call_canary", "output": "hi\n"},
        ],
        tools=[
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}, "strict": False}
        ],
        reasoning={"summary": "auto"},
        parallel_tool_calls=True,
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="k",
        client_metadata={"x": "y"},
    )
    assert hub["system"] == [{"type": "text", "text": "Agent."}]
    assert [m["role"] for m in hub["messages"]] == ["user", "assistant", "user"]
    assert hub["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_canary", "name": "exec_command", "input": {"cmd": "echo hi"}}
    ]
    # OpenAI's reasoning cannot be replayed, so thinking stays off for this tool-loop turn (Anthropic
    # would reject enabled thinking on an assistant turn without its thinking block).
    assert "thinking" not in hub
    assert b"gAAAA" not in repr(hub).encode()
