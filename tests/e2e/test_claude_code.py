"""The real Claude Code CLI (`claude -p`, pinned in package.json) through the gateway to fake upstreams.

Each test runs one prompt to completion: the fake model asks for a Bash command, Claude Code runs it
and sends the output back, the fake answers with a final sentence that must reach stdout. Runs are
logged to test-output/claude-code/<test>.log. Without the CLI (`make test` installs it with npm ci)
the tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.claude_code import (
    CLAUDE_BIN,
    CLIENT_TOKEN,
    FINAL_TEXT,
    ROOT,
    TOOL_COMMAND,
    TOOL_OUTPUT,
    ClaudeRun,
    RespondingUpstream,
    describe,
    dump_requests,
    is_model_call,
    main_requests,
    require_claude,
    run_claude,
    tool_results,
)
from tests.conftest import STORED_KEY, GatewayFactory, standard_config, with_clouds
from tests.fakes.script import RecordedRequest
from tests.fakes.upstream import Kind

PROMPT = f"Run the shell command `{TOOL_COMMAND}` and tell me what it printed."


@pytest.fixture(scope="module")
def _cc_anthropic() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("anthropic") as fake:
        yield fake


@pytest.fixture(scope="module")
def _cc_openai() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("openai") as fake:
        yield fake


@pytest.fixture
def cc_anthropic(_cc_anthropic: RespondingUpstream) -> RespondingUpstream:
    _cc_anthropic.reset()
    return _cc_anthropic


@pytest.fixture
def cc_openai(_cc_openai: RespondingUpstream) -> RespondingUpstream:
    _cc_openai.reset()
    return _cc_openai


def _test_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)


def _explain(run: ClaudeRun, requests: list[RecordedRequest]) -> str:
    return (
        f"claude exited {run.returncode} after {run.seconds:.1f}s (log: {run.log})\n"
        f"stdout: {run.stdout[-1500:]}\nstderr: {run.stderr[-1500:]}\n"
        f"upstream requests:\n{describe(requests)}"
    )


def _assert_round_trip(kind: Kind, run: ClaudeRun, requests: list[RecordedRequest]) -> list[RecordedRequest]:
    """Exit 0, the final answer on stdout, and the Bash output sent back upstream; returns the main calls."""
    why = _explain(run, requests)
    assert run.returncode == 0, why
    assert FINAL_TEXT in run.stdout, why
    main = main_requests(kind, requests)
    assert len(main) >= 2, why
    assert not tool_results(kind, main[0].json), why
    # The command really ran: its output (not the command text) is the tool result of the next call.
    results = [text for r in main[1:] for text in tool_results(kind, r.json)]
    assert any(TOOL_OUTPUT in text for text in results), why
    return main


def _assert_no_client_token(requests: list[RecordedRequest]) -> None:
    for r in requests:
        for name, value in r.headers.items():
            assert CLIENT_TOKEN not in value, f"client token forwarded in {name} on {r.path}"


def test_installed_cli_is_the_pinned_version() -> None:
    binary = require_claude()
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["@anthropic-ai/claude-code"]
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.split()[0] == pinned, (
        f"{CLAUDE_BIN} is {out.stdout.strip()}, package.json pins {pinned}"
    )


def test_claude_code_tool_round_trip_through_anthropic(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_gateway: GatewayFactory,
    cc_anthropic: RespondingUpstream,
    cc_openai: RespondingUpstream,
) -> None:
    gw = make_gateway(standard_config(cc_anthropic, cc_openai))
    name = _test_name(request)
    run = run_claude(name, PROMPT, gw.url, tmp_path)
    seen = cc_anthropic.requests
    dump_requests(name, seen)
    main = _assert_round_trip("anthropic", run, seen)
    why = _explain(run, seen)
    assert not cc_openai.requests
    for r in seen:
        if not is_model_call(r):
            continue
        # The gateway's stored key, never the client's token; Claude Code's own headers intact.
        assert r.headers.get("x-api-key") == STORED_KEY, why
        assert "authorization" not in r.headers, why
        assert r.headers.get("anthropic-version") == "2023-06-01", why
        assert "claude-code-20250219" in r.headers.get("anthropic-beta", ""), why
        assert r.headers.get("user-agent", "").startswith("claude-cli/"), why
        assert r.path == "/v1/messages" and r.query == "beta=true", why
    _assert_no_client_token(seen)
    assert all(r.json["stream"] is True for r in main), why  # streamed, and relayed as SSE
    records = gw.records(len([r for r in seen if is_model_call(r)]))
    assert {(rec["key"], rec["status"]) for rec in records} == {("key:anthropic-main", 200)}, records


# Claude Code's model families pointed at gateway names: an existing alias, an alias added here and
# a route. `None` runs Claude Code's default model (Opus in this release).
FAMILY_ENV = {
    "ANTHROPIC_DEFAULT_SONNET_MODEL": "fast",
    "ANTHROPIC_DEFAULT_OPUS_MODEL": "dynamic/cc-main",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL": "cc-small",
}


@pytest.mark.parametrize(
    ("family", "client_model", "upstream_model"),
    [
        ("sonnet", "fast", "claude-haiku-4-5"),
        ("opus", "dynamic/cc-main", "claude-opus-4-8"),
        ("haiku", "cc-small", "claude-haiku-4-5-20251001"),
        (None, "dynamic/cc-main", "claude-opus-4-8"),
    ],
)
def test_claude_code_model_families_resolve_through_gateway_names(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_gateway: GatewayFactory,
    cc_anthropic: RespondingUpstream,
    cc_openai: RespondingUpstream,
    family: str | None,
    client_model: str,
    upstream_model: str,
) -> None:
    config = standard_config(cc_anthropic, cc_openai, "routes:\n  cc-main: anthropic/claude-opus-4-8\n")
    config = config.replace("models:\n", "models:\n  cc-small: anthropic/claude-haiku-4-5-20251001\n", 1)
    gw = make_gateway(config)
    name = _test_name(request)
    args = ("--model", family) if family else ()
    run = run_claude(name, PROMPT, gw.url, tmp_path, args=args, env=FAMILY_ENV)
    seen = cc_anthropic.requests
    dump_requests(name, seen)
    main = _assert_round_trip("anthropic", run, seen)
    why = _explain(run, seen)
    assert {r.json["model"] for r in main} == {upstream_model}, why
    records = gw.records(len(main))
    # Claude Code sent the gateway name it was given for the family; the gateway resolved it.
    assert {rec["client_model"] for rec in records} == {client_model}, records
    if client_model.startswith("dynamic/"):
        assert {rec["route"] for rec in records} == {"cc-main"}, records


def test_claude_code_tool_round_trip_through_openai(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_gateway: GatewayFactory,
    cc_anthropic: RespondingUpstream,
    cc_openai: RespondingUpstream,
) -> None:
    # Needs the gateway's Anthropic -> OpenAI translation (requests, streams, tool calls and results).
    gw = make_gateway(standard_config(cc_anthropic, cc_openai))
    name = _test_name(request)
    run = run_claude(name, PROMPT, gw.url, tmp_path, args=("--model", "openai/gpt-5.2"))
    seen = cc_openai.requests
    dump_requests(name, seen)
    main = _assert_round_trip("openai", run, seen)
    why = _explain(run, seen)
    assert not [r for r in cc_anthropic.requests if is_model_call(r)], why
    for r in main:
        assert r.path == "/v1/chat/completions", why
        assert r.json["model"] == "gpt-5.2", why
        assert r.headers.get("authorization") == f"Bearer {STORED_KEY}", why
    _assert_no_client_token(seen)


def test_claude_code_model_discovery_accepts_the_gateways_list(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_gateway: GatewayFactory,
    cc_anthropic: RespondingUpstream,
    cc_openai: RespondingUpstream,
) -> None:
    config = standard_config(cc_anthropic, cc_openai, extra="routes:\n  cc-main: anthropic/claude-opus-4-8\n")
    gw = make_gateway(config)
    name = _test_name(request)
    run = run_claude(name, PROMPT, gw.url, tmp_path, env={"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"})
    seen = cc_anthropic.requests
    _assert_round_trip("anthropic", run, seen)
    listed = [r for r in gw.records() if r["path"] == "/v1/models"]
    assert listed and listed[0]["status"] == 200, _explain(run, seen)


@pytest.fixture(scope="module")
def _cc_bedrock() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("bedrock") as fake:
        yield fake


@pytest.fixture(scope="module")
def _cc_vertex() -> Iterator[RespondingUpstream]:
    with RespondingUpstream("vertex") as fake:
        yield fake


# Claude Code -> gateway (Anthropic Messages) -> a cloud: Claude on Bedrock (InvokeModel, event-stream),
# a non-Claude model on Bedrock (Converse), Claude on Vertex (streamRawPredict with an OAuth token).
CLOUD_CASES = {
    "bedrock-claude": ("bedrock", "cc-bedrock", "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/"),
    "bedrock-converse": ("bedrock", "cc-llama", "/model/meta.llama3-3-70b-instruct-v1:0/converse"),
    "vertex-claude": ("vertex", "cc-vertex", "/publishers/anthropic/models/claude-sonnet-4-5@20250929:"),
}


@pytest.mark.parametrize("case", list(CLOUD_CASES))
def test_claude_code_tool_round_trip_through_clouds(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_gateway: GatewayFactory,
    cc_anthropic: RespondingUpstream,
    cc_openai: RespondingUpstream,
    _cc_bedrock: RespondingUpstream,
    _cc_vertex: RespondingUpstream,
    case: str,
) -> None:
    cloud, model, path_part = CLOUD_CASES[case]
    fake = _cc_bedrock if cloud == "bedrock" else _cc_vertex
    fake.reset()
    models = """
        cc-bedrock: "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        cc-llama: "bedrock/meta.llama3-3-70b-instruct-v1:0"
        cc-vertex: vertex/claude-sonnet-4-5@20250929
    """
    config = with_clouds(standard_config(cc_anthropic, cc_openai), _cc_bedrock, _cc_vertex, tmp_path, models)
    gw = make_gateway(config)
    name = _test_name(request)
    run = run_claude(name, PROMPT, gw.url, tmp_path, args=("--model", model))
    seen = [r for r in fake.requests if r.path != "/token"]
    dump_requests(name, seen)
    kind = "anthropic"  # the tool checks read Anthropic bodies and Converse bodies alike
    main = _assert_round_trip(kind, run, seen)
    why = _explain(run, seen)
    assert not [r for r in cc_anthropic.requests if is_model_call(r)], why
    assert all(path_part in r.path for r in main), why
    _assert_no_client_token(seen)
    records = gw.records(len([r for r in seen if is_model_call(r)]))
    assert {rec["status"] for rec in records} == {200}, records
