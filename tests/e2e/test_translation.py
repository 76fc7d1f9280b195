"""Any client to any provider: {anthropic, openai SDK} x {anthropic, openai, gemini, Claude on Bedrock,
Converse on Bedrock, Claude on Vertex, Gemini on Vertex, Azure OpenAI, an OpenAI-compatible preset}
x {plain, stream}.

Each cell runs through a real gateway over loopback against fake upstreams that validate requests as
strictly as the real APIs (the cloud fakes check SigV4 signatures and OAuth tokens as AWS and Google
do); streams are read with the SDKs' own stream helpers.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests import sse_wire
from tests.conftest import GatewayFactory, anthropic_client, openai_client
from tests.e2e.conftest import every_provider
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

MODELS = {
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-5.2",
    "gemini": "gemini-2.5-flash",
    "bedrock": "br-claude",  # InvokeModel
    "converse": "br-llama",  # Bedrock's Converse API
    "vertex": "vx-claude",  # rawPredict
    "vertex-gemini": "vx-gemini",  # generateContent on Vertex
    "azure": "az-gpt",  # Azure OpenAI deployment
    "groq": "groq-llama",  # an OpenAI-compatible preset (against the OpenAI fake)
}
UPSTREAMS = tuple(MODELS)
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME_TOOL = {
    "name": "get_time",
    "description": "Time in a zone",
    "schema": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
}
CALLS = [{"name": "get_weather", "input": {"city": "Paris"}}, {"name": "get_time", "input": {"tz": "CET"}}]


@pytest.fixture
def gw(make_gateway: GatewayFactory, ups: dict[str, FakeUpstream], tmp_path: Path) -> GatewayServer:
    return every_provider(make_gateway, ups, tmp_path, vertex_gemini="gemini-2.5-flash")


def anthropic_tools() -> list[dict[str, Any]]:
    return [
        {"name": t["name"], "description": t["description"], "input_schema": t["schema"]}
        for t in (WEATHER_TOOL, TIME_TOOL)
    ]


def openai_tools() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t["name"], "description": t["description"], "parameters": t["schema"]},
        }
        for t in (WEATHER_TOOL, TIME_TOOL)
    ]


# -- a small uniform driver over both SDKs -----------------------------------------------------------------


def call(
    gw: GatewayServer,
    client: str,
    upstream: str,
    *,
    stream: bool,
    content: Any = "What is the capital?",
    tools: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One call; returns text, tool calls, stop reason and usage, read from the SDK's own objects."""
    model = MODELS[upstream]
    extra = extra or {}
    if client == "anthropic":
        sdk = anthropic_client(gw, key="client-key")
        kwargs: dict[str, Any] = {
            "model": model,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": content}],
            **extra,
        }
        if tools:
            kwargs["tools"] = anthropic_tools()
        if stream:
            with sdk.messages.stream(**kwargs) as s:
                msg = s.get_final_message()
        else:
            msg = sdk.messages.create(**kwargs)
        return {
            "text": "".join(b.text for b in msg.content if b.type == "text"),
            "thinking": [b for b in msg.content if b.type == "thinking"],
            "tool_calls": [(b.name, b.input) for b in msg.content if b.type == "tool_use"],
            "tool_ids": [b.id for b in msg.content if b.type == "tool_use"],
            "stop": msg.stop_reason,
            "usage": (msg.usage.input_tokens, msg.usage.output_tokens),
        }
    osdk = openai_client(gw, key="client-key")
    okwargs: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    if tools:
        okwargs["tools"] = openai_tools()
    if stream:
        with osdk.chat.completions.stream(**okwargs, stream_options={"include_usage": True}) as s:
            done = s.get_final_completion()
    else:
        done = osdk.chat.completions.create(**okwargs)
    message = done.choices[0].message
    calls = message.tool_calls or []
    return {
        "text": message.content or "",
        "thinking": [],
        "tool_calls": [(c.function.name, json.loads(c.function.arguments)) for c in calls],  # type: ignore[union-attr]
        "tool_ids": [c.id for c in calls],
        "stop": done.choices[0].finish_reason,
        "usage": (done.usage.prompt_tokens, done.usage.completion_tokens) if done.usage else None,
    }


