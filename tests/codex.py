"""Run the real Codex CLI (`codex exec`) against a gateway, offline, and a scripted agent for the fakes.

Codex 0.169.0 pointed at a model provider with `wire_api = "responses"` sends only `POST
{base_url}/responses`, streamed, with the whole history each turn. Everything else it would contact
by default (plugin and app catalogues on github.com and chatgpt.com, analytics on ab.chatgpt.com) is
switched off in the config written here, and each run goes through a ``TrapProxy``: HTTP(S)_PROXY
and ALL_PROXY point at a loopback listener that records and refuses every request, with only the
loopback addresses exempt (NO_PROXY), so a call to any other host shows up in ``CodexRun.proxied``.

The scripted agent (``codex_reply``) reads each request: a call whose history ends with the shell
tool's output gets the final answer, a call offering Codex's shell tool (``exec_command``) gets a call
to it, anything else the fake's default reply. It works for the Responses, Anthropic and Gemini
wire formats, so one responder drives Codex the same way through every upstream.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import socketserver
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.claude_code import FINAL_TEXT, TOOL_COMMAND, TOOL_OUTPUT, run_cli
from tests.fakes.script import RecordedRequest, Script
from tests.services import missing

__all__ = ["FINAL_TEXT", "TOOL_COMMAND", "TOOL_OUTPUT"]

ROOT = Path(__file__).resolve().parent.parent
CODEX_BIN = ROOT / "node_modules" / ".bin" / "codex"
LOG_DIR = ROOT / "test-output" / "codex"
# What Codex sends as its bearer token (config `env_key`): a gateway token, never forwarded upstream.
TOKEN_ENV = "LLM_GATEWAY_TOKEN"
GATEWAY_TOKEN = "codex-gateway-token-5f3a9c"
CODEX_TIMEOUT = 120.0
# Codex 0.169.0's shell tool (unified exec); its arguments carry the command line in `cmd`.
SHELL_TOOL = "exec_command"
LOOPBACK = "127.0.0.1,localhost,::1"


# -- the config ------------------------------------------------------------------------------------


def codex_config(base_url: str, model: str) -> str:
    """config.toml: the gateway as the only model provider, Codex's own network features off.

    Runs use --strict-config, so a key Codex does not know (a typo, a key a release dropped) fails
    the run instead of silently leaving a feature on.
    """
    return f"""\
model = "{model}"
model_provider = "gateway"
# Non-interactive and allowed to run the shell command the fake asks for; the working folder is a
# temporary one and the command an echo.
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[model_providers.gateway]
name = "LLM gateway"
base_url = "{base_url}/v1"
env_key = "{TOKEN_ENV}"
wire_api = "responses"
# One attempt each: a failing gateway fails the run at once instead of after backed-off retries.
request_max_retries = 0
stream_max_retries = 0

[history]
persistence = "none"

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"
metrics_exporter = "none"
trace_exporter = "none"

