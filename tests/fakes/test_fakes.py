"""The fakes must be indistinguishable from the real APIs to the official SDKs pointed straight at them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.conftest import anthropic_client, openai_client
from tests.fakes.anthropic_wire import input_tokens_estimate
from tests.fakes.gemini_wire import prompt_tokens_estimate as gemini_prompt_estimate
from tests.fakes.openai_wire import prompt_tokens_estimate as openai_prompt_estimate
from tests.fakes.upstream import FakeUpstream, Script

USER_HI = [{"role": "user", "content": "hi"}]
WEATHER = {"name": "get_weather", "input": {"city": "Paris", "units": "celsius"}}
ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


# -- fixtures: one server per kind for the module, clean state per test --------------------------------


@pytest.fixture(scope="module")
def _servers() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {kind: FakeUpstream(kind).start() for kind in ("anthropic", "openai", "gemini")}  # type: ignore[arg-type]
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # One pooled client: building a fresh one per call costs ~50 ms of TLS context setup.
    with httpx.Client() as client:
        yield client


@pytest.fixture
def anthropic_fake(_servers: dict[str, FakeUpstream]) -> FakeUpstream:
    _servers["anthropic"].reset()
    return _servers["anthropic"]


@pytest.fixture
def openai_fake(_servers: dict[str, FakeUpstream]) -> FakeUpstream:
    _servers["openai"].reset()
    return _servers["openai"]


@pytest.fixture
def gemini_fake(_servers: dict[str, FakeUpstream]) -> FakeUpstream:
    _servers["gemini"].reset()
    return _servers["gemini"]


@pytest.fixture
def claude(anthropic_fake: FakeUpstream) -> Iterator[anthropic.Anthropic]:
    with anthropic_client(anthropic_fake.url) as client:
        yield client


@pytest.fixture
def gpt(openai_fake: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai_client(openai_fake.url) as client:
        yield client


def sse_events(raw: bytes, separator: bytes = b"\n\n") -> list[tuple[str | None, Any]]:
    """(event name, parsed data) per SSE event; data "[DONE]" stays a string."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.split(separator):
        if not block.strip():
            continue
        name, data = None, None
        for line in block.decode().splitlines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        events.append((name, data if data == "[DONE]" else orjson.loads(data or "null")))
    return events


def is_broken_stream(exc: BaseException) -> bool:
    # The SDK surfaces a truncated chunked body either wrapped or as the transport's own error.
    return isinstance(exc, anthropic.APIConnectionError | openai.APIConnectionError) or (
        "incomplete chunked read" in str(exc)
    )


# -- lifecycle -----------------------------------------------------------------------------------------


def test_lifecycle_urls_and_context_manager() -> None:
    with FakeUpstream("openai") as first, FakeUpstream("gemini") as second:
        assert first.url.startswith("http://127.0.0.1:")
        assert first.url != second.url
        assert first.base_url == first.url + "/v1"
        assert second.base_url == second.url + "/v1beta"
        assert httpx.get(first.url + "/v1/models", headers={"authorization": "Bearer k"}).status_code == 200
    first.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(first.url + "/v1/models")


def test_start_inside_a_running_event_loop() -> None:
    async def main() -> int:
        # Async tests may start fakes from within their own loop; start() must not need the caller's.
        with FakeUpstream("anthropic") as fake:
            async with httpx.AsyncClient() as client:
                response = await client.get(fake.url + "/v1/models", headers={"x-api-key": "k"})
            return response.status_code

    assert asyncio.run(main()) == 200


def test_unknown_paths_use_each_provider_envelope(
    http: httpx.Client, _servers: dict[str, FakeUpstream]
) -> None:
    anthropic_body = http.get(_servers["anthropic"].url + "/nope?x=1").json()
    assert anthropic_body["type"] == "error"
    assert anthropic_body["error"]["type"] == "not_found_error"
    openai_resp = http.post(_servers["openai"].url + "/v1/nope")
    assert openai_resp.status_code == 404
    assert openai_resp.json()["error"]["message"] == "Invalid URL (POST /v1/nope)"
    assert http.get(_servers["gemini"].url + "/x").json()["error"]["status"] == "NOT_FOUND"
    recorded = _servers["anthropic"].requests[-1]
    assert (recorded.method, recorded.path, recorded.query) == ("GET", "/nope", "x=1")


