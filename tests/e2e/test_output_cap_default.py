"""A Chat Completions or Responses client that sets no output cap (Codex never does) gets what the real
APIs give: the target model's maximum output. Through a real gateway against the strict fakes, checked
on what each fake received: Claude (Anthropic, Bedrock, Vertex) gets the model's maximum as max_tokens
(at most 21,333 unstreamed), an unknown model 4096, Gemini and OpenAI no cap at all, Converse 4096."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GatewayFactory, openai_client
from tests.e2e.conftest import every_provider
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer


@pytest.fixture
def gw(make_gateway: GatewayFactory, ups: dict[str, FakeUpstream], tmp_path: Path) -> GatewayServer:
    return every_provider(
        make_gateway, ups, tmp_path, vertex_gemini="gemini-2.5-flash", openai_responses=False
    )


def sent(up: FakeUpstream) -> dict[str, Any]:
    """The last model call the fake received, as JSON."""
    calls = [r for r in up.requests if r.method == "POST" and r.json is not None]
    assert calls, "the fake received no model call"
    body: dict[str, Any] = calls[-1].json
    return body


def respond(gw: GatewayServer, model: str, stream: bool, **extra: Any) -> str:
    client = openai_client(gw, key="client-key")
    if not stream:
        return client.responses.create(model=model, input="Write the patch.", **extra).output_text
    with client.responses.stream(model=model, input="Write the patch.", **extra) as events:
        for _ in events:
            pass
        return events.get_final_response().output_text


@pytest.mark.parametrize(
    ("upstream", "model", "stream", "cap"),
    [
        ("anthropic", "claude-sonnet-4-5", True, 64_000),
        ("anthropic", "claude-sonnet-4-5", False, 21_333),  # unstreamed: Anthropic's 10-minute rule
        ("anthropic", "claude-opus-4-1-20250805", True, 32_000),
        ("anthropic", "claude-x", True, 4096),  # a model the gateway does not know
        ("anthropic", "claude-x", False, 4096),
        ("bedrock", "br-claude", True, 64_000),  # us.anthropic.claude-sonnet-4-5-20250929-v1:0
        ("vertex", "vx-claude", True, 64_000),  # claude-sonnet-4-5@20250929
    ],
)
def test_responses_client_without_a_cap_on_claude(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str, model: str, stream: bool, cap: int
) -> None:
    ups[upstream].push(Script(text="Done."))
    assert respond(gw, model, stream) == "Done."
    assert sent(ups[upstream])["max_tokens"] == cap
    # The client's own cap always wins.
    ups[upstream].push(Script(text="Done."))
    respond(gw, model, stream, max_output_tokens=300)
    assert sent(ups[upstream])["max_tokens"] == 300


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_responses_client_without_a_cap_elsewhere(
    gw: GatewayServer, ups: dict[str, FakeUpstream], stream: bool
) -> None:
    ups["gemini"].push(Script(text="Done."))
    assert respond(gw, "gemini-2.5-flash", stream) == "Done."
    assert "maxOutputTokens" not in sent(ups["gemini"]).get("generationConfig", {})  # Gemini's default
    ups["openai"].push(Script(text="Done."))
    assert respond(gw, "gpt-5.2", stream) == "Done."
    body = sent(ups["openai"])
    assert "max_completion_tokens" not in body and "max_tokens" not in body
    ups["converse"].push(Script(text="Done."))
    assert respond(gw, "br-llama", stream) == "Done."
    assert sent(ups["converse"])["inferenceConfig"]["maxTokens"] == 4096  # a model the gateway does not know


def test_chat_completions_client_without_a_cap(gw: GatewayServer, ups: dict[str, FakeUpstream]) -> None:
    client = openai_client(gw, key="client-key")
    ask = [{"role": "user", "content": "Write the patch."}]
    ups["anthropic"].push(Script(text="Done."))
    chunks = client.chat.completions.create(model="claude-sonnet-4-5", messages=ask, stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Done."
    assert sent(ups["anthropic"])["max_tokens"] == 64_000
    ups["gemini"].push(Script(text="Done."))
    answer = client.chat.completions.create(model="gemini-2.5-flash", messages=ask)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Done."
    assert "maxOutputTokens" not in sent(ups["gemini"]).get("generationConfig", {})