[features]
# plugins: syncs catalogues from github.com and chatgpt.com at start (and sends analytics with them).
plugins = false
remote_plugin = false
plugin_sharing = false
apps = false
"""


# -- the proxy that catches any other destination -----------------------------------------------------


class _TrapHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(4096).decode(errors="replace").strip()
        server = self.server
        assert isinstance(server, _TrapServer)
        with server.lock:
            server.seen.append(line)
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")


class _TrapServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TrapHandler)
        self.lock = threading.Lock()
        self.seen: list[str] = []


class TrapProxy:
    """An HTTP proxy on loopback that refuses everything and records each request line
    (`CONNECT github.com:443 HTTP/1.1`)."""

    def __init__(self) -> None:
        self._server = _TrapServer()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def seen(self) -> list[str]:
        with self._server.lock:
            return list(self._server.seen)

    def env(self) -> dict[str, str]:
        """Proxy variables in both spellings; loopback (the gateway) stays direct."""
        env: dict[str, str] = {}
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = self.url
        env["NO_PROXY"] = env["no_proxy"] = LOOPBACK
        return env

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# -- a relay that records what Codex sends --------------------------------------------------------------


class _RelayHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RelayServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on stderr

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        path, _, query = self.path.partition("?")
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.lock:
            self.server.seen.append(RecordedRequest(self.command, path, query, headers, body, self.path))
        forwarded = {k: v for k, v in headers.items() if k not in ("host", "connection")}
        upstream = http.client.HTTPConnection(self.server.target_host, self.server.target_port, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=forwarded)
            answer = upstream.getresponse()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                    self.send_header(name, value)
            # Re-chunked as it arrives, so a stream reaches Codex event by event as from the gateway.
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            while chunk := answer.read1(65536):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        finally:
            upstream.close()

    do_GET = do_POST = do_DELETE = _relay


class _RelayServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _RelayHandler)
        parsed = urllib.parse.urlsplit(target)
        self.target_host = parsed.hostname or "127.0.0.1"
        self.target_port = parsed.port or 80
        self.lock = threading.Lock()
        self.seen: list[RecordedRequest] = []


class RecordingRelay:
    """A loopback HTTP relay to `target` (the gateway) that records each request as Codex sent it,
    so a test can compare it with what reached the upstream."""

    def __init__(self, target: str) -> None:
        self._server = _RelayServer(target)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._server.lock:
            return list(self._server.seen)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# -- running the CLI -------------------------------------------------------------------------------


@dataclass
class CodexRun:
    returncode: int
    stdout: str
    stderr: str
    # The agent's last message, as Codex wrote it with --output-last-message ("" when it wrote none).
    final_message: str
    seconds: float
    log: Path
    # Request lines that reached the trap proxy: any destination other than loopback.
    proxied: list[str] = field(default_factory=list)


def require_codex() -> Path:
    """The pinned CLI; in CI (CI=true) its absence fails the test, elsewhere it skips."""
    if CODEX_BIN.exists() and os.access(CODEX_BIN, os.X_OK):
        return CODEX_BIN
    reason = (
        f"Codex is not installed at {CODEX_BIN.relative_to(ROOT)}: run `make test` "
        "(or `npm ci` at the project root; needs node and npm)"
    )
    missing(reason)


def codex_env(
    home: Path, codex_home: Path, token: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Only what a shell needs, so nothing of the developer's own Codex setup (OPENAI_API_KEY,
    ~/.codex) leaks in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USER": os.environ.get("USER", "tester"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "SHELL": shutil.which("bash") or "/bin/sh",
        "TMPDIR": str(home / "tmp"),
        "CODEX_HOME": str(codex_home),
        TOKEN_ENV: token,
    }
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(extra or {})
    return env


def run_codex(
    name: str,
    prompt: str,
    base_url: str,
    tmp_path: Path,
    *,
    model: str,
    token: str = GATEWAY_TOKEN,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = CODEX_TIMEOUT,
) -> CodexRun:
    """`codex exec <prompt>` in a fresh CODEX_HOME and work folder, through a ``TrapProxy``; logged
    to test-output/codex/<name>.log. `args` go before the prompt (e.g. `-c key=value` overrides)."""
    binary = require_codex()
    home = tmp_path / "home"
    codex_home = home / ".codex"
    workdir = tmp_path / "work"
    codex_home.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(base_url, model))
    last_message = tmp_path / "last-message.txt"
    command = [
        str(binary),
        "exec",
        "--strict-config",
        "--ephemeral",
        "--skip-git-repo-check",
        "--color",
        "never",
        "--cd",
        str(workdir),
        "--output-last-message",
        str(last_message),
        *args,
        prompt,
    ]
    with TrapProxy() as trap:
        # Codex appends piped stdin to the prompt: run_cli closes it.
        env_run = codex_env(home, codex_home, token, {**trap.env(), **(env or {})})
        returncode, stdout, stderr, seconds = run_cli(command, workdir, env_run, timeout)
        proxied = trap.seen
    final = last_message.read_text() if last_message.exists() else ""
    run = CodexRun(returncode, stdout, stderr, final, seconds, LOG_DIR / f"{name}.log", proxied)
    _save_log(run, command, base_url)
    return run


def _save_log(run: CodexRun, command: list[str], base_url: str) -> None:
    run.log.parent.mkdir(parents=True, exist_ok=True)
    run.log.write_text(
        f"$ {' '.join(command)}\n"
        f"gateway {base_url}\n"
        f"exit {run.returncode} after {run.seconds:.1f}s\n"
        f"other hosts contacted (through the trap proxy): {run.proxied}\n"
        f"--- final message ---\n{run.final_message}\n"
        f"--- stdout ---\n{run.stdout}\n--- stderr ---\n{run.stderr}\n"
    )


def dump_requests(name: str, requests: list[RecordedRequest]) -> None:
    """Append what an upstream saw to the run's log (headers without credentials, bodies)."""
    path = LOG_DIR / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write("--- upstream requests ---\n")
        for r in requests:
            secret = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
            headers = {k: v for k, v in r.headers.items() if k not in secret}
            target = r.path + ("?" + r.query if r.query else "")
            out.write(f"\n{r.method} {target} {json.dumps(headers)}\n{r.body.decode(errors='replace')}\n")


