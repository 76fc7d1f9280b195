"""The Responses API as a client in front of every kind of provider: {responses.create,
responses.stream} x {Anthropic, Claude on Bedrock, Converse on Bedrock, Claude on Vertex, Gemini, OpenAI
Chat Completions, OpenAI's Responses API} x {text, tool round trip, reasoning, structured output, image,
upstream error, mid-stream failure}, read with the openai SDK's own objects and stream helpers (which
check the event order and identities), through a real gateway against the strict fakes.

Each test also checks what the fake received. A translated target gets its own request shape, nothing
of the Responses API in it. The same-format target (`openai-responses`, a `type: openai` server of
/v1/responses) gets the SDK's bytes with only `model` rewritten, and the SDK reads the fake's own answer
and events (ids, sequence numbers, encrypted reasoning), not a rendering of the gateway's.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory, openai_client
from tests.e2e.conftest import every_provider
from tests.fakes.anthropic_wire import thinking_signature
from tests.fakes.responses_wire import ENCRYPTED_PREFIX
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "bedrock": "br-claude",  # Claude through InvokeModel
    "converse": "br-llama",  # Bedrock's Converse API
    "vertex": "vx-claude",  # Claude through rawPredict
    "gemini": "gemini-2.5-flash",
    "openai": "gpt-5.2",  # OpenAI Chat Completions
    "openai-responses": "rx-gpt",  # OpenAI's Responses API: same format (`gpt-5.2` upstream)
}
UPSTREAMS = tuple(MODELS)
SAME = "openai-responses"
SAME_UPSTREAM_MODEL = "gpt-5.2"
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
    # `openai` here is the Chat Completions target ("R -> O"); `openai-rx` serves the Responses API.
    return every_provider(
        make_gateway,
        ups,
        tmp_path,
        vertex_gemini="gemini-2.5-flash",
        openai_responses=False,
        responses_provider=True,
    )


class Respaced(httpx.HTTPTransport):
    """Sends each JSON body the SDK makes re-encoded with indents (the same JSON), and keeps it in `sent`:
    the SDK's own compact encoding is what a gateway re-serializing the body would produce too, so only
    a spelling like this one shows that the same-format target got the very bytes."""

    def __init__(self, sent: list[bytes]) -> None:
        super().__init__()
        self.sent = sent

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.dumps(json.loads(request.read()), indent=1).encode()
            headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
            request = httpx.Request(request.method, request.url, headers=headers, content=body)
            self.sent.append(body)
        return super().handle_request(request)


@pytest.fixture
def sent() -> list[bytes]:
    """The request bodies the client sent, as bytes, in order."""
    return []


@pytest.fixture
def client(gw: GatewayServer, sent: list[bytes]) -> openai.OpenAI:
    return openai_client(gw, key="client-key", http_client=httpx.Client(transport=Respaced(sent)))


def model_body(up: FakeUpstream) -> tuple[dict[str, Any], bytes]:
    """The last model call the fake received (its JSON body and raw bytes), Bedrock's signed ones too."""
    calls = [r for r in up.requests if r.method == "POST" and r.json is not None]
    assert calls, "the fake received no model call"
    return calls[-1].json, calls[-1].body


def assert_clean(up: FakeUpstream, upstream: str) -> dict[str, Any]:
    assert upstream != SAME
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


def sse_data(raw: bytes) -> list[dict[str, Any]]:
    """The JSON of each event in an SSE body (the fake's event: lines aside)."""
    frames = [frame for frame in raw.split(b"\n\n") if frame.strip()]
    return [json.loads(frame.split(b"data: ", 1)[1]) for frame in frames]


def assert_carries(seen: Any, sent: Any, where: str = "") -> None:
    """`seen` (what the SDK read) holds every value `sent` (the fake's JSON) has; the SDK's helpers add
    fields of their own (`snapshot`, `parsed`), never change one."""
    if isinstance(sent, dict):
        assert isinstance(seen, dict), where
        for key, value in sent.items():
            assert key in seen, f"{where}.{key} missing"
            assert_carries(seen[key], value, f"{where}.{key}")
    elif isinstance(sent, list):
        assert isinstance(seen, list) and len(seen) == len(sent), where
        for index, (a, b) in enumerate(zip(seen, sent, strict=True)):
            assert_carries(a, b, f"{where}[{index}]")
    else:
        assert seen == sent, f"{where}: {seen!r} != {sent!r}"


def check_upstream(
    up: FakeUpstream, upstream: str, sent: list[bytes], final: Any, events: list[Any]
) -> dict[str, Any]:
    """What the target received, and for the same-format target what the SDK read; returns the body."""
    if upstream != SAME:
        return assert_clean(up, upstream)
    body, raw = model_body(up)
    client_model = f'"model": "{MODELS[SAME]}"'.encode()
    assert sent[-1].count(client_model) == 1, sent[-1][:200]
    assert raw == sent[-1].replace(client_model, f'"model": "{SAME_UPSTREAM_MODEL}"'.encode())
    assert up.requests[-1].headers["authorization"] == "Bearer rx-stored-key"  # never the client's key
    if events:
        answer = sse_data(up.streams[-1])
        assert_carries([e.to_dict(warnings=False) for e in events], answer)
        assert answer[-1]["type"] == "response.completed"
        assert_carries(final.to_dict(warnings=False), answer[-1]["response"])
    else:
        assert final.to_dict(warnings=False) == json.loads(up.answers[-1].body)
    return body