# -- Anthropic -------------------------------------------------------------------------------------------


def test_anthropic_create_plain(anthropic_fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="claude-x", max_tokens=50, system="Be brief.", messages=USER_HI)
    assert message.id.startswith("msg_fake")
    assert message.model == "claude-x"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello from the fake anthropic upstream."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    sent = anthropic_fake.requests[-1]
    assert message.usage.input_tokens == input_tokens_estimate(sent.json)
    assert message.usage.output_tokens == 6
    assert message.usage.cache_read_input_tokens == 0
    assert message._request_id is not None and message._request_id.startswith("req_fake")
    assert sent.path == "/v1/messages"
    # SDK 2.x sends api_key as a Bearer token; the fake (like the real API) accepts either header.
    assert sent.headers["authorization"] == "Bearer k"
    assert sent.headers["anthropic-version"]
    assert sent.json["system"] == "Be brief."


def test_anthropic_beta_client_and_beta_query(http: httpx.Client, anthropic_fake: FakeUpstream) -> None:
    with anthropic_client(anthropic_fake.url, key=None, auth_token="tok") as client:
        message = client.beta.messages.create(model="claude-x", max_tokens=5, messages=USER_HI)
    assert message.content[0].type == "text"
    assert anthropic_fake.requests[-1].headers["authorization"] == "Bearer tok"
    # Claude Code calls /v1/messages?beta=true; the query string must not break routing.
    body = {"model": "m", "max_tokens": 5, "messages": USER_HI}
    url = anthropic_fake.url + "/v1/messages?beta=true"
    assert http.post(url, json=body, headers=ANTHROPIC_HEADERS).status_code == 200
    assert anthropic_fake.requests[-1].query == "beta=true"


def test_anthropic_stream_accumulates_thinking_text_and_tools(
    anthropic_fake: FakeUpstream, claude: anthropic.Anthropic
) -> None:
    anthropic_fake.push(
        Script(
            thinking="The user wants weather.",
            text="Checking.",
            tool_calls=[WEATHER, {"name": "noop", "input": {}}],
            usage={"input_tokens": 7, "cache_read_input_tokens": 100, "output_tokens": 42},
        )
    )
    with claude.messages.stream(model="claude-x", max_tokens=2000, messages=USER_HI) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    thinking, text, tool, noop = final.content
    assert thinking.thinking == "The user wants weather."  # type: ignore[union-attr]
    assert thinking.signature.startswith("sig-")  # type: ignore[union-attr]
    assert text.text == "Checking."  # type: ignore[union-attr]
    assert tool.input == WEATHER["input"] and tool.name == "get_weather"  # type: ignore[union-attr]
    assert tool.id.startswith("toolu_")  # type: ignore[union-attr]
    assert noop.input == {}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (
        7,
        100,
        42,
    )
    assert anthropic_fake.requests[-1].headers["x-stainless-helper-method"] == "stream"


