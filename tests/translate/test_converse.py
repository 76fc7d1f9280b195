"""Anthropic Messages <-> Bedrock Converse: requests checked against botocore's service model, answers
and streams checked by the Anthropic SDK's own accumulator."""

from __future__ import annotations

import base64
import copy
import functools
import itertools
import json
from typing import Any

import anthropic
import botocore.session
import pytest
from botocore.validate import validate_parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.errors import KINDS
from gateway.translate import StreamIncomplete, Untranslatable
from gateway.translate.converse import (
    ConverseStreamError,
    ConverseStreamToAnthropic,
    anthropic_request_to_converse,
    converse_response_to_anthropic,
    converse_tool_names,
    exception_kind,
)
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.translate import stream_contract

MODEL = "amazon.nova-pro-v1:0"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDw+PgolJUVPRgo="
REDACTED = base64.b64encode(b"\x12l\n\x02\x18\x01 opaque encrypted reasoning").decode()
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def request(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "some-model", "max_tokens": 1024, "messages": messages, **extra}


def untranslatable(body: dict[str, Any]) -> Untranslatable:
    with pytest.raises(Untranslatable) as info:
        anthropic_request_to_converse(body)
    return info.value


# -- botocore's service model: the authoritative shape of a Converse request -------------------------

_CLIENT = botocore.session.get_session().create_client(
    "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
)
_CONVERSE_INPUT = _CLIENT.meta.service_model.operation_model("Converse").input_shape
_STREAM_INPUT = _CLIENT.meta.service_model.operation_model("ConverseStream").input_shape


def _as_botocore(node: Any) -> Any:
    """The JSON wire form -> botocore's parameters: blobs are raw bytes there, base64 strings on the wire."""
    if isinstance(node, list):
        return [_as_botocore(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _as_botocore(value) for key, value in node.items()}
    for key in ("image", "document"):
        source = out.get(key, {}).get("source") if isinstance(out.get(key), dict) else None
        if isinstance(source, dict) and isinstance(source.get("bytes"), str):
            source["bytes"] = base64.b64decode(source["bytes"], validate=True)
    reasoning = out.get("reasoningContent")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("redactedContent"), str):
        reasoning["redactedContent"] = base64.b64decode(reasoning["redactedContent"], validate=True)
    return out


def assert_valid_converse(body: dict[str, Any]) -> None:
    assert "modelId" not in body and "model" not in body and "stream" not in body
    json.dumps(body)  # JSON-serialisable as is
    params = {**_as_botocore(copy.deepcopy(body)), "modelId": MODEL}
    validate_parameters(params, _CONVERSE_INPUT)  # raises ParamValidationError with every problem
    validate_parameters(params, _STREAM_INPUT)
    messages = body["messages"]
    assert messages[0]["role"] == "user"
    for previous, current in itertools.pairwise(messages):
        assert previous["role"] != current["role"], "Converse needs alternating roles"
    for message in messages:
        assert any("cachePoint" not in block for block in message["content"]), "empty message"
        for block in message["content"]:
            if "text" in block:
                assert block["text"].strip(), "Converse rejects blank text blocks"


