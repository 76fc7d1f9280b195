"""OpenAI Chat Completions <-> Anthropic Messages, checked against the official SDKs' own types and stream
accumulators, the fake upstreams' validation, and round-trip properties."""

from __future__ import annotations

import base64
import collections.abc
import copy
import functools
import hashlib
import json
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import anthropic
import httpx
import httpx2
import openai
import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from pydantic import TypeAdapter
from typing_extensions import get_type_hints, is_typeddict

from gateway.translate import StreamIncomplete, Untranslatable
from gateway.translate.openai_chat import (
    DEFAULT_MAX_TOKENS,
    AnthropicStreamToOpenAI,
    OpenAIStreamToAnthropic,
    StreamError,
    anthropic_error_to_openai,
    anthropic_request_to_openai,
    anthropic_response_to_openai,
    drop_unsigned_thinking,
    openai_error_to_anthropic,
    openai_request_to_anthropic,
    openai_response_to_anthropic,
    short_tool_name,
    tool_name_map,
)
from gateway.translate.sse import OPENAI_DONE, encode_anthropic, encode_openai
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.fakes.upstream import FakeUpstream

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDw+PgolJUVPRgo="
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
EVENT = TypeAdapter[Any](RawMessageStreamEvent)
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# ---------------------------------------------------------------------------------------------------
# Checkers


@functools.cache
def type_hints(tp: Any) -> dict[str, Any]:
    return get_type_hints(tp, include_extras=True)


def conforms(value: Any, tp: Any, path: str = "$") -> None:
    """Strictly check a JSON value against an SDK TypedDict type: no unknown keys, required keys present,
    literals and scalar types exact. (The SDKs only type-check at the edge; this is what "the SDK's types
    accept" means for a request body.)"""
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return
    if origin in (typing.Required, typing.NotRequired, typing.Annotated) or str(origin).endswith(
        ("Required", "NotRequired", "ReadOnly", "Annotated")
    ):
        conforms(value, get_args(tp)[0], path)
        return
    if origin in (Union, types.UnionType):
        failures = []
        for member in get_args(tp):
            try:
                conforms(value, member, path)
                return
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError(f"{path}: {str(value)[:120]} matches none of {tp}: {failures}")
    if origin is Literal:
        assert value in get_args(tp), f"{path}: {value!r} not in {get_args(tp)}"
        return
    if tp is type(None):
        assert value is None, f"{path}: expected null"
        return
    if is_typeddict(tp):
        assert isinstance(value, dict), f"{path}: expected an object for {tp.__name__}"
        hints = type_hints(tp)
        unknown = set(value) - set(hints)
        assert not unknown, f"{path}: {tp.__name__} has no {sorted(unknown)}"
        missing = set(tp.__required_keys__) - set(value)
        assert not missing, f"{path}: {tp.__name__} requires {sorted(missing)}"
        for key, item in value.items():
            conforms(item, hints[key], f"{path}.{key}")
        return
    if tp is bool:
        assert isinstance(value, bool), f"{path}: expected bool"
        return
    if tp is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: expected int"
        return
    if tp is float:
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: expected number"
        return
    if tp is str:
        assert isinstance(value, str), f"{path}: expected string"
        return
    if (
        origin in (list, collections.abc.Iterable, collections.abc.Sequence)
        or getattr(origin, "__name__", "") == "SequenceNotStr"
    ):
        assert isinstance(value, list), f"{path}: expected an array"
        for i, item in enumerate(value):
            conforms(item, get_args(tp)[0], f"{path}[{i}]")
        return
    if origin in (dict, collections.abc.Mapping) or tp is dict:
        assert isinstance(value, dict), f"{path}: expected an object"
        return
    raise AssertionError(f"{path}: checker does not handle {tp}")


def conforms_anthropic(body: dict[str, Any], tp: Any) -> None:
    """The SDK (2.x) no longer has sampling fields, but the API still takes them under the
    anthropic-version translated calls send (2023-06-01), for the models that allow them."""
    conforms({k: v for k, v in body.items() if k not in ("temperature", "top_p", "top_k")}, tp)


def check_anthropic_contract(events: list[dict[str, Any]]) -> None:
    """protocols.md §2.2-2.4 and §9.2: what Claude Code and the accumulators require of a stream."""
    assert events[0]["type"] == "message_start"
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    assert sum(e["type"] == "message_start" for e in events) == 1
    assert sum(e["type"] == "message_delta" for e in events) == 1
    open_index: int | None = None
    kinds: dict[int, str] = {}
    for event in events:
        EVENT.validate_python(event)
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None, "a block started before the previous one stopped"
            assert event["index"] == len(kinds), "indices must be contiguous in start order"
            open_index = event["index"]
            kinds[event["index"]] = event["content_block"]["type"]
        elif kind == "content_block_delta":
            assert event["index"] == open_index
            delta = event["delta"]
            allowed = {
                "text": {"text_delta", "citations_delta"},
                "thinking": {"thinking_delta", "signature_delta"},
                "tool_use": {"input_json_delta"},
            }[kinds[event["index"]]]
            assert delta["type"] in allowed, f"{delta['type']} inside a {kinds[event['index']]} block"
            payload = next(v for k, v in delta.items() if k != "type")
            assert payload != "", "empty delta"
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            open_index = None
        elif kind in ("message_delta", "message_stop"):
            assert open_index is None
    assert events[0]["message"]["usage"]["input_tokens"] > 0