def test_anthropic_raw_event_sequence(http: httpx.Client, anthropic_fake: FakeUpstream) -> None:
    anthropic_fake.push(Script(thinking="hmm", tool_calls=[WEATHER], text="ok", text_chunks=2))
    body = {"model": "m", "max_tokens": 9, "messages": USER_HI, "stream": True}
    response = http.post(anthropic_fake.url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["request-id"].startswith("req_fake")
    events = sse_events(response.content)
    assert all(name == data["type"] for name, data in events)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert "ping" in names
    assert events[0][1]["message"]["usage"]["input_tokens"] == input_tokens_estimate(body)
    starts = [data for name, data in events if name == "content_block_start"]
    assert [start["index"] for start in starts] == [0, 1, 2]
    assert starts[2]["content_block"]["input"] == {}
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert sum(delta["type"] == "signature_delta" for delta in deltas) == 1
    fragments = [delta["partial_json"] for delta in deltas if delta["type"] == "input_json_delta"]
    assert len(fragments) >= 2 and orjson.loads("".join(fragments)) == WEATHER["input"]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_anthropic_count_tokens_and_models(anthropic_fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model="claude-x", system="sys", messages=USER_HI)
    sent = anthropic_fake.requests[-1]
    assert sent.path == "/v1/messages/count_tokens" and "max_tokens" not in sent.json
    assert counted.input_tokens == input_tokens_estimate(sent.json) >= 1
    # The same prompt costs the same in a real call, so gateways can be checked for consistency.
    message = claude.messages.create(model="claude-x", max_tokens=5, system="sys", messages=USER_HI)
    assert message.usage.input_tokens == counted.input_tokens
    models = claude.models.list()
    assert [model.id for model in models.data] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    assert claude.models.retrieve("claude-haiku-4-5").display_name == "Claude Haiku 4.5"
    with pytest.raises(anthropic.NotFoundError):
        claude.models.retrieve("nope")


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_scripted_status_errors(
    anthropic_fake: FakeUpstream,
    claude: anthropic.Anthropic,
    status: int,
    error_class: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    anthropic_fake.push(Script(status=status, headers={"retry-after": "7"}))
    with pytest.raises(error_class) as caught:
        claude.messages.create(model="claude-x", max_tokens=5, messages=USER_HI)
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == error_type  # type: ignore[index]
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_fake")
    assert caught.value.response.headers["retry-after"] == "7"
    # The script was used up: the next call gets the default reply.
    assert claude.messages.create(model="claude-x", max_tokens=5, messages=USER_HI).stop_reason == "end_turn"


def test_anthropic_strict_validation(
    http: httpx.Client, anthropic_fake: FakeUpstream, claude: anthropic.Anthropic
) -> None:
    url = anthropic_fake.url + "/v1/messages"
    missing = http.post(url, json={"model": "m", "messages": USER_HI}, headers=ANTHROPIC_HEADERS)
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Field required"):
        claude.post("/v1/messages", body={"model": "m", "messages": USER_HI}, cast_to=object)
    assert "max_tokens" not in anthropic_fake.requests[-1].json

    def rejected(body: dict[str, Any], headers: dict[str, str] = ANTHROPIC_HEADERS) -> tuple[int, str]:
        response = http.post(url, json=body, headers=headers)
        return response.status_code, response.json()["error"]["message"]

    ok = {"model": "m", "max_tokens": 5, "messages": USER_HI}
    assert rejected(ok, {"anthropic-version": "2023-06-01"})[0] == 401
    assert rejected(ok, {"x-api-key": "k"}) == (400, "anthropic-version: header is required")
    assert rejected({**ok, "messages": []})[1] == "messages: at least one message is required"
    assert rejected({**ok, "model": None})[1] == "model: Input should be a valid string"
    assert rejected({**ok, "max_tokens": None})[1] == "max_tokens: Input should be a valid integer"
    assert rejected({**ok, "messages": [{"role": "bot", "content": "x"}]})[1].startswith("messages.0.role")
    empty_block = [{"role": "user", "content": [{"type": "text", "text": ""}]}]
    assert rejected({**ok, "messages": empty_block})[1] == "messages: text content blocks must be non-empty"
    system_turn = [*USER_HI, {"role": "system", "content": "note"}]
    assert http.post(url, json={**ok, "messages": system_turn}, headers=ANTHROPIC_HEADERS).status_code == 200


def test_anthropic_cut_after_breaks_the_stream(
    anthropic_fake: FakeUpstream, claude: anthropic.Anthropic
) -> None:
    anthropic_fake.push(Script(cut_after=3))
    # The concrete exception class depends on the SDK's transport, hence the broad catch.
    with (
        pytest.raises(Exception) as caught,
        claude.messages.stream(model="m", max_tokens=5, messages=USER_HI) as s,
    ):
        s.get_final_message()
    assert is_broken_stream(caught.value)
    assert anthropic_fake.disconnects == 0  # the server hung up, not the client


def test_anthropic_error_event_after(
    http: httpx.Client, anthropic_fake: FakeUpstream, claude: anthropic.Anthropic
) -> None:
    anthropic_fake.push(Script(error_event_after=4))
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        claude.messages.stream(model="claude-x", max_tokens=5, messages=USER_HI) as stream,
    ):
        stream.get_final_message()
    anthropic_fake.push(Script(error_event_after=2))
    body = {"model": "m", "max_tokens": 5, "messages": USER_HI, "stream": True}
    names = [
        name
        for name, _ in sse_events(
            http.post(anthropic_fake.url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS).content
        )
    ]
    assert names == ["message_start", "content_block_start", "error"]


def test_anthropic_pacing_delay_and_stall_disconnect(
    http: httpx.Client, anthropic_fake: FakeUpstream
) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": USER_HI, "stream": True}
    anthropic_fake.push(Script(chunk_delay=0.03, text_chunks=3))
    arrivals: list[float] = []
    with http.stream("POST", anthropic_fake.url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS) as r:
        for _ in r.iter_raw():
            arrivals.append(time.monotonic())
    # 9 events, one write each, 30 ms apart: they cannot all arrive in one read.
    assert len(arrivals) >= 5 and arrivals[-1] - arrivals[0] >= 0.2

    anthropic_fake.push(Script(delay=0.3))
    started = time.monotonic()
    assert (
        http.post(anthropic_fake.url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS).status_code
        == 200
    )
    assert time.monotonic() - started >= 0.3

    anthropic_fake.push(Script(stall_after=2))
    with pytest.raises(httpx.ReadTimeout):
        http.post(anthropic_fake.url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS, timeout=0.3)
    assert anthropic_fake.wait_for_disconnects(1, timeout=3)
    assert anthropic_fake.disconnects == 1


def test_scripts_are_fifo_and_bodies_are_exact(
    http: httpx.Client, anthropic_fake: FakeUpstream, claude: anthropic.Anthropic
) -> None:
    anthropic_fake.push(
        Script(text="one", headers={"x-extra": "1"}),
        Script(body=b"raw!", status=202, headers={"content-type": "text/x"}),
    )
    assert anthropic_fake.pending_scripts == 2
    first = claude.messages.with_raw_response.create(model="m", max_tokens=5, messages=USER_HI)
    assert first.headers["x-extra"] == "1"
    assert first.parse().content[0].text == "one"  # type: ignore[union-attr]
    raw = http.post(anthropic_fake.url + "/v1/messages", json={}, headers=ANTHROPIC_HEADERS)
    assert (raw.status_code, raw.content, raw.headers["content-type"]) == (202, b"raw!", "text/x")
    anthropic_fake.push(Script(body={"anything": True}))
    assert http.post(anthropic_fake.url + "/v1/messages/count_tokens").json() == {"anything": True}
    assert len(anthropic_fake.requests) == 3
    anthropic_fake.push(Script(status=500))
    anthropic_fake.reset()
    assert anthropic_fake.requests == [] and anthropic_fake.pending_scripts == 0


# -- OpenAI ----------------------------------------------------------------------------------------------


def test_openai_create_plain_with_usage(openai_fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    completion = gpt.chat.completions.create(model="gpt-x", messages=USER_HI)
    choice = completion.choices[0]
    assert completion.id.startswith("chatcmpl-") and completion.object == "chat.completion"
    assert (completion.model, choice.finish_reason) == ("gpt-x", "stop")
    assert choice.message.content == "Hello from the fake openai upstream."
    assert choice.message.tool_calls is None
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == openai_prompt_estimate(openai_fake.requests[-1].json)
    assert completion.usage.completion_tokens == 6
    assert completion._request_id is not None
    assert openai_fake.requests[-1].headers["authorization"] == "Bearer k"

    openai_fake.push(
        Script(
            usage={"prompt_tokens": 50, "cached_tokens": 40, "completion_tokens": 9, "reasoning_tokens": 4}
        )
    )
    usage = gpt.chat.completions.create(model="gpt-x", messages=USER_HI).usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (50, 9, 59)
    assert usage.prompt_tokens_details.cached_tokens == 40
    assert usage.completion_tokens_details.reasoning_tokens == 4


def test_openai_stream_with_and_without_usage(
    http: httpx.Client, openai_fake: FakeUpstream, gpt: openai.OpenAI
) -> None:
    chunks = list(
        gpt.chat.completions.create(
            model="gpt-x", messages=USER_HI, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.choices[0].delta.role is None for chunk in chunks[1:] if chunk.choices)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello from the fake openai upstream."
    )
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + 6

    plain = list(gpt.chat.completions.create(model="gpt-x", messages=USER_HI, stream=True))
    assert all(chunk.choices and chunk.usage is None for chunk in plain)
    raw = http.post(
        openai_fake.base_url + "/chat/completions",
        headers={"authorization": "Bearer k"},
        json={"model": "m", "messages": USER_HI, "stream": True},
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-request-id"].startswith("req_fake")
    assert raw.content.endswith(b"data: [DONE]\n\n")


def test_openai_stream_helper_accumulates_tool_calls(
    http: httpx.Client, openai_fake: FakeUpstream, gpt: openai.OpenAI
) -> None:
    openai_fake.push(Script(tool_calls=[WEATHER, {"name": "noop", "input": {}}]))
    with gpt.chat.completions.stream(model="gpt-x", messages=USER_HI) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [call.function.name for call in calls] == ["get_weather", "noop"]  # type: ignore[union-attr]
    assert orjson.loads(calls[0].function.arguments) == WEATHER["input"]  # type: ignore[union-attr]
    assert all(call.id.startswith("call_") for call in calls)

    openai_fake.push(Script(tool_calls=[WEATHER], text="Let me check."))
    raw = http.post(
        openai_fake.base_url + "/chat/completions",
        headers={"authorization": "Bearer k"},
        json={"model": "m", "messages": USER_HI, "stream": True},
    )
    deltas = [data["choices"][0]["delta"] for _, data in sse_events(raw.content)[:-1]]
    call_deltas = [call for delta in deltas for call in delta.get("tool_calls", [])]
    assert sum("id" in call for call in call_deltas) == 1 and "id" in call_deltas[0]
    assert len(call_deltas) >= 3  # opening delta + 2 or more argument fragments
    assert (
        "".join(call["function"]["arguments"] for call in call_deltas)
        == orjson.dumps(WEATHER["input"]).decode()
    )
    assert "".join(delta.get("content") or "" for delta in deltas) == "Let me check."


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (403, openai.PermissionDeniedError, None),
        (404, openai.NotFoundError, None),
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, None),
        (503, openai.InternalServerError, None),
    ],
)
def test_openai_scripted_status_errors(
    openai_fake: FakeUpstream,
    gpt: openai.OpenAI,
    status: int,
    error_class: type[openai.APIStatusError],
    code: str | None,
) -> None:
    openai_fake.push(Script(status=status, error_message="scripted"))
    with pytest.raises(error_class, match="scripted") as caught:
        gpt.chat.completions.create(model="gpt-x", messages=USER_HI)
    assert caught.value.status_code == status
    assert caught.value.code == code
    assert set(caught.value.body) == {"message", "type", "param", "code"}  # type: ignore[arg-type]


