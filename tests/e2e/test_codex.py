"""The real Codex CLI (`codex exec`, pinned in package.json) through the gateway to fake upstreams.

Each run is one prompt to completion: the fake model thinks and calls Codex's shell tool
(`exec_command`), Codex runs the command and sends its output back (`function_call_output`, the
whole history resent), the fake answers a final sentence that must be Codex's last message. Codex
talks to a recording relay in front of the gateway, so the tests compare what Codex sent with what
reached the upstream: byte for byte (but `model`) to the OpenAI Responses fake, translated to the
Anthropic and Gemini fakes. Codex authenticates with a gateway token, and a trap proxy catches any
request Codex makes to a host other than loopback. Runs are logged to test-output/codex/<test>.log.
Without the CLI (`make test` installs it with npm ci) the tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.claude_code import RespondingUpstream
from tests.codex import (
    CALL_ID,
    CODEX_BIN,
    FINAL_TEXT,
    GATEWAY_TOKEN,
    ROOT,
    SHELL_TOOL,
    TOOL_COMMAND,
    TOOL_OUTPUT,
    CodexRun,
    RecordingRelay,
    codex_reply,
    describe,
    dump_requests,
    is_model_call,
    require_codex,
    run_codex,
    tool_names,
    tool_results,
)
from tests.conftest import CODEX_CAPTURE, STORED_KEY, GatewayFactory, standard_config
from tests.fakes.script import RecordedRequest, Script
from tests.gateway_server import GatewayServer

PROMPT = f"Run the shell command `{TOOL_COMMAND}` and tell me what it printed."
THOUGHT = "The user wants the command run; call the shell tool."
GEMINI_KEY = "gemini-stored-key"
# Top-level fields only the Responses API has: none may reach a translated target.
RESPONSES_ONLY = {
    "input",
    "instructions",
    "include",
    "store",
    "client_metadata",
    "prompt_cache_key",
    "parallel_tool_calls",
    "reasoning",
    "previous_response_id",
    "max_output_tokens",
    "text",
    "truncation",
}


def thinking_reply(kind: str, request: RecordedRequest) -> Script | None:
    """``codex_reply``, with the model thinking before its shell call (a reasoning item with
    encrypted_content from the Responses fake, a signed thinking block from Anthropic, a thought and
    a signed call from Gemini 3) so the reasoning has to round-trip through Codex."""
    script = codex_reply(kind, request)
    if script is not None and script.tool_calls:
        script.thinking = THOUGHT
    return script


# A prompt carrying this marker gets the namespace probe instead of the shell call (``_reply``).
NAMESPACE_PROMPT = "Close the agent agent-nobody (NAMESPACE_PROBE)."
NAMESPACE, NAMESPACED_TOOL = "multi_agent_v1", "close_agent"


def namespace_reply(kind: str, request: RecordedRequest) -> Script | None:
    """Calls the function Codex declared inside its `multi_agent_v1` namespace tool, by the name the
    upstream was given, then answers once any tool output comes back."""
    body = request.json
    if not is_model_call(request) or not isinstance(body, dict):
        return None
    if tool_results(body):
        return Script(text=FINAL_TEXT)
    name = next((n for n in tool_names(body) if n.endswith(NAMESPACED_TOOL)), None)
    if name is None:
        return None
    call_id = "toolu_codex_ns" if kind == "anthropic" else "call_codex_ns"
    return Script(tool_calls=[{"id": call_id, "name": name, "input": {"target": "agent-nobody"}}])


def _reply(kind: str, request: RecordedRequest) -> Script | None:
    if b"NAMESPACE_PROBE" in request.body:
        return namespace_reply(kind, request)
    return thinking_reply(kind, request)


@pytest.fixture(scope="module")
def _cx_openai() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("openai", _reply) as fake:
        yield fake


@pytest.fixture(scope="module")
def _cx_anthropic() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("anthropic", _reply) as fake:
        yield fake


@pytest.fixture(scope="module")
def _cx_gemini() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("gemini", _reply) as fake:
        yield fake


@pytest.fixture
def cx_gateway(
    make_gateway: GatewayFactory,
    _cx_openai: RespondingUpstream,
    _cx_anthropic: RespondingUpstream,
    _cx_gemini: RespondingUpstream,
) -> GatewayServer:
    """The three fakes behind a gateway that wants a token (Codex's `env_key`) and uses stored keys."""
    for fake in (_cx_openai, _cx_anthropic, _cx_gemini):
        fake.reset()
    gateway = f"""
gateways:
  default:
    auth: tokens
    tokens: [{{ name: codex, secret: "{GATEWAY_TOKEN}" }}]
    provider_keys: [stored]
"""
    config = standard_config(
        _cx_anthropic, _cx_openai, "routes:\n  codex-main: anthropic/claude-sonnet-4-6\n", gateway=gateway
    )
    config = config.replace(
        "providers:\n", f'providers:\n  google: {{ type: gemini, base_url: "{_cx_gemini.base_url}" }}\n', 1
    )
    config = config.replace(
        "keys:\n", f'keys:\n  google-main: {{ provider: google, secret: "{GEMINI_KEY}" }}\n', 1
    )
    config = config.replace("models:\n", "models:\n  gemini-*: google/*\n", 1)
    return make_gateway(config)


def _test_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)