def anthropic_sdk_message(events: list[dict[str, Any]]) -> Message:
    """Serve the events as SSE bytes to the real SDK client and let its stream helper build the message."""
    check_anthropic_contract(events)
    body = b"".join(encode_anthropic(e) for e in events)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://gateway.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def anthropic_accumulate(events: list[dict[str, Any]]) -> Any:
    """The SDK accumulator without HTTP, for property tests."""
    check_anthropic_contract(events)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        snapshot = accumulate_event(
            event=EVENT.validate_python(event), current_snapshot=snapshot, json_bufs=buffers
        )
    return snapshot


def openai_sdk_completion(chunks: list[dict[str, Any]]) -> Any:
    """Serve the chunks as SSE to the real OpenAI client; its `.stream()` helper accumulates them."""
    body = b"".join(encode_openai(c) for c in chunks) + OPENAI_DONE

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = openai.OpenAI(
        api_key="k",
        base_url="http://gateway.test/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}]) as stream:
        return stream.get_final_completion()


def openai_accumulate(chunks: list[dict[str, Any]]) -> Any:
    state = ChatCompletionStreamState()  # type: ignore[var-annotated]
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    # The snapshot, not get_final_completion(): that one raises on `length` and `content_filter`.
    return state.current_completion_snapshot


def o2a_stream(chunks: list[dict[str, Any]], estimate: int = 321, **kwargs: Any) -> list[dict[str, Any]]:
    converter = OpenAIStreamToAnthropic("claude-client-model", estimate, **kwargs)
    return [e for c in chunks for e in converter.feed(c)] + converter.finish()


def a2o_stream(events: list[dict[str, Any]], include_usage: bool = True) -> list[dict[str, Any]]:
    converter = AnthropicStreamToOpenAI("gpt-client-model", include_usage=include_usage)
    return [c for e in events for c in converter.feed(e)] + converter.finish()


def fixture_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(FIXTURE.read_text())["body"]
    return body


def post_openai(fake: FakeUpstream, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{fake.url}/v1/chat/completions", json=body, headers={"authorization": "Bearer k"})


def post_anthropic(fake: FakeUpstream, body: dict[str, Any]) -> httpx.Response:
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    return httpx.post(f"{fake.url}/v1/messages", json=body, headers=headers)


def openai_chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-9x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-5",
        "choices": choices,
        **extra,
    }


def call_delta(
    index: int, call_id: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        call["id"] = call_id
        call["type"] = "function"
        call["function"]["name"] = name
    return {"tool_calls": [call]}


# ---------------------------------------------------------------------------------------------------
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


def tool_loop() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1000,
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome? Also show the map."},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Two cities.", "signature": "sig-1"},
                    {"type": "text", "text": "Checking "},
                    {"type": "text", "text": "both."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "station down"},
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
    }


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


# ---------------------------------------------------------------------------------------------------
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


TOOLS = [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g"}}]


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


# ---------------------------------------------------------------------------------------------------
# Responses


def openai_completion(**message: Any) -> dict[str, Any]:
    finish = message.pop("finish_reason", "stop")
    usage = message.pop("usage", None) or {
        "prompt_tokens": 2060,
        "completion_tokens": 40,
        "total_tokens": 2100,
        "prompt_tokens_details": {"cached_tokens": 2048, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 16},
    }
    return {
        "id": "chatcmpl-9x",
        "object": "chat.completion",
        "created": 1760000000,
        "model": "gpt-5",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "logprobs": None,
                "message": {"role": "assistant", "content": None, **message},
            }
        ],
        "usage": usage,
    }


def test_openai_response_to_anthropic() -> None:
    long_name = "mcp__server__" + "x" * 70
    short = short_tool_name(long_name)
    resp = openai_completion(
        content="Let me check.",
        reasoning_content="User wants weather.",
        tool_calls=[
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {"id": "functions.x:1", "type": "function", "function": {"name": short, "arguments": '{"broken'}},
        ],
        finish_reason="stop",  # some servers say stop even with tool calls
    )
    out = openai_response_to_anthropic(resp, "claude-client", {short: long_name})
    Message.model_validate(out)
    assert out == {
        "id": "msg_chatcmpl-9x",
        "type": "message",
        "role": "assistant",
        "model": "claude-client",
        "content": [
            {"type": "thinking", "thinking": "User wants weather.", "signature": ""},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "functions_x_1", "name": long_name, "input": {}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 2048,
            "output_tokens": 40,
            "output_tokens_details": {"thinking_tokens": 16},
        },
    }


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("weird", "end_turn"),
    ],
)
def test_finish_reason_to_stop_reason(finish: str | None, stop: str) -> None:
    out = openai_response_to_anthropic(openai_completion(content="x", finish_reason=finish), "c")
    assert out["stop_reason"] == stop and out["stop_sequence"] is None