def test_openai_strict_validation(http: httpx.Client, openai_fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    url = openai_fake.base_url + "/chat/completions"

    def rejected(body: dict[str, Any], auth: str = "Bearer k") -> tuple[int, dict[str, Any]]:
        response = http.post(url, json=body, headers={"authorization": auth})
        return response.status_code, response.json()["error"]

    for auth in ("Bearer", "Basic k", "k"):
        status, error = rejected({"model": "m", "messages": USER_HI}, auth=auth)
        assert (status, error["code"], error["type"]) == (401, "invalid_api_key", "invalid_request_error")
        assert error["message"].startswith("Incorrect API key provided")
    assert rejected({"model": "m", "messages": []})[1]["code"] == "empty_array"
    assert rejected({"messages": USER_HI})[1]["message"] == "you must provide a model parameter"
    both = {"model": "m", "messages": USER_HI, "max_tokens": 5, "max_completion_tokens": 5}
    assert rejected(both)[0] == 400
    assert (
        rejected({"model": "m", "messages": [{"role": "bot", "content": "x"}]})[1]["param"]
        == "messages[0].role"
    )
    tool_turn = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    unanswered = rejected({"model": "m", "messages": [*USER_HI, tool_turn, *USER_HI]})[1]["message"]
    assert "must be followed by tool messages" in unanswered and "call_1" in unanswered
    answered = [*USER_HI, tool_turn, {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]
    assert gpt.chat.completions.create(model="m", messages=answered).choices[0].finish_reason == "stop"  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="stream_options"):
        gpt.chat.completions.create(model="m", messages=USER_HI, stream_options={"include_usage": True})


def test_openai_mid_stream_failures(openai_fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    openai_fake.push(Script(error_event_after=2))
    with pytest.raises(openai.APIError, match="The server had an error"):
        list(gpt.chat.completions.create(model="gpt-x", messages=USER_HI, stream=True))
    openai_fake.push(Script(cut_after=2))
    with pytest.raises(Exception) as caught:
        list(gpt.chat.completions.create(model="gpt-x", messages=USER_HI, stream=True))
    assert is_broken_stream(caught.value)


def test_openai_models(gpt: openai.OpenAI) -> None:
    assert [model.id for model in gpt.models.list()] == ["gpt-5", "gpt-5-mini"]
    assert gpt.models.retrieve("gpt-5").owned_by == "openai"


# -- Gemini ----------------------------------------------------------------------------------------------


GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}]}


