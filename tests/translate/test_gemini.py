"""Anthropic Messages <-> Gemini: requests accepted by the fake Gemini API, answers checked by the SDK."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.translate import StreamIncomplete, Untranslatable
from gateway.translate.gemini import (
    GEMINI_PATHS,
    GeminiStreamError,
    GeminiStreamToAnthropic,
    anthropic_request_to_gemini,
    clean_schema,
    count_tokens_request,
    count_tokens_response,
    gemini_error_to_anthropic,
    gemini_response_to_anthropic,
    gemini_tool_names,
)
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.fakes.script import Script
from tests.fakes.upstream import FakeUpstream
from tests.translate.stream_contract import accumulate, through_sdk

MODEL = "gemini-2.5-flash"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDw+PgolJUVPRgo="
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}

# What a Gemini Schema may contain after cleaning (the OpenAPI subset the Developer API accepts).
SCHEMA_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}


# -- helpers -----------------------------------------------------------------------------------------


def post(fake: FakeUpstream, body: dict[str, Any], action: str = "generateContent") -> httpx.Response:
    path = GEMINI_PATHS["generate"] if action == "generateContent" else GEMINI_PATHS[action]
    return httpx.post(
        fake.base_url + path.format(model=MODEL), json=body, headers={"x-goog-api-key": "k"}, timeout=10
    )


def accepted(fake: FakeUpstream, body: dict[str, Any]) -> dict[str, Any]:
    response = post(fake, body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def gemini_sse(fake: FakeUpstream, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The fake's real streamGenerateContent?alt=sse output, parsed into its data objects."""
    response = post(fake, body, "stream")
    assert response.status_code == 200, response.text
    chunks = []
    for frame in re.split(rb"\r\n\r\n|\n\n|\r\r", response.content):
        data = b"".join(line[5:].strip() for line in frame.splitlines() if line.startswith(b"data:"))
        if data:
            chunks.append(orjson.loads(data))
    return chunks


def convert_stream(chunks: list[dict[str, Any]], estimate: int = 42, **kwargs: Any) -> list[dict[str, Any]]:
    converter = GeminiStreamToAnthropic(MODEL, estimate, **kwargs)
    events = [event for chunk in chunks for event in converter.feed(chunk)]
    return events + converter.finish()