CELLS = [(u, s) for u in UPSTREAMS for s in (False, True)]
IDS = [f"{u}-{'stream' if s else 'create'}" for u, s in CELLS]


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_text(
    gw: GatewayServer,
    ups: dict[str, FakeUpstream],
    client: openai.OpenAI,
    sent: list[bytes],
    upstream: str,
    stream: bool,
) -> None:
    ups[upstream].push(Script(text="Paris is the capital of France.", text_chunks=4))
    final, events = run(
        client,
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
    # The gateway's own id and the client's model name, or the upstream's answer untouched.
    gw_id, model = ("resp_fake", SAME_UPSTREAM_MODEL) if upstream == SAME else ("resp_gw", MODELS[upstream])
    assert final.id.startswith(gw_id) and final.status == "completed" and final.object == "response"
    assert final.model == model and final.instructions == "Answer briefly."
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
    body = check_upstream(ups[upstream], upstream, sent, final, events)
    if upstream in ("anthropic", "bedrock", "vertex"):
        assert body["max_tokens"] == 200 and body["system"][0]["text"] == "Answer briefly."
    rec = gw.records(1)[-1]
    assert rec["status"] == 200 and rec["input_tokens"] is not None and rec["error"] is None


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_tool_round_trip(
    ups: dict[str, FakeUpstream], client: openai.OpenAI, sent: list[bytes], upstream: str, stream: bool
) -> None:
    up = ups[upstream]
    up.push(Script(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]), Script(text="Sunny."))
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
    check_upstream(up, upstream, sent, first, events)
    history = [ask, *[i.model_dump(exclude_none=True) for i in first.output]]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"})
    second, events = run(client, stream, model=MODELS[upstream], input=history, tools=[WEATHER])
    assert second.output_text == "Sunny."
    body = check_upstream(up, upstream, sent, second, events)
    assert b"sunny, 21C" in model_body(up)[1]
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
@pytest.mark.parametrize("upstream", [*CLAUDE, SAME])
def test_reasoning_round_trips_the_signature(
    ups: dict[str, FakeUpstream], client: openai.OpenAI, sent: list[bytes], upstream: str, stream: bool
) -> None:
    """Claude's signed thinking carried in encrypted_content, or OpenAI's own blob, goes back as it came."""
    up = ups[upstream]
    up.push(Script(thinking="Let me think about France.", text="Paris."), Script(text="Yes."))
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
    carrier = ENCRYPTED_PREFIX if upstream == SAME else "gwr1:anthropic:"
    assert reasoning.encrypted_content and reasoning.encrypted_content.startswith(carrier)
    assert message.type == "message" and first.output_text == "Paris."
    asked = check_upstream(up, upstream, sent, first, events)
    if upstream != SAME:
        assert asked["thinking"]["type"] in ("enabled", "adaptive")
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
    second, events = run(client, stream, input=history, **settings)
    assert second.output_text == "Yes."
    body = check_upstream(up, upstream, sent, second, events)
    if upstream == SAME:  # the fake accepts back only a blob it minted (else a 400)
        assert body["input"][1]["encrypted_content"] == reasoning.encrypted_content
        return
    replayed = body["messages"][1]["content"][0]
    assert replayed == {
        "type": "thinking",
        "thinking": "Let me think about France.",
        "signature": thinking_signature("Let me think about France."),
    }


def test_reasoning_from_another_family_is_not_sent(
    ups: dict[str, FakeUpstream], client: openai.OpenAI
) -> None:
    """Carried Anthropic reasoning (and OpenAI's own encrypted_content) never reaches Gemini."""
    ups["anthropic"].push(Script(thinking="Hmm.", text="Paris."))
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
    ups: dict[str, FakeUpstream], client: openai.OpenAI, sent: list[bytes], upstream: str, stream: bool
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    ups[upstream].push(Script(text='{"city": "Paris"}'))
    fmt = {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
    final, events = run(client, stream, model=MODELS[upstream], input="Capital?", text={"format": fmt})
    assert json.loads(final.output_text) == {"city": "Paris"}
    assert final.text is not None and final.text.format.type == "json_schema"
    body = check_upstream(ups[upstream], upstream, sent, final, events)
    if upstream in CLAUDE:
        assert body["output_config"]["format"] == {"type": "json_schema", "schema": schema}
    elif upstream == "openai":
        assert body["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_image(
    ups: dict[str, FakeUpstream], client: openai.OpenAI, sent: list[bytes], upstream: str, stream: bool
) -> None:
    ups[upstream].push(Script(text="A pixel."))
    content = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
    ]
    final, events = run(client, stream, model=MODELS[upstream], input=[{"role": "user", "content": content}])
    assert final.output_text == "A pixel."
    _, raw = model_body(ups[upstream])
    check_upstream(ups[upstream], upstream, sent, final, events)
    assert PNG.encode() in raw or base64.b64decode(PNG) in raw


