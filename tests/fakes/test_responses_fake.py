"""The fake Responses endpoint, read by the official openai SDK pointed straight at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from tests.conftest import openai_client
from tests.fakes.responses_wire import mint_encrypted, prompt_tokens_estimate
from tests.fakes.upstream import FakeUpstream, Script

WEATHER = {"name": "get_weather", "input": {"city": "Paris"}}
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
AUTH = {"Authorization": "Bearer k"}


@pytest.fixture(scope="module")
def _fakes() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {"openai": FakeUpstream("openai").start(), "azure": FakeUpstream("azure").start()}
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture
def fake(_fakes: dict[str, FakeUpstream]) -> FakeUpstream:
    _fakes["openai"].reset()
    return _fakes["openai"]


@pytest.fixture
def azure(_fakes: dict[str, FakeUpstream]) -> FakeUpstream:
    _fakes["azure"].reset()
    return _fakes["azure"]


@pytest.fixture
def gpt(fake: FakeUpstream) -> openai.OpenAI:
    return openai_client(fake.url)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def _post(
    http: httpx.Client, fake: FakeUpstream, body: dict[str, Any], path: str = "/v1/responses"
) -> httpx.Response:
    return http.post(fake.url + path, json=body, headers=AUTH)


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- whole answers ---------------------------------------------------------------------------------


def test_create_text_with_usage(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    fake.push(Script(text="Hello there.", usage={"cached_tokens": 3, "reasoning_tokens": 5}))
    response = gpt.responses.create(model="gpt-5", input="hi", instructions="be brief")
    assert response.status == "completed"
    assert response.output_text == "Hello there."
    assert response.id.startswith("resp_")
    assert response.instructions == "be brief"
    assert response.usage is not None
    body = orjson.loads(fake.requests[-1].body)
    assert response.usage.input_tokens == prompt_tokens_estimate(body)
    assert response.usage.input_tokens_details.cached_tokens == 3
    assert response.usage.output_tokens_details.reasoning_tokens == 5
    assert response.usage.output_tokens == 2 + 5  # two words, plus the reasoning tokens
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_create_tool_call_and_round_trip(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    fake.push(Script(tool_calls=[WEATHER]))
    first = gpt.responses.create(model="gpt-5", input="weather?", tools=[WEATHER_TOOL], store=False)  # type: ignore[list-item]
    [call] = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather" and orjson.loads(call.arguments) == {"city": "Paris"}
    second = gpt.responses.create(
        model="gpt-5",
        store=False,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": "weather?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert second.output_text.startswith("Hello from the fake")


def test_custom_and_namespace_tools(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    tools: list[Any] = [
        {"type": "custom", "name": "apply_patch", "description": "patch", "format": {"type": "text"}},
        {
            "type": "namespace",
            "name": "shell",
            "description": "shell tools",
            "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}],
        },
        {"type": "web_search"},
    ]
    fake.push(
        Script(
            tool_calls=[
                {"name": "apply_patch", "input": "*** Begin Patch"},
                {"name": "exec_command", "input": {"cmd": "ls"}},
            ]
        )
    )
    response = gpt.responses.create(model="gpt-5", input="go", tools=tools)
    custom, function = response.output
    assert custom.type == "custom_tool_call" and custom.input == "*** Begin Patch"
    assert function.type == "function_call" and function.namespace == "shell"
    answer = gpt.responses.create(
        model="gpt-5",
        previous_response_id=response.id,
        tools=tools,
        input=[
            {"type": "custom_tool_call_output", "call_id": custom.call_id, "output": "done"},
            {"type": "function_call_output", "call_id": function.call_id, "output": "a b"},
        ],
    )
    assert answer.status == "completed"


def test_reasoning_item_and_encrypted_content(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    fake.push(Script(thinking="Let me think.", text="42"))
    response = gpt.responses.create(
        model="gpt-5",
        input="q",
        store=False,
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Let me think."
    assert reasoning.encrypted_content and message.type == "message"
    replay = reasoning.model_dump(exclude_none=True)
    again = gpt.responses.create(model="gpt-5", store=False, input=[{"role": "user", "content": "q"}, replay])  # type: ignore[list-item]
    assert again.status == "completed"
    # Another server's blob, or an id the fake never stored: refused as the real API does.
    forged = {**replay, "encrypted_content": "gAAAAAnot-ours"}
    with pytest.raises(openai.BadRequestError, match="could not be verified") as caught:
        gpt.responses.create(model="gpt-5", store=False, input=[forged])  # type: ignore[list-item]
    assert caught.value.code == "invalid_encrypted_content"
    bare = {key: value for key, value in replay.items() if key != "encrypted_content"}
    with pytest.raises(openai.NotFoundError, match="not persisted"):
        gpt.responses.create(model="gpt-5", store=False, input=[bare])  # type: ignore[list-item]
    # Without the include the item carries no blob.
    fake.push(Script(thinking="hmm"))
    plain = gpt.responses.create(model="gpt-5", input="q")
    assert plain.output[0].type == "reasoning" and plain.output[0].encrypted_content is None
    assert mint_encrypted("rs_1", "x") != mint_encrypted("rs_1", "y")


def test_incomplete_and_scripted_errors(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    fake.push(Script(stop_reason="max_output_tokens"))
    response = gpt.responses.create(model="gpt-5", input="q", max_output_tokens=16)
    assert response.status == "incomplete"
    assert (
        response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    )
    fake.push(Script(status=429))
    with pytest.raises(openai.RateLimitError):
        gpt.responses.create(model="gpt-5", input="q")
    fake.push(Script(status=500))
    with pytest.raises(openai.InternalServerError):
        gpt.responses.create(model="gpt-5", input="q")


# -- strictness ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message", "param"),
    [
        ({"model": "m", "input": "x", "messages": []}, 400, "Unknown parameter: 'messages'.", "messages"),
        ({"input": "x"}, 400, "Missing required parameter: 'model'.", "model"),
        ({"model": "m", "input": [{"type": "bogus"}]}, 400, "Invalid value: 'bogus'", "input[0].type"),
        (
            {"model": "m", "input": [{"role": "tool", "content": "x"}]},
            400,
            "Invalid value: 'tool'",
            "input[0].role",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
            400,
            "Invalid value: 'output_text'",
            "input[0].content[0].type",
        ),
        (
            {
                "model": "m",
                "input": [
                    {
                        "type": "message",
                        "id": "msg_1",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "input_text", "text": "x"}],
                    }
                ],
            },
            400,
            "Invalid value: 'input_text'",
            "input[0].content[0].type",
        ),
        (
            {"model": "m", "input": [{"type": "function_call_output", "call_id": "call_x", "output": "y"}]},
            400,
            "No tool call found for function call output with call_id call_x.",
            "input",
        ),
        (
            {
                "model": "m",
                "input": [{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}],
            },
            400,
            "No tool output found for function call c1.",
            "input",
        ),
        ({"model": "m", "input": "x", "include": ["nope"]}, 400, "Invalid value: 'nope'", "include[0]"),
        ({"model": "m", "input": "x", "include": [{}]}, 400, "Invalid type for 'include[0]'", "include[0]"),
        (
            {"model": "m", "input": [{"type": "item_reference", "id": {}}]},
            404,
            "Item with id '{}' not found",
            "input[0]",
        ),
        (
            {"model": "m", "input": "x", "tools": [{"type": "bash"}]},
            400,
            "Invalid value: 'bash'",
            "tools[0].type",
        ),
        (
            {"model": "m", "input": "x", "tools": [{"type": "function"}]},
            400,
            "'tools[0].name'",
            "tools[0].name",
        ),
        (
            {
                "model": "m",
                "input": "x",
                "tools": [{**WEATHER_TOOL, "parameters": {"type": "object", "properties": {"a": {}}}}],
            },
            400,
            "additionalProperties",
            "tools[0].parameters",
        ),
        (
            {"model": "m", "input": "x", "previous_response_id": "resp_nope"},
            404,
            "Previous response with id 'resp_nope' not found.",
            "previous_response_id",
        ),
    ],
)
def test_strict_validation(
    http: httpx.Client, fake: FakeUpstream, body: dict[str, Any], status: int, message: str, param: str
) -> None:
    response = _post(http, fake, body)
    assert response.status_code == status, response.text
    error = _error(response)
    assert message in error["message"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_unknown_parameter_code_and_auth(http: httpx.Client, fake: FakeUpstream) -> None:
    error = _error(_post(http, fake, {"model": "m", "input": "x", "messages": []}))
    assert error["code"] == "unknown_parameter"
    # Codex's client_metadata is taken although the SDK does not list it.
    assert _post(http, fake, {"model": "m", "input": "x", "client_metadata": {"a": "b"}}).status_code == 200
    missing = http.post(fake.url + "/v1/responses", json={"model": "m", "input": "x"})
    assert missing.status_code == 401 and _error(missing)["code"] == "invalid_api_key"
    bad = http.post(
        fake.url + "/v1/responses/input_tokens", json={"model": "m"}, headers={"Authorization": "x"}
    )
    assert bad.status_code == 401


# -- streams ---------------------------------------------------------------------------------------


def test_stream_event_order_and_sequence(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    fake.push(Script(thinking="Think.", text="Hi there", tool_calls=[WEATHER], usage={"cached_tokens": 2}))
    events = list(
        gpt.responses.create(
            model="gpt-5",
            input="q",
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            include=["reasoning.encrypted_content"],
            stream=True,
        )
    )
    types = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    reasoning = types.index("response.reasoning_summary_part.added")
    text = types.index("response.content_part.added")
    call = types.index("response.function_call_arguments.delta")
    assert reasoning < text < call
    assert types.count("response.output_item.added") == types.count("response.output_item.done") == 3
    assert "response.reasoning_summary_text.done" in types and "response.output_text.done" in types
    assert "response.function_call_arguments.done" in types
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.usage is not None and final.response.usage.input_tokens_details.cached_tokens == 2
    assert final.response.output[0].type == "reasoning" and final.response.output[0].encrypted_content


def test_stream_helper_accumulates(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    fake.push(Script(text="Hello world again", tool_calls=[WEATHER], text_chunks=3))
    with gpt.responses.stream(model="gpt-5", input="q", tools=[WEATHER_TOOL]) as stream:  # type: ignore[list-item]
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Hello world again" and len(deltas) == 3
    assert final.output_text == "Hello world again"
    call = final.output[1]
    assert call.type == "function_call" and orjson.loads(call.arguments) == {"city": "Paris"}


def test_stream_incomplete(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    fake.push(Script(stop_reason="max_output_tokens"))
    events = list(gpt.responses.create(model="gpt-5", input="q", stream=True))
    assert events[-1].type == "response.incomplete"


def test_stream_failures(fake: FakeUpstream, gpt: openai.OpenAI, http: httpx.Client) -> None:
    fake.push(Script(error_event_after=3))
    events = list(gpt.responses.create(model="gpt-5", input="q", stream=True))
    assert [event.type for event in events][-1] == "response.failed"
    failed = events[-1]
    assert failed.type == "response.failed" and failed.sequence_number == 3
    assert failed.response.error is not None and failed.response.error.code == "server_error"
    fake.push(Script(error_event_after=2, error_event_type="error"))
    error = list(gpt.responses.create(model="gpt-5", input="q", stream=True))[-1]
    assert error.type == "error" and error.code == "server_error" and error.sequence_number == 2
    fake.push(Script(cut_after=2))
    with pytest.raises(Exception) as caught:
        list(gpt.responses.create(model="gpt-5", input="q", stream=True))
    assert isinstance(caught.value, (httpx.HTTPError, openai.APIError))
    # end_after: a clean end with no response.completed.
    fake.push(Script(end_after=3))
    raw = http.post(
        fake.url + "/v1/responses", json={"model": "m", "input": "q", "stream": True}, headers=AUTH
    )
    assert raw.text.count("event: ") == 3 and "response.completed" not in raw.text
    fake.push(Script(malformed_after=1))
    raw = http.post(
        fake.url + "/v1/responses", json={"model": "m", "input": "q", "stream": True}, headers=AUTH
    )
    assert raw.text.endswith('"delta": "cu\n\n')


# -- state and the id endpoints --------------------------------------------------------------------


def test_store_previous_response_and_id_endpoints(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    first = gpt.responses.create(model="gpt-5", input="one")
    assert gpt.responses.retrieve(first.id).output_text == first.output_text
    items = gpt.responses.input_items.list(first.id)
    assert [item.type for item in items.data] == ["message"]
    second = gpt.responses.create(model="gpt-5", input="two", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    # The second request was judged on the whole history: answering the first's call works.
    fake.push(Script(tool_calls=[WEATHER]))
    third = gpt.responses.create(
        model="gpt-5", input="weather", previous_response_id=second.id, tools=[WEATHER_TOOL]
    )  # type: ignore[list-item]
    call_id = third.output[0].call_id  # type: ignore[union-attr]
    fourth = gpt.responses.create(
        model="gpt-5",
        previous_response_id=third.id,
        input=[{"type": "function_call_output", "call_id": call_id, "output": "sunny"}],
    )
    assert fourth.status == "completed"
    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        gpt.responses.create(model="gpt-5", previous_response_id=third.id, input="ignore it")
    # store=false keeps nothing.
    unkept = gpt.responses.create(model="gpt-5", input="x", store=False)
    with pytest.raises(openai.NotFoundError, match="not found"):
        gpt.responses.retrieve(unkept.id)
    with pytest.raises(openai.BadRequestError, match="background=true"):
        gpt.responses.cancel(first.id)
    gpt.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        gpt.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        gpt.responses.input_items.list(first.id)
    count = gpt.responses.input_tokens.count(model="gpt-5", input="hello there")
    assert count.input_tokens == prompt_tokens_estimate({"input": "hello there"})


def test_input_items_and_parts(fake: FakeUpstream, gpt: openai.OpenAI) -> None:
    content: list[Any] = [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
    ]
    response = gpt.responses.create(
        model="gpt-5",
        input=[
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": content},
            {"role": "assistant", "content": "earlier answer"},
            {"role": "user", "content": "and now?"},
        ],
    )
    listed = gpt.responses.input_items.list(response.id, order="asc", limit=2)
    assert len(listed.data) == 2 and listed.has_more
    assert all(item.id for item in listed.data)


def test_azure_serves_responses(azure: FakeUpstream, http: httpx.Client) -> None:
    key = {"api-key": "k"}
    v1 = http.post(azure.url + "/openai/v1/responses", json={"model": "gpt-5", "input": "x"}, headers=key)
    assert v1.status_code == 200 and v1.json()["object"] == "response"
    preview = http.post(
        azure.url + "/openai/responses?api-version=2025-04-01-preview",
        json={"model": "gpt-5", "input": "x"},
        headers=key,
    )
    assert preview.status_code == 200
    unknown = http.post(azure.url + "/openai/v1/responses", json={"model": "nope", "input": "x"}, headers=key)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "DeploymentNotFound"
    denied = http.post(azure.url + "/openai/v1/responses", json={"model": "gpt-5", "input": "x"})
    assert denied.status_code == 401
    stored = http.get(azure.url + f"/openai/v1/responses/{v1.json()['id']}", headers=key)
    assert stored.status_code == 200 and stored.json()["id"] == v1.json()["id"]
    assert http.get(azure.url + f"/openai/v1/responses/{v1.json()['id']}").status_code == 401
    assert http.get(azure.url + f"/openai/v1/responses/{v1.json()['id']}", headers=AUTH).status_code == 401
    count = http.post(
        azure.url + "/openai/v1/responses/input_tokens", json={"model": "gpt-5", "input": "x"}, headers=key
    )
    assert count.status_code == 200 and count.json()["object"] == "response.input_tokens"


def test_every_event_and_answer_validates_against_the_sdk_types(
    http: httpx.Client, fake: FakeUpstream
) -> None:
    # The SDK's pydantic models, strict about required fields and literal types: what the fake sends must
    # parse as the documented union member of its own `type`.
    events_adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
    body = {"model": "m", "input": "q", "tools": [WEATHER_TOOL], "include": ["reasoning.encrypted_content"]}
    script = Script(thinking="T", text="hi there", tool_calls=[WEATHER], stop_reason="max_output_tokens")
    fake.push(script, script, Script(error_event_after=3))
    Response.model_validate(_post(http, fake, body).json())
    for stream_body in ({**body, "stream": True}, {"model": "m", "input": "q", "stream": True}):
        raw = _post(http, fake, stream_body).text
        frames = [frame for frame in raw.split("\n\n") if frame]
        for frame in frames:
            name, data = frame.split("\n", 1)
            event = events_adapter.validate_json(data.removeprefix("data: "))
            assert name == f"event: {event.type}"
        assert event.type in ("response.incomplete", "response.failed")