CELLS = [(c, u, s) for c in ("anthropic", "openai") for u in UPSTREAMS for s in (False, True)]
IDS = [f"{c}-sdk->{u}-{'stream' if s else 'plain'}" for c, u, s in CELLS]


@pytest.mark.parametrize(("client", "upstream", "stream"), CELLS, ids=IDS)
def test_text(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: str, upstream: str, stream: bool
) -> None:
    ups[upstream].push(Script(text="Paris is the capital of France.", text_chunks=4))
    out = call(gw, client, upstream, stream=stream)
    assert out["text"] == "Paris is the capital of France."
    assert out["stop"] in ("end_turn", "stop")
    assert out["usage"] is not None and out["usage"][0] > 0 and out["usage"][1] > 0
    rec = gw.records(1)[-1]
    assert rec["status"] == 200 and rec["input_tokens"] is not None and rec["error"] is None


@pytest.mark.parametrize(("client", "upstream", "stream"), CELLS, ids=IDS)
def test_parallel_tool_calls(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: str, upstream: str, stream: bool
) -> None:
    ups[upstream].push(Script(tool_calls=CALLS))
    out = call(gw, client, upstream, stream=stream, tools=True)
    assert out["tool_calls"] == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    assert out["stop"] in ("tool_use", "tool_calls")
    assert all(out["tool_ids"]) and len(set(out["tool_ids"])) == 2


@pytest.mark.parametrize(("client", "upstream", "stream"), CELLS, ids=IDS)
def test_tool_round_trip_keeps_ids(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: str, upstream: str, stream: bool
) -> None:
    ups[upstream].push(Script(tool_calls=CALLS[:1]), Script(text="It is sunny."))
    first = call(gw, client, upstream, stream=stream, tools=True)
    (name, args), call_id = first["tool_calls"][0], first["tool_ids"][0]
    model = MODELS[upstream]
    if client == "anthropic":
        sdk = anthropic_client(gw)
        msg = sdk.messages.create(
            model=model,
            max_tokens=100,
            tools=anthropic_tools(),
            messages=[  # type: ignore[arg-type]
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": call_id, "name": name, "input": args}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "sunny, 21C"}],
                },
            ],
        )
        text = msg.content[0].text  # type: ignore[union-attr]
    else:
        osdk = openai_client(gw)
        done = osdk.chat.completions.create(
            model=model,
            tools=openai_tools(),
            messages=[  # type: ignore[arg-type]
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args)},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21C"},
            ],
        )
        text = done.choices[0].message.content
    assert text == "It is sunny."
    sent = ups[upstream].requests[-1].body.decode()
    assert "sunny, 21C" in sent  # the tool result reached the upstream in its own format


@pytest.mark.parametrize(("client", "upstream"), [(c, u) for c in ("anthropic", "openai") for u in UPSTREAMS])
def test_images_reach_the_upstream_in_its_format(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: str, upstream: str
) -> None:
    if client == "anthropic":
        content: Any = [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ]
    else:
        content = [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        ]
    out = call(gw, client, upstream, stream=False, content=content)
    assert out["text"]
    sent = ups[upstream].requests[-1].json
    blob = json.dumps(sent)
    assert PNG in blob
    if upstream in ("gemini", "vertex-gemini"):
        assert "inlineData" in blob
    elif upstream == "converse":
        assert '"image": {"format": "png"' in blob
    elif upstream in ("openai", "azure", "groq"):
        assert f"data:image/png;base64,{PNG}" in blob


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_round_trips_signatures_only_to_anthropic(
    gw: GatewayServer, ups: dict[str, FakeUpstream], stream: bool
) -> None:
    ups["anthropic"].push(Script(thinking="Let me think.", text="42"))
    out = call(
        gw,
        "anthropic",
        "anthropic",
        stream=stream,
        extra={"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048},
    )
    assert out["thinking"][0].thinking == "Let me think." and out["thinking"][0].signature
    # The OpenAI client gets the reasoning as text; thinking settings become reasoning_effort upstream.
    call(
        gw,
        "anthropic",
        "openai",
        stream=stream,
        extra={"thinking": {"type": "enabled", "budget_tokens": 4096}, "max_tokens": 8192},
    )
    assert ups["openai"].requests[-1].json.get("reasoning_effort")
    call(
        gw,
        "anthropic",
        "gemini",
        stream=stream,
        extra={"thinking": {"type": "enabled", "budget_tokens": 4096}, "max_tokens": 8192},
    )
    assert "thinkingConfig" in ups["gemini"].requests[-1].json.get("generationConfig", {})


@pytest.mark.parametrize(
    ("client", "upstream"),
    [("anthropic", "openai"), ("anthropic", "gemini"), ("openai", "anthropic"), ("openai", "gemini")],
)
def test_structured_output(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: str, upstream: str
) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    ups[upstream].push(Script(text='{"answer": "Paris"}'))
    if client == "anthropic":
        extra: dict[str, Any] = {
            "extra_body": {"output_config": {"format": {"type": "json_schema", "schema": schema}}}
        }
    else:
        extra = {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": schema, "strict": True},
            }
        }
    out = call(gw, client, upstream, stream=False, extra=extra)
    assert json.loads(out["text"]) == {"answer": "Paris"}
    sent = ups[upstream].requests[-1].json
    if upstream == "openai":
        assert sent["response_format"]["type"] == "json_schema"
    elif upstream == "gemini":
        assert sent["generationConfig"]["responseMimeType"] == "application/json"
    else:
        assert sent["output_config"]["format"]["schema"]["required"] == ["answer"]


