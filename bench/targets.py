"""The arms under test: what each one is, how to start it pinned, and how to know it is ready."""

from __future__ import annotations

import http.client
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import peers, procs
from bench.mock import port_open
from bench.workloads import TOKEN, WORKLOADS, Request, check_answer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIGS = ROOT / "bench" / "configs"
PATH = "/v1/messages"
# The key every arm's load sends: the gateway's token (auth: tokens), LiteLLM's master key; the mock,
# the nginx arm, the reference proxies and Portkey forward it to the mock, which takes any key.
BENCH_TOKEN = TOKEN
# What wrk sends (bench/wrk/post.lua), plus a Target's own `headers`; the smoke check sends the same.
REQUEST_HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "x-api-key": BENCH_TOKEN,
}


@dataclass(frozen=True)
class Arm:
    name: str
    kind: str  # "direct" | "nginx" | "refproxy" | "refasgi" | "gateway" | "litellm" | "portkey"
    what: str
    client: str | None = None  # REFPROXY_CLIENT for refproxy arms
    config: str = "gateway.yaml"  # under bench/configs, for gateway arms
    tree: Path | None = None  # a gateway arm run from another checkout of the project (before/after)


ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm("direct", "direct", "wrk straight to the mock (floor)"),
        Arm(
            "nginx",
            "nginx",
            "nginx proxy_pass to the mock, keep-alive upstream pool, 1 worker (floor of a hop)",
        ),
        Arm("ref-httpx", "refproxy", "bench/refproxy.py, httpx.AsyncClient (limits 1000)", "httpx"),
        Arm(
            "ref-httpx-aiohttp",
            "refproxy",
            "bench/refproxy.py, httpx + httpx_aiohttp.AiohttpTransport",
            "httpx-aiohttp",
        ),
        Arm("ref-aiohttp", "refproxy", "bench/refproxy.py, aiohttp.ClientSession (limit 1000)", "aiohttp"),
        Arm("ref-asgi", "refasgi", "bench/refasgi.py: raw ASGI (no Starlette) + aiohttp.ClientSession"),
        Arm("gateway", "gateway", "our gateway, bench/configs/gateway.yaml", None),
        Arm(
            "gateway-metered",
            "gateway",
            "our gateway with a rate limit, a token limit and a budget (memory store): "
            "bench/configs/gateway-metered.yaml",
            None,
            "gateway-metered.yaml",
        ),
        Arm(
            "gateway-guarded",
            "gateway",
            "our gateway with output and input guardrails (two regex, one builtin): "
            "bench/configs/gateway-guarded.yaml",
            None,
            "gateway-guarded.yaml",
        ),
        Arm("litellm", "litellm", f"LiteLLM proxy {peers.LITELLM_VERSION}, 1 worker, no DB, master key"),
        Arm("portkey", "portkey", "Portkey's gateway (@portkey-ai/gateway from npm), Node.js"),
    )
}
# `make bench` runs these; the others can be named with --arms.
DEFAULT_ARMS = [name for name in ARMS if name != "ref-httpx"]
# Arms installed from a registry before the run (bench/peers.py); a failed install fails the arm.
PEER_KINDS = {"litellm", "portkey"}


def baseline_arm(tree: Path) -> Arm:
    """The gateway as another checkout has it (e.g. a `git worktree` of the commit before a change),
    on the same config: `--baseline PATH` compares a change with what it replaces in one run."""
    what = f"our gateway from {tree}, bench/configs/gateway.yaml"
    return Arm("gateway-baseline", "gateway", what, tree=tree)


class ArmFailed(RuntimeError):
    """The arm could not be started or does not answer correctly; its rows are reported failed."""


@dataclass
class Target:
    arm: Arm
    url: str  # base URL wrk loads
    child: procs.Child | None  # None for `direct`
    command: str
    headers: dict[str, str] = field(default_factory=dict)  # sent on top of REQUEST_HEADERS
    upstream_url: str = ""  # the mock it is in front of (an arm's routing headers name it)

    @property
    def request_headers(self) -> dict[str, str]:
        return {**REQUEST_HEADERS, **self.headers}

    def headers_for(self, request: Request) -> dict[str, str]:
        """What wrk and the smoke check send for one workload: its headers plus the arm's routing."""
        return {**request.headers, **arm_headers(self.arm, self.upstream_url, request.provider)}

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None else None