def test_gemini_generate_content_text_and_function_call(
    http: httpx.Client, gemini_fake: FakeUpstream
) -> None:
    url = gemini_fake.base_url + "/models/gemini-2.5-flash:generateContent"
    reply = http.post(url, json=GEMINI_BODY, headers={"x-goog-api-key": "k"}).json()
    candidate = reply["candidates"][0]
    assert candidate["content"] == {
        "parts": [{"text": "Hello from the fake gemini upstream."}],
        "role": "model",
    }
    assert candidate["finishReason"] == "STOP"
    usage = reply["usageMetadata"]
    assert usage["promptTokenCount"] == gemini_prompt_estimate(GEMINI_BODY)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert reply["modelVersion"] == "gemini-2.5-flash"

    gemini_fake.push(Script(tool_calls=[WEATHER]))
    reply = http.post(url + "?key=k", json=GEMINI_BODY).json()
    assert reply["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": WEATHER["input"]}}
    ]
    assert gemini_fake.requests[-1].query == "key=k"


def test_gemini_stream_framing(http: httpx.Client, gemini_fake: FakeUpstream) -> None:
    url = gemini_fake.base_url + "/models/gemini-2.5-flash:streamGenerateContent"
    raw = http.post(url + "?alt=sse", json=GEMINI_BODY, headers={"x-goog-api-key": "k"})
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.content.endswith(b"\r\n\r\n")
    events = sse_events(raw.content, separator=b"\r\n\r\n")
    assert len(events) == 3 and all(name is None for name, _ in events)
    text = "".join(part["text"] for _, data in events for part in data["candidates"][0]["content"]["parts"])
    assert text == "Hello from the fake gemini upstream."
    assert "finishReason" not in events[0][1]["candidates"][0]
    assert events[-1][1]["candidates"][0]["finishReason"] == "STOP"
    assert events[-1][1]["usageMetadata"]["candidatesTokenCount"] == 6

    array = http.post(url, json=GEMINI_BODY, headers={"x-goog-api-key": "k"}).json()
    assert isinstance(array, list) and array[-1]["candidates"][0]["finishReason"] == "STOP"

    gemini_fake.push(Script(error_event_after=1))
    raw = http.post(url + "?alt=sse", json=GEMINI_BODY, headers={"x-goog-api-key": "k"})
    events = sse_events(raw.content, separator=b"\r\n\r\n")
    assert events[-1][1]["error"]["status"] == "UNAVAILABLE" and len(events) == 2