def walk_schema(schema: Any) -> None:
    """Asserts a cleaned schema only uses what the Gemini Schema object allows."""
    assert isinstance(schema, dict)
    assert set(schema) <= SCHEMA_KEYS, set(schema) - SCHEMA_KEYS
    kind = schema.get("type")
    if kind is not None:
        assert kind in {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}
    if "format" in schema:
        assert schema["format"] in FORMATS.get(kind, set())
    if "enum" in schema:
        assert kind == "STRING" and schema["enum"] and all(isinstance(v, str) for v in schema["enum"])
    if "properties" in schema:
        assert schema["properties"], "Gemini rejects an OBJECT with empty properties"
        assert set(schema.get("required", [])) <= set(schema["properties"])
        for sub in schema["properties"].values():
            walk_schema(sub)
    else:
        assert "required" not in schema
    for sub in schema.get("anyOf", []):
        walk_schema(sub)
    if "items" in schema:
        walk_schema(schema["items"])


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def request(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": messages, **extra}


@pytest.fixture(scope="module")
def _gemini_server() -> Iterator[FakeUpstream]:
    with FakeUpstream("gemini") as server:
        yield server


@pytest.fixture
def fake(_gemini_server: FakeUpstream) -> FakeUpstream:
    _gemini_server.reset()
    return _gemini_server


# -- requests ----------------------------------------------------------------------------------------


def test_claude_code_capture_is_accepted(fake: FakeUpstream) -> None:
    body = json.loads(FIXTURE.read_text())["body"]
    original = copy.deepcopy(body)
    out = anthropic_request_to_gemini(body)
    assert body == original, "the hub request must not be mutated"

    system = [part["text"] for part in out["systemInstruction"]["parts"]]
    assert not any("x-anthropic-billing-header" in text for text in system)
    assert system[0] == "You are a Claude agent, built on Anthropic's Claude Agent SDK."

    declarations = out["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declarations] == [t["name"] for t in body["tools"]]
    for declaration in declarations:
        if "parameters" in declaration:
            walk_schema(declaration["parameters"])
    by_name = {d["name"]: d for d in declarations}
    assert "parameters" not in by_name["CronList"]  # no arguments: Gemini wants the field unset
    status = by_name["TaskUpdate"]["parameters"]["properties"]["status"]
    assert status["anyOf"][1] == {"type": "STRING", "enum": ["deleted"]}  # const -> enum
    assert "format" not in by_name["WebFetch"]["parameters"]["properties"]["url"]  # "uri" is rejected

    # The trailing role:"system" message stays in place, as a marked user part of the same turn.
    assert [c["role"] for c in out["contents"]] == ["user"]
    last = out["contents"][0]["parts"][-1]["text"]
    assert last.startswith("[System message") and "Available agent types" in last

    assert out["generationConfig"] == {
        "maxOutputTokens": 64000,
        "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": True},
    }
    blob = json.dumps(out)
    assert set(out) == {"contents", "systemInstruction", "tools", "generationConfig"}  # metadata etc. dropped
    for dropped in (
        "cache_control",
        "context_management",
        "$schema",
        "additionalProperties",
        "propertyNames",
    ):
        assert dropped not in blob
    reply = accepted(fake, out)
    assert reply["candidates"][0]["finishReason"] == "STOP"


def test_text_request_maps_every_field(fake: FakeUpstream) -> None:
    body = request(
        [user("Hello"), {"role": "user", "content": [{"type": "text", "text": "again"}]}],
        system="Be terse.",
        temperature=0.3,
        top_p=0.9,
        top_k=40,
        stop_sequences=["END", "STOP"],
        metadata={"user_id": "u1"},
        service_tier="auto",
        stream=True,
    )
    out = anthropic_request_to_gemini(body)
    assert out == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}, {"text": "again"}]}],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "generationConfig": {
            "maxOutputTokens": 1024,
            "temperature": 0.3,
            "topP": 0.9,
            "topK": 40,
            "stopSequences": ["END", "STOP"],
        },
    }
    accepted(fake, out)


def test_billing_header_only_dropped_as_first_block() -> None:
    header = "x-anthropic-billing-header: cc_version=2.1.1.abc; cc_entrypoint=cli; cch=12345;"
    out = anthropic_request_to_gemini(
        request([user("hi")], system=[{"type": "text", "text": header}, {"type": "text", "text": "Sys"}])
    )
    assert out["systemInstruction"] == {"parts": [{"text": "Sys"}]}
    only = anthropic_request_to_gemini(request([user("hi")], system=[{"type": "text", "text": header}]))
    assert "systemInstruction" not in only
    as_string = anthropic_request_to_gemini(request([user("hi")], system=header + "\nBe kind."))
    assert as_string["systemInstruction"] == {"parts": [{"text": "Be kind."}]}


def test_system_messages_leading_fold_later_stay_in_place() -> None:
    out = anthropic_request_to_gemini(
        request(
            [
                {"role": "system", "content": "Early rule."},
                user("Q1"),
                {"role": "assistant", "content": "A1"},
                user("Q2"),
                {"role": "system", "content": [{"type": "text", "text": "Late rule."}]},
                {"role": "assistant", "content": "A2"},
            ],
            system="Top.",
        )
    )
    assert out["systemInstruction"] == {"parts": [{"text": "Top."}, {"text": "Early rule."}]}
    assert [c["role"] for c in out["contents"]] == ["user", "model", "user", "model"]
    assert out["contents"][2]["parts"][0] == {"text": "Q2"}
    assert out["contents"][2]["parts"][1]["text"].endswith("\nLate rule.")


