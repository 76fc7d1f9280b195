"""Conversations that change provider: a tool loop one provider started (its tool call, ids and thinking
in the history) goes on with another, for every ordered pair of providers and both SDKs.

Provider A answers the first turn with a tool call (Claude models also think first, with a signature);
the client sends the whole history back with the tool's result, and provider B must take it. Each fake
refuses what its real API refuses: Gemini 3 unsigned or forged function calls in the current turn,
OpenAI tool ids over 40 characters, Bedrock's toolUseId pattern, Anthropic's foreign signatures, tool ids
outside its pattern and, with thinking enabled, a tool loop turn that does not start with thinking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GatewayFactory, anthropic_client, openai_client
from tests.e2e.conftest import every_provider
from tests.fakes import gemini_wire
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

MODELS = {
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-5.2",
    "gemini": "gemini-3-pro-preview",
    "bedrock": "br-claude",  # Claude through InvokeModel
    "converse": "br-llama",  # Bedrock's Converse API
    "vertex": "vx-claude",  # Claude through rawPredict
    "vertex-gemini": "vx-gemini",  # Gemini 3 on Vertex
    "azure": "az-gpt",
}
PROVIDERS = tuple(MODELS)
CLAUDE = {"anthropic", "bedrock", "vertex"}
GEMINI = {"gemini", "vertex-gemini"}
OPENAI = {"openai", "azure"}
SKIP_SIGNATURE = "skip_thought_signature_validator"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CALL = {"name": "get_weather", "input": {"city": "Paris"}}
THOUGHT = "The user wants the weather; call the tool."


@pytest.fixture
def gw(make_gateway: GatewayFactory, ups: dict[str, FakeUpstream], tmp_path: Path) -> GatewayServer:
    return every_provider(make_gateway, ups, tmp_path, vertex_gemini="gemini-3-pro-preview")


def first_script(provider: str) -> Script:
    # Claude (signed) and Gemini (unsigned thought summaries) think before their call.
    return Script(tool_calls=[CALL], thinking=THOUGHT if provider in CLAUDE | GEMINI else None)


# -- the two turns, through each SDK ----------------------------------------------------------------------


ANTHROPIC_TOOLS = [
    {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["schema"]}
]
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": WEATHER["name"],
            "description": WEATHER["description"],
            "parameters": WEATHER["schema"],
        },
    }
]
# Budgeted thinking: Anthropic then holds a tool loop's last assistant turn to start with its thinking.
THINKING: dict[str, Any] = {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048}


def anthropic_loop(gw: GatewayServer, a: str, b: str, stream: bool) -> tuple[list[dict[str, Any]], str]:
    """Turn one on A, turn two (the tool's result) on B; returns the assistant content A produced (as the
    client sends it back) and B's answer."""
    sdk = anthropic_client(gw, key="client-key")
    question = {"role": "user", "content": "Weather in Paris?"}
    first = sdk.messages.create(
        model=MODELS[a],
        tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
        messages=[question],  # type: ignore[list-item]
        **THINKING,
    )
    assert first.stop_reason == "tool_use", first
    history = [block.model_dump(exclude_none=True) for block in first.content]
    (tool_use,) = [block for block in history if block["type"] == "tool_use"]
    messages = [
        question,
        {"role": "assistant", "content": history},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "18C"}],
        },
    ]
    kwargs: dict[str, Any] = {"model": MODELS[b], "tools": ANTHROPIC_TOOLS, "messages": messages, **THINKING}
    if stream:
        with sdk.messages.stream(**kwargs) as s:
            second = s.get_final_message()
    else:
        second = sdk.messages.create(**kwargs)
    return history, "".join(block.text for block in second.content if block.type == "text")


