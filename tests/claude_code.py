"""Run the real Claude Code CLI (`claude -p`) against a gateway, offline, and fakes that answer it.

With the environment below, Claude Code 2.1.330 sends only the conversation calls of a `-p` run,
but releases and settings add others (a connectivity probe, /v1/models discovery, title or quota
calls on a small model, token counts), in their own order. So the fakes here do not serve a FIFO of
scripts: ``RespondingUpstream`` picks each reply from the request itself (``agent_reply``): a call
whose last turn carries a tool result gets the final answer, a call offering the Bash tool gets the
Bash call, any other model call a short text.
Replies are rendered by the ordinary fakes in ``tests.fakes``, so streaming, usage and validation
are the same as everywhere else in the suite.
"""

from __future__ import annotations

import contextvars
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.script import RecordedRequest, Script
from tests.fakes.state import FakeState
from tests.fakes.upstream import FakeUpstream, Kind
from tests.services import missing

ROOT = Path(__file__).resolve().parent.parent
CLAUDE_BIN = ROOT / "node_modules" / ".bin" / "claude"
LOG_DIR = ROOT / "test-output" / "claude-code"
CLIENT_TOKEN = "some-token"
CLAUDE_TIMEOUT = 90.0

# What the fakes answer; the tests look for these in Claude Code's output and in what it sends back.
TOOL_COMMAND = "echo CANARY_$((6*7))"
TOOL_OUTPUT = "CANARY_42"
FINAL_TEXT = "The answer is FINAL_OK"
SIDE_TEXT = "Shell canary"

Responder = Callable[[Kind, RecordedRequest], Script | None]

# The reply chosen for the request being handled: set when the request is recorded, read when the
# endpoint takes its script. Both happen in the request's own task, so concurrent requests never
# see each other's choice.
_CHOSEN: contextvars.ContextVar[Script | None] = contextvars.ContextVar("chosen_script", default=None)


class _RespondingState(FakeState):
    def __init__(self, kind: Kind, responder: Responder, settings: Callable[[], Any] | None) -> None:
        super().__init__(settings)
        self._kind = kind
        self._responder = responder

    def record(self, request: RecordedRequest) -> int:
        _CHOSEN.set(self._responder(self._kind, request))
        return super().record(request)

    def take_script(self) -> Script:
        chosen = _CHOSEN.get()
        return chosen if chosen is not None else super().take_script()


class RespondingUpstream(FakeUpstream):
    """A ``FakeUpstream`` whose replies depend on each request (see ``agent_reply``), not on a FIFO.

    A responder returning None falls back to the pushed scripts (or the default reply).
    """

    def __init__(self, kind: Kind, responder: Responder | None = None) -> None:
        super().__init__(kind)
        self._state = _RespondingState(kind, responder or agent_reply, self._wire.settings)


# -- reading requests ------------------------------------------------------------------------------


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content or [] if isinstance(block, dict)]


def tool_names(kind: Kind, body: Mapping[str, Any]) -> list[str]:
    """Names of the tools a request offers, in any of the wire formats (OpenAI, Anthropic, Converse)."""
    names = []
    converse = (body.get("toolConfig") or {}).get("tools") or []
    for tool in body.get("tools") or converse:
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function") if kind == "openai" else tool.get("toolSpec")
        name = (spec or tool).get("name")
        if isinstance(name, str):
            names.append(name)
    return names


def tool_results(kind: Kind, body: Mapping[str, Any]) -> list[str]:
    """Tool output the request sends back: its last turn's tool_result (Converse: toolResult) blocks, or
    OpenAI tool messages (Responses API: the function_call_output items after the last function_call)."""
    items = body.get("input")
    if isinstance(items, list):
        calls = [
            i
            for i, item in enumerate(items)
            if isinstance(item, dict) and item.get("type") == "function_call"
        ]
        after = items[calls[-1] + 1 :] if calls else []
        outputs = [
            item for item in after if isinstance(item, dict) and item.get("type") == "function_call_output"
        ]
        return [_text_of(item.get("output")) for item in outputs]
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    if kind == "openai":
        # The tool messages answering the last assistant turn.
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=len(messages))
        return [_text_of(m.get("content")) for m in messages[last + 1 :] if m.get("role") == "tool"]
    if not messages or messages[-1].get("role") != "user":
        return []
    blocks = _blocks(messages[-1].get("content"))
    results = [_text_of(block.get("content")) for block in blocks if block.get("type") == "tool_result"]
    converse = [block["toolResult"] for block in blocks if isinstance(block.get("toolResult"), dict)]
    return results + [_text_of(r.get("content")) for r in converse]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(block.get("text", "")) for block in _blocks(content))


# Model call paths: Anthropic, OpenAI (Chat Completions, Responses), Bedrock (InvokeModel, Converse) and
# Vertex (rawPredict).
MODEL_PATHS = (
    "/messages",
    "/chat/completions",
    "/responses",
    "/invoke",
    "/invoke-with-response-stream",
    "/converse",
    "/converse-stream",
    ":rawPredict",
    ":streamRawPredict",
)


def is_model_call(request: RecordedRequest) -> bool:
    path = request.path.rstrip("/")
    return request.method == "POST" and path.endswith(MODEL_PATHS) and "count-tokens" not in path


