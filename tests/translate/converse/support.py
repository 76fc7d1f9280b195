"""What the converse translation tests share: fixtures, sample bodies, helpers, strategies."""

from __future__ import annotations

import base64
import copy
import functools
import itertools
import json
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters
from hypothesis import strategies as st

from gateway.translate import Untranslatable
from gateway.translate.converse import (
    ConverseStreamToAnthropic,
    anthropic_request_to_converse,
)
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


def converse_response(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 12, "outputTokens": 34, "totalTokens": 46, **usage},
        "metrics": {"latencyMs": 321},
    }


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