def _explain(run: CodexRun, sent: list[RecordedRequest], seen: list[RecordedRequest]) -> str:
    return (
        f"codex exited {run.returncode} after {run.seconds:.1f}s (log: {run.log})\n"
        f"final message: {run.final_message!r}\nstderr: {run.stderr[-2500:]}\n"
        f"proxied: {run.proxied}\n"
        f"codex sent:\n{describe(sent)}\nupstream saw:\n{describe(seen)}"
    )


def _run(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    gw: GatewayServer,
    model: str,
    *args: str,
    prompt: str = PROMPT,
) -> tuple[CodexRun, list[RecordedRequest]]:
    with RecordingRelay(gw.url) as relay:
        run = run_codex(_test_name(request), prompt, relay.url, tmp_path, model=model, args=args)
    return run, relay.requests


def _assert_codex_side(run: CodexRun, sent: list[RecordedRequest], why: str) -> list[RecordedRequest]:
    """Exit 0, the final answer as Codex's last message, nothing but loopback contacted, and Codex's
    own traffic: only streamed POST /v1/responses, the second one carrying the command's output."""
    assert run.returncode == 0, why
    assert FINAL_TEXT in run.final_message, why
    assert run.proxied == [], why
    assert [(r.method, r.path) for r in sent] == [("POST", "/v1/responses")] * len(sent), why
    assert len(sent) >= 2, why
    assert all(r.json["stream"] is True and r.json["store"] is False for r in sent), why
    assert all(r.headers.get("authorization") == f"Bearer {GATEWAY_TOKEN}" for r in sent), why
    assert not tool_results(sent[0].json), why
    # The command really ran: its output (not the command text) came back as the call's output.
    outputs = [i for i in sent[-1].json["input"] if i.get("type") == "function_call_output"]
    assert outputs and TOOL_OUTPUT in outputs[-1]["output"], why
    return sent


def _assert_no_gateway_token(seen: list[RecordedRequest]) -> None:
    for r in seen:
        for name, value in r.headers.items():
            assert GATEWAY_TOKEN not in value, f"gateway token forwarded in {name} on {r.path}"
        assert GATEWAY_TOKEN.encode() not in r.body, f"gateway token in the body sent to {r.path}"


def test_installed_cli_is_the_pinned_version() -> None:
    binary = require_codex()
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["@openai/codex"]
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.split() == ["codex-cli", pinned], (
        f"{CODEX_BIN} is {out.stdout.strip()}, package.json pins {pinned}"
    )


# -- (a) same format: the OpenAI Responses fake -----------------------------------------------------------


def test_codex_shell_round_trip_through_openai_responses(
    request: pytest.FixtureRequest, tmp_path: Path, cx_gateway: GatewayServer, _cx_openai: RespondingUpstream
) -> None:
    run, sent = _run(request, tmp_path, cx_gateway, "openai/gpt-5.2")
    seen = _cx_openai.requests
    dump_requests(_test_name(request), seen)
    why = _explain(run, sent, seen)
    _assert_codex_side(run, sent, why)
    model_calls = [r for r in seen if is_model_call(r)]
    assert len(model_calls) == len(sent), why
    for got, original in zip(model_calls, sent, strict=True):
        assert (got.method, got.path) == ("POST", "/v1/responses"), why
        # Byte for byte but the model, which the gateway names as the provider knows it.
        assert got.json["model"] == "gpt-5.2", why
        assert got.body == original.body.replace(b'"model":"openai/gpt-5.2"', b'"model":"gpt-5.2"', 1), why
        assert got.headers.get("authorization") == f"Bearer {STORED_KEY}", why
        codex_headers = {
            k: v
            for k, v in original.headers.items()
            if k in ("originator", "session-id") or k.startswith("x-codex-")
        }
        assert {"originator", "session-id", "x-codex-turn-metadata"} <= set(codex_headers), why
        assert {k: got.headers.get(k) for k in codex_headers} == codex_headers, why
    _assert_no_gateway_token(seen)
    # The fake's reasoning item (encrypted_content it minted and checks) and its call came back as sent.
    history = sent[-1].json["input"]
    assert any(i["type"] == "reasoning" and i.get("encrypted_content") for i in history), why
    assert any(i["type"] == "function_call" and i["call_id"] == CALL_ID for i in history), why
    records = cx_gateway.records(len(model_calls))
    assert {(rec["key"], rec["status"]) for rec in records} == {("key:openai-main", 200)}, [
        (rec["status"], rec.get("error"), rec.get("upstream_error")) for rec in records
    ]