def tool_conversation() -> dict[str, Any]:
    return request(
        [
            user("Weather in Paris and Rome? Also what is this?"),
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Two calls.", "signature": "EqQBCkYI"},
                    {"type": "text", "text": "Checking both."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01A",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": "18C",
                        "cache_control": {"type": "ephemeral"},
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01B",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "service down"},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                            },
                        ],
                    },
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
        tools=[WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )


def test_tool_round_trip_conversation(fake: FakeUpstream) -> None:
    out = anthropic_request_to_gemini(tool_conversation())
    assert [c["role"] for c in out["contents"]] == ["user", "model", "user"]
    assert out["contents"][1]["parts"] == [
        {"text": "Checking both."},  # the Anthropic-signed thinking block is dropped
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
    ]
    assert out["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"content": "18C"}}},
        {"functionResponse": {"name": "get_weather", "response": {"error": "service down"}}},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"text": "Thanks"},
    ]
    declarations = out["tools"][0]["functionDeclarations"]
    assert declarations == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}, "unit": {"type": "STRING", "enum": ["C", "F"]}},
                "required": ["city"],
            },
        }
    ]  # the server tool (web_search) is dropped
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    accepted(fake, out)


def test_tool_result_for_unknown_id_is_untranslatable() -> None:
    body = request([user([{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}])])
    with pytest.raises(Untranslatable) as info:
        anthropic_request_to_gemini(body)
    assert info.value.param == "messages.0.content.0.tool_use_id"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"mode": "AUTO"}),
        ({"type": "any"}, {"mode": "ANY"}),
        ({"type": "none"}, {"mode": "NONE"}),
        ({"type": "tool", "name": "get_weather"}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    out = anthropic_request_to_gemini(request([user("hi")], tools=[WEATHER_TOOL], tool_choice=choice))
    assert out["toolConfig"] == {"functionCallingConfig": expected}


def test_tool_choice_unknown_tool_and_no_tools() -> None:
    with pytest.raises(Untranslatable):
        anthropic_request_to_gemini(
            request([user("hi")], tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "other"})
        )
    out = anthropic_request_to_gemini(request([user("hi")], tool_choice={"type": "any"}))
    assert "toolConfig" not in out and "tools" not in out


def test_long_tool_names_are_shortened_and_mapped_back(fake: FakeUpstream) -> None:
    long_name = "mcp__some_really_long_server_name__and_an_even_longer_tool_name_here"
    body = request(
        [
            user("go"),
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": long_name, "input": {}}],
            },
            user([{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]),
        ],
        tools=[{"name": long_name, "input_schema": {"type": "object", "properties": {}}}],
        tool_choice={"type": "tool", "name": long_name},
    )
    out = anthropic_request_to_gemini(body)
    short = out["tools"][0]["functionDeclarations"][0]["name"]
    assert len(short) <= 64 and re.match(r"^[A-Za-z_][A-Za-z0-9_.:-]*$", short)
    assert out["contents"][1]["parts"][0]["functionCall"]["name"] == short
    assert out["contents"][2]["parts"][0]["functionResponse"]["name"] == short
    assert out["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] == [short]
    names = gemini_tool_names(body)
    assert names == {short: long_name}
    accepted(fake, out)
    reply = {
        "candidates": [
            {"content": {"parts": [{"functionCall": {"name": short, "args": {}}}]}, "finishReason": "STOP"}
        ]
    }
    assert gemini_response_to_anthropic(reply, MODEL, names)["content"][0]["name"] == long_name
    events = convert_stream([reply], tool_names=names)
    assert events[1]["content_block"]["name"] == long_name


def test_images(fake: FakeUpstream) -> None:
    out = anthropic_request_to_gemini(
        request(
            [
                user(
                    [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/a/cat.JPG?x=1"},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/b.webp"}},
                        {"type": "text", "text": "Compare."},
                    ]
                )
            ]
        )
    )
    assert out["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a/cat.JPG?x=1"}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/b.webp"}},
        {"text": "Compare."},
    ]
    accepted(fake, out)


@pytest.mark.parametrize(
    "source",
    [
        {"type": "url", "url": "https://example.com/render?id=3"},
        {"type": "url", "url": "https://example.com/notes.pdf"},  # not an image type
        {"type": "file", "file_id": "file_011"},
    ],
)
def test_untranslatable_images(source: dict[str, Any]) -> None:
    with pytest.raises(Untranslatable) as info:
        anthropic_request_to_gemini(request([user([{"type": "image", "source": source}])]))
    assert info.value.param and info.value.param.startswith("messages.0.content.0.source")