def test_openai_response_edge_cases() -> None:
    refusal = openai_response_to_anthropic(openai_completion(refusal="I can't help with that."), "c")
    assert (
        refusal["content"] == [{"type": "text", "text": "I can't help with that."}]
        and refusal["stop_reason"] == "refusal"
    )
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30},
    }
    out = openai_response_to_anthropic(openai_completion(content="x", usage=usage), "c")
    assert out["usage"] == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 60,
        "output_tokens": 5,
    }
    deepseek = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_cache_hit_tokens": 64,
        "prompt_cache_miss_tokens": 36,
    }
    assert (
        openai_response_to_anthropic(openai_completion(content="x", usage=deepseek), "c")["usage"][
            "cache_read_input_tokens"
        ]
        == 64
    )
    empty = openai_response_to_anthropic({"id": "x", "choices": []}, "c")
    Message.model_validate(empty)
    assert empty["content"] == [] and empty["usage"]["input_tokens"] == 0
    legacy = openai_response_to_anthropic(
        openai_completion(function_call={"name": "f", "arguments": "{}"}, finish_reason="function_call"), "c"
    )
    assert legacy["content"][0]["type"] == "tool_use" and TOOL_ID.match(legacy["content"][0]["id"])
    reasoning = openai_response_to_anthropic(openai_completion(content="a", reasoning="thought"), "c")
    assert reasoning["content"][0] == {"type": "thinking", "thinking": "thought", "signature": ""}


def anthropic_message(**extra: Any) -> dict[str, Any]:
    return {
        "id": "msg_01XF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [
            {"type": "thinking", "thinking": "Let me check.", "signature": "EqQB"},
            {"type": "redacted_thinking", "data": "EmwK"},
            {"type": "text", "text": "Paris is ", "citations": None},
            {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "web_search",
                "input": {"query": "paris"},
            },
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "text", "text": "sunny."},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 2048,
            "output_tokens": 87,
            "output_tokens_details": {"thinking_tokens": 30},
        },
        **extra,
    }