@pytest.mark.parametrize(("upstream", "stream"), CELLS, ids=IDS)
def test_upstream_error(
    ups: dict[str, FakeUpstream], client: openai.OpenAI, upstream: str, stream: bool
) -> None:
    ups[upstream].push(Script(status=429))
    with pytest.raises(openai.RateLimitError) as caught:
        run(client, stream, model=MODELS[upstream], input="Hi")
    assert caught.value.status_code == 429
    body = caught.value.body
    if upstream == SAME:  # OpenAI's own envelope, as its server wrote it
        assert body == json.loads(ups[SAME].answers[-1].body)["error"]
        assert isinstance(body, dict) and body["code"] == "rate_limit_exceeded"
    else:
        assert isinstance(body, dict) and body["type"] == "rate_limit_error" and body["message"]


FAILURES = [(u, f) for u in UPSTREAMS for f in ("error_event", "cut")] + [(SAME, "error_only")]


@pytest.mark.parametrize(("upstream", "failure"), FAILURES, ids=[f"{u}-{f}" for u, f in FAILURES])
def test_mid_stream_failure(
    ups: dict[str, FakeUpstream], client: openai.OpenAI, upstream: str, failure: str
) -> None:
    """The SDK's helper never sees a clean end: `response.failed` and an `error` event (translated),
    the upstream's own failure event (same format), the gateway's `error` event for a cut."""
    script = Script(text="one two three four five six", text_chunks=6)
    if failure == "cut":
        script.cut_after = 3
    else:
        script.error_event_after = 3
        script.error_event_type = "error" if failure == "error_only" else None
    ups[upstream].push(script)
    events: list[Any] = []
    with (
        pytest.raises((openai.APIError, RuntimeError)),
        client.responses.stream(model=MODELS[upstream], input="Count.") as s,
    ):
        for event in s:
            events.append(event)
        s.get_final_response()  # no response.completed: the helper raises
    kinds = [e.type for e in events]
    assert "response.completed" not in kinds
    if upstream == SAME:
        answer = sse_data(ups[SAME].streams[-1])
        if failure == "cut":  # the fake's three events, then the gateway's word that it broke
            assert_carries([e.to_dict(warnings=False) for e in events[:-1]], answer)
            assert kinds[-1] == "error" and events[-1].message, kinds
        else:  # the fake's events, its failure last, relayed as they came
            assert_carries([e.to_dict(warnings=False) for e in events], answer)
            assert kinds[-1] == ("error" if failure == "error_only" else "response.failed"), kinds
        return
    assert kinds[-1] == "error" and kinds[-2] == "response.failed", kinds
    failed = events[-2].response
    assert failed.status == "failed" and failed.error is not None and failed.error.message
    assert failed.id == events[0].response.id


def test_namespace_and_custom_tools(ups: dict[str, FakeUpstream], client: openai.OpenAI) -> None:
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
    ups: dict[str, FakeUpstream], client: openai.OpenAI, param: str, value: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODELS["anthropic"], input="Hi", **{param: value})
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == param
    assert not [r for r in ups["anthropic"].requests if r.method == "POST"]


def test_wrong_type_is_a_400_naming_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODELS["anthropic"], input="Hi", max_output_tokens="many")  # type: ignore[arg-type]
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "max_output_tokens"


@pytest.mark.parametrize("upstream", ["anthropic", "gemini", "converse", "openai", SAME])
def test_a_codex_shaped_session(
    ups: dict[str, FakeUpstream], client: openai.OpenAI, sent: list[bytes], upstream: str
) -> None:
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
    first, events = run(client, True, input=history, **settings)
    [call] = [i for i in first.output if i.type == "function_call"]
    assert call.name == "exec_command" and json.loads(call.arguments) == {"cmd": "ls"}
    assert any(e.type == "response.function_call_arguments.delta" for e in events)
    body = check_upstream(up, upstream, sent, first, events)
    assert b"Sandbox: on." in model_body(up)[1]
    if upstream == "anthropic":
        # external_web_access: false (cached results only) is no licence for Anthropic's live search.
        assert [t["name"] for t in body["tools"]] == ["exec_command", "mcp__files__read"]
    history += [i.model_dump(exclude_none=True) for i in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "a.txt\nb.txt"})
    second, events = run(client, True, input=history, **settings)
    assert second.output_text == "Two files." and second.status == "completed"
    body = check_upstream(up, upstream, sent, second, events)
    assert b"a.txt\\nb.txt" in model_body(up)[1]
    if upstream == "anthropic":
        turn = body["messages"][1]["content"]
        assert [b["type"] for b in turn] == ["thinking", "tool_use"]
        assert turn[0]["signature"] == thinking_signature("I should run ls.")