def test_documents(fake: FakeUpstream) -> None:
    out = anthropic_request_to_gemini(
        request(
            [
                user(
                    [
                        {
                            "type": "document",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                            "title": "Spec",
                            "citations": {"enabled": True},
                        },
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "abc"},
                            "title": "Notes",
                        },
                        {
                            "type": "document",
                            "source": {"type": "url", "url": "https://example.com/paper.pdf"},
                        },
                        {
                            "type": "document",
                            "source": {"type": "content", "content": [{"type": "text", "text": "inner"}]},
                        },
                        {"type": "text", "text": "Summarise."},
                    ]
                )
            ]
        )
    )
    assert out["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
        {"text": "Notes\n\nabc"},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/paper.pdf"}},
        {"text": "inner"},
        {"text": "Summarise."},
    ]
    accepted(fake, out)
    with pytest.raises(Untranslatable):
        anthropic_request_to_gemini(
            request([user([{"type": "document", "source": {"type": "file", "file_id": "f"}}])])
        )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            {"thinkingBudget": 4096, "includeThoughts": True},
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 31999}},
            {"thinkingBudget": 24576, "includeThoughts": True},
        ),
        ({"thinking": {"type": "adaptive"}}, {"thinkingBudget": -1, "includeThoughts": True}),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
            {"thinkingBudget": 1024, "includeThoughts": True},
        ),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}},
            {"thinkingBudget": 8192, "includeThoughts": True},
        ),
        ({"output_config": {"effort": "max"}}, {"thinkingBudget": 24576}),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2048, "display": "omitted"}},
            {"thinkingBudget": 2048, "includeThoughts": False},
        ),
        ({"thinking": {"type": "disabled"}}, None),
        ({}, None),
    ],
)
def test_thinking_config(fake: FakeUpstream, extra: dict[str, Any], expected: dict[str, Any] | None) -> None:
    out = anthropic_request_to_gemini(request([user("Think.")], **extra))
    assert out["generationConfig"].get("thinkingConfig") == expected
    accepted(fake, out)


def test_structured_output(fake: FakeUpstream) -> None:
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "confidence": {"type": ["number", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        },
        "required": ["answer", "confidence"],
        "additionalProperties": False,
    }
    fake.push(Script(text='{"answer": "Paris", "confidence": 0.9}'))
    out = anthropic_request_to_gemini(
        request(
            [user("Capital of France?")], output_config={"format": {"type": "json_schema", "schema": schema}}
        )
    )
    config = out["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {
        "type": "OBJECT",
        "properties": {
            "answer": {"type": "STRING"},
            "confidence": {"type": "NUMBER", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
        },
        "required": ["answer", "confidence"],
    }
    message = gemini_response_to_anthropic(accepted(fake, out), "claude-x")
    assert json.loads(message["content"][0]["text"]) == {"answer": "Paris", "confidence": 0.9}
    beta = anthropic_request_to_gemini(
        request([user("x")], output_format={"type": "json_schema", "schema": schema})
    )
    assert beta["generationConfig"]["responseSchema"] == config["responseSchema"]


def test_schema_cleaning_rewrites() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {
            "Node": {
                "type": "object",
                "description": "A tree node",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            },
            "Color": {"enum": ["red", "green", None]},
        },
        "type": "object",
        "properties": {
            "root": {"$ref": "#/$defs/Node", "description": "The root"},
            "color": {"$ref": "#/$defs/Color"},
            "maybe": {
                "anyOf": [{"type": "integer", "exclusiveMinimum": 0, "format": "int64"}, {"type": "null"}]
            },
            "either": {"oneOf": [{"type": "string", "format": "email"}, {"type": "integer"}]},
            "both": {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}},
                ]
            },
            "free": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "propertyNames": {"pattern": "^x"},
            },
            "numbers": {"type": "array", "items": {"type": "number", "enum": [1, 2]}},
            "mode": {"type": "string", "const": "fast"},
            "when": {"type": "string", "format": "date-time"},
            "anything": True,
        },
        "required": ["root", "ghost"],
    }
    out = clean_schema(schema)
    walk_schema(out)
    props = out["properties"]
    assert out["required"] == ["root"]  # required entries must name a property
    assert props["root"]["description"] == "The root"
    children = props["root"]["properties"]["children"]
    assert children["items"] == {"type": "OBJECT", "description": "A tree node"}  # the cycle is cut
    assert props["color"] == {"enum": ["red", "green"], "type": "STRING", "nullable": True}
    assert props["maybe"] == {"type": "INTEGER", "minimum": 1, "format": "int64", "nullable": True}
    assert props["either"] == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}
    assert props["both"] == {
        "type": "OBJECT",
        "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}},
        "required": ["a"],
    }
    assert props["free"] == {"type": "OBJECT"}
    assert props["numbers"] == {"type": "ARRAY", "items": {"type": "NUMBER"}}  # numeric enums dropped
    assert props["mode"] == {"type": "STRING", "enum": ["fast"]}
    assert props["when"] == {"type": "STRING", "format": "date-time"}
    assert props["anything"] == {}