def test_anthropic_response_to_openai() -> None:
    out = anthropic_response_to_openai(anthropic_message(), "gpt-client")
    completion = ChatCompletion.model_validate(out)
    assert (
        out["id"] == "chatcmpl-msg_01XF"
        and out["model"] == "gpt-client"
        and out["object"] == "chat.completion"
    )
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Paris is sunny.",
        "refusal": None,
        "tool_calls": [
            {
                "id": "toolu_01A",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
        "reasoning_content": "Let me check.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Let me check.", "signature": "EqQB"},
            {"type": "redacted_thinking", "data": "EmwK"},
        ],
    }
    assert out["usage"] == {
        "prompt_tokens": 2160,
        "completion_tokens": 87,
        "total_tokens": 2247,
        "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 2048


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_stop_reason_to_finish_reason(stop: str | None, finish: str) -> None:
    message = anthropic_message(stop_reason=stop, content=[{"type": "text", "text": "x"}])
    out = anthropic_response_to_openai(message, "g")
    assert out["choices"][0]["finish_reason"] == finish
    assert out["choices"][0]["message"]["content"] == "x" and "tool_calls" not in out["choices"][0]["message"]


# ---------------------------------------------------------------------------------------------------
# Streams: OpenAI -> Anthropic


def test_realistic_openai_stream_through_the_anthropic_sdk() -> None:
    chunks = [
        openai_chunk({"role": "assistant", "content": "", "refusal": None}),
        openai_chunk({"reasoning_content": "The user "}),
        openai_chunk({"reasoning_content": "wants two cities."}),
        openai_chunk({"content": "Checking "}),
        openai_chunk({"content": "both."}),
        openai_chunk(call_delta(0, "call_a", "get_weather")),
        openai_chunk(call_delta(0, args='{"city": "Pa')),
        # Interleaved: the second call starts while the first one's arguments are incomplete.
        openai_chunk(call_delta(1, "call_b", "get_time")),
        openai_chunk(call_delta(1, args='{"tz": ')),
        openai_chunk(call_delta(0, args='ris"}')),
        openai_chunk(call_delta(1, args='"CET"}')),
        openai_chunk({}, "tool_calls"),
        openai_chunk(
            None,
            usage={
                "prompt_tokens": 2060,
                "completion_tokens": 40,
                "total_tokens": 2100,
                "prompt_tokens_details": {"cached_tokens": 2048},
            },
        ),
    ]
    events = o2a_stream(chunks, estimate=2100)
    assert events[0]["message"]["usage"] == {
        "input_tokens": 2100,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    message = anthropic_sdk_message(events)
    assert [b.to_dict() for b in message.content] == [
        {"type": "thinking", "thinking": "The user wants two cities.", "signature": ""},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {"tz": "CET"}},
    ]
    assert message.stop_reason == "tool_use" and message.model == "claude-client-model"
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (12, 2048, 40)
    # The second call's first fragment was held back until the first call's arguments were complete.
    order = [(e["type"], e.get("index")) for e in events if e["type"].startswith("content_block")]
    assert order.index(("content_block_stop", 2)) < order.index(("content_block_start", 3))
    deltas = [
        e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta" and e["index"] >= 2
    ]
    assert deltas == ['{"city": "Pa', 'ris"}', '{"tz": ', '"CET"}']


def test_text_while_a_tool_call_is_incomplete_waits_for_it() -> None:
    chunks = [
        openai_chunk(call_delta(0, "c0", "a", '{"x":')),
        openai_chunk({"content": "between"}),
        openai_chunk(call_delta(0, args=" 1}")),
        openai_chunk({"content": " more"}),
        openai_chunk(call_delta(1, "c1", "b", "{}")),
        openai_chunk({}, "tool_calls"),
    ]
    message = anthropic_sdk_message(o2a_stream(chunks))
    assert [b.to_dict() for b in message.content] == [
        {"type": "tool_use", "id": "c0", "name": "a", "input": {"x": 1}},
        {"type": "text", "text": "between more"},
        {"type": "tool_use", "id": "c1", "name": "b", "input": {}},
    ]


def test_stream_quirks_of_compatible_servers() -> None:
    chunks = [
        # Everything in one chunk, finish_reason included (fake streaming), with the usage attached.
        openai_chunk(
            {
                "reasoning": "hm",
                "content": "Hi",
                **call_delta(0, "functions.Bash:0", short_tool_name("x" * 80), '{"a":1}'),
            },
            "stop",
            usage={"prompt_tokens": 10, "completion_tokens": 3},
        ),
    ]
    events = o2a_stream(chunks, tool_names={short_tool_name("x" * 80): "x" * 80})
    message = anthropic_sdk_message(events)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    tool = message.content[2]
    assert (
        tool.type == "tool_use"
        and tool.name == "x" * 80
        and tool.id == "functions_Bash_0"
        and tool.input == {"a": 1}
    )
    assert message.stop_reason == "tool_use"  # upstream said stop, but there are tool calls
    # Every parallel call under index 0 with a fresh id (Portkey-style): still separate blocks.
    chunks = [
        openai_chunk(call_delta(0, "c1", "f", '{"n":1}')),
        openai_chunk(call_delta(0, "c2", "f", '{"n":2}')),
        openai_chunk({}, "tool_calls"),
    ]
    message = anthropic_sdk_message(o2a_stream(chunks))
    assert [(b.id, b.input) for b in message.content if b.type == "tool_use"] == [
        ("c1", {"n": 1}),
        ("c2", {"n": 2}),
    ]


def test_stream_without_usage_refusal_and_empty_deltas() -> None:
    chunks = [
        openai_chunk({"role": "assistant", "content": ""}),
        openai_chunk({"content": ""}),
        openai_chunk({"refusal": "I can't "}),
        openai_chunk({"refusal": "do that."}),
        openai_chunk({}, "stop"),
    ]
    events = o2a_stream(chunks, estimate=77)
    message = anthropic_sdk_message(events)
    assert message.content[0].to_dict() == {"type": "text", "text": "I can't do that."}
    assert message.stop_reason == "refusal"
    # No usage chunk: the estimate stays, output is estimated from the text.
    assert message.usage.input_tokens == 77 and message.usage.output_tokens == 4
    empty = anthropic_sdk_message(
        o2a_stream([openai_chunk({"role": "assistant"}), openai_chunk({}, "length")])
    )
    assert empty.content == [] and empty.stop_reason == "max_tokens"


def test_incomplete_and_failed_openai_streams() -> None:
    converter = OpenAIStreamToAnthropic("c", 5)
    converter.feed(openai_chunk({"content": "partial"}))
    with pytest.raises(StreamIncomplete):
        converter.finish()
    with pytest.raises(StreamIncomplete):
        OpenAIStreamToAnthropic("c", 5).finish()
    converter = OpenAIStreamToAnthropic("c", 5)
    converter.feed(openai_chunk({"content": "partial"}))
    with pytest.raises(StreamError) as info:
        converter.feed(
            {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
        )
    assert info.value.kind == "rate_limit_error" and info.value.message == "Rate limit reached"
    assert info.value.anthropic_event() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Rate limit reached"},
    }
    for error, kind in (
        ({"message": "x", "code": 503}, "overloaded_error"),
        ({"message": "x", "type": "server_error"}, "api_error"),
        ({"message": "x", "code": "context_length_exceeded"}, "invalid_request_error"),
        ("plain string", "api_error"),
    ):
        with pytest.raises(StreamError) as info:
            OpenAIStreamToAnthropic("c", 5).feed({"error": error})
        assert info.value.kind == kind


# ---------------------------------------------------------------------------------------------------
# Streams: Anthropic -> OpenAI


def anthropic_events(message: dict[str, Any], cut: int = 5) -> list[dict[str, Any]]:
    """A message as Anthropic streams it, every delta cut into pieces of `cut` characters."""
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": block["text"][i : i + cut]}
                for i in range(0, len(block["text"]), cut)
            ]
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"][i : i + cut]}
                for i in range(0, len(block["thinking"]), cut)
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind in ("tool_use", "server_tool_use"):
            opening = {**block, "input": {}}
            raw = orjson.dumps(block["input"]).decode() if block["input"] else ""
            deltas = [
                {"type": "input_json_delta", "partial_json": raw[i : i + cut]}
                for i in range(0, len(raw), cut)
            ]
        else:
            opening, deltas = block, []
        events.append({"type": "content_block_start", "index": index, "content_block": opening})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": usage,
        }
    )
    events.append({"type": "message_stop"})
    return events