def test_gemini_count_tokens_models_and_errors(http: httpx.Client, gemini_fake: FakeUpstream) -> None:
    base, key = gemini_fake.base_url, {"x-goog-api-key": "k"}
    counted = http.post(base + "/models/gemini-2.5-pro:countTokens", json=GEMINI_BODY, headers=key).json()
    assert counted == {"totalTokens": gemini_prompt_estimate(GEMINI_BODY)}
    names = [model["name"] for model in http.get(base + "/models", headers=key).json()["models"]]
    assert names == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]

    generate = base + "/models/gemini-2.5-flash:generateContent"
    no_key = http.post(generate, json=GEMINI_BODY)
    assert no_key.status_code == 403 and no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    bad_role = {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}
    bad = http.post(generate, json=bad_role, headers=key).json()["error"]
    assert (bad["code"], bad["status"]) == (400, "INVALID_ARGUMENT")
    assert http.post(generate, json={"contents": []}, headers=key).status_code == 400

    gemini_fake.push(Script(status=429))
    limited = http.post(generate, json=GEMINI_BODY, headers=key)
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert {k: error[k] for k in ("code", "message", "status")} == {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
    }
    # When to come back is in the body (google.rpc.RetryInfo), not in a retry-after header.
    assert error["details"][-1] == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}
    assert "retry-after" not in limited.headers
    assert (
        http.post(base + "/models/gemini-2.5-flash:explode", json=GEMINI_BODY, headers=key).status_code == 404
    )


