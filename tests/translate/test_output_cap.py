"""The output cap of a translated call whose client set none: the caller's default (the model's
maximum) for Anthropic-shaped targets, no cap at all for OpenAI and Gemini targets (whose own default is
the model's maximum); a client's own cap always wins, and thinking stays below max_tokens."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.core.formats import Format
from gateway.translate import pipeline
from gateway.translate.openai_chat import DEFAULT_MAX_TOKENS, openai_request_to_anthropic
from gateway.translate.responses import responses_request_to_anthropic

CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES: dict[str, Any] = {"model": "m", "input": "hi"}


def test_chat_completions_default() -> None:
    assert openai_request_to_anthropic(CHAT, "c")["max_tokens"] == DEFAULT_MAX_TOKENS == 4096
    assert openai_request_to_anthropic(CHAT, "c", default_max_tokens=64_000)["max_tokens"] == 64_000
    for field in ("max_tokens", "max_completion_tokens"):
        out = openai_request_to_anthropic({**CHAT, field: 300}, "c", default_max_tokens=64_000)
        assert out["max_tokens"] == 300


def test_responses_default() -> None:
    assert responses_request_to_anthropic(RESPONSES, "c")["max_tokens"] == DEFAULT_MAX_TOKENS
    out = responses_request_to_anthropic(RESPONSES, "c", default_max_tokens=64_000)
    assert out["max_tokens"] == 64_000
    capped = {**RESPONSES, "max_output_tokens": 300}
    assert responses_request_to_anthropic(capped, "c", default_max_tokens=64_000)["max_tokens"] == 300


@pytest.mark.parametrize(
    ("effort", "default", "budget"),
    [
        ("high", 64_000, 4096),  # no longer clipped to 4095 by the old fixed 4096
        ("max", 64_000, 16_384),
        ("max", 8192, 8191),  # a small model maximum still bounds the budget
        ("high", 4096, 4095),
    ],
)
def test_thinking_stays_below_the_default(effort: str, default: int, budget: int) -> None:
    obj = {**RESPONSES, "reasoning": {"effort": effort, "summary": "auto"}}
    hub = responses_request_to_anthropic(obj, "claude-sonnet-4-5", default_max_tokens=default)
    assert hub["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert hub["thinking"]["budget_tokens"] < hub["max_tokens"] == default
    chat = openai_request_to_anthropic(
        {**CHAT, "reasoning_effort": effort}, "claude-sonnet-4-5", default_max_tokens=default
    )
    assert chat["thinking"] == hub["thinking"] and chat["max_tokens"] == default


def build(client: Format, target: Format, obj: dict[str, Any], model: str = "m") -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(
        pipeline.build_request(client, target, obj, model, default_max_tokens=64_000).body
    )
    return body


@pytest.mark.parametrize(("client", "obj"), [(Format.OPENAI, CHAT), (Format.RESPONSES, RESPONSES)])
def test_targets_without_a_client_cap(client: Format, obj: dict[str, Any]) -> None:
    assert build(client, Format.ANTHROPIC, obj)["max_tokens"] == 64_000
    assert "maxOutputTokens" not in build(client, Format.GEMINI, obj).get("generationConfig", {})
    if client is Format.RESPONSES:
        assert "max_completion_tokens" not in build(client, Format.OPENAI, obj)
    else:
        assert "max_output_tokens" not in build(client, Format.RESPONSES, obj)


def test_gemini_keeps_its_other_settings_without_a_cap() -> None:
    body = build(Format.RESPONSES, Format.GEMINI, {**RESPONSES, "temperature": 0.5})
    assert body["generationConfig"] == {"temperature": 0.5}
    assert "generationConfig" not in build(Format.RESPONSES, Format.GEMINI, RESPONSES)


def test_a_client_cap_reaches_every_target() -> None:
    chat = {**CHAT, "max_tokens": 300}
    responses = {**RESPONSES, "max_output_tokens": 300}
    assert build(Format.OPENAI, Format.ANTHROPIC, chat)["max_tokens"] == 300
    assert build(Format.OPENAI, Format.GEMINI, chat)["generationConfig"]["maxOutputTokens"] == 300
    assert build(Format.OPENAI, Format.RESPONSES, chat)["max_output_tokens"] == 300
    assert build(Format.RESPONSES, Format.ANTHROPIC, responses)["max_tokens"] == 300
    assert build(Format.RESPONSES, Format.GEMINI, responses)["generationConfig"]["maxOutputTokens"] == 300
    assert build(Format.RESPONSES, Format.OPENAI, responses)["max_completion_tokens"] == 300
    # An Anthropic client always has max_tokens (required), sent as given.
    anthropic = {"model": "m", "max_tokens": 300, "messages": [{"role": "user", "content": "hi"}]}
    assert build(Format.ANTHROPIC, Format.GEMINI, anthropic)["generationConfig"]["maxOutputTokens"] == 300


def test_has_output_cap() -> None:
    assert not pipeline.has_output_cap(Format.OPENAI, CHAT)
    assert pipeline.has_output_cap(Format.OPENAI, {**CHAT, "max_completion_tokens": 5})
    assert not pipeline.has_output_cap(Format.RESPONSES, RESPONSES)
    assert not pipeline.has_output_cap(Format.RESPONSES, {**RESPONSES, "max_output_tokens": 0})
    assert pipeline.has_output_cap(Format.RESPONSES, {**RESPONSES, "max_output_tokens": 16})
    assert pipeline.has_output_cap(Format.ANTHROPIC, {"max_tokens": 1})