def test_realistic_anthropic_stream_through_the_openai_sdk() -> None:
    message = anthropic_message()
    message["content"].append({"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}})
    chunks = a2o_stream(anthropic_events(message))
    # Same id/created/model everywhere; role only first; each tool's id and name only in its first delta.
    assert {(c["id"], c["created"], c["model"]) for c in chunks} == {
        (chunks[0]["id"], chunks[0]["created"], "gpt-client-model")
    }
    assert [c["choices"][0]["delta"].get("role") for c in chunks if c["choices"]].count("assistant") == 1
    tool_deltas = [t for c in chunks if c["choices"] for t in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [t["index"] for t in tool_deltas if "id" in t] == [0, 1]
    assert all(
        set(t) == {"index", "function"} and set(t["function"]) == {"arguments"}
        for t in tool_deltas
        if "id" not in t
    )
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 2160
    final = openai_sdk_completion(chunks)
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Paris is sunny."
    assert choice.message.model_extra["reasoning_content"] == "Let me check."
    assert [(t.id, t.function.name, t.function.arguments) for t in choice.message.tool_calls] == [
        ("toolu_01A", "get_weather", '{"city":"Paris"}'),
        ("toolu_01B", "get_time", "{}"),
    ]
    assert (
        final.usage.prompt_tokens == 2160
        and final.usage.completion_tokens == 87
        and final.usage.total_tokens == 2247
    )
    assert final.usage.prompt_tokens_details.cached_tokens == 2048


def test_anthropic_stream_usage_chunk_only_when_asked() -> None:
    events = anthropic_events(
        anthropic_message(content=[{"type": "text", "text": "hi"}], stop_reason="end_turn")
    )
    chunks = a2o_stream(events, include_usage=False)
    assert all(c["choices"] for c in chunks) and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert openai_sdk_completion(chunks).choices[0].message.content == "hi"


def test_anthropic_stream_errors_and_truncation() -> None:
    converter = AnthropicStreamToOpenAI("g")
    converter.feed(anthropic_events(anthropic_message())[0])
    with pytest.raises(StreamError) as info:
        converter.feed({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert (info.value.kind, info.value.message) == ("overloaded_error", "Overloaded")
    assert info.value.openai_chunk() == {
        "error": {
            "message": "Overloaded",
            "type": "overloaded_error",
            "param": None,
            "code": "upstream_error",
        }
    }
    converter = AnthropicStreamToOpenAI("g")
    for event in anthropic_events(anthropic_message())[:-1]:
        converter.feed(event)
    with pytest.raises(StreamIncomplete):
        converter.finish()


# ---------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (409, "conflict_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (418, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_openai_error_to_anthropic_by_status(status: int, kind: str) -> None:
    body = orjson.dumps(
        {"error": {"message": "Something happened.", "type": "x", "param": None, "code": None}}
    )
    assert orjson.loads(openai_error_to_anthropic(status, body)) == {
        "type": "error",
        "error": {"type": kind, "message": "Something happened."},
    }


def test_error_bodies_in_other_shapes() -> None:
    def message(body: bytes, status: int = 500) -> str:
        return str(orjson.loads(openai_error_to_anthropic(status, body))["error"]["message"])

    assert message(b"<html>Bad Gateway</html>", 502) == "<html>Bad Gateway</html>"
    assert message(b"", 502) == "upstream returned HTTP 502"
    assert message(b'{"detail": "Not Found"}', 404) == "Not Found"
    assert message(b'{"error": "model not loaded"}') == "model not loaded"
    assert message(b'[{"error": {"message": "listed"}}]') == "listed"
    overflow = orjson.dumps(
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, your messages "
                "resulted in 130512 tokens. Please reduce the length of the messages.",
                "code": "context_length_exceeded",
            }
        }
    )
    assert message(overflow, 400) == "prompt is too long: 130512 tokens > 128000 maximum"
    assert (
        message(b'{"error": {"message": "too long", "code": "context_length_exceeded"}}', 400)
        == "prompt is too long: too long"
    )


def test_anthropic_error_to_openai() -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"},"request_id":"req_1"}'
    assert orjson.loads(anthropic_error_to_openai(429, body)) == {
        "error": {
            "message": "Slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    overflow = orjson.dumps(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 208310 tokens > 200000 maximum",
            },
        }
    )
    assert (
        orjson.loads(anthropic_error_to_openai(400, overflow))["error"]["code"] == "context_length_exceeded"
    )
    wrapped = orjson.loads(anthropic_error_to_openai(529, b"upstream connect error"))
    assert wrapped["error"] == {
        "message": "upstream connect error",
        "type": "overloaded_error",
        "param": None,
        "code": "upstream_error",
    }
    # Each envelope is what the other SDK parses: the OpenAI SDK reads message/type/code from it.
    error = openai.APIStatusError(
        "x",
        response=httpx2.Response(429, request=httpx2.Request("POST", "http://t")),
        body=orjson.loads(anthropic_error_to_openai(429, body))["error"],
    )
    assert error.code == "rate_limit_exceeded" and error.type == "rate_limit_error"


# ---------------------------------------------------------------------------------------------------
# Properties: what both formats express survives a round trip, and streams equal whole responses


TEXT = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1, max_size=30
).filter(str.strip)
NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,15}", fullmatch=True)
CALL_ID = st.from_regex(r"toolu_[A-Za-z0-9]{8}", fullmatch=True)
JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
TOOL_INPUT = st.dictionaries(st.text(min_size=1, max_size=8), JSON_VALUE, max_size=4)
IMAGE = st.sampled_from(
    [
        {"type": "base64", "media_type": "image/png", "data": PNG},
        {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="},
        {"type": "url", "url": "https://example.com/cat.webp"},
    ]
)
SCHEMA = st.fixed_dictionaries(
    {"type": st.just("object"), "properties": st.dictionaries(NAME, st.just({"type": "string"}), max_size=3)}
)


@st.composite
def anthropic_requests(draw: st.DrawFn) -> dict[str, Any]:
    tools = draw(
        st.lists(
            st.fixed_dictionaries({"name": NAME, "description": TEXT, "input_schema": SCHEMA}),
            max_size=3,
            unique_by=lambda t: t["name"],
        )
    )
    messages: list[dict[str, Any]] = []
    pending: list[str] = []
    rounds = draw(st.integers(1, 4))
    for r in range(rounds):
        blocks: list[dict[str, Any]] = []
        for call_id in pending:
            content = draw(
                st.one_of(
                    TEXT,
                    st.lists(
                        st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}), min_size=1, max_size=2
                    ),
                )
            )
            blocks.append({"type": "tool_result", "tool_use_id": call_id, "content": content})
        extra = draw(
            st.lists(
                st.one_of(
                    st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}),
                    st.fixed_dictionaries({"type": st.just("image"), "source": IMAGE}),
                ),
                min_size=0 if pending else 1,
                max_size=3,
            )
        )
        blocks += extra
        if len(blocks) == 1 and blocks[0]["type"] == "text" and draw(st.booleans()):
            messages.append({"role": "user", "content": blocks[0]["text"]})
        else:
            messages.append({"role": "user", "content": blocks})
        if r == rounds - 1:
            break
        texts = draw(st.lists(TEXT, max_size=2))
        ids = draw(st.lists(CALL_ID, max_size=3, unique=True))
        calls = [{"type": "tool_use", "id": i, "name": draw(NAME), "input": draw(TOOL_INPUT)} for i in ids]
        assistant = [{"type": "text", "text": t} for t in texts] + calls
        if not assistant:
            assistant = [{"type": "text", "text": draw(TEXT)}]
        messages.append({"role": "assistant", "content": assistant})
        pending = ids
    body: dict[str, Any] = {
        "model": "claude-x",
        "max_tokens": draw(st.integers(1, 200_000)),
        "messages": messages,
    }
    if tools:
        body["tools"] = tools
    if draw(st.booleans()):
        body["system"] = draw(
            st.one_of(
                TEXT,
                st.lists(
                    st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}), min_size=1, max_size=2
                ),
            )
        )
    stops = draw(st.lists(TEXT, max_size=4))
    if stops:
        body["stop_sequences"] = stops
    return body