def agent_reply(kind: Kind, request: RecordedRequest) -> Script | None:
    """The scripted agent: Bash call, then the final answer once the tool result comes back."""
    body = request.json
    if not is_model_call(request) or not isinstance(body, dict):
        return None
    if tool_results(kind, body):
        return Script(text=FINAL_TEXT)
    if "Bash" in tool_names(kind, body):
        call_id = "call_canary" if kind == "openai" else "toolu_canary"
        command = {"command": TOOL_COMMAND, "description": "Print the canary"}
        return Script(tool_calls=[{"id": call_id, "name": "Bash", "input": command}])
    # Side calls (title or topic generation, quota probes): a short, harmless answer.
    return Script(text=SIDE_TEXT)


def main_requests(kind: Kind, requests: list[RecordedRequest]) -> list[RecordedRequest]:
    """The conversation requests: model calls that offer the Bash tool."""
    return [r for r in requests if is_model_call(r) and "Bash" in tool_names(kind, r.json or {})]


# -- running the CLI -------------------------------------------------------------------------------


@dataclass
class ClaudeRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    log: Path


def require_claude() -> Path:
    """The pinned CLI; in CI (CI=true) its absence fails the test, elsewhere it skips."""
    if CLAUDE_BIN.exists() and os.access(CLAUDE_BIN, os.X_OK):
        return CLAUDE_BIN
    reason = (
        f"Claude Code is not installed at {CLAUDE_BIN.relative_to(ROOT)}: run `make test` "
        "(or `npm ci` at the project root; needs node and npm)"
    )
    missing(reason)


def claude_env(base_url: str, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment that keeps Claude Code offline, quiet and non-interactive, pointed at the gateway."""
    config_dir = home / ".claude"
    config_dir.mkdir(parents=True, exist_ok=True)
    env = {
        # Only what a shell needs: nothing from the developer's own Claude Code setup leaks in.
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USER": os.environ.get("USER", "tester"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "SHELL": shutil.which("bash") or "/bin/sh",
        "TMPDIR": str(home / "tmp"),
        "CLAUDE_CONFIG_DIR": str(config_dir),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_AUTH_TOKEN": CLIENT_TOKEN,
        "ANTHROPIC_API_KEY": "",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        # Without it, a run also sends `HEAD {base}/api/hello` (a connectivity probe).
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        # A failing gateway fails the run quickly instead of after ten backed-off retries.
        "CLAUDE_CODE_MAX_RETRIES": "1",
        "API_TIMEOUT_MS": "60000",
    }
    (home / "tmp").mkdir(exist_ok=True)
    env.update(extra or {})
    return env


def run_claude(
    name: str,
    prompt: str,
    base_url: str,
    tmp_path: Path,
    *,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = CLAUDE_TIMEOUT,
) -> ClaudeRun:
    """`claude -p <prompt>` in a fresh HOME and work folder; logged to test-output/claude-code/<name>.log."""
    binary = require_claude()
    home = tmp_path / "home"
    workdir = tmp_path / "work"
    home.mkdir(exist_ok=True)
    workdir.mkdir(exist_ok=True)
    command = [
        str(binary),
        "-p",
        prompt,
        "--output-format",
        "text",
        # Not --dangerously-skip-permissions: Claude Code refuses it when run as root (CI containers).
        "--allowedTools",
        "Bash",
        *args,
    ]
    returncode, stdout, stderr, seconds = run_cli(command, workdir, claude_env(base_url, home, env), timeout)
    run = ClaudeRun(returncode, stdout, stderr, seconds, LOG_DIR / f"{name}.log")
    _save_log(run, command, base_url)
    return run


def run_cli(
    command: list[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[int, str, str, float]:
    """One run of an agent CLI with stdin closed (an open one makes them wait for more prompt): exit
    code, stdout, stderr and seconds; a timeout is exit -1, with what it printed so far."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode = -1
        stdout = _decoded(exc.stdout)
        stderr = _decoded(exc.stderr) + f"\n[timed out after {timeout}s]"
    return returncode, stdout, stderr, time.monotonic() - started


def _decoded(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _save_log(run: ClaudeRun, command: list[str], base_url: str) -> None:
    run.log.parent.mkdir(parents=True, exist_ok=True)
    run.log.write_text(
        f"$ {' '.join(command)}\n"
        f"ANTHROPIC_BASE_URL={base_url}\n"
        f"exit {run.returncode} after {run.seconds:.1f}s\n"
        f"--- stdout ---\n{run.stdout}\n--- stderr ---\n{run.stderr}\n"
    )


def describe(requests: list[RecordedRequest]) -> str:
    """One line per request, for assertion messages and logs."""
    lines = []
    for r in requests:
        body = r.json if isinstance(r.json, dict) else {}
        tools = len(body.get("tools") or [])
        lines.append(
            f"{r.method} {r.path}{'?' + r.query if r.query else ''} model={body.get('model')} "
            f"tools={tools} max_tokens={body.get('max_tokens')} stream={body.get('stream')}"
        )
    return "\n".join(lines)


def dump_requests(name: str, requests: list[RecordedRequest]) -> None:
    """Append what the upstream saw to the run's log (headers without credentials, bodies)."""
    path = LOG_DIR / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write("--- upstream requests ---\n" + describe(requests) + "\n")
        for r in requests:
            headers = {k: v for k, v in r.headers.items() if k not in ("authorization", "x-api-key")}
            target = r.path + ("?" + r.query if r.query else "")
            out.write(f"\n{r.method} {target} {json.dumps(headers)}\n{r.body.decode(errors='replace')}\n")
