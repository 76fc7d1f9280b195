"""Models served only by OpenAI's Responses API, behind Chat Completions and Anthropic clients.

A Chat Completions or Anthropic client names a Responses-only model (the default families, or a
provider's `responses_models`); the gateway translates client -> hub -> `POST /responses` and the answer
back. The fake Responses endpoint is as strict as the real one (unknown fields, item pairing, reasoning
it did not mint), and answers are read with the SDKs' own stream helpers.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.claude_code import (
    FINAL_TEXT,
    TOOL_COMMAND,
    TOOL_OUTPUT,
    RespondingUpstream,
    describe,
    dump_requests,
    is_model_call,
    main_requests,
    run_claude,
    tool_results,
)
from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.script import RecordedRequest
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

CODEX = "gpt-5.1-codex"  # a default Responses-only family
WEATHER = {"name": "get_weather", "input": {"city": "Paris"}}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ANTHROPIC_TOOL: Any = {"name": "get_weather", "description": "Weather for a city", "input_schema": SCHEMA}
OPENAI_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather for a city", "parameters": SCHEMA},
}
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


@pytest.fixture
def gw(make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> GatewayServer:
    return make_gateway(standard_config(anthropic_up, openai_up))


def _calls(fake: FakeUpstream) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "POST"]


# -- Anthropic client ------------------------------------------------------------------------------


def test_anthropic_client_plain_goes_to_responses(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    openai_up.push(Script(text="Hello from codex.", usage={"input_tokens": 30, "cached_tokens": 10}))
    raw = anthropic_client(gw).messages.with_raw_response.create(
        model=CODEX,
        max_tokens=200,
        system="Be brief.",
        messages=[{"role": "user", "content": "hi"}],
    )
    message = raw.parse()
    # Priced from the translated usage: 20 input, 10 cached, and the default's output tokens.
    assert float(raw.headers["x-gateway-cost-usd"]) > 0
    assert message.content[0].type == "text" and message.content[0].text == "Hello from codex."
    assert message.model == CODEX and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 20 and message.usage.cache_read_input_tokens == 10
    [call] = _calls(openai_up)
    assert call.path == "/v1/responses"
    body = call.json
    assert body["model"] == CODEX and body["instructions"] == "Be brief." and body["store"] is False
    assert body["max_output_tokens"] == 200 and "messages" not in body
    assert call.headers["authorization"] == f"Bearer {STORED_KEY}"
    # count_tokens: the offline estimate, as for other OpenAI models (no upstream call).
    count = anthropic_client(gw).messages.count_tokens(
        model=CODEX, messages=[{"role": "user", "content": "hi"}]
    )
    assert count.input_tokens > 0 and len(_calls(openai_up)) == 1


def test_anthropic_client_stream_with_reasoning_and_tool_round_trip(
    gw: GatewayServer, openai_up: FakeUpstream
) -> None:
    client = anthropic_client(gw)
    openai_up.push(Script(thinking="I should look it up.", tool_calls=[WEATHER]))
    thinking: Any = {"type": "enabled", "budget_tokens": 4096}
    ask: Any = [{"role": "user", "content": "Weather in Paris?"}]
    with client.messages.stream(
        model=CODEX, max_tokens=8000, messages=ask, tools=[ANTHROPIC_TOOL], thinking=thinking
    ) as stream:
        first = stream.get_final_message()
    assert [block.type for block in first.content] == ["thinking", "tool_use"]
    assert first.content[0].type == "thinking" and first.content[0].thinking == "I should look it up."
    assert first.content[0].signature  # the encrypted reasoning, carried for the next turn
    tool = first.content[1]
    assert tool.type == "tool_use" and tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert first.stop_reason == "tool_use"
    body = openai_up.requests[-1].json
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"] and body["stream"] is True

    # The next turn replays the reasoning item; the fake refuses reasoning it did not mint.
    openai_up.push(Script(text="Sunny, 21 degrees."))
    history: Any = [
        *ask,
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "sunny, 21C"}],
        },
    ]
    with client.messages.stream(
        model=CODEX, max_tokens=8000, messages=history, tools=[ANTHROPIC_TOOL], thinking=thinking
    ) as stream:
        second = stream.get_final_message()
    assert second.content[-1].type == "text" and second.content[-1].text == "Sunny, 21 degrees."
    items = openai_up.requests[-1].json["input"]
    assert [item["type"] for item in items] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert items[3]["output"] == "sunny, 21C" and items[3]["call_id"] == items[2]["call_id"]


def test_a_conversation_moves_from_a_responses_model_to_claude_and_back(
    gw: GatewayServer, openai_up: FakeUpstream, anthropic_up: FakeUpstream
) -> None:
    # A model switch (or a fallback) mid tool loop: the carried OpenAI reasoning is not Anthropic's, so it
    # must not reach Claude (the fake refuses signatures it did not issue, as Anthropic does).
    client = anthropic_client(gw)
    thinking: Any = {"type": "enabled", "budget_tokens": 2048}
    ask: Any = [{"role": "user", "content": "Weather?"}]
    openai_up.push(Script(thinking="Look it up.", tool_calls=[WEATHER]))
    first = client.messages.create(
        model=CODEX, max_tokens=4000, messages=ask, tools=[ANTHROPIC_TOOL], thinking=thinking
    )
    tool = first.content[1]
    assert tool.type == "tool_use"
    history: Any = [
        *ask,
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "sunny"}]},
    ]
    for chat in (False, True):
        anthropic_up.push(Script(text="Sunny."))
        if chat:  # an OpenAI client's history, its reasoning in LiteLLM's `thinking_blocks`
            oa = openai_client(gw)
            openai_up.push(Script(thinking="Look it up.", tool_calls=[WEATHER]))
            turn = oa.chat.completions.create(
                model=CODEX,
                messages=[{"role": "user", "content": "Weather?"}],
                tools=[OPENAI_TOOL],
                reasoning_effort="low",
            )
            message = turn.choices[0].message.model_dump(exclude_none=True)
            assert message["thinking_blocks"][0]["signature"].startswith("openai-reasoning:")
            call_id = message["tool_calls"][0]["id"]
            follow: Any = [
                {"role": "user", "content": "Weather?"},
                message,
                {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
            ]
            answer = oa.chat.completions.create(
                model="claude-sonnet-4-6", messages=follow, tools=[OPENAI_TOOL]
            )
            assert answer.choices[0].message.content == "Sunny."
        else:
            again = client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=4000,
                messages=history,
                tools=[ANTHROPIC_TOOL],
                thinking=thinking,
            )
            assert again.content[-1].type == "text" and again.content[-1].text == "Sunny."
        sent = anthropic_up.requests[-1].json
        assert "openai-reasoning:" not in str(sent)
    # And back on the Responses model, the reasoning item is replayed to OpenAI.
    openai_up.push(Script(text="Sunny again."))
    client.messages.create(
        model=CODEX, max_tokens=4000, messages=history, tools=[ANTHROPIC_TOOL], thinking=thinking
    )
    assert [item["type"] for item in openai_up.requests[-1].json["input"]][1] == "reasoning"


def test_anthropic_client_image_and_structured_output(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    openai_up.push(Script(text='{"city": "Paris"}'))
    content: Any = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "Which city?"},
    ]
    message = anthropic_client(gw).messages.create(
        model=CODEX,
        max_tokens=100,
        messages=[{"role": "user", "content": content}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}},
    )
    assert message.content[0].type == "text" and message.content[0].text == '{"city": "Paris"}'
    body = openai_up.requests[-1].json
    parts = body["input"][0]["content"]
    assert parts[0] == {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}
    assert body["text"]["format"]["type"] == "json_schema" and body["text"]["format"]["schema"] == SCHEMA


def test_anthropic_client_errors_and_mid_stream_failure(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    client = anthropic_client(gw)
    ask: Any = [{"role": "user", "content": "hi"}]
    openai_up.push(Script(status=429))
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model=CODEX, max_tokens=100, messages=ask)
    openai_up.push(Script(error_event_after=4))
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(model=CODEX, max_tokens=100, messages=ask) as s,
    ):
        s.get_final_message()
    openai_up.push(Script(end_after=4))
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(model=CODEX, max_tokens=100, messages=ask) as s,
    ):
        s.get_final_message()
    openai_up.push(Script(stop_reason="max_output_tokens"))
    message = client.messages.create(model=CODEX, max_tokens=100, messages=ask)
    assert message.stop_reason == "max_tokens"


# -- Chat Completions client -----------------------------------------------------------------------


def test_chat_client_plain_and_stream(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    client = openai_client(gw)
    openai_up.push(Script(text="Plain answer.", usage={"input_tokens": 12, "reasoning_tokens": 4}))
    completion = client.chat.completions.create(
        model=CODEX, messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "Plain answer."
    assert completion.usage is not None and completion.usage.prompt_tokens == 12
    assert completion.choices[0].finish_reason == "stop"
    body = openai_up.requests[-1].json
    assert body["instructions"] == "sys" and openai_up.requests[-1].path == "/v1/responses"

    openai_up.push(Script(text="Streamed answer here.", text_chunks=3))
    with client.chat.completions.stream(model=CODEX, messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Streamed answer here."


def test_chat_client_tool_round_trip(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    client = openai_client(gw)
    openai_up.push(Script(tool_calls=[WEATHER]))
    ask: Any = [{"role": "user", "content": "Weather?"}]
    with client.chat.completions.stream(model=CODEX, messages=ask, tools=[OPENAI_TOOL]) as stream:
        first = stream.get_final_completion()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert openai_up.requests[-1].json["tools"][0] == {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": SCHEMA,
        "strict": False,
    }
    openai_up.push(Script(text="Sunny."))
    history: Any = [
        *ask,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    again = client.chat.completions.create(model=CODEX, messages=history, tools=[OPENAI_TOOL])
    assert again.choices[0].message.content == "Sunny."
    items = openai_up.requests[-1].json["input"]
    assert [item["type"] for item in items] == ["message", "function_call", "function_call_output"]


def test_chat_client_errors_and_mid_stream_failure(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    client = openai_client(gw)
    ask: Any = [{"role": "user", "content": "hi"}]
    openai_up.push(Script(status=500))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=CODEX, messages=ask)
    openai_up.push(Script(error_event_after=4, error_event_type="error"))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model=CODEX, messages=ask, stream=True))


# -- which models -----------------------------------------------------------------------------------


def test_other_models_stay_on_chat_completions_and_globs_are_configurable(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up))
    client = anthropic_client(gw)
    client.messages.create(model="gpt-5.2", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert openai_up.requests[-1].path == "/v1/chat/completions"
    custom = standard_config(anthropic_up, openai_up).replace(
        'openai: { type: openai, base_url: "',
        'openai: { type: openai, responses_models: ["gpt-5.2"], base_url: "',
    )
    gw2 = make_gateway(custom)
    for model, path in (("gpt-5.2", "/v1/responses"), (CODEX, "/v1/chat/completions")):
        anthropic_client(gw2).messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert openai_up.requests[-1].path == path, model


def test_azure_responses_only_model(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, azure_up: FakeUpstream
) -> None:
    config = standard_config(anthropic_up, openai_up).replace(
        "providers:\n",
        f"""providers:
  azure:
    type: azure-openai
    base_url: "{azure_up.url}"
    api_version: "2024-10-21"
    deployments: {{ {CODEX}: my-gpt-deployment }}