def test_fixture_matches_what_the_pinned_codex_sends(
    request: pytest.FixtureRequest, tmp_path: Path, cx_gateway: GatewayServer, _cx_openai: RespondingUpstream
) -> None:
    """tests/fixtures/codex/ is what the translation tests take as Codex's request: the pinned CLI
    must still send that shape (top-level fields, input item and tool kinds, headers)."""
    captured = orjson.loads(CODEX_CAPTURE.read_bytes())
    run, sent = _run(request, tmp_path, cx_gateway, "openai/gpt-5.2")
    why = _explain(run, sent, _cx_openai.requests)
    _assert_codex_side(run, sent, why)
    body, fixture = sent[-1].json, captured["body"]

    def kinds(items: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        return [(i["type"], i.get("role") or i.get("name")) for i in items]

    assert sorted(body) == sorted(fixture), why
    assert kinds(body["input"]) == kinds(fixture["input"]), why
    assert kinds(body["tools"]) == kinds(fixture["tools"]), why
    assert {k: body[k] for k in ("include", "reasoning", "store", "stream")} == {
        k: fixture[k] for k in ("include", "reasoning", "store", "stream")
    }
    assert set(sent[-1].headers) - {"content-length", "host"} == set(captured["headers"]), why


# -- (b), (c) translated: the Anthropic and Gemini fakes ----------------------------------------------------


def _assert_translated_tools(body: dict[str, Any], why: str) -> None:
    assert SHELL_TOOL in tool_names(body), why
    assert not RESPONSES_ONLY & set(body), why
    # Codex's namespace tool (multi_agent_v1: spawn_agent, close_agent, ...) arrives as plain functions.
    names = tool_names(body)
    assert "multi_agent_v1" not in names, why
    assert any(name.endswith("spawn_agent") for name in names), why
    tools = body.get("tools") or []
    assert all(tool.get("type") != "namespace" for tool in tools if isinstance(tool, dict)), why


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "dynamic/codex-main"])
def test_codex_shell_round_trip_through_anthropic(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cx_gateway: GatewayServer,
    _cx_anthropic: RespondingUpstream,
    _cx_openai: RespondingUpstream,
    model: str,
) -> None:
    run, sent = _run(request, tmp_path, cx_gateway, model)
    seen = _cx_anthropic.requests
    dump_requests(_test_name(request), seen)
    why = _explain(run, sent, seen)
    _assert_codex_side(run, sent, why)
    assert not [r for r in _cx_openai.requests if is_model_call(r)], why
    model_calls = [r for r in seen if is_model_call(r)]
    assert len(model_calls) == len(sent), why
    for r in model_calls:
        assert r.path == "/v1/messages", why
        assert r.json["model"] == "claude-sonnet-4-6", why
        assert r.headers.get("x-api-key") == STORED_KEY, why
        _assert_translated_tools(r.json, why)
    # The second turn: the signed thinking and the tool_use Codex was given, then the command's output.
    last = model_calls[-1].json
    assistant = [m for m in last["messages"] if m["role"] == "assistant"][-1]["content"]
    assert [b["type"] for b in assistant][:1] == ["thinking"] and assistant[0]["thinking"] == THOUGHT, why
    uses = [b for b in assistant if b["type"] == "tool_use"]
    assert [(u["name"], u["input"]) for u in uses] == [(SHELL_TOOL, {"cmd": TOOL_COMMAND})], why
    results = [b for b in last["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert [r["tool_use_id"] for r in results] == [uses[0]["id"]], why
    assert any(TOOL_OUTPUT in text for text in tool_results(last)), why
    _assert_no_gateway_token(seen)
    records = cx_gateway.records(len(model_calls))
    assert {(rec["key"], rec["status"]) for rec in records} == {("key:anthropic-main", 200)}, records
    assert {rec["client_model"] for rec in records} == {model}, records


def test_codex_shell_round_trip_through_gemini(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cx_gateway: GatewayServer,
    _cx_gemini: RespondingUpstream,
) -> None:
    # Gemini 3 signs its function calls and refuses a history whose call lost its signature.
    run, sent = _run(request, tmp_path, cx_gateway, "gemini-3-pro-preview")
    seen = _cx_gemini.requests
    dump_requests(_test_name(request), seen)
    why = _explain(run, sent, seen)
    _assert_codex_side(run, sent, why)
    model_calls = [r for r in seen if is_model_call(r)]
    assert len(model_calls) == len(sent), why
    for r in model_calls:
        assert "/models/gemini-3-pro-preview:" in r.path, why
        assert r.headers.get("x-goog-api-key") == GEMINI_KEY, why
        _assert_translated_tools(r.json, why)
    last = model_calls[-1].json
    calls = [p["functionCall"] for c in last["contents"] for p in c.get("parts", []) if "functionCall" in p]
    assert [(c["name"], c["args"]) for c in calls] == [(SHELL_TOOL, {"cmd": TOOL_COMMAND})], why
    responses = [p["functionResponse"] for p in last["contents"][-1]["parts"] if "functionResponse" in p]
    assert [r["name"] for r in responses] == [SHELL_TOOL], why
    assert any(TOOL_OUTPUT in text for text in tool_results(last)), why
    _assert_no_gateway_token(seen)
    records = cx_gateway.records(len(model_calls))
    assert {(rec["key"], rec["status"]) for rec in records} == {("key:google-main", 200)}, records


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gemini-3-pro-preview"])
def test_codex_namespaced_call_gets_its_namespace_back(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cx_gateway: GatewayServer,
    _cx_anthropic: RespondingUpstream,
    _cx_gemini: RespondingUpstream,
    model: str,
) -> None:
    """The upstream sees Codex's namespace as flat functions and calls one; Codex must get the call
    back under the name and namespace it declared, run it, and send its output."""
    fake = _cx_anthropic if model.startswith("claude") else _cx_gemini
    run, sent = _run(request, tmp_path, cx_gateway, model, prompt=NAMESPACE_PROMPT)
    seen = [r for r in fake.requests if is_model_call(r)]
    dump_requests(_test_name(request), seen)
    why = _explain(run, sent, seen)
    assert run.returncode == 0 and FINAL_TEXT in run.final_message, why
    assert run.proxied == [], why
    assert len(sent) == len(seen) == 2, why
    flat = [n for n in tool_names(seen[0].json) if n.endswith(NAMESPACED_TOOL)]
    assert len(flat) == 1 and flat[0] != NAMESPACED_TOOL, why
    calls = [i for i in sent[-1].json["input"] if i.get("type") == "function_call"]
    assert [(c["name"], c.get("namespace")) for c in calls] == [(NAMESPACED_TOOL, NAMESPACE)], why
    outputs = [i for i in sent[-1].json["input"] if i.get("type") == "function_call_output"]
    assert [o["call_id"] for o in outputs] == [calls[0]["call_id"]], why
    # Codex ran its own tool: the output is about the agent, not an unknown-tool error.
    assert "agent-nobody" in outputs[0]["output"] or "not found" in outputs[0]["output"].lower(), why


def test_codex_with_a_wrong_gateway_token_is_refused(
    request: pytest.FixtureRequest, tmp_path: Path, cx_gateway: GatewayServer, _cx_openai: RespondingUpstream
) -> None:
    with RecordingRelay(cx_gateway.url) as relay:
        run = run_codex(
            _test_name(request), PROMPT, relay.url, tmp_path, model="openai/gpt-5.2", token="wrong"
        )
    why = _explain(run, relay.requests, _cx_openai.requests)
    assert run.returncode != 0, why
    assert "401" in run.stderr, why
    assert not [r for r in _cx_openai.requests if is_model_call(r)], why
    assert {rec["status"] for rec in cx_gateway.records(1)} == {401}, why


# -- the offline check can fail -----------------------------------------------------------------------


def test_trap_proxy_catches_codex_plugins_when_switched_on(
    request: pytest.FixtureRequest, tmp_path: Path, cx_gateway: GatewayServer
) -> None:
    """With the plugins feature back on, Codex 0.169.0 syncs catalogues from github.com and
    chatgpt.com: the trap must see those, or the other tests' `proxied == []` proves nothing."""
    run, sent = _run(request, tmp_path, cx_gateway, "openai/gpt-5.2", "-c", "features.plugins=true")
    why = _explain(run, sent, [])
    hosts = {line.split()[1].rsplit(":", 1)[0] for line in run.proxied if line.startswith("CONNECT ")}
    assert hosts & {"github.com", "api.github.com", "chatgpt.com"}, why
