"""Anthropic Messages -> Gemini requests, checked by the fake Gemini API."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import httpx
import pytest

from gateway.translate import Untranslatable
from gateway.translate.gemini import (
    anthropic_request_to_gemini,
    clean_schema,
    gemini_response_to_anthropic,
    gemini_tool_names,
)
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.fakes import gemini_wire
from tests.fakes.script import Script
from tests.fakes.upstream import FakeUpstream
from tests.translate.gemini.support import (
    MODEL,
    PDF,
    PNG,
    WEATHER_TOOL,
    accepted,
    convert_stream,
    request,
    tool_conversation,
    user,
    walk_schema,
)

SKIP = "skip_thought_signature_validator"
GEMINI_3 = "gemini-3-pro-preview"


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


def test_tool_round_trip_conversation(fake: FakeUpstream) -> None:
    out = anthropic_request_to_gemini(tool_conversation())
    assert [c["role"] for c in out["contents"]] == ["user", "model", "user"]
    assert out["contents"][1]["parts"] == [
        {"text": "Checking both."},  # the Anthropic-signed thinking block is dropped
        # Calls Gemini did not make carry Google's placeholder signature.
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}, "thoughtSignature": SKIP},
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


# -- Thought signatures across providers: Gemini 3's rule, as the fake enforces it -------------------------


def _post_gemini_3(fake: FakeUpstream, body: dict[str, Any]) -> httpx.Response:
    url = fake.base_url + f"/models/{GEMINI_3}:generateContent"
    return httpx.post(url, json=body, headers={"x-goog-api-key": "k"}, timeout=10)


def _foreign_tool_loop(tool_id: str) -> dict[str, Any]:
    """A tool loop another provider started: its call, its result, the next turn bound for Gemini."""
    return request(
        [
            user("Weather in Paris?"),
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Call the tool.", "signature": "EqQBCkYIanthropic"},
                    {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            user([{"type": "tool_result", "tool_use_id": tool_id, "content": "18C"}]),
        ],
        tools=[WEATHER_TOOL],
    )


@pytest.mark.parametrize("tool_id", ["toolu_01A09q90qw90lq917835lq9", "call_abc123", "tooluse_x-1"])
def test_calls_from_other_providers_get_the_placeholder_signature(fake: FakeUpstream, tool_id: str) -> None:
    out = anthropic_request_to_gemini(_foreign_tool_loop(tool_id))
    parts = out["contents"][1]["parts"]
    call = {"name": "get_weather", "args": {"city": "Paris"}}
    assert parts == [{"functionCall": call, "thoughtSignature": SKIP}]
    assert _post_gemini_3(fake, out).status_code == 200
    # The fake is as strict as Gemini 3: the same call without a signature is refused.
    del parts[0]["thoughtSignature"]
    refused = _post_gemini_3(fake, out)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("Function call is missing a thought_signature")


def test_gemini_signatures_are_kept_verbatim_and_parallel_calls_untouched(fake: FakeUpstream) -> None:
    calls = [
        {"name": "get_weather", "args": {"city": "Oslo"}},
        {"name": "get_weather", "args": {"city": "Rome"}},
    ]
    signature = gemini_wire.call_signature(calls[0])
    resp = {
        "candidates": [
            {
                "finishReason": "STOP",
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": calls[0], "thoughtSignature": signature},
                        {"functionCall": calls[1]},  # Gemini signs only the first of parallel calls
                    ],
                },
            }
        ]
    }
    message = gemini_response_to_anthropic(resp, "claude-x")
    ids = [b["id"] for b in message["content"]]
    follow_up = request(
        [
            user("Weather in Oslo and Rome?"),
            {"role": "assistant", "content": message["content"]},
            user([{"type": "tool_result", "tool_use_id": i, "content": "cold"} for i in ids]),
        ],
        tools=[WEATHER_TOOL],
    )
    out = anthropic_request_to_gemini(follow_up)
    assert out["contents"][1]["parts"] == [
        {"functionCall": calls[0], "thoughtSignature": signature},
        {"functionCall": calls[1]},
    ]
    assert _post_gemini_3(fake, out).status_code == 200
    # A signature moved to the wrong call is refused, as Gemini refuses a forged one.
    forged = copy.deepcopy(out)
    forged["contents"][1]["parts"][0]["thoughtSignature"] = gemini_wire.call_signature(calls[1])
    assert _post_gemini_3(fake, forged).status_code == 400


def test_only_the_current_turn_needs_signatures(fake: FakeUpstream) -> None:
    out = anthropic_request_to_gemini(_foreign_tool_loop("toolu_old"))
    del out["contents"][1]["parts"][0]["thoughtSignature"]
    # A new user question closes the tool loop: the unsigned call is history, no longer validated.
    out["contents"].append({"role": "model", "parts": [{"text": "18C in Paris."}]})
    out["contents"].append({"role": "user", "parts": [{"text": "And tomorrow?"}]})
    assert _post_gemini_3(fake, out).status_code == 200