# -- reading requests in the three wire formats --------------------------------------------------------


def is_model_call(request: RecordedRequest) -> bool:
    path = request.path.rstrip("/")
    model_paths = ("/responses", "/messages", ":generateContent", ":streamGenerateContent")
    return request.method == "POST" and path.endswith(model_paths)


def tool_names(body: Mapping[str, Any]) -> list[str]:
    """Function tools a request offers: Responses (`{type: function, name}`, also inside a
    `namespace` tool's `tools`), Anthropic (`{name}`), Gemini (`functionDeclarations`)."""
    names: list[str] = []

    def visit(tools: Any) -> None:
        for tool in tools or []:
            if not isinstance(tool, dict):
                continue
            if isinstance(tool.get("name"), str) and tool.get("type") in (None, "function", "custom"):
                names.append(tool["name"])
            visit(tool.get("tools") if tool.get("type") == "namespace" else None)
            visit(tool.get("functionDeclarations"))

    visit(body.get("tools"))
    return names


def tool_results(body: Mapping[str, Any]) -> list[str]:
    """Tool output a request sends back, as text: Responses `function_call_output` items (anywhere:
    Codex resends the whole history), Anthropic `tool_result` blocks of the last user message,
    Gemini `functionResponse` parts of the last content."""
    items = body.get("input")
    if isinstance(items, list):
        outputs = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        return [_text(i.get("output")) for i in outputs]
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    if messages and messages[-1].get("role") == "user" and isinstance(messages[-1].get("content"), list):
        blocks = [b for b in messages[-1]["content"] if isinstance(b, dict)]
        return [_text(b.get("content")) for b in blocks if b.get("type") == "tool_result"]
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    if contents:
        parts = [p for p in contents[-1].get("parts") or [] if isinstance(p, dict)]
        responses = [p["functionResponse"] for p in parts if isinstance(p.get("functionResponse"), dict)]
        return [json.dumps(response) for response in responses]
    return []


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text(part.get("text", "")) for part in content if isinstance(part, dict))
    return json.dumps(content)


CALL_ID = "call_codex_canary"


def codex_reply(kind: str, request: RecordedRequest) -> Script | None:
    """The scripted agent: a shell call, then the final answer once the command's output comes back."""
    body = request.json
    if not is_model_call(request) or not isinstance(body, dict):
        return None
    if any(TOOL_OUTPUT in text for text in tool_results(body)):
        return Script(text=FINAL_TEXT)
    if SHELL_TOOL in tool_names(body):
        call_id = "toolu_codex_canary" if kind == "anthropic" else CALL_ID
        return Script(tool_calls=[{"id": call_id, "name": SHELL_TOOL, "input": {"cmd": TOOL_COMMAND}}])
    return None


def describe(requests: list[RecordedRequest]) -> str:
    """One line per request, for assertion messages."""
    lines = []
    for r in requests:
        body = r.json if isinstance(r.json, dict) else {}
        lines.append(
            f"{r.method} {r.path}{'?' + r.query if r.query else ''} model={body.get('model')} "
            f"tools={len(tool_names(body))} results={len(tool_results(body))}"
        )
    return "\n".join(lines)