@pytest.mark.parametrize(("client", "upstream", "stream"), CELLS, ids=IDS)
def test_upstream_errors_keep_status_and_meaning(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: str, upstream: str, stream: bool
) -> None:
    ups[upstream].push(Script(status=429, error_message="slow down please"))
    error = anthropic.RateLimitError if client == "anthropic" else openai.RateLimitError
    with pytest.raises(error) as info:
        call(gw, client, upstream, stream=stream)
    assert "slow down please" in str(info.value)
    ups[upstream].push(Script(status=400, error_message="bad field x"))
    bad = anthropic.BadRequestError if client == "anthropic" else openai.BadRequestError
    with pytest.raises(bad):
        call(gw, client, upstream, stream=stream)


# Same-format pairs forward the stream as it is; every other pair (and Bedrock's event-stream framing,
# which is always decoded) must turn a cut stream into an error.
PASSTHROUGH = {
    ("anthropic", "anthropic"),
    ("anthropic", "vertex"),
    ("openai", "openai"),
    ("openai", "azure"),
    ("openai", "groq"),
}


@pytest.mark.parametrize(
    ("client", "upstream"),
    [(c, u) for c in ("anthropic", "openai") for u in UPSTREAMS if (c, u) not in PASSTHROUGH],
)
def test_mid_stream_failure_is_an_error_never_a_clean_end(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: str, upstream: str
) -> None:
    # Through the SDK: its own API error, not a stray exception from a half-read stream.
    ups[upstream].push(Script(cut_after=2, text_chunks=6))
    error = anthropic.APIError if client == "anthropic" else openai.APIError
    with pytest.raises(error):
        call(gw, client, upstream, stream=True)
    assert gw.records(1)[-1]["error"]
    # On the wire: the stream began (200), ends with the client format's error event, never a clean end.
    ups[upstream].push(Script(cut_after=2, text_chunks=6))
    raw = sse_wire.stream(gw.url, client, MODELS[upstream])
    assert raw.status == 200
    assert sse_wire.assert_ends_with_error(raw.events, client)["message"]
    assert gw.records(2)[-1]["error"]


def test_count_tokens_for_every_provider(gw: GatewayServer, ups: dict[str, FakeUpstream]) -> None:
    sdk = anthropic_client(gw)
    messages: Any = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]
    counts = {}
    for upstream, model in MODELS.items():
        counts[upstream] = sdk.messages.count_tokens(model=model, messages=messages).input_tokens
        assert counts[upstream] > 0
    assert ups["gemini"].requests[-1].path.endswith(":countTokens")
    raw = sdk.messages.with_raw_response.count_tokens(model=MODELS["openai"], messages=messages)
    assert raw.headers["x-gateway-token-count"] == "estimate"
    assert ups["openai"].requests == []  # estimated locally, offline