def test_unrepresentable_history_is_dropped_and_empty_turns_skipped() -> None:
    out = anthropic_request_to_gemini(
        request(
            [
                user("search"),
                {
                    "role": "assistant",
                    "content": [
                        {"type": "redacted_thinking", "data": "EmwK"},
                        {
                            "type": "server_tool_use",
                            "id": "srvtoolu_1",
                            "name": "web_search",
                            "input": {"query": "x"},
                        },
                        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                    ],
                },
                {"role": "assistant", "content": "Found it."},
                user([{"type": "text", "text": ""}, {"type": "text", "text": "ok"}]),
            ],
            max_tokens=0,
            cache_control={"type": "ephemeral"},
        )
    )
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "search"}]},
        {"role": "model", "parts": [{"text": "Found it."}]},
        {"role": "user", "parts": [{"text": "ok"}]},
    ]
    assert out["generationConfig"]["maxOutputTokens"] == 1
    with pytest.raises(Untranslatable):
        anthropic_request_to_gemini(
            request(
                [{"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]}]
            )
        )
    with pytest.raises(Untranslatable):
        anthropic_request_to_gemini(request([user("x")], stop_sequences=["a", "b", "c", "d", "e", "f"]))


# -- responses ---------------------------------------------------------------------------------------


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


# -- streams -----------------------------------------------------------------------------------------


def test_fake_text_stream_through_the_sdk(fake: FakeUpstream) -> None:
    body = anthropic_request_to_gemini(request([user("Say hello")]))
    fake.push(
        Script(text="Hello there, streaming world.", text_chunks=4, usage={"cachedContentTokenCount": 3})
    )
    chunks = gemini_sse(fake, body)
    assert len(chunks) == 4
    events = convert_stream(chunks, estimate=77)
    assert events[0]["message"]["usage"]["input_tokens"] == 77  # Claude Code reads it here
    final = through_sdk(events)
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == "Hello there, streaming world."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    last = chunks[-1]["usageMetadata"]
    assert final.usage.input_tokens == last["promptTokenCount"] - 3
    assert final.usage.cache_read_input_tokens == 3
    assert final.usage.output_tokens == last["candidatesTokenCount"]
    assert accumulate(events).content[0].text == final.content[0].text  # type: ignore[union-attr]


def test_fake_tool_call_stream_through_the_sdk(fake: FakeUpstream) -> None:
    body = anthropic_request_to_gemini(request([user("Weather in Paris?")], tools=[WEATHER_TOOL]))
    fake.push(Script(text="Let me check.", tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]))
    events = convert_stream(gemini_sse(fake, body))
    final = through_sdk(events)
    assert [b.type for b in final.content] == ["text", "tool_use"]
    tool = final.content[1]
    assert tool.type == "tool_use" and tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert TOOL_ID.match(tool.id)
    assert final.stop_reason == "tool_use"
    start = next(e for e in events if e["type"] == "content_block_start" and e["index"] == 1)
    assert start["content_block"]["input"] == {}
    deltas = [e for e in events if e["type"] == "content_block_delta" and e["index"] == 1]
    assert len(deltas) == 1 and json.loads(deltas[0]["delta"]["partial_json"]) == {"city": "Paris"}


def test_thinking_text_and_tools_stream_in_order() -> None:
    usage = {"promptTokenCount": 50}
    chunks = [
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Think ", "thought": True}]}}],
            "usageMetadata": usage,
            "responseId": "r1",
        },
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "more.", "thought": True}, {"text": ""}]}}
            ]
        },
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Answer"}]}}]},
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {
                                "functionCall": {"name": "a", "args": {"x": [1, 2]}},
                                "thoughtSignature": "AAAA",
                            },
                            {"functionCall": {"name": "b", "args": {}}},
                        ],
                    }
                }
            ]
        },
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "after"}]}, "finishReason": "STOP"}
            ]
        },
        {
            "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 7, "thoughtsTokenCount": 11},
        },
    ]
    events = convert_stream(chunks)
    assert events[0]["message"]["id"] == "msg_r1"
    final = through_sdk(events)
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use", "text"]
    assert final.content[0].thinking == "Think more."  # type: ignore[union-attr]
    assert final.content[0].signature == ""  # type: ignore[union-attr]
    assert final.content[2].input == {"x": [1, 2]} and final.content[3].input == {}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 18 and final.usage.input_tokens == 50