def canonical_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """What both formats can express, in one canonical shape."""
    system = body.get("system")
    if isinstance(system, list):
        system = "\n\n".join(b["text"] for b in system)
    turns = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        items: list[Any] = []
        for block in blocks:
            if block["type"] == "text":
                items.append(("text", block["text"]))
            elif block["type"] == "image":
                items.append(("image", orjson.dumps(block["source"], option=orjson.OPT_SORT_KEYS)))
            elif block["type"] == "tool_use":
                items.append(("tool_use", block["id"], block["name"], block["input"]))
            elif block["type"] == "tool_result":
                result = block.get("content", "")
                text = result if isinstance(result, str) else "\n".join(b["text"] for b in result)
                items.append(("tool_result", block["tool_use_id"], text))
        if message["role"] == "assistant":
            # OpenAI has one text field per assistant message.
            text = "".join(i[1] for i in items if i[0] == "text")
            items = ([("text", text)] if text else []) + [i for i in items if i[0] != "text"]
        turns.append((message["role"], items))
    tools = [(t["name"], t.get("description"), t["input_schema"]) for t in body.get("tools", [])]
    return {
        "system": system,
        "turns": turns,
        "tools": tools,
        "max_tokens": body["max_tokens"],
        "stop": body.get("stop_sequences"),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(anthropic_requests())
def test_property_anthropic_request_round_trip(body: dict[str, Any]) -> None:
    openai_body = anthropic_request_to_openai(copy.deepcopy(body), "gpt-5")
    conforms(openai_body, CompletionCreateParamsNonStreaming)
    back = openai_request_to_anthropic(openai_body, "claude-x")
    conforms_anthropic(back, MessageCreateParamsNonStreaming)
    assert canonical_anthropic(back) == canonical_anthropic(body)


@st.composite
def openai_requests(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(TEXT)})
    rounds = draw(st.integers(1, 4))
    for r in range(rounds):
        if draw(st.booleans()):
            messages.append({"role": "user", "content": draw(TEXT)})
        else:
            parts = draw(
                st.lists(
                    st.one_of(
                        st.builds(lambda t: {"type": "text", "text": t}, TEXT),
                        st.sampled_from([f"data:image/png;base64,{PNG}", "https://example.com/a.gif"]).map(
                            lambda u: {"type": "image_url", "image_url": {"url": u}}
                        ),
                    ),
                    min_size=1,
                    max_size=3,
                )
            )
            messages.append({"role": "user", "content": parts})
        if r == rounds - 1:
            break
        ids = draw(st.lists(st.from_regex(r"call_[A-Za-z0-9]{6}", fullmatch=True), max_size=3, unique=True))
        content = draw(st.one_of(st.none(), TEXT)) if ids else draw(TEXT)
        assistant: dict[str, Any] = {"role": "assistant", "content": content}
        if ids:
            assistant["tool_calls"] = [
                {
                    "id": i,
                    "type": "function",
                    "function": {"name": draw(NAME), "arguments": json.dumps(draw(TOOL_INPUT))},
                }
                for i in ids
            ]
        messages.append(assistant)
        messages += [{"role": "tool", "tool_call_id": i, "content": draw(TEXT)} for i in ids]
    body: dict[str, Any] = {
        "model": "gpt-5",
        "messages": messages,
        "max_completion_tokens": draw(st.integers(1, 100_000)),
    }
    tools = draw(st.lists(NAME, max_size=3, unique=True))
    if tools:
        body["tools"] = [
            {"type": "function", "function": {"name": n, "description": "d", "parameters": draw(SCHEMA)}}
            for n in tools
        ]
    stops = draw(st.lists(TEXT, max_size=4))
    if stops:
        body["stop"] = stops
    return body