# -- web search ----------------------------------------------------------------------------------------

SEARCH_TEXT = "Über Paris: sunny today."
SEARCHES = [{"query": "paris", "url": "https://w.example/p", "title": "P", "cite": "sunny"}]


def test_anthropic_web_search_tool_and_scripted_results(
    claude: anthropic.Anthropic, anthropic_fake: FakeUpstream
) -> None:
    anthropic_fake.push(Script(text=SEARCH_TEXT, searches=SEARCHES))
    message = claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
        messages=[{"role": "user", "content": "Weather?"}],
    )
    assert [b.type for b in message.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
        "text",
        "text",
    ]
    cited = message.content[3]
    assert cited.type == "text" and cited.text == "sunny" and cited.citations
    assert (
        message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 1
    )
    with pytest.raises(anthropic.BadRequestError):  # a server tool's name is fixed
        claude.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            tools=[{"type": "web_search_20250305", "name": "search"}],  # type: ignore[typeddict-item]
            messages=[{"role": "user", "content": "Weather?"}],
        )


def test_openai_search_models_only_take_web_search_options(
    gpt: openai.OpenAI, openai_fake: FakeUpstream
) -> None:
    openai_fake.push(Script(text=SEARCH_TEXT, searches=SEARCHES))
    answer = gpt.chat.completions.create(
        model="gpt-4o-search-preview",
        messages=[{"role": "user", "content": "Weather?"}],
        web_search_options={},
    )
    [annotation] = answer.choices[0].message.annotations or []
    span = annotation.url_citation
    assert SEARCH_TEXT[span.start_index : span.end_index] == "sunny" and span.url == SEARCHES[0]["url"]
    with pytest.raises(openai.BadRequestError) as info:
        gpt.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "Weather?"}], web_search_options={}
        )
    assert info.value.param == "web_search_options"


def test_gemini_google_search_grounding(http: httpx.Client, gemini_fake: FakeUpstream) -> None:
    url = gemini_fake.base_url + "/models/gemini-2.5-flash:generateContent"
    headers = {"x-goog-api-key": "k"}
    gemini_fake.push(Script(text=SEARCH_TEXT, searches=SEARCHES))
    body = {**GEMINI_BODY, "tools": [{"google_search": {}}]}
    meta = http.post(url, json=body, headers=headers).json()["candidates"][0]["groundingMetadata"]
    assert meta["webSearchQueries"] == ["paris"]
    segment = meta["groundingSupports"][0]["segment"]
    # Byte offsets: "Ü" is two bytes in UTF-8.
    assert SEARCH_TEXT.encode()[segment["startIndex"] : segment["endIndex"]] == b"sunny"
    bad = http.post(url, json={**GEMINI_BODY, "tools": [{"web_search": {}}]}, headers=headers)
    assert bad.status_code == 400 and "Unknown name" in bad.text