def test_stream_without_finish_reason_is_incomplete(fake: FakeUpstream) -> None:
    body = anthropic_request_to_gemini(request([user("hi")]))
    fake.push(Script(text_chunks=3))
    chunks = gemini_sse(fake, body)[:-1]  # the last chunk carries finishReason
    converter = GeminiStreamToAnthropic(MODEL, 10)
    for chunk in chunks:
        converter.feed(chunk)
    with pytest.raises(StreamIncomplete):
        converter.finish()
    with pytest.raises(StreamIncomplete):
        GeminiStreamToAnthropic(MODEL, 10).finish()


def test_stream_error_chunk_raises(fake: FakeUpstream) -> None:
    body = anthropic_request_to_gemini(request([user("hi")]))
    fake.push(Script(text_chunks=3, error_event_after=1))
    chunks = gemini_sse(fake, body)
    converter = GeminiStreamToAnthropic(MODEL, 10)
    assert converter.feed(chunks[0])[0]["type"] == "message_start"
    with pytest.raises(GeminiStreamError) as info:
        converter.feed(chunks[1])
    assert info.value.code == 503 and info.value.error_type == "overloaded_error"
    assert "overloaded" in info.value.message


# -- errors and token counting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (422, "invalid_request_error"),
        (502, "api_error"),
    ],
)
def test_errors_by_status(fake: FakeUpstream, status: int, kind: str) -> None:
    fake.push(Script(status=status, error_message="boom happened"))
    response = post(fake, anthropic_request_to_gemini(request([user("hi")])))
    assert response.status_code == status
    converted = json.loads(gemini_error_to_anthropic(status, response.content))
    assert converted == {"type": "error", "error": {"type": kind, "message": "boom happened"}}


def test_error_bodies_that_are_not_the_envelope() -> None:
    wrapped = [{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}]
    assert json.loads(gemini_error_to_anthropic(429, orjson.dumps(wrapped)))["error"]["message"] == "quota"
    html = json.loads(gemini_error_to_anthropic(502, b"<html>Bad Gateway</html>"))
    assert html == {"type": "error", "error": {"type": "api_error", "message": "<html>Bad Gateway</html>"}}
    empty = json.loads(gemini_error_to_anthropic(500, b""))
    assert empty["error"]["message"] and empty["error"]["type"] == "api_error"


def test_count_tokens(fake: FakeUpstream) -> None:
    body = json.loads(FIXTURE.read_text())["body"]
    translated = anthropic_request_to_gemini(body)
    exact = count_tokens_request(translated, MODEL)
    assert exact["generateContentRequest"]["model"] == f"models/{MODEL}"
    assert set(exact["generateContentRequest"]) == {"model", "contents", "systemInstruction", "tools"}
    response = post(fake, exact, "count")
    assert response.status_code == 200, response.text
    with_everything = count_tokens_response(response.json())["input_tokens"]

    bare = count_tokens_request(translated)
    assert set(bare) == {"contents"}
    response = post(fake, bare, "count")
    assert response.status_code == 200, response.text
    folded = count_tokens_response(response.json())["input_tokens"]
    only_messages = post(fake, {"contents": translated["contents"]}, "count").json()["totalTokens"]
    assert folded > only_messages and with_everything > only_messages  # system and tools are counted
    assert count_tokens_response({"totalTokens": 7}) == {"input_tokens": 7}