def _port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def nginx_config(prefix: Path, port: int, upstream_url: str) -> str:
    text = (CONFIGS / "nginx-proxy.conf.in").read_text()
    values = {"PREFIX": str(prefix), "PORT": str(port), "UPSTREAM_PORT": str(_port_of(upstream_url))}
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def litellm_config(upstream_url: str) -> str:
    """The payloads' aliases on the mock with a stored key (`bench-model` on Anthropic, `bench-openai` on
    OpenAI for the same-format Responses rows); no DB; the master key checked."""
    return (
        "model_list:\n"
        "  - model_name: bench-model\n"
        "    litellm_params:\n"
        "      model: anthropic/claude-sonnet-4-5\n"
        f"      api_base: {upstream_url}\n"
        "      api_key: bench-key\n"
        "  - model_name: bench-openai\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4.1\n"
        f"      api_base: {upstream_url}/v1\n"
        "      api_key: bench-key\n"
        "general_settings:\n"
        f"  master_key: {BENCH_TOKEN}\n"
    )


def _command(arm: Arm, port: int, run_dir: Path) -> list[str]:
    if arm.kind == "nginx":
        nginx = shutil.which("nginx") or "nginx"
        conf = run_dir / "nginx.conf"
        return [
            nginx,
            "-p",
            str(run_dir),
            "-c",
            str(conf),
            "-e",
            str(run_dir / "error.log"),
            "-g",
            "daemon off;",
        ]
    if arm.kind == "litellm":
        litellm = peers.LITELLM_VENV / "bin" / "litellm"
        config = str(run_dir / "litellm.yaml")
        return [
            str(litellm),
            "--config",
            config,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ]
    if arm.kind == "portkey":
        return ["node", str(peers.PORTKEY_SERVER), f"--port={port}", "--headless"]
    if arm.kind in ("refproxy", "refasgi"):
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.refproxy:app" if arm.kind == "refproxy" else "bench.refasgi:app",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    if arm.kind == "gateway":
        # Always `-m gateway.cli` with the tree first on PYTHONPATH (see `launch`): the gateway of this
        # checkout (or of --baseline), not whatever the venv has installed.
        return [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--config",
            str((CONFIGS / arm.config).relative_to(ROOT)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    raise ValueError(arm.kind)


def _healthz_path(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def arm_headers(arm: Arm, upstream_url: str, provider: str = "anthropic") -> dict[str, str]:
    """Headers an arm needs on every request besides REQUEST_HEADERS (wrk and the smoke check send them).

    `provider`: the upstream dialect the workload goes to ("anthropic" or "openai")."""
    if arm.kind == "portkey":
        # Portkey routes by headers: the provider, and the mock as its base URL (both end in /v1).
        return {"x-portkey-provider": provider, "x-portkey-custom-host": upstream_url.rstrip("/") + "/v1"}
    return {}


@dataclass
class Pending:
    """An arm spawned but not yet known to answer: `launch` then `wait_ready`, so arms start together."""

    arm: Arm
    port: int
    child: procs.Child
    command: str
    headers: dict[str, str]
    ready: Callable[[], bool]
    log: Path
    upstream_url: str


def run_dir_of(arm: Arm, port: int, log_dir: Path) -> Path:
    """Where an arm's run keeps its files (a gateway arm's request log: gateway.db)."""
    return log_dir / f"{arm.name}-{port}"


def launch(arm: Arm, upstream_url: str, port: int, log_dir: Path, cpus: str | None) -> Pending | Target:
    """Spawn the arm against `upstream_url` (a Target at once for `direct`, which has no process)."""
    if arm.kind == "direct":
        return Target(arm=arm, url=upstream_url, child=None, command="-", upstream_url=upstream_url)
    run_dir = run_dir_of(arm, port, log_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if arm.kind == "nginx":
        (run_dir / "nginx.conf").write_text(nginx_config(run_dir, port, upstream_url))
    if arm.kind == "litellm":
        (run_dir / "litellm.yaml").write_text(litellm_config(upstream_url))
    argv = _command(arm, port, run_dir)
    env = dict(os.environ)
    if arm.kind in ("refproxy", "refasgi"):
        env |= {"REFPROXY_CLIENT": arm.client or "", "REFPROXY_UPSTREAM": upstream_url}
    elif arm.kind == "gateway":
        env["BENCH_UPSTREAM"] = upstream_url
        env["BENCH_DB"] = str(run_dir / "gateway.db")
        # The worktree's gateway first, or another checkout's for gateway-baseline.
        env["PYTHONPATH"] = str(arm.tree or ROOT)
    elif arm.kind == "litellm":
        # No fetch of the model price map at start (the bench has no network), no telemetry.
        env |= {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    log = log_dir / f"{arm.name}-{port}.log"
    child = procs.spawn(arm.name, argv, log_path=log, cpus=cpus, env=env, cwd=ROOT)
    command = " ".join(["taskset", "-c", cpus, *argv] if cpus is not None else argv)
    # Readiness: the gateway's /healthz, LiteLLM's liveness probe, a TCP connect for the others.
    ready: Callable[[], bool]
    if arm.kind == "gateway":
        ready = lambda: _healthz_path(port, "/healthz")  # noqa: E731
    elif arm.kind == "litellm":
        ready = lambda: _healthz_path(port, "/health/liveliness")  # noqa: E731
    else:
        ready = lambda: port_open(port)  # noqa: E731
    return Pending(arm, port, child, command, arm_headers(arm, upstream_url), ready, log, upstream_url)


def wait_ready(pending: Pending | Target, deadline: float) -> Target:
    """Poll until the arm answers (monotonic `deadline`); raise ArmFailed if it exits or times out."""
    if isinstance(pending, Target):
        return pending
    child, log = pending.child, pending.log
    while not pending.ready():
        code = child.proc.poll()
        if code is not None:
            raise ArmFailed(f"exited with code {code} before answering (log: {log})\n{child.log_tail()}")
        if time.monotonic() > deadline:
            procs.stop(child)
            raise ArmFailed(f"not ready in time (log: {log})\n{child.log_tail()}")
        time.sleep(0.1)
    url = f"http://127.0.0.1:{pending.port}"
    return Target(
        arm=pending.arm,
        url=url,
        child=child,
        command=pending.command,
        headers=pending.headers,
        upstream_url=pending.upstream_url,
    )


def start(arm: Arm, upstream_url: str, port: int, log_dir: Path, cpus: str | None, timeout: float) -> Target:
    """Start the arm against `upstream_url` and wait until it answers; raise ArmFailed if not."""
    return wait_ready(launch(arm, upstream_url, port, log_dir, cpus), time.monotonic() + timeout)


def stop(target: Target) -> None:
    if target.child is not None:
        procs.stop(target.child)


def smoke(target: Target, body: bytes, stream: bool) -> None:
    """One request before loading: a wrong answer would otherwise show up only as an error count."""
    request = WORKLOADS["sse" if stream else "json"].request
    _smoke(target, PATH, body, target.request_headers, request)


def smoke_request(target: Target, request: Request) -> list[str]:
    """The smoke check of one workload's request (its path, body and headers): raises ArmFailed if the
    answer is wrong; returns how it deviates from the real API's shape (the report notes them)."""
    return _smoke(target, request.path, request.payload.read_bytes(), target.headers_for(request), request)


def _smoke(target: Target, path: str, body: bytes, headers: dict[str, str], request: Request) -> list[str]:
    host, port = target.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10.0)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        content_type = response.getheader("content-type", "")
    except OSError as exc:
        raise ArmFailed(f"smoke request failed: {exc!r}") from exc
    finally:
        conn.close()
    snippet = data[:600].decode(errors="replace")
    if response.status != 200:
        raise ArmFailed(f"smoke request got HTTP {response.status}: {snippet}")
    verdict = check_answer(request, content_type, data)
    if verdict.failure:
        raise ArmFailed(f"smoke request: {verdict.failure}, got {content_type!r}: {snippet}")
    return verdict.deviations
