"""The Responses API as a client in front of providers that do not speak it: {responses.create,
responses.stream} x {Anthropic, Claude on Bedrock, Converse on Bedrock, Claude on Vertex, Gemini, OpenAI
Chat Completions} x {text, tool round trip, reasoning, structured output, image, upstream error,
mid-stream failure}, read with the openai SDK's own objects and stream helpers (which check the event
order and identities), through a real gateway against the strict fakes. Each test also checks what the
fake received: the target's own request shape, nothing of the Responses API in it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import GatewayFactory, openai_client
from tests.e2e.conftest import every_provider
from tests.fakes.anthropic_wire import thinking_signature
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "bedrock": "br-claude",  # Claude through InvokeModel
    "converse": "br-llama",  # Bedrock's Converse API
    "vertex": "vx-claude",  # Claude through rawPredict
    "gemini": "gemini-2.5-flash",
    "openai": "gpt-5.2",  # OpenAI Chat Completions (the Responses endpoint is another branch's)
}
UPSTREAMS = tuple(MODELS)
CLAUDE = ("anthropic", "bedrock", "vertex")  # targets that return signed thinking
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
# What only the Responses API has: none of it may reach a translated target.
RESPONSES_ONLY = {
    "input",
    "instructions",
    "max_output_tokens",
    "text",
    "reasoning",
    "include",
    "previous_response_id",
    "truncation",
    "prompt_cache_key",
    "client_metadata",
    "safety_identifier",
}
RESPONSES_WORDS = (b'"input_text"', b'"input_image"', b'"function_call_output"', b'"encrypted_content"')


@pytest.fixture
def gw(make_gateway: GatewayFactory, ups: dict[str, FakeUpstream], tmp_path: Path) -> GatewayServer:
    return every_provider(make_gateway, ups, tmp_path, vertex_gemini="gemini-2.5-flash")


def sdk(gw: GatewayServer) -> openai.OpenAI:
    return openai_client(gw, key="client-key")


def model_body(up: FakeUpstream) -> tuple[dict[str, Any], bytes]:
    """The last model call the fake received (its JSON body and raw bytes), Bedrock's signed ones too."""
    calls = [r for r in up.requests if r.method == "POST" and r.json is not None]
    assert calls, "the fake received no model call"
    return calls[-1].json, calls[-1].body


def assert_clean(up: FakeUpstream, upstream: str) -> dict[str, Any]:
    body, raw = model_body(up)
    leaked = RESPONSES_ONLY & set(body)
    if upstream != "openai":
        leaked |= {"store", "parallel_tool_calls"} & set(body)
    assert not leaked, f"Responses-only fields reached {upstream}: {leaked}"
    assert not any(word in raw for word in RESPONSES_WORDS), raw[:400]
    return body


def run(client: openai.OpenAI, stream: bool, **kwargs: Any) -> tuple[Any, list[Any]]:
    """One call; the final Response and, for a stream, every event the SDK's helper read."""
    if not stream:
        return client.responses.create(**kwargs), []
    events: list[Any] = []
    with client.responses.stream(**kwargs) as s:
        events.extend(s)
        final = s.get_final_response()
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events))), numbers
    return final, events