""",
    )
    config = config.replace(
        "keys:\n", 'keys:\n  azure-main: { provider: azure, secret: "azure-stored-key" }\n'
    )
    config = config.replace("models:\n", "models:\n  az-codex: azure/" + CODEX + "\n")
    gw = make_gateway(config)
    azure_up.push(Script(text="From Azure."))
    completion = openai_client(gw).chat.completions.create(
        model="az-codex", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "From Azure."
    call = azure_up.requests[-1]
    assert call.path == "/openai/v1/responses" and call.json["model"] == "my-gpt-deployment"
    assert call.headers["api-key"] == "azure-stored-key"


# -- Claude Code -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _cc_openai() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("openai") as fake:
        yield fake


def test_claude_code_on_a_responses_only_model(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    _cc_openai: RespondingUpstream,
) -> None:
    _cc_openai.reset()
    gw = make_gateway(standard_config(anthropic_up, _cc_openai))
    name = "responses-only-" + request.node.name
    run = run_claude(
        name,
        f"Run the shell command `{TOOL_COMMAND}` and tell me what it printed.",
        gw.url,
        tmp_path,
        args=("--model", f"openai/{CODEX}"),
    )
    seen = _cc_openai.requests
    dump_requests(name, seen)
    why = (
        f"claude exited {run.returncode} (log: {run.log})\n"
        f"stdout: {run.stdout[-1500:]}\nstderr: {run.stderr[-1500:]}\n{describe(seen)}"
    )
    assert run.returncode == 0, why
    assert FINAL_TEXT in run.stdout, why
    main = main_requests("openai", seen)
    assert len(main) >= 2, why
    assert all(r.path == "/v1/responses" and r.json["model"] == CODEX for r in main), why
    results = [text for r in main[1:] for text in tool_results("openai", r.json)]
    assert any(TOOL_OUTPUT in text for text in results), why
    assert not [r for r in anthropic_up.requests if is_model_call(r)], why