def openai_loop(gw: GatewayServer, a: str, b: str, stream: bool) -> tuple[list[dict[str, Any]], str]:
    sdk = openai_client(gw, key="client-key")
    question = {"role": "user", "content": "Weather in Paris?"}
    first = sdk.chat.completions.create(
        model=MODELS[a],
        tools=OPENAI_TOOLS,  # type: ignore[arg-type]
        messages=[question],  # type: ignore[list-item]
        reasoning_effort="low",
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls", first
    calls = [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.function.name, "arguments": c.function.arguments},
        }  # type: ignore[union-attr]
        for c in message.tool_calls or []
    ]
    messages = [
        question,
        {"role": "assistant", "content": message.content, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C"},
    ]
    kwargs: dict[str, Any] = {
        "model": MODELS[b],
        "tools": OPENAI_TOOLS,
        "messages": messages,
        "reasoning_effort": "low",
    }
    if stream:
        with sdk.chat.completions.stream(**kwargs) as s:
            done = s.get_final_completion()
    else:
        done = sdk.chat.completions.create(**kwargs)
    history = [{"type": "tool_use", "id": c["id"], "name": c["function"]["name"]} for c in calls]
    return history, done.choices[0].message.content or ""


# -- every ordered pair -----------------------------------------------------------------------------------

# One gateway per (SDK, first provider), the seven others in turn: starting a gateway per pair would
# double the file's time. Every pair is run and every failing pair named.
CELLS = [(sdk, a) for sdk in ("anthropic", "openai") for a in PROVIDERS]


@pytest.mark.parametrize(("sdk", "a"), CELLS, ids=[f"{sdk}-sdk:{a}->others" for sdk, a in CELLS])
def test_a_tool_loop_started_on_one_provider_goes_on_with_every_other(
    gw: GatewayServer, ups: dict[str, FakeUpstream], sdk: str, a: str
) -> None:
    loop = anthropic_loop if sdk == "anthropic" else openai_loop
    failures: dict[str, str] = {}
    others = [b for b in PROVIDERS if b != a]
    for n, b in enumerate(others):
        stream = n % 2 == 1  # the second turn streamed for half the pairs, plain for the others
        try:
            ups[a].push(first_script(a))
            ups[b].push(Script(text="Sunny, 18C in Paris.", text_chunks=2))
            history, answer = loop(gw, a, b, stream)
            assert answer == "Sunny, 18C in Paris."
            sent = ups[b].requests[-1].json
            assert sent is not None
            check_history_as_sent(sent, a, b, sdk, history)
        except Exception as exc:  # collected: one pair's failure must not hide the others'
            failures[f"{a}->{b}{' (stream)' if stream else ''}"] = f"{type(exc).__name__}: {exc}"[:600]
    assert not failures, json.dumps(failures, indent=1)
    records = gw.records(2 * len(others))
    assert [r["status"] for r in records] == [200] * 2 * len(others)


def check_history_as_sent(
    sent: dict[str, Any], a: str, b: str, sdk: str, history: list[dict[str, Any]]
) -> None:
    """What B received for A's turn: beyond the fake's own checks, the signatures that prove no signature
    was invented, altered or lost."""
    blob = json.dumps(sent)
    if b in GEMINI:
        (model_turn,) = [c for c in sent["contents"] if c["role"] == "model"]
        (part,) = [p for p in model_turn["parts"] if "functionCall" in p]
        expected = gemini_wire.call_signature({"name": CALL["name"], "args": CALL["input"]})
        # Gemini's own signature comes back verbatim, even from Gemini on the other platform; any other
        # provider's call gets Google's placeholder.
        assert part["thoughtSignature"] == (expected if a in GEMINI else SKIP_SIGNATURE)
    elif b in CLAUDE:
        messages = sent["messages"]
        turn = messages[-2]["content"]
        if a in CLAUDE and sdk == "anthropic":
            # Claude's signed thinking is replayed byte for byte, first in the turn.
            assert turn[0]["type"] == "thinking" and turn[0]["signature"] == history[0]["signature"]
        else:
            assert all(block["type"] != "thinking" for block in turn)
        assert '"signature": ""' not in blob
    elif b in OPENAI:
        assistant = next(m for m in sent["messages"] if m["role"] == "assistant")
        assert all(len(call["id"]) <= 40 for call in assistant["tool_calls"])
    else:  # Converse
        (tool_use,) = [blk["toolUse"] for m in sent["messages"] for blk in m["content"] if "toolUse" in blk]
        assert 0 < len(tool_use["toolUseId"]) <= 64
