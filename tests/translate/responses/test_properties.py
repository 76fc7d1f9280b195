"""Properties: any hub request becomes a Responses request the SDK's types and the strict fake accept,
with every tool call answered by its output; any scripted answer reads the same streamed and whole."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

from gateway.translate.responses import (
    ResponsesStreamToAnthropic,
    anthropic_request_to_responses,
    responses_response_to_anthropic,
)
from gateway.translate.sse import SSEDecoder
from tests.fakes.upstream import FakeUpstream, Script
from tests.translate.openai_chat.support import anthropic_requests, conforms
from tests.translate.stream_contract import accumulate

AUTH = {"Authorization": "Bearer k"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai") as upstream:
        yield upstream


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(anthropic_requests())
def test_property_any_hub_request_is_accepted(fake: FakeUpstream, hub: dict[str, Any]) -> None:
    body = anthropic_request_to_responses(copy.deepcopy(hub), "gpt-5-codex")
    conforms(body, ResponseCreateParamsNonStreaming)
    calls = [item["call_id"] for item in body["input"] if item["type"] == "function_call"]
    outputs = [item["call_id"] for item in body["input"] if item["type"] == "function_call_output"]
    assert sorted(calls) == sorted(outputs)
    response = httpx.post(f"{fake.base_url}/responses", json=body, headers=AUTH)
    assert response.status_code == 200, response.text


SCRIPTS = st.builds(
    Script,
    text=st.one_of(st.none(), st.text(min_size=1, max_size=40)),
    thinking=st.one_of(st.none(), st.text(max_size=40)),
    tool_calls=st.lists(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["get_weather", "other_tool"]),
                "input": st.dictionaries(st.text(max_size=5), st.integers(-1000, 1000), max_size=3),
            }
        ),
        max_size=3,
    ),
    text_chunks=st.integers(1, 5),
    stop_reason=st.sampled_from([None, "max_output_tokens"]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(SCRIPTS, st.booleans())
def test_property_stream_equals_whole_answer(fake: FakeUpstream, script: Script, include: bool) -> None:
    body: dict[str, Any] = {"model": "gpt-5-codex", "input": "q"}
    if include:
        body["include"] = ["reasoning.encrypted_content"]
    fake.push(script)
    whole = responses_response_to_anthropic(
        httpx.post(f"{fake.base_url}/responses", json=body, headers=AUTH).json(), "m"
    )
    fake.push(script)
    raw = httpx.post(f"{fake.base_url}/responses", json={**body, "stream": True}, headers=AUTH).content
    converter = ResponsesStreamToAnthropic("m", 10)
    events = [out for event in SSEDecoder().feed(raw) for out in converter.feed(orjson.loads(event.data))]
    streamed = accumulate(events + converter.finish())

    # Thinking blocks carry a fresh encrypted blob per answer; everything else must agree.
    def shape(blocks: list[Any]) -> list[Any]:
        return [{k: v for k, v in block.items() if k not in ("signature", "id")} for block in blocks]

    assert shape([block.model_dump(exclude_none=True) for block in streamed.content]) == shape(
        whole["content"]
    )
    assert streamed.stop_reason == whole["stop_reason"]
    assert streamed.usage.output_tokens == whole["usage"]["output_tokens"]
