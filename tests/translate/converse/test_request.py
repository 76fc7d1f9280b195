"""Anthropic Messages -> Bedrock Converse requests, checked against botocore's service model."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gateway.translate.converse import (
    ConverseStreamToAnthropic,
    anthropic_request_to_converse,
    converse_response_to_anthropic,
    converse_tool_names,
)
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.translate.converse.support import (
    PDF,
    PNG,
    REDACTED,
    REPRESENTATIVE,
    WEATHER_TOOL,
    assert_valid_converse,
    assistant,
    request,
    tool_conversation,
    untranslatable,
    user,
)


@pytest.mark.parametrize("name", list(REPRESENTATIVE))
def test_requests_match_the_botocore_service_model(name: str) -> None:
    assert_valid_converse(anthropic_request_to_converse(REPRESENTATIVE[name]))


def test_claude_code_capture_is_valid() -> None:
    body = json.loads(FIXTURE.read_text())["body"]
    out = anthropic_request_to_converse(body)
    assert_valid_converse(out)
    # The billing header is gone, the rest of the system prompt and its cache breakpoint stay.
    assert not any(b.get("text", "").startswith("x-anthropic-billing-header") for b in out["system"])
    assert out["system"][1] == {"cachePoint": {"type": "default"}}
    # The mid-conversation system message joins the user turn, in place, with an operator note.
    assert len(out["messages"]) == 1
    assert out["messages"][0]["content"][-1]["text"].startswith("[System message from the application")
    assert len(out["toolConfig"]["tools"]) == len(body["tools"])
    assert out["additionalModelRequestFields"] == {"thinking": {"type": "adaptive"}}
    assert out["outputConfig"] == {"effort": "high"}
    assert out["inferenceConfig"] == {"maxTokens": 64000}
    assert set(out) == {
        "messages",
        "system",
        "toolConfig",
        "inferenceConfig",
        "additionalModelRequestFields",
    } | {"outputConfig"}


def test_text_request_maps_every_field_and_drops_the_rest() -> None:
    body = request(
        [user("Hi")],
        system="Be terse.",
        temperature=0.3,
        top_p=0.9,
        top_k=5,
        stop_sequences=["END", ""],
        stream=True,
        metadata={"user_id": "u-1"},
        service_tier="auto",
        container="c-1",
        mcp_servers=[{"type": "url", "url": "https://mcp.test", "name": "m"}],
        context_management={"edits": []},
        inference_geo="us",
    )
    assert anthropic_request_to_converse(body) == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "system": [{"text": "Be terse."}],
        "inferenceConfig": {"maxTokens": 1024, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END"]},
        "additionalModelResponseFieldPaths": ["/stop_sequence"],
        "additionalModelRequestFields": {"top_k": 5},
    }


def test_max_tokens_zero_becomes_one() -> None:
    out = anthropic_request_to_converse(request([user("Hi")], max_tokens=0))
    assert out["inferenceConfig"] == {"maxTokens": 1}


def test_system_blocks_billing_header_and_cache_points() -> None:
    out = anthropic_request_to_converse(
        request(
            [user("Hi")],
            system=[
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1; cch=00000;"},
                {"type": "text", "text": "One.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "  "},
                {"type": "text", "text": "Two.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            ],
        )
    )
    assert out["system"] == [
        {"text": "One."},
        {"cachePoint": {"type": "default"}},
        {"text": "Two."},
        {"cachePoint": {"type": "default", "ttl": "1h"}},
    ]
    # Only as the first block: later, the same text is the operator's own.
    later = [{"type": "text", "text": "A."}, {"type": "text", "text": "x-anthropic-billing-header: keep"}]
    assert len(anthropic_request_to_converse(request([user("Hi")], system=later))["system"]) == 2
    string = anthropic_request_to_converse(
        request([user("Hi")], system="x-anthropic-billing-header: x\nRest.")
    )
    assert string["system"] == [{"text": "Rest."}]
    assert untranslatable(request([user("Hi")], system=[{"type": "image"}])).param == "system.0"


def test_leading_system_messages_fold_into_system_later_ones_stay_in_place() -> None:
    out = anthropic_request_to_converse(
        request(
            [
                {"role": "system", "content": "Early."},
                user("Hi"),
                assistant("Hello."),
                {"role": "system", "content": [{"type": "text", "text": "Late."}]},
                user("Bye"),
            ],
            system="Top.",
        )
    )
    assert out["system"] == [{"text": "Top."}, {"text": "Early."}]
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"text": "[System message from the application, not from the user]\nLate."},
            {"text": "Bye"},
        ],
    }


def test_cache_control_on_message_blocks_tools_and_top_level() -> None:
    cache = {"type": "ephemeral"}
    out = anthropic_request_to_converse(
        request(
            [
                user(
                    [{"type": "text", "text": "Doc", "cache_control": cache}, {"type": "text", "text": "Q"}]
                ),
                assistant([{"type": "text", "text": "A", "cache_control": cache}]),
                user([{"type": "text", "text": "More"}]),
            ],
            tools=[{**WEATHER_TOOL, "cache_control": {"type": "ephemeral", "ttl": "5m"}}],
            cache_control=cache,
        )
    )
    assert out["messages"][0]["content"] == [
        {"text": "Doc"},
        {"cachePoint": {"type": "default"}},
        {"text": "Q"},
    ]
    assert out["messages"][1]["content"] == [{"text": "A"}, {"cachePoint": {"type": "default"}}]
    # Top-level (automatic) caching: a breakpoint after the last block of the last message.
    assert out["messages"][2]["content"] == [{"text": "More"}, {"cachePoint": {"type": "default"}}]
    assert out["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default", "ttl": "5m"}}
    assert_valid_converse(out)


def test_top_level_cache_control_does_not_double_an_existing_breakpoint() -> None:
    cache = {"type": "ephemeral"}
    out = anthropic_request_to_converse(
        request([user([{"type": "text", "text": "Q", "cache_control": cache}])], cache_control=cache)
    )
    assert out["messages"][0]["content"] == [{"text": "Q"}, {"cachePoint": {"type": "default"}}]


def test_images() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": media, "data": PNG}}
        for media in ("image/png", "image/jpeg", "image/gif", "image/webp")
    ]
    out = anthropic_request_to_converse(request([user([*content, {"type": "text", "text": "?"}])]))
    formats = [block["image"]["format"] for block in out["messages"][0]["content"][:4]]
    assert formats == ["png", "jpeg", "gif", "webp"]
    # The base64 string is passed through as given: it is the blob's JSON wire form.
    assert out["messages"][0]["content"][0]["image"]["source"] == {"bytes": PNG}
    assert_valid_converse(out)


@pytest.mark.parametrize(
    ("source", "param"),
    [
        ({"type": "url", "url": "https://example.com/a.png"}, "messages.0.content.0.source.url"),
        (
            {"type": "base64", "media_type": "image/heic", "data": PNG},
            "messages.0.content.0.source.media_type",
        ),
        ({"type": "file", "file_id": "file_1"}, "messages.0.content.0.source.type"),
    ],
)
def test_untranslatable_images(source: dict[str, Any], param: str) -> None:
    error = untranslatable(request([user([{"type": "image", "source": source}])]))
    assert error.param == param


def test_documents() -> None:
    pdf = {"type": "base64", "media_type": "application/pdf", "data": PDF}
    out = anthropic_request_to_converse(
        request(
            [
                user(
                    [
                        {"type": "document", "title": "Q3 report: final/v2.pdf", "source": pdf},
                        {"type": "document", "source": pdf},
                        {"type": "document", "title": "Q3 report final v2 pdf", "source": pdf},
                        {
                            "type": "document",
                            "title": "Notes",
                            "source": {"type": "text", "data": "plain text"},
                        },
                    ]
                ),
                assistant("Read."),
                user(
                    [
                        {
                            "type": "document",
                            "source": {"type": "content", "content": [{"type": "text", "text": "inline"}]},
                        },
                        {"type": "document", "title": "***", "source": pdf},
                    ]
                ),
            ]
        )
    )
    first = out["messages"][0]["content"]
    names = [block["document"]["name"] for block in first if "document" in block]
    # Only alphanumerics, single spaces and -()[] survive; names are unique across the request.
    assert names == ["Q3 report final v2 pdf", "document-2", "Q3 report final v2 pdf (2)"]
    assert first[0]["document"] == {
        "format": "pdf",
        "name": "Q3 report final v2 pdf",
        "source": {"bytes": PDF},
    }
    # A plain-text document becomes a text block (the title kept), which also satisfies the rule below.
    assert first[3] == {"text": "Notes\n\nplain text"}
    second = out["messages"][2]["content"]
    assert second[0] == {"text": "inline"}
    assert second[1]["document"]["name"] == "document-4"  # the 4th document block Bedrock sees
    assert_valid_converse(out)


def test_a_document_without_text_gets_a_companion_text_block() -> None:
    pdf = {"type": "base64", "media_type": "application/pdf", "data": PDF}
    out = anthropic_request_to_converse(request([user([{"type": "document", "source": pdf}])]))
    assert out["messages"][0]["content"][-1] == {"text": "."}
    with_text = anthropic_request_to_converse(
        request([user([{"type": "document", "source": pdf}, {"type": "text", "text": "Summarise"}])])
    )
    assert len(with_text["messages"][0]["content"]) == 2


@pytest.mark.parametrize(
    ("source", "param"),
    [
        ({"type": "url", "url": "https://example.com/a.pdf"}, "messages.0.content.0.source.url"),
        ({"type": "file", "file_id": "file_1"}, "messages.0.content.0.source.type"),
        (
            {"type": "base64", "media_type": "application/zip", "data": PDF},
            "messages.0.content.0.source.media_type",
        ),
    ],
)
def test_untranslatable_documents(source: dict[str, Any], param: str) -> None:
    assert untranslatable(request([user([{"type": "document", "source": source}])])).param == param


def test_tool_round_trip_conversation() -> None:
    out = anthropic_request_to_converse(tool_conversation())
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"reasoningContent": {"reasoningText": {"text": "Use the tool.", "signature": "sig-1"}}},
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "toolu_01A", "content": [{"text": "18C"}]}},
                {"text": "And tomorrow?"},
            ],
        },
    ]
    assert out["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "inputSchema": {"json": WEATHER_TOOL["input_schema"]},
                }
            }
        ]
    }
    assert_valid_converse(out)


def test_tool_results_errors_media_and_empty() -> None:
    body = request(
        [
            user("Go"),
            assistant(
                [
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}},
                    {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {}},
                    {"type": "tool_use", "id": "t3", "name": "get_weather", "input": {}},
                ]
            ),
            user(
                [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t2",
                        "content": [
                            {"type": "text", "text": "a chart"},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                            },
                        ],
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "tool_result", "tool_use_id": "t3", "content": ""},
                ]
            ),
        ],
        tools=[WEATHER_TOOL],
    )
    out = anthropic_request_to_converse(body)
    results = out["messages"][2]["content"]
    assert results[0] == {"toolResult": {"toolUseId": "t1", "content": [{"text": "boom"}], "status": "error"}}
    assert results[1]["toolResult"]["content"] == [
        {"text": "a chart"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
    ]
    assert "status" not in results[1]["toolResult"]
    assert results[2] == {"cachePoint": {"type": "default"}}
    # Converse rejects empty tool result content and blank text.
    assert results[3] == {"toolResult": {"toolUseId": "t3", "content": [{"text": "(empty)"}]}}
    assert_valid_converse(out)


def test_tool_ids_outside_the_converse_pattern_are_replaced_consistently() -> None:
    long_id = "toolu_" + "a" * 80
    odd_id = "functions.Bash:0/x"
    dotted_id = "tooluse.a:1"  # what Converse itself may answer, but refuses in a request
    body = request(
        [
            user("Go"),
            assistant(
                [
                    {"type": "tool_use", "id": long_id, "name": "get_weather", "input": {}},
                    {"type": "tool_use", "id": odd_id, "name": "get_weather", "input": {}},
                    {"type": "tool_use", "id": dotted_id, "name": "get_weather", "input": {}},
                ]
            ),
            user(
                [
                    {"type": "tool_result", "tool_use_id": long_id, "content": "1"},
                    {"type": "tool_result", "tool_use_id": odd_id, "content": "2"},
                    {"type": "tool_result", "tool_use_id": dotted_id, "content": "3"},
                ]
            ),
        ],
        tools=[WEATHER_TOOL],
    )
    out = anthropic_request_to_converse(body)
    calls = [block["toolUse"]["toolUseId"] for block in out["messages"][1]["content"]]
    results = [block["toolResult"]["toolUseId"] for block in out["messages"][2]["content"]]
    assert calls == results and calls[0] != long_id and calls[1] != odd_id and calls[2] != dotted_id
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool_id) for tool_id in calls)
    assert calls == [
        block["toolUse"]["toolUseId"]
        for block in anthropic_request_to_converse(body)["messages"][1]["content"]
    ]
    assert_valid_converse(out)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"auto": {}}),
        ({"type": "any"}, {"any": {}}),
        ({"type": "any", "disable_parallel_tool_use": True}, {"any": {}}),
        ({"type": "tool", "name": "get_weather"}, {"tool": {"name": "get_weather"}}),
        (None, None),
    ],
)
def test_tool_choice(choice: dict[str, Any] | None, expected: dict[str, Any] | None) -> None:
    extra = {"tool_choice": choice} if choice else {}
    out = anthropic_request_to_converse(request([user("Hi")], tools=[WEATHER_TOOL], **extra))
    assert out["toolConfig"].get("toolChoice") == expected
    assert_valid_converse(out)


def test_tool_choice_none_withholds_tools_unless_the_history_needs_them() -> None:
    none = {"type": "none"}
    plain = anthropic_request_to_converse(request([user("Hi")], tools=[WEATHER_TOOL], tool_choice=none))
    assert "toolConfig" not in plain
    with_history = anthropic_request_to_converse({**tool_conversation(), "tool_choice": none})
    assert [tool["toolSpec"]["name"] for tool in with_history["toolConfig"]["tools"]] == ["get_weather"]
    assert "toolChoice" not in with_history["toolConfig"]
    assert "toolUse" in with_history["messages"][1]["content"][2]
    assert_valid_converse(with_history)


def test_tool_history_without_declared_tools_becomes_text() -> None:
    body = tool_conversation()
    del body["tools"]
    out = anthropic_request_to_converse(body)
    assert "toolConfig" not in out
    assert out["messages"][1]["content"][2] == {"text": '[Tool call toolu_01A: get_weather {"city":"Paris"}]'}
    assert out["messages"][2]["content"][0] == {"text": "[Tool result for toolu_01A]\n18C"}
    assert_valid_converse(out)


def test_tool_choice_errors() -> None:
    named = {"type": "tool", "name": "x"}
    assert (
        untranslatable(request([user("Hi")], tools=[WEATHER_TOOL], tool_choice=named)).param
        == "tool_choice.name"
    )
    assert untranslatable(request([user("Hi")], tool_choice=named)).param == "tool_choice.name"
    maybe = {"type": "maybe"}
    assert (
        untranslatable(request([user("Hi")], tools=[WEATHER_TOOL], tool_choice=maybe)).param
        == "tool_choice.type"
    )
    assert untranslatable(request([user("Hi")], tool_choice="auto")).param == "tool_choice"


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "code_execution_20250825", "name": "code_execution"},
    ],
)
def test_server_tools_are_untranslatable(tool: dict[str, Any]) -> None:
    error = untranslatable(request([user("Hi")], tools=[WEATHER_TOOL, tool]))
    assert error.param == "tools.1.type"
    assert tool["name"] in error.message


def test_custom_tool_fields() -> None:
    tools = [
        {"type": "custom", "name": "no_schema", "description": ""},
        {"name": "strict_one", "input_schema": {"type": "object"}, "strict": True, "defer_loading": True},
    ]
    out = anthropic_request_to_converse(request([user("Hi")], tools=tools))
    assert out["toolConfig"]["tools"] == [
        {"toolSpec": {"name": "no_schema", "inputSchema": {"json": {"type": "object", "properties": {}}}}},
        {"toolSpec": {"name": "strict_one", "inputSchema": {"json": {"type": "object"}}, "strict": True}},
    ]
    assert_valid_converse(out)


def test_long_tool_names_are_shortened_and_mapped_back() -> None:
    long_name = "mcp__some_server_with_a_long_name__a_tool_with_an_even_longer_descriptive_name"
    body = request(
        [
            user("Go"),
            assistant([{"type": "tool_use", "id": "t1", "name": long_name, "input": {}}]),
            user([{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]),
        ],
        tools=[{**WEATHER_TOOL, "name": long_name}, WEATHER_TOOL],
        tool_choice={"type": "tool", "name": long_name},
    )
    out = anthropic_request_to_converse(body)
    short = out["toolConfig"]["tools"][0]["toolSpec"]["name"]
    assert len(short) <= 64 and short != long_name
    assert out["messages"][1]["content"][0]["toolUse"]["name"] == short
    assert out["toolConfig"]["toolChoice"] == {"tool": {"name": short}}
    names = converse_tool_names(body)
    assert names == {short: long_name}
    assert_valid_converse(out)
    response = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "x", "name": short, "input": {}}}],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
    }
    assert converse_response_to_anthropic(response, "m", names)["content"][0]["name"] == long_name
    converter = ConverseStreamToAnthropic("m", 1, names)
    events = converter.feed(
        "contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "x", "name": short}}}
    )
    assert events[-1]["content_block"]["name"] == long_name


def test_thinking_history() -> None:
    out = anthropic_request_to_converse(
        request(
            [
                user("Q"),
                assistant(
                    [
                        {"type": "thinking", "thinking": "signed", "signature": "s1"},
                        {"type": "thinking", "thinking": "unsigned from another provider", "signature": ""},
                        {"type": "thinking", "thinking": "no signature at all"},
                        {"type": "redacted_thinking", "data": REDACTED},
                        {"type": "text", "text": "A"},
                    ]
                ),
                user("Q2"),
            ]
        )
    )
    assert out["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "signed", "signature": "s1"}}},
        {"reasoningContent": {"redactedContent": REDACTED}},
        {"text": "A"},
    ]
    assert_valid_converse(out)


def test_alternation_empty_turns_and_merging() -> None:
    out = anthropic_request_to_converse(
        request(
            [
                user("One"),
                user([{"type": "text", "text": "   "}, {"type": "text", "text": "Two"}]),
                assistant([{"type": "thinking", "thinking": "unsigned", "signature": ""}]),
                user("Three"),
                assistant(
                    [{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}]
                ),
                assistant(""),
                assistant("Four"),
                assistant([{"type": "text", "text": "Five"}]),
            ]
        )
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "One"}, {"text": "Two"}, {"text": "Three"}]},
        {"role": "assistant", "content": [{"text": "Four"}, {"text": "Five"}]},
    ]
    assert_valid_converse(out)


def test_conversation_must_start_with_a_user_turn() -> None:
    assert untranslatable(request([assistant("Hello"), user("Hi")])).param == "messages"
    assert untranslatable(request([])).param == "messages"
    assert untranslatable(request([user("  ")])).param == "messages"
    assert untranslatable(request([{"role": "tool", "content": "x"}])).param == "messages.0.role"
    # An assistant-first turn that carries nothing Converse can take is simply dropped.
    out = anthropic_request_to_converse(
        request([assistant([{"type": "thinking", "thinking": "x"}]), user("Hi")])
    )
    assert out["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]


def test_other_user_blocks() -> None:
    out = anthropic_request_to_converse(
        request(
            [
                user(
                    [
                        {
                            "type": "search_result",
                            "title": "T",
                            "source": "https://s.test",
                            "content": [{"type": "text", "text": "found"}],
                        },
                        {"type": "mid_conv_system", "content": [{"type": "text", "text": "Be brief."}]},
                        {"type": "container_upload", "file_id": "f"},
                    ]
                )
            ]
        )
    )
    assert out["messages"][0]["content"] == [
        {"text": "T\nhttps://s.test\nfound"},
        {"text": "[System message from the application, not from the user]\nBe brief."},
    ]


def test_thinking_and_output_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    out = anthropic_request_to_converse(
        request(
            [user("Hi")],
            thinking={"type": "enabled", "budget_tokens": 4096, "extra": 1},
            output_config={"effort": "low", "format": {"type": "json_schema", "schema": schema}},
        )
    )
    assert out["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 4096}}
    assert out["outputConfig"] == {
        "effort": "low",
        "textFormat": {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": json.dumps(schema, separators=(",", ":"))}},
        },
    }
    assert json.loads(out["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]) == schema
    beta = anthropic_request_to_converse(
        request([user("Hi")], output_format={"type": "json_schema", "schema": schema})
    )
    assert "textFormat" in beta["outputConfig"]
    assert_valid_converse(out)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"output_config": {"format": {"type": "regex", "pattern": "x"}}}, "output_config.format"),
        ({"output_config": {"format": {"type": "json_schema"}}}, "output_config.format"),
        ({"output_format": {"type": "text"}}, "output_format"),
        ({"output_config": "fast"}, "output_config"),
    ],
)
def test_untranslatable_output_formats(extra: dict[str, Any], param: str) -> None:
    assert untranslatable(request([user("Hi")], **extra)).param == param
