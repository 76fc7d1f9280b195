"""Hot reload: atomic swaps, in-flight streams finish on their table, invalid edits keep the last good one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.config import extras
from gateway.config.compiler import compile_config
from gateway.config.reload import LiveConfig, Siblings
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import free_port

HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGE = {"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_edit_under_a_live_stream(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up), watch=True)
    old_version = gw.live.table.version
    config_file = gw.config / "gateway.yaml"
    anthropic_up.push(Script(chunk_delay=0.1, text_chunks=15))
    result: dict[str, object] = {}

    def stream() -> None:
        with httpx.stream(
            "POST", gw.url + "/v1/messages", json={**MESSAGE, "stream": True}, headers=HEADERS, timeout=20
        ) as resp:
            result["version"] = resp.headers["x-gateway-config-version"]
            result["body"] = resp.read()

    thread = threading.Thread(target=stream)
    thread.start()
    wait_for(lambda: len(anthropic_up.requests) == 1)
    # Remove the alias the running stream used, and point it elsewhere in the new table.
    config_file.write_text(
        config_file.read_text().replace("fast: anthropic/claude-haiku-4-5", "fast: anthropic/claude-opus-4-8")
    )
    wait_for(lambda: httpx.get(gw.url + "/readyz").json()["config_version"] != old_version, timeout=5)
    thread.join(timeout=20)
    body = result["body"]
    assert isinstance(body, bytes) and body.count(b"event: content_block_delta") >= 10
    assert body.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n') and b"error" not in body
    assert result["version"] == old_version
    resp = httpx.post(gw.url + "/v1/messages", json=MESSAGE, headers=HEADERS)
    assert resp.headers["x-gateway-config-version"] != old_version
    assert anthropic_up.requests[-1].json["model"] == "claude-opus-4-8"


def test_invalid_edit_keeps_the_last_good_table(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up), watch=True)
    version = gw.live.table.version
    config_file = gw.config / "gateway.yaml"
    good = config_file.read_text()
    for broken in (
        good + "\nmodels2: {}\n",
        good.replace("fast: anthropic/", "fast: nowhere/"),
        good + "\n  bad: [\n",
    ):
        config_file.write_text(broken)
        wait_for(lambda: (httpx.get(gw.url + "/readyz").json()["last_reload"] or {}).get("ok") is False)
        ready = httpx.get(gw.url + "/readyz")
        assert ready.status_code == 200
        status = ready.json()
        assert status["status"] == "ready" and status["config_version"] == version
        assert status["last_reload"]["errors"][0].startswith(str(config_file) + ":")
        resp = httpx.post(gw.url + "/v1/messages", json=MESSAGE, headers=HEADERS)
        assert resp.status_code == 200 and resp.headers["x-gateway-config-version"] == version
        config_file.write_text(good)
        wait_for(lambda: httpx.get(gw.url + "/readyz").json()["last_reload"]["ok"] is True)


def test_reload_api_needs_the_admin_token_when_one_is_set(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(anthropic_up, openai_up, extra="server: { admin_token: adm-canary-55 }")
    )
    assert httpx.post(gw.url + "/api/reload").status_code == 401
    assert httpx.post(gw.url + "/api/reload", headers={"authorization": "Bearer nope"}).status_code == 401
    resp = httpx.post(gw.url + "/api/reload", headers={"authorization": "Bearer adm-canary-55"})
    assert resp.status_code == 200 and resp.json()["ok"] is True
    config = httpx.get(gw.url + "/api/config", headers={"authorization": "Bearer adm-canary-55"})
    assert "adm-canary-55" not in config.text and "sk-stored-canary" not in config.text
    assert config.json()["keys"]["anthropic-main"]["secret"] == "sk-s...cdef"


def _serve(config: Path, port: int, *extra: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
    )


def test_sighup_reloads_a_served_config(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(standard_config(anthropic_up, openai_up))
    port = free_port()
    proc = _serve(config, port, "--no-watch")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(url), timeout=15)
        version = httpx.get(url + "/readyz").json()["config_version"]
        config.write_text(config.read_text().replace("claude-haiku-4-5", "claude-sonnet-4-6"))
        time.sleep(0.5)
        assert httpx.get(url + "/readyz").json()["config_version"] == version  # no watcher: nothing yet
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: httpx.get(url + "/readyz").json()["config_version"] != version)
        httpx.post(url + "/v1/messages", json=MESSAGE, headers=HEADERS)
        assert anthropic_up.requests[-1].json["model"] == "claude-sonnet-4-6"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    # stdout carries the access log: one JSON line per request
    assert b'"model":"claude-sonnet-4-6"' in out


def test_serve_refuses_an_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("providers:\n  p: { type: nope }\n")
    proc = _serve(config, free_port())
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert b"refusing to start" in err and f"{config}:2:".encode() in err


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_graceful_stop_finishes_streams_in_flight_and_flushes_the_log(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(standard_config(anthropic_up, openai_up))
    port = free_port()
    proc = _serve(config, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), timeout=15)
        anthropic_up.push(Script(chunk_delay=0.15, text_chunks=12))
        with httpx.stream(
            "POST", url + "/v1/messages", json={**MESSAGE, "stream": True}, headers=HEADERS, timeout=20
        ) as resp:
            chunks = resp.iter_raw()
            first = next(chunks)
            proc.send_signal(signal.SIGTERM)  # mid-stream
            rest = b"".join(chunks)
        body = first + rest
        assert body.rstrip().endswith(b'{"type":"message_stop"}') and b"event: error" not in body
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    # uvicorn re-raises the signal once shut down, so a graceful stop ends as "terminated by SIGTERM".
    assert proc.returncode == -signal.SIGTERM
    assert b'"status":200' in out and b'"stream":true' in out  # the access-log line was written before exit


def _inotify_watches(pid: int) -> int:
    """Folders a process watches with inotify (one `inotify wd:` line per watch in its fdinfo)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        with contextlib.suppress(OSError):
            count += Path(f"/proc/{pid}/fdinfo/{fd}").read_text().count("inotify wd:")
    return count