def tool_conversation() -> dict[str, Any]:
    return request(
        [
            user("Weather in Paris?"),
            assistant(
                [
                    {"type": "thinking", "thinking": "Use the tool.", "signature": "sig-1"},
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01A",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                ]
            ),
            user(
                [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C"},
                    {"type": "text", "text": "And tomorrow?"},
                ]
            ),
        ],
        tools=[WEATHER_TOOL],
    )


REPRESENTATIVE = {
    "text": request([user("Hi")], system="Be terse.", temperature=0.5, stop_sequences=["END"]),
    "image": request(
        [
            user(
                [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "text", "text": "What is this?"},
                ]
            )
        ]
    ),
    "document": request(
        [
            user(
                [
                    {
                        "type": "document",
                        "title": "Spec v1.2",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                    }
                ]
            )
        ]
    ),
    "tools": request(
        [user("Weather?")],
        tools=[{**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}],
        tool_choice={"type": "tool", "name": "get_weather"},
    ),
    "tool history": tool_conversation(),
    "system with cachePoint": request(
        [user([{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral", "ttl": "1h"}}])],
        system=[
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=1; cch=abcde;"},
            {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}},
        ],
        cache_control={"type": "ephemeral"},
    ),
    "reasoning": request(
        [
            user("Think."),
            assistant(
                [
                    {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                    {"type": "redacted_thinking", "data": REDACTED},
                    {"type": "text", "text": "Done."},
                ]
            ),
            user("Again."),
        ],
        thinking={"type": "enabled", "budget_tokens": 2048},
        top_k=40,
        output_config={"effort": "medium", "format": {"type": "json_schema", "schema": {"type": "object"}}},
    ),
}


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


# -- requests ----------------------------------------------------------------------------------------


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
    body = request(
        [
            user("Go"),
            assistant(
                [
                    {"type": "tool_use", "id": long_id, "name": "get_weather", "input": {}},
                    {"type": "tool_use", "id": odd_id, "name": "get_weather", "input": {}},
                ]
            ),
            user(
                [
                    {"type": "tool_result", "tool_use_id": long_id, "content": "1"},
                    {"type": "tool_result", "tool_use_id": odd_id, "content": "2"},
                ]
            ),
        ],
        tools=[WEATHER_TOOL],
    )
    out = anthropic_request_to_converse(body)
    calls = [block["toolUse"]["toolUseId"] for block in out["messages"][1]["content"]]
    results = [block["toolResult"]["toolUseId"] for block in out["messages"][2]["content"]]
    assert calls == results and calls[0] != long_id and calls[1] != odd_id
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


# -- responses ---------------------------------------------------------------------------------------


def converse_response(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 12, "outputTokens": 34, "totalTokens": 46, **usage},
        "metrics": {"latencyMs": 321},
    }


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


# -- streams -----------------------------------------------------------------------------------------


# Converse streams may also carry redacted thinking, sent whole (a block without deltas).
DELTA_KINDS = {**stream_contract.DELTA_KINDS, "redacted_thinking": set()}
accumulate = functools.partial(stream_contract.accumulate, delta_kinds=DELTA_KINDS)
through_sdk = functools.partial(stream_contract.through_sdk, delta_kinds=DELTA_KINDS)


def convert_stream(events: list[tuple[str, dict[str, Any]]], estimate: int = 42) -> list[dict[str, Any]]:
    converter = ConverseStreamToAnthropic(MODEL, estimate)
    out = [event for kind, payload in events for event in converter.feed(kind, payload)]
    return out + converter.finish()


USAGE = {"inputTokens": 20, "outputTokens": 7, "totalTokens": 2075, "cacheReadInputTokens": 2048}


def stream_of(
    blocks: list[dict[str, Any]], stop: str, usage: dict[str, Any], cut: int = 3
) -> list[tuple[str, dict[str, Any]]]:
    """The ConverseStream events Bedrock sends for a whole `output.message.content` (pieces of `cut`)."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant", "p": "abcdefgh"})]
    for index, block in enumerate(blocks):
        if "toolUse" in block:
            tool = block["toolUse"]
            start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
            events.append(("contentBlockStart", {"contentBlockIndex": index, "start": start, "p": "abc"}))
            arguments = json.dumps(tool["input"])
            for i in range(0, len(arguments), cut):
                delta = {"toolUse": {"input": arguments[i : i + cut]}}
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta, "p": "ab"}))
        elif "text" in block:
            for i in range(0, len(block["text"]), cut):
                delta = {"text": block["text"][i : i + cut]}
                events.append(
                    ("contentBlockDelta", {"contentBlockIndex": index, "delta": delta, "p": "abcd"})
                )
        else:
            reasoning = block["reasoningContent"]["reasoningText"]
            for i in range(0, len(reasoning["text"]), cut):
                delta = {"reasoningContent": {"text": reasoning["text"][i : i + cut]}}
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
            if reasoning.get("signature"):
                delta = {"reasoningContent": {"signature": reasoning["signature"]}}
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        events.append(("contentBlockStop", {"contentBlockIndex": index, "p": "a"}))
    events.append(("messageStop", {"stopReason": stop, "p": "abc"}))
    events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": 250}, "p": "abcdef"}))
    return events


def assert_same_message(streamed: Any, whole: dict[str, Any]) -> None:
    content = [block.model_dump(exclude_none=True) for block in streamed.content]
    assert content == [{k: v for k, v in block.items() if v is not None} for block in whole["content"]]
    assert streamed.stop_reason == whole["stop_reason"]
    assert streamed.stop_sequence == whole["stop_sequence"]
    assert streamed.usage.model_dump(exclude_none=True) == whole["usage"]


def test_streamed_text_answer_equals_the_whole_response() -> None:
    blocks = [{"text": "Hello there, how can I help?"}]
    events = convert_stream(stream_of(blocks, "end_turn", USAGE))
    whole = converse_response_to_anthropic(
        {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": "end_turn",
            "usage": USAGE,
        },
        MODEL,
    )
    assert_same_message(through_sdk(events), whole)
    assert_same_message(accumulate(events), whole)
    start = events[0]["message"]
    assert start["usage"] == {
        "input_tokens": 42,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 0,
    }
    assert start["model"] == MODEL


def test_streamed_tool_call_equals_the_whole_response() -> None:
    blocks: list[dict[str, Any]] = [
        {"reasoningContent": {"reasoningText": {"text": "User wants weather.", "signature": "sig-abc"}}},
        {"text": "Checking."},
        {
            "toolUse": {
                "toolUseId": "tooluse_1",
                "name": "get_weather",
                "input": {"city": "Paris", "days": [1, 2]},
            }
        },
        {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {}}},
    ]
    events = convert_stream(stream_of(blocks, "tool_use", USAGE))
    whole = converse_response_to_anthropic(
        {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": "tool_use",
            "usage": USAGE,
        },
        MODEL,
    )
    message = through_sdk(events)
    assert_same_message(message, whole)
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[2].input == {"city": "Paris", "days": [1, 2]}  # type: ignore[union-attr]
    assert message.content[3].input == {}  # type: ignore[union-attr]
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert starts[2] == {"type": "tool_use", "id": "tooluse_1", "name": "get_weather", "input": {}}
    signature = [
        e for e in events if e["type"] == "content_block_delta" and e["delta"]["type"] == "signature_delta"
    ]
    assert signature == [
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig-abc"},
        }
    ]


def test_usage_arrives_in_metadata_after_message_stop() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 99)
    assert [e["type"] for e in converter.feed("messageStart", {"role": "assistant"})] == ["message_start"]
    converter.feed("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    stop = converter.feed("messageStop", {"stopReason": "max_tokens"})
    # The open block closes; message_delta waits for the usage.
    assert [e["type"] for e in stop] == ["content_block_stop"]
    usage = {"inputTokens": 5, "outputTokens": 1, "totalTokens": 306, "cacheWriteInputTokens": 300}
    end = converter.feed("metadata", {"usage": usage, "metrics": {"latencyMs": 1}})
    assert end == [
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {
                "input_tokens": 5,
                "cache_creation_input_tokens": 300,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        },
        {"type": "message_stop"},
    ]
    assert converter.finish() == []
    assert converter.feed("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "late"}}) == []


def test_stream_ending_after_message_stop_without_metadata_still_closes() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 17)
    events = converter.feed("messageStart", {"role": "assistant"})
    events += converter.feed("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    events += converter.feed("messageStop", {"stopReason": "end_turn"})
    events += converter.finish()
    message = accumulate(events)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 17 and message.usage.output_tokens == 0


def test_stream_without_message_stop_is_incomplete() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 1)
    converter.feed("messageStart", {"role": "assistant"})
    converter.feed("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    converter.feed("metadata", {"usage": USAGE, "metrics": {"latencyMs": 1}})
    with pytest.raises(StreamIncomplete):
        converter.finish()
    with pytest.raises(StreamIncomplete):
        ConverseStreamToAnthropic(MODEL, 1).finish()


def test_metadata_before_message_stop_is_held() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 1)
    events = converter.feed("metadata", {"usage": USAGE, "metrics": {"latencyMs": 1}})
    assert [e["type"] for e in events] == ["message_start"]
    events += converter.feed("messageStop", {"stopReason": "end_turn"})
    assert [e["type"] for e in events][-2:] == ["message_delta", "message_stop"]
    assert events[-2]["usage"]["input_tokens"] == 20


def test_stream_stop_sequence_refusal_and_redacted_reasoning() -> None:
    events = convert_stream(
        [
            ("messageStart", {"role": "assistant"}),
            (
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"reasoningContent": {"redactedContent": "EmwK"}}},
            ),
            (
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"reasoningContent": {"redactedContent": "AhgB"}}},
            ),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Sorry"}}),
            ("messageStop", {"stopReason": "guardrail_intervened"}),
            ("metadata", {"usage": USAGE, "metrics": {"latencyMs": 1}}),
        ]
    )
    message = accumulate(events)
    assert [block.type for block in message.content] == ["redacted_thinking", "text"]
    assert message.content[0].data == "EmwKAhgB"
    assert message.stop_reason == "refusal"
    assert events[-2]["delta"]["stop_details"]["type"] == "refusal"
    stop_sequence = convert_stream(
        [
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a"}}),
            (
                "messageStop",
                {"stopReason": "stop_sequence", "additionalModelResponseFields": {"stop_sequence": "END"}},
            ),
        ]
    )
    assert accumulate(stop_sequence).stop_sequence == "END"


def test_stream_is_defensive_about_odd_events() -> None:
    events = convert_stream(
        [
            # No messageStart at all: message_start is still first.
            (
                "contentBlockDelta",
                {"contentBlockIndex": 5, "delta": {"toolUse": {"input": '{"a":1}'}}},
            ),  # never started
            ("contentBlockStop", {"contentBlockIndex": 7}),  # never opened
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": ""}}),  # empty
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": "junk"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "A"}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"citation": {"title": "x"}}}),
            ("contentBlockStart", {"contentBlockIndex": 1, "start": {"image": {"format": "png"}}}),
            # A new index without a stop for the previous one: the previous block is closed first.
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"reasoningContent": {"text": "hmm"}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "B"}}),  # back to an old index
            ("someFutureEvent", {"x": 1}),
            ("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"name": "f"}}}),  # no id
            ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": ""}}}),
            ("contentBlockStop", {"contentBlockIndex": 2}),
            ("messageStop", {}),
            ("metadata", {"usage": "junk"}),
        ]
    )
    message = accumulate(events)
    assert [block.type for block in message.content] == ["text", "thinking", "text", "tool_use"]
    assert message.content[3].id.startswith("toolu_")
    assert message.stop_reason == "tool_use"  # messageStop without a reason: the turn ended, with a call


def test_stream_exception_events_raise_with_their_kind() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 1)
    converter.feed("messageStart", {"role": "assistant"})
    with pytest.raises(ConverseStreamError) as info:
        converter.feed("throttlingException", {"message": "Too many requests"})
    assert (info.value.kind, info.value.message) == ("rate_limit_error", "Too many requests")
    with pytest.raises(ConverseStreamError) as info:
        converter.feed("modelStreamErrorException", {"originalMessage": "boom", "originalStatusCode": 500})
    assert (info.value.kind, info.value.message) == ("api_error", "boom")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ThrottlingException", "rate_limit_error"),
        ("throttlingException", "rate_limit_error"),
        ("ServiceQuotaExceededException", "rate_limit_error"),
        ("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/", "invalid_request_error"),
        ("validationException", "invalid_request_error"),
        ("ServiceUnavailableException", "overloaded_error"),
        ("ModelNotReadyException", "overloaded_error"),
        ("AccessDeniedException", "permission_error"),
        ("ResourceNotFoundException", "not_found_error"),
        ("ModelTimeoutException", "timeout_error"),
        ("InternalServerException", "api_error"),
        ("modelStreamErrorException", "api_error"),
        ("ModelErrorException", "api_error"),
        ("SomethingNewException", "api_error"),
        ("", "api_error"),
    ],
)
def test_exception_kind(name: str, kind: str) -> None:
    assert exception_kind(name) == kind
    assert kind in KINDS


# -- properties --------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
BLOCK = st.one_of(
    st.builds(lambda t: {"text": t}, TEXT),
    st.builds(
        lambda t, s: {"reasoningContent": {"reasoningText": {"text": t, "signature": s}}},
        TEXT,
        st.sampled_from(["", "sig"]),
    ),
    st.builds(
        lambda i, n, args: {"toolUse": {"toolUseId": f"tooluse_{i}", "name": n, "input": args}},
        st.integers(0, 999),
        st.sampled_from(["f", "get_weather"]),
        st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), TEXT, st.booleans()), max_size=3),
    ),
)
USAGES = st.fixed_dictionaries(
    {
        "inputTokens": st.integers(0, 10**6),
        "outputTokens": st.integers(0, 10**6),
        "totalTokens": st.integers(0, 10**7),
    },
    optional={"cacheReadInputTokens": st.integers(0, 10**6), "cacheWriteInputTokens": st.integers(0, 10**6)},
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(BLOCK, max_size=6),
    stop=st.sampled_from(["end_turn", "tool_use", "max_tokens", "content_filtered"]),
    usage=USAGES,
    cut=st.integers(1, 7),
)
def test_property_stream_matches_the_whole_response(
    blocks: list[dict[str, Any]], stop: str, usage: dict[str, int], cut: int
) -> None:
    events = convert_stream(stream_of(blocks, stop, usage, cut))
    whole = converse_response_to_anthropic(
        {"output": {"message": {"role": "assistant", "content": blocks}}, "stopReason": stop, "usage": usage},
        MODEL,
    )
    assert_same_message(accumulate(events), whole)
    assert whole["usage"]["input_tokens"] == usage["inputTokens"]


# -- model fitting (opt-in) ---------------------------------------------------------------------------


def cached_request() -> dict[str, Any]:
    cache = {"type": "ephemeral", "ttl": "1h"}
    return request(
        [user([{"type": "text", "text": "Q", "cache_control": cache}])],
        system=[{"type": "text", "text": "S", "cache_control": cache}],
        tools=[{**WEATHER_TOOL, "cache_control": cache}],
        thinking={"type": "adaptive"},
        top_k=3,
        output_config={"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}},
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
