"""The arms under test: what each one is, how to start it pinned, and how to know it is ready."""

from __future__ import annotations

import http.client
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.mock import port_open

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIGS = ROOT / "bench" / "configs"
PATH = "/v1/messages"
# What wrk sends (bench/wrk/post.lua); the smoke check sends the same.
REQUEST_HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "x-api-key": "bench",
}


@dataclass(frozen=True)
class Arm:
    name: str
    kind: str  # "direct" | "refproxy" | "gateway"
    what: str
    client: str | None = None  # REFPROXY_CLIENT for refproxy arms
    config: str = "gateway.yaml"  # under bench/configs, for gateway arms
    tree: Path | None = None  # a gateway arm run from another checkout of the project (before/after)


ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm("direct", "direct", "wrk straight to the mock (floor)"),
        Arm("ref-httpx", "refproxy", "bench/refproxy.py, httpx.AsyncClient (limits 1000)", "httpx"),
        Arm(
            "ref-httpx-aiohttp",
            "refproxy",
            "bench/refproxy.py, httpx + httpx_aiohttp.AiohttpTransport",
            "httpx-aiohttp",
        ),
        Arm("ref-aiohttp", "refproxy", "bench/refproxy.py, aiohttp.ClientSession (limit 1000)", "aiohttp"),
        Arm("gateway", "gateway", "our gateway, bench/configs/gateway.yaml", None),
        Arm(
            "gateway-metered",
            "gateway",
            "our gateway with a rate limit, a token limit and a budget (memory store): "
            "bench/configs/gateway-metered.yaml",
            None,
            "gateway-metered.yaml",
        ),
    )
}


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

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None else None


def _command(arm: Arm, port: int) -> list[str]:
    if arm.kind == "refproxy":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.refproxy:app",
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
        # From another checkout: its package comes first on PYTHONPATH (see `start`).
        program = [sys.executable, "-m", "gateway.cli"] if arm.tree is not None else [str(BIN / "gateway")]
        return [
            *program,
            "serve",
            "--config",
            str((CONFIGS / arm.config).relative_to(ROOT)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    raise ValueError(arm.kind)


def _healthz(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def start(arm: Arm, upstream_url: str, port: int, log_dir: Path, cpus: str | None, timeout: float) -> Target:
    """Start the arm against `upstream_url` and wait until it answers; raise ArmFailed if not."""
    if arm.kind == "direct":
        return Target(arm=arm, url=upstream_url, child=None, command="-")
    argv = _command(arm, port)
    env = dict(os.environ)
    if arm.kind == "refproxy":
        env |= {"REFPROXY_CLIENT": arm.client or "", "REFPROXY_UPSTREAM": upstream_url}
    else:
        env["BENCH_UPSTREAM"] = upstream_url
        if arm.tree is not None:
            env["PYTHONPATH"] = str(arm.tree)
    log = log_dir / f"{arm.name}-{port}.log"
    child = procs.spawn(arm.name, argv, log_path=log, cpus=cpus, env=env, cwd=ROOT)
    command = " ".join(["taskset", "-c", cpus, *argv] if cpus is not None else argv)
    # The gateway has a real readiness endpoint; the reference proxy only has its port.
    ready = (lambda: _healthz(port)) if arm.kind == "gateway" else (lambda: port_open(port))
    deadline = time.monotonic() + timeout
    while not ready():
        code = child.proc.poll()
        if code is not None:
            raise ArmFailed(f"exited with code {code} before answering (log: {log})\n{child.log_tail()}")
        if time.monotonic() > deadline:
            procs.stop(child)
            raise ArmFailed(f"not ready after {timeout:.0f} s (log: {log})\n{child.log_tail()}")
        time.sleep(0.1)
    return Target(arm=arm, url=f"http://127.0.0.1:{port}", child=child, command=command)


def stop(target: Target) -> None:
    if target.child is not None:
        procs.stop(target.child)


def smoke(target: Target, body: bytes, stream: bool) -> None:
    """One request before loading: a wrong answer would otherwise show up only as an error count."""
    host, port = target.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10.0)
    try:
        conn.request("POST", PATH, body=body, headers=REQUEST_HEADERS)
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
    if stream:
        ok = content_type.startswith("text/event-stream") and b"event: message_stop" in data
        expected = "an SSE stream ending in message_stop"
    else:
        ok = content_type.startswith("application/json") and b'"type":"message"' in data.replace(b" ", b"")
        expected = "an Anthropic Message JSON"
    if not ok:
        raise ArmFailed(f"smoke request: expected {expected}, got {content_type!r}: {snippet}")