def canonical_openai(body: dict[str, Any]) -> dict[str, Any]:
    messages = []
    for message in body["messages"]:
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        items: list[Any] = [(p["type"], p.get("text") or p["image_url"]["url"]) for p in parts]
        items += [
            (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in message.get("tool_calls", [])
        ]
        messages.append((message["role"], message.get("tool_call_id"), items))
    tools = [(t["function"]["name"], t["function"]["parameters"]) for t in body.get("tools", [])]
    return {
        "messages": messages,
        "tools": tools,
        "max": body["max_completion_tokens"],
        "stop": body.get("stop"),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(openai_requests())
def test_property_openai_request_round_trip(body: dict[str, Any]) -> None:
    hub = openai_request_to_anthropic(copy.deepcopy(body), "claude-x")
    conforms_anthropic(hub, MessageCreateParamsNonStreaming)
    back = anthropic_request_to_openai(hub, "gpt-5")
    conforms(back, CompletionCreateParamsNonStreaming)
    assert canonical_openai(back) == canonical_openai(body)


USAGE_INT = st.integers(0, 10**6)


@st.composite
def anthropic_responses(draw: st.DrawFn) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if draw(st.booleans()):
        content.append(
            {
                "type": "thinking",
                "thinking": draw(TEXT),
                "signature": draw(st.from_regex(r"[A-Za-z0-9+/]{8,20}", fullmatch=True)),
            }
        )
    content += [{"type": "text", "text": t} for t in draw(st.lists(TEXT, max_size=3))]
    ids = draw(st.lists(CALL_ID, max_size=3, unique=True))
    content += [{"type": "tool_use", "id": i, "name": draw(NAME), "input": draw(TOOL_INPUT)} for i in ids]
    stop = "tool_use" if ids else draw(st.sampled_from(["end_turn", "max_tokens", "refusal"]))
    usage = {
        "input_tokens": draw(USAGE_INT),
        "cache_creation_input_tokens": draw(USAGE_INT),
        "cache_read_input_tokens": draw(USAGE_INT),
        "output_tokens": draw(USAGE_INT),
    }
    return {
        "id": "msg_" + draw(st.from_regex(r"[A-Za-z0-9]{10}", fullmatch=True)),
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def joined_text(content: list[dict[str, Any]]) -> str:
    return "".join(b["text"] for b in content if b["type"] == "text")


@settings(max_examples=80, deadline=None)
@given(anthropic_responses())
def test_property_anthropic_response_round_trip(resp: dict[str, Any]) -> None:
    openai_resp = anthropic_response_to_openai(resp, "gpt-client")
    ChatCompletion.model_validate(openai_resp)
    back = openai_response_to_anthropic(openai_resp, "claude-x")
    Message.model_validate(back)
    assert joined_text(back["content"]) == joined_text(resp["content"])
    assert [b for b in back["content"] if b["type"] in ("tool_use", "thinking")] == [
        b for b in resp["content"] if b["type"] in ("tool_use", "thinking")
    ]
    assert back["stop_reason"] == resp["stop_reason"]
    assert back["usage"] == resp["usage"]


@st.composite
def openai_responses(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(st.from_regex(r"call_[A-Za-z0-9]{8}", fullmatch=True), max_size=3, unique=True))
    calls = [
        {
            "id": i,
            "type": "function",
            "function": {"name": draw(NAME), "arguments": orjson.dumps(draw(TOOL_INPUT)).decode()},
        }
        for i in ids
    ]
    cached = draw(USAGE_INT)
    written = draw(USAGE_INT)
    prompt = cached + written + draw(USAGE_INT)
    completion = draw(USAGE_INT)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
    }
    message: dict[str, Any] = {"content": draw(st.one_of(st.none(), TEXT)) if ids else draw(TEXT)}
    if ids:
        message["tool_calls"] = calls
    if draw(st.booleans()):
        message["reasoning_content"] = draw(TEXT)
    finish = "tool_calls" if ids else draw(st.sampled_from(["stop", "length", "content_filter"]))
    return openai_completion(**message, finish_reason=finish, usage=usage)


@settings(max_examples=80, deadline=None)
@given(openai_responses())
def test_property_openai_response_round_trip(resp: dict[str, Any]) -> None:
    hub = openai_response_to_anthropic(resp, "claude-x")
    Message.model_validate(hub)
    back = anthropic_response_to_openai(hub, "gpt-5")
    ChatCompletion.model_validate(back)
    original, returned = resp["choices"][0], back["choices"][0]
    assert returned["finish_reason"] == original["finish_reason"]
    assert (returned["message"]["content"] or None) == original["message"]["content"]
    assert returned["message"].get("tool_calls") == original["message"].get("tool_calls")
    assert returned["message"].get("reasoning_content") == original["message"].get("reasoning_content")
    assert back["usage"] == resp["usage"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resp=openai_responses(), data=st.data())
def test_property_openai_stream_equals_the_whole_response(resp: dict[str, Any], data: st.DataObject) -> None:
    message = resp["choices"][0]["message"]
    pieces: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]

    def cut(text: str) -> list[str]:
        points = sorted(set(data.draw(st.lists(st.integers(1, max(len(text) - 1, 1)), max_size=3))))
        return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True) if text[a:b]]

    pieces += [{"reasoning_content": p} for p in cut(message.get("reasoning_content") or "")]
    pieces += [{"content": p} for p in cut(message["content"] or "")]
    # Tool calls start in index order, but their argument fragments interleave arbitrarily.
    queues = []
    for index, call in enumerate(message.get("tool_calls", [])):
        head = call_delta(index, call["id"], call["function"]["name"])
        queues.append([head] + [call_delta(index, args=p) for p in cut(call["function"]["arguments"])])
    started = 0
    while any(queues):
        ready = [i for i, q in enumerate(queues) if q and (i < started or i == started)]
        pick = data.draw(st.sampled_from(ready))
        started = max(started, pick + 1)
        pieces.append(queues[pick].pop(0))
    chunks = [openai_chunk(p) for p in pieces]
    chunks.append(openai_chunk({}, resp["choices"][0]["finish_reason"]))
    chunks.append(openai_chunk(None, usage=resp["usage"]))
    streamed = anthropic_accumulate(o2a_stream(chunks)).to_dict()
    whole = openai_response_to_anthropic(resp, "claude-client-model")
    for block in streamed["content"]:
        block.pop("citations", None)
    assert streamed["content"] == whole["content"]
    assert streamed["stop_reason"] == whole["stop_reason"]
    assert {k: streamed["usage"][k] for k in whole["usage"]} == whole["usage"]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resp=anthropic_responses(), size=st.integers(1, 7))
def test_property_anthropic_stream_equals_the_whole_response(resp: dict[str, Any], size: int) -> None:
    chunks = a2o_stream(anthropic_events(resp, cut=size))
    streamed = openai_accumulate(chunks)
    whole = anthropic_response_to_openai(resp, "gpt-client-model")
    choice, expected = streamed.choices[0], whole["choices"][0]
    assert choice.finish_reason == expected["finish_reason"]
    assert (choice.message.content or None) == (expected["message"]["content"] or None)
    calls = [
        {
            "id": t.id,
            "type": "function",
            "function": {"name": t.function.name, "arguments": t.function.arguments},
        }
        for t in choice.message.tool_calls or []
    ]
    assert calls == expected["message"].get("tool_calls", [])
    assert (choice.message.model_extra or {}).get("reasoning_content") == expected["message"].get(
        "reasoning_content"
    )
    assert streamed.usage is not None and streamed.usage.model_dump(exclude_none=True) == whole["usage"]
