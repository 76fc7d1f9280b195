"""What the gemini translation tests share: fixtures, sample bodies, helpers, strategies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import strategies as st

from gateway.translate.gemini import (
    GEMINI_PATHS,
    GeminiStreamToAnthropic,
)
from tests.fakes.upstream import FakeUpstream

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
