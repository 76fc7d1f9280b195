"""The real Claude Code CLI on a route that falls back to another provider in the middle of its tool loop.

Anthropic answers the first call with a Bash tool call, then fails (500) once the tool's result comes
back, so the route's fallback takes the loop's second call: Gemini 3, which refuses a function call
without a thought signature in the current turn (the fake enforces it), or OpenAI. Claude Code must
still print the final answer. Runs are logged to test-output/claude-code/<test>.log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.claude_code import (
    FINAL_TEXT,
    SIDE_TEXT,
    TOOL_OUTPUT,
    RespondingUpstream,
    agent_reply,
    dump_requests,
    is_model_call,
    run_claude,
    tool_results,
)
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.script import RecordedRequest, Script
from tests.fakes.upstream import Kind

PROMPT = "Run the shell command `echo CANARY_$((6*7))` and tell me what it printed."
SKIP_SIGNATURE = "skip_thought_signature_validator"
ROUTES = """
routes:
  cc-to-gemini:
    fallback: [anthropic/claude-opus-4-8, google/gemini-3-pro-preview]
  cc-to-openai:
    fallback: [anthropic/claude-opus-4-8, openai/gpt-5.2]
"""


def anthropic_then_down(kind: Kind, request: RecordedRequest) -> Script | None:
    """Anthropic makes the Bash call, then fails every call that brings a tool result back."""
    body = request.json
    if is_model_call(request) and isinstance(body, dict) and tool_results(kind, body):
        return Script(status=500)
    return agent_reply(kind, request)


def function_responses(body: dict[str, Any]) -> list[str]:
    """The text of every Gemini functionResponse in a generateContent body."""
    return [
        str(part["functionResponse"].get("response"))
        for content in body.get("contents") or []
        for part in content.get("parts") or []
        if "functionResponse" in part
    ]


def gemini_agent(kind: Kind, request: RecordedRequest) -> Script | None:
    body = request.json
    if not isinstance(body, dict) or "contents" not in body:
        return None
    if function_responses(body):
        return Script(text=FINAL_TEXT)
    return Script(text=SIDE_TEXT)


@pytest.fixture(scope="module")
def _cc_anthropic() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("anthropic", anthropic_then_down) as fake:
        yield fake


@pytest.fixture(scope="module")
def _cc_openai() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("openai") as fake:
        yield fake


@pytest.fixture(scope="module")
def _cc_gemini() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("gemini", gemini_agent) as fake:
        yield fake


@pytest.mark.parametrize("route", ["cc-to-gemini", "cc-to-openai"])
def test_claude_code_tool_loop_falls_back_to_another_provider_mid_loop(
    tmp_path: Path,
    make_gateway: GatewayFactory,
    _cc_anthropic: RespondingUpstream,
    _cc_openai: RespondingUpstream,
    _cc_gemini: RespondingUpstream,
    route: str,
) -> None:
    for fake in (_cc_anthropic, _cc_openai, _cc_gemini):
        fake.reset()
    config = standard_config(_cc_anthropic, _cc_openai, extra=ROUTES)
    config = config.replace(
        "providers:\n", f'providers:\n  google: {{ type: gemini, base_url: "{_cc_gemini.base_url}" }}\n', 1
    )
    config = config.replace(
        "keys:\n", 'keys:\n  google-main: { provider: google, secret: "gemini-key" }\n', 1
    )
    gw = make_gateway(config)
    name = f"test_claude_code_fallback_mid_loop_{route}"
    run = run_claude(name, PROMPT, gw.url, tmp_path, args=("--model", f"dynamic/{route}"))
    fallback = _cc_gemini if route == "cc-to-gemini" else _cc_openai
    seen = [*_cc_anthropic.requests, *fallback.requests]
    dump_requests(name, seen)
    why = (
        f"claude exited {run.returncode} (log: {run.log})\nstdout: {run.stdout[-1500:]}\n{run.stderr[-1500:]}"
    )
    assert run.returncode == 0, why
    assert FINAL_TEXT in run.stdout, why
    # The loop's first call went to Anthropic, which made the call; its second to the fallback.
    assert any(
        is_model_call(r) and tool_results("anthropic", r.json or {}) for r in _cc_anthropic.requests
    ), why
    if route == "cc-to-gemini":
        second = [
            r.json for r in _cc_gemini.requests if isinstance(r.json, dict) and function_responses(r.json)
        ]
        assert second and any(TOOL_OUTPUT in text for text in function_responses(second[-1])), why
        calls = [p for c in second[-1]["contents"] for p in c["parts"] if "functionCall" in p]
        # Claude's call carries Google's placeholder signature, which Gemini 3 (the fake) requires.
        assert [p["functionCall"]["name"] for p in calls] == ["Bash"], why
        assert all(p.get("thoughtSignature") == SKIP_SIGNATURE for p in calls), why
    else:
        second = [
            r.json for r in _cc_openai.requests if isinstance(r.json, dict) and tool_results("openai", r.json)
        ]
        assert second and any(TOOL_OUTPUT in text for text in tool_results("openai", second[-1])), why
    records = [rec for rec in gw.records() if rec.get("route") == route]
    assert records and records[-1]["status"] == 200, records