# -- properties --------------------------------------------------------------------------------------

JSON_LEAF = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
PART = st.one_of(
    st.builds(lambda t: {"text": t}, st.text(min_size=1, max_size=20)),
    st.builds(lambda t: {"text": t, "thought": True}, st.text(min_size=1, max_size=20)),
    st.builds(
        lambda n, a: {"functionCall": {"name": n, "args": a}},
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
        st.dictionaries(st.text(max_size=6), JSON_VALUE, max_size=4),
    ),
)
USAGE = st.builds(
    lambda prompt, cached, candidates, thoughts: {
        "promptTokenCount": prompt,
        "cachedContentTokenCount": min(cached, prompt),
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": thoughts,
    },
    *(st.integers(0, 10**7) for _ in range(4)),
)


def expected_blocks(parts: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Independent model of the mapping: adjacent text (or thought) parts merge, calls stay separate."""
    blocks: list[tuple[str, Any]] = []
    for part in parts:
        if "functionCall" in part:
            blocks.append(("tool_use", (part["functionCall"]["name"], part["functionCall"]["args"])))
            continue
        kind = "thinking" if part.get("thought") else "text"
        if blocks and blocks[-1][0] == kind:
            blocks[-1] = (kind, blocks[-1][1] + part["text"])
        else:
            blocks.append((kind, part["text"]))
    return blocks


def observed_blocks(content: list[Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for block in content:
        block = block if isinstance(block, dict) else block.model_dump()
        if block["type"] == "tool_use":
            assert TOOL_ID.match(block["id"])
            out.append(("tool_use", (block["name"], block["input"])))
        else:
            out.append((block["type"], block[block["type"]]))
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(PART, max_size=8), usage=USAGE, finish=st.sampled_from(["STOP", "MAX_TOKENS", "OTHER"]))
def test_property_response_content_and_usage_survive(
    parts: list[dict[str, Any]], usage: dict[str, int], finish: str
) -> None:
    resp = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}],
        "usageMetadata": usage,
    }
    message = gemini_response_to_anthropic(resp, "m")
    assert observed_blocks(message["content"]) == expected_blocks(parts)
    assert message["usage"] == {
        "input_tokens": usage["promptTokenCount"] - usage["cachedContentTokenCount"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage["cachedContentTokenCount"],
        "output_tokens": usage["candidatesTokenCount"] + usage["thoughtsTokenCount"],
    }
    has_calls = any("functionCall" in p for p in parts)
    assert message["stop_reason"] == (
        "max_tokens" if finish == "MAX_TOKENS" else "tool_use" if has_calls else "end_turn"
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(PART, max_size=8), cuts=st.lists(st.integers(0, 8), max_size=4), usage=USAGE)
def test_property_stream_matches_the_whole_response(
    parts: list[dict[str, Any]], cuts: list[int], usage: dict[str, int]
) -> None:
    bounds = sorted({0, len(parts), *(min(c, len(parts)) for c in cuts)})
    pieces = [parts[a:b] for a, b in itertools.pairwise(bounds)] or [[]]
    chunks: list[dict[str, Any]] = [
        {
            "candidates": [{"content": {"role": "model", "parts": piece}}],
            "usageMetadata": {"promptTokenCount": 1},
        }
        for piece in pieces
    ]
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    chunks[-1]["usageMetadata"] = usage
    snapshot = accumulate(convert_stream(chunks))
    assert observed_blocks(snapshot.content) == expected_blocks(parts)
    whole = gemini_response_to_anthropic(
        {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}], "usageMetadata": usage}, "m"
    )
    assert snapshot.usage.model_dump(exclude_none=True) == whole["usage"]
    assert snapshot.stop_reason == whole["stop_reason"]
