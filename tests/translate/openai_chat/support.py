"""What the openai_chat translation tests share: fixtures, sample bodies, helpers, strategies."""

from __future__ import annotations

import collections.abc
import functools
import json
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import httpx
import httpx2
import openai
import orjson
from anthropic.types import Message
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from typing_extensions import get_type_hints, is_typeddict

from gateway.translate.openai_chat import (
    AnthropicStreamToOpenAI,
    OpenAIStreamToAnthropic,
)
from gateway.translate.sse import OPENAI_DONE, encode_openai
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.fakes.upstream import FakeUpstream
from tests.translate.stream_contract import DELTA_KINDS, accumulate, check_contract, sdk_final_message

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


PDF = "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDw+PgolJUVPRgo="


TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


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
        # The SDKs' TypedDicts are defined under `from __future__ import annotations`, where Python 3.11
        # leaves `__required_keys__` empty for `Required[...]` keys of a total=False class: read the hints.
        required = set(tp.__required_keys__) | {
            key for key, hint in hints.items() if str(get_origin(hint)).endswith(".Required")
        }
        missing = required - set(value)
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


# What an OpenAI -> Anthropic stream may carry: text blocks take citations too.
OPENAI_DELTA_KINDS = {**DELTA_KINDS, "text": {"text_delta", "citations_delta"}}


def check_anthropic_contract(events: list[dict[str, Any]]) -> None:
    """protocols.md §2.2-2.4 and §9.2: what Claude Code and the accumulators require of a stream,
    and a real input token count in message_start."""
    check_contract(events, OPENAI_DELTA_KINDS)
    assert events[0]["message"]["usage"]["input_tokens"] > 0


def anthropic_sdk_message(events: list[dict[str, Any]]) -> Message:
    """Serve the events as SSE bytes to the real SDK client and let its stream helper build the message."""
    check_anthropic_contract(events)
    return sdk_final_message(events)


def anthropic_accumulate(events: list[dict[str, Any]]) -> Any:
    """The SDK accumulator without HTTP, for property tests."""
    check_anthropic_contract(events)
    return accumulate(events, OPENAI_DELTA_KINDS)


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


TOOLS = [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g"}}]


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