def _reloads(url: str) -> float:
    text = httpx.get(url + "/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gateway_config_reloads_total{")
    )


def test_a_relative_single_file_reloads_on_edit(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    (tmp_path / "gw.yaml").write_text(standard_config(anthropic_up, openai_up))
    port = free_port()
    proc = _serve(Path("gw.yaml"), port, "--log-level", "warning", cwd=tmp_path)  # relative to cwd
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), timeout=15)
        version = httpx.get(url + "/readyz").json()["config_version"]
        # An edit in place.
        text = (tmp_path / "gw.yaml").read_text()
        (tmp_path / "gw.yaml").write_text(text.replace("claude-haiku-4-5", "claude-sonnet-4-6"))
        wait_for(lambda: httpx.get(url + "/readyz").json()["config_version"] != version)
        edited = httpx.get(url + "/readyz").json()["config_version"]
        httpx.post(url + "/v1/messages", json=MESSAGE, headers=HEADERS)
        assert anthropic_up.requests[-1].json["model"] == "claude-sonnet-4-6"
        # An editor's save: a new file written beside it, renamed over it.
        (tmp_path / ".gw.yaml.swp-new").write_text(text.replace("claude-haiku-4-5", "claude-opus-4-8"))
        os.replace(tmp_path / ".gw.yaml.swp-new", tmp_path / "gw.yaml")
        wait_for(lambda: httpx.get(url + "/readyz").json()["config_version"] not in (version, edited))
        httpx.post(url + "/v1/messages", json=MESSAGE, headers=HEADERS)
        assert anthropic_up.requests[-1].json["model"] == "claude-opus-4-8"
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


def test_a_single_file_is_watched_without_the_folders_beside_it(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(standard_config(anthropic_up, openai_up))
    busy = tmp_path / "data"
    deep = busy.joinpath(*(f"d{i}" for i in range(12)))
    deep.mkdir(parents=True)
    port = free_port()
    proc = _serve(config, port, "--log-level", "warning", cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), timeout=15)
        time.sleep(0.5)  # the watcher is set up once the app has started
        # One inotify watch: the file's folder. Watched recursively, it is one per folder below it too.
        assert _inotify_watches(proc.pid) == 1
        # A busy sibling folder (a database, logs) never triggers a reload, even with YAML names in it.
        for i in range(200):
            (deep / "gw.yaml").write_text(f"n: {i}\n")
            (busy / f"log-{i % 5}.yaml").write_text(f"n: {i}\n")
        time.sleep(1.0)
        assert _reloads(url) == 0
        config.write_text(config.read_text().replace("claude-haiku-4-5", "claude-sonnet-4-6"))
        wait_for(lambda: _reloads(url) == 1)
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


def _live(tmp_path: Path, body: str, siblings: Siblings | None = None) -> LiveConfig:
    (tmp_path / "gateway.yaml").write_text(body)
    live = LiveConfig(tmp_path, compile_config(tmp_path))
    live.siblings = siblings
    return live


def test_a_reload_that_start_would_refuse_keeps_the_live_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider whose library is missing fails at start; a reload that adds one is rejected too,
    naming the extra and the file, instead of an ImportError on its first request."""
    live = _live(tmp_path, "providers:\n  a: { type: anthropic }\n")
    version = live.table.version
    hidden = lambda name: None if "botocore" in name else object()  # noqa: E731
    monkeypatch.setattr(extras.importlib.util, "find_spec", hidden)
    (tmp_path / "more.yaml").write_text("providers:\n  b: { type: bedrock, region: us-east-1 }\n")
    result = asyncio.run(live.reload())
    assert not result.ok and live.table.version == version
    assert "more.yaml:2:" in result.errors[0] and "llm-gateway[aws]" in result.errors[0]


def test_workers_refuse_a_reload_to_the_memory_store(tmp_path: Path) -> None:
    live = _live(tmp_path, "providers:\n  a: { type: anthropic }\n", Siblings(str(tmp_path / "reloads")))
    version = live.table.version
    (tmp_path / "state.yaml").write_text("state: { store: memory }\n")
    result = asyncio.run(live.reload())
    assert not result.ok and live.table.version == version
    assert "state.store" in result.errors[0] and "sqlite:///" in result.errors[0]
    alone = _live(tmp_path, "providers:\n  a: { type: anthropic }\n")  # one process: memory is its default
    assert asyncio.run(alone.reload()).ok