CELLS = [(u, s) for u in UPSTREAMS for s in (False, True)]
IDS = [f"{u}-{'stream' if s else 'create'}" for u, s in CELLS]


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_text(gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str, stream: bool) -> None:
    ups[upstream].push(Script(text="Paris is the capital of France.", text_chunks=4))
    final, events = run(
        sdk(gw),
        stream,
        model=MODELS[upstream],
        instructions="Answer briefly.",
        input="What is the capital of France?",
        max_output_tokens=200,
        store=False,
        prompt_cache_key="k1",
        truncation="disabled",
    )
    assert final.output_text == "Paris is the capital of France."
    assert final.id.startswith("resp_gw") and final.status == "completed" and final.object == "response"
    assert final.model == MODELS[upstream] and final.instructions == "Answer briefly."
    assert final.usage is not None and final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
    [item] = final.output
    assert item.type == "message" and item.id.startswith("msg_") and item.status == "completed"
    if stream:
        kinds = [e.type for e in events]
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert kinds[2:4] == ["response.output_item.added", "response.content_part.added"]
        assert kinds[-4:] == [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        assert len(deltas) > 1 and "".join(deltas) == final.output_text
    body = assert_clean(ups[upstream], upstream)
    if upstream in ("anthropic", "bedrock", "vertex"):
        assert body["max_tokens"] == 200 and body["system"][0]["text"] == "Answer briefly."
    rec = gw.records(1)[-1]
    assert rec["status"] == 200 and rec["input_tokens"] is not None and rec["error"] is None


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_tool_round_trip(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str, stream: bool
) -> None:
    up = ups[upstream]
    up.push(Script(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]), Script(text="Sunny."))
    client = sdk(gw)
    ask = {"role": "user", "content": "Weather in Paris?"}
    first, events = run(client, stream, model=MODELS[upstream], input=[ask], tools=[WEATHER])
    [call] = [i for i in first.output if i.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("fc_") and call.call_id and call.status == "completed"
    if stream:
        done = [e for e in events if e.type == "response.function_call_arguments.done"]
        assert [json.loads(e.arguments) for e in done] == [{"city": "Paris"}]
        deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        assert json.loads(deltas) == {"city": "Paris"}
    history = [ask, *[i.model_dump(exclude_none=True) for i in first.output]]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"})
    second, _ = run(client, stream, model=MODELS[upstream], input=history, tools=[WEATHER])
    assert second.output_text == "Sunny."
    body, raw = model_body(up)
    assert_clean(up, upstream)
    assert b"sunny, 21C" in raw
    if upstream in CLAUDE:
        use = body["messages"][1]["content"][-1]
        result = body["messages"][2]["content"][0]
        assert use["type"] == "tool_use" and result == {
            "type": "tool_result",
            "tool_use_id": use["id"],
            "content": "sunny, 21C",
        }
        assert use["id"] == call.call_id and body["tools"][0]["strict"] is True


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("upstream", CLAUDE)
def test_reasoning_round_trips_the_signature(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str, stream: bool
) -> None:
    up = ups[upstream]
    up.push(Script(thinking="Let me think about France.", text="Paris."), Script(text="Yes."))
    client = sdk(gw)
    settings: dict[str, Any] = {
        "model": MODELS[upstream],
        "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
    }
    ask = {"role": "user", "content": "Capital of France?"}
    first, events = run(client, stream, input=[ask], **settings)
    reasoning, message = first.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert [s.text for s in reasoning.summary] == ["Let me think about France."]
    assert reasoning.encrypted_content and reasoning.encrypted_content.startswith("gwr1:anthropic:")
    assert message.type == "message" and first.output_text == "Paris."
    sent = assert_clean(up, upstream)
    assert sent["thinking"]["type"] in ("enabled", "adaptive")
    if stream:
        summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
        assert summary == "Let me think about France."
        kinds = [e.type for e in events]
        assert kinds.index("response.reasoning_summary_part.added") < kinds.index(
            "response.reasoning_summary_text.done"
        )
    history = [
        ask,
        *[i.model_dump(exclude_none=True) for i in first.output],
        {"role": "user", "content": "Sure?"},
    ]
    second, _ = run(client, stream, input=history, **settings)
    assert second.output_text == "Yes."
    body = assert_clean(up, upstream)
    replayed = body["messages"][1]["content"][0]
    assert replayed == {
        "type": "thinking",
        "thinking": "Let me think about France.",
        "signature": thinking_signature("Let me think about France."),
    }


def test_reasoning_from_another_family_is_not_sent(gw: GatewayServer, ups: dict[str, FakeUpstream]) -> None:
    """Carried Anthropic reasoning (and OpenAI's own encrypted_content) never reaches Gemini."""
    ups["anthropic"].push(Script(thinking="Hmm.", text="Paris."))
    client = sdk(gw)
    first = client.responses.create(
        model=MODELS["anthropic"],
        input="Capital?",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    foreign = {"type": "reasoning", "id": "rs_x", "summary": [], "encrypted_content": "gAAAAopenai-own"}
    history = [
        {"role": "user", "content": "Capital?"},
        foreign,
        *[i.model_dump(exclude_none=True) for i in first.output],
        {"role": "user", "content": "Sure?"},
    ]
    ups["gemini"].push(Script(text="Yes."))
    assert client.responses.create(model=MODELS["gemini"], input=history).output_text == "Yes."
    _, raw = model_body(ups["gemini"])
    assert b"Hmm." not in raw and b"sig-" not in raw and b"gAAAA" not in raw


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_structured_output(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str, stream: bool
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    ups[upstream].push(Script(text='{"city": "Paris"}'))
    fmt = {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
    final, _ = run(sdk(gw), stream, model=MODELS[upstream], input="Capital?", text={"format": fmt})
    assert json.loads(final.output_text) == {"city": "Paris"}
    assert final.text is not None and final.text.format.type == "json_schema"
    body = assert_clean(ups[upstream], upstream)
    if upstream in CLAUDE:
        assert body["output_config"]["format"] == {"type": "json_schema", "schema": schema}
    elif upstream == "openai":
        assert body["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_image(gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str, stream: bool) -> None:
    ups[upstream].push(Script(text="A pixel."))
    content = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
    ]
    final, _ = run(sdk(gw), stream, model=MODELS[upstream], input=[{"role": "user", "content": content}])
    assert final.output_text == "A pixel."
    _, raw = model_body(ups[upstream])
    assert_clean(ups[upstream], upstream)
    assert PNG.encode() in raw or base64.b64decode(PNG) in raw


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_upstream_error(gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str, stream: bool) -> None:
    ups[upstream].push(Script(status=429))
    with pytest.raises(openai.RateLimitError) as caught:
        run(sdk(gw), stream, model=MODELS[upstream], input="Hi")
    assert caught.value.status_code == 429
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "rate_limit_error" and body["message"]


@pytest.mark.parametrize("failure", ["error_event", "cut"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_mid_stream_failure(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str, failure: str
) -> None:
    script = Script(text="one two three four five six", text_chunks=6)
    if failure == "error_event":
        script.error_event_after = 3
    else:
        script.cut_after = 3
    ups[upstream].push(script)
    events: list[Any] = []
    with (
        pytest.raises((openai.APIError, RuntimeError)),
        sdk(gw).responses.stream(model=MODELS[upstream], input="Count.") as s,
    ):
        for event in s:
            events.append(event)
        s.get_final_response()  # no response.completed: the helper raises
    kinds = [e.type for e in events]
    assert "response.completed" not in kinds
    assert kinds[-1] == "error" and kinds[-2] == "response.failed", kinds
    failed = events[-2].response
    assert failed.status == "failed" and failed.error is not None and failed.error.message
    assert failed.id == events[0].response.id


def test_namespace_and_custom_tools(gw: GatewayServer, ups: dict[str, FakeUpstream]) -> None:
    """Codex's shapes: a namespace groups functions (flattened for the target, restored in the output);
    a custom tool takes one string; web_search goes to Anthropic's server tool."""
    tools = [
        {
            "type": "namespace",
            "name": "crm",
            "description": "Customer records",
            "tools": [
                {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
            ],
        },
        {
            "type": "custom",
            "name": "apply_patch",
            "description": "Apply a patch",
            "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
        },
        {"type": "web_search"},
    ]
    calls = [
        {"name": "crm__lookup", "input": {"id": 7}},
        {"name": "apply_patch", "input": {"input": "*** Begin Patch"}},
    ]
    ups["anthropic"].push(Script(tool_calls=calls), Script(tool_calls=calls))
    client = sdk(gw)
    for stream in (False, True):
        final, _ = run(client, stream, model=MODELS["anthropic"], input="Go", tools=tools)
        lookup, patch = final.output
        assert (lookup.type, lookup.name, lookup.namespace) == ("function_call", "lookup", "crm")
        assert (patch.type, patch.name, patch.input) == ("custom_tool_call", "apply_patch", "*** Begin Patch")
        body = assert_clean(ups["anthropic"], "anthropic")
        names = [t["name"] for t in body["tools"]]
        assert names == ["crm__lookup", "apply_patch", "web_search"]
        assert "start: /.+/" in body["tools"][1]["description"]
        assert body["tools"][2]["type"] == "web_search_20250305"
    # Without web search on the target (Gemini), the tool is dropped, not refused: Codex must work.
    ups["gemini"].push(Script(text="ok"))
    assert client.responses.create(model=MODELS["gemini"], input="Go", tools=tools).output_text == "ok"


@pytest.mark.parametrize(
    ("param", "value"),
    [("background", True), ("conversation", "conv_1"), ("top_logprobs", 3)],
)
def test_inexpressible_parameters_are_a_400_before_any_call(
    gw: GatewayServer, ups: dict[str, FakeUpstream], param: str, value: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gw).responses.create(model=MODELS["anthropic"], input="Hi", **{param: value})
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == param
    assert not [r for r in ups["anthropic"].requests if r.method == "POST"]


def test_wrong_type_is_a_400_naming_the_field(gw: GatewayServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gw).responses.create(model=MODELS["anthropic"], input="Hi", max_output_tokens="many")  # type: ignore[arg-type]
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "max_output_tokens"


@pytest.mark.parametrize("upstream", ["anthropic", "gemini", "converse", "openai"])
def test_a_codex_shaped_session(gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str) -> None:
    """What Codex sends (streamed, store false, whole history each turn with its own message ids,
    reasoning summaries and encrypted content, prompt_cache_key, client_metadata, a namespace and a
    web_search tool), two turns with a shell tool round trip."""
    exec_command = {
        "type": "function",
        "name": "exec_command",
        "description": "Run a shell command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
        "strict": False,
    }
    namespace = {
        "type": "namespace",
        "name": "mcp__files",
        "description": "File tools",
        "tools": [{"type": "function", "name": "read", "parameters": {"type": "object", "properties": {}}}],
    }
    settings: dict[str, Any] = {
        "model": MODELS[upstream],
        "instructions": "You are Codex.",
        "tools": [exec_command, namespace, {"type": "web_search", "external_web_access": False}],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0b9c-session",
        "text": {"verbosity": "low"},
        "extra_body": {"client_metadata": {"x-codex-turn": "1"}},
    }
    history: list[dict[str, Any]] = [
        {
            "type": "message",
            "id": "msg_c1",
            "role": "developer",
            "content": [{"type": "input_text", "text": "Sandbox: on."}],
        },
        {
            "type": "message",
            "id": "msg_c2",
            "role": "user",
            "content": [{"type": "input_text", "text": "List files."}],
        },
    ]
    up = ups[upstream]
    up.push(
        Script(thinking="I should run ls.", tool_calls=[{"name": "exec_command", "input": {"cmd": "ls"}}]),
        Script(text="Two files."),
    )
    client = sdk(gw)
    first, events = run(client, True, input=history, **settings)
    [call] = [i for i in first.output if i.type == "function_call"]
    assert call.name == "exec_command" and json.loads(call.arguments) == {"cmd": "ls"}
    assert any(e.type == "response.function_call_arguments.delta" for e in events)
    body = assert_clean(up, upstream)
    assert b"Sandbox: on." in model_body(up)[1]
    if upstream == "anthropic":
        assert [t["name"] for t in body["tools"]] == ["exec_command", "mcp__files__read", "web_search"]
    history += [i.model_dump(exclude_none=True) for i in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "a.txt\nb.txt"})
    second, _ = run(client, True, input=history, **settings)
    assert second.output_text == "Two files." and second.status == "completed"
    body, raw = model_body(up)
    assert_clean(up, upstream)
    assert b"a.txt\\nb.txt" in raw
    if upstream == "anthropic":
        turn = body["messages"][1]["content"]
        assert [b["type"] for b in turn] == ["thinking", "tool_use"]
        assert turn[0]["signature"] == thinking_signature("I should run ls.")
