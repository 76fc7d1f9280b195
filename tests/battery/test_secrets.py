"""S3: canary secrets. A `gateway serve` process at --log-level debug holds canary stored provider keys,
gateway tokens and an admin token, and clients send their own canary keys; upstreams echo the key they
got in their 401 bodies. After a mix of traffic (successes, upstream errors, streams, translated and
passthrough calls, bodies logged and not, bad logins, a reload with a bad config that names a secret),
every output channel is searched for every canary, raw, URL-encoded and base64: stdout and stderr, the
log store's file, every admin endpoint, /metrics, the dashboard pages, the exported traces (a tiny OTLP
sink) and every response the clients got. 0 hits; where a key is shown, it is prefix and last 4."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from tests.battery.conftest import scale
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import free_port

# Some in the providers' key shapes (which the gateway also scrubs by pattern), some in no known shape
# (so only the gateway's knowledge of its own secrets can keep them out).
CANARIES = {
    "CANARY_ANTHROPIC": "sk-ant-api03-CanaryStoredAnthropic-1f2e3d4c5b6a",
    "CANARY_OPENAI": "canary-stored-openai-9a8b7c6d5e4f3a2b",
    "CANARY_GEMINI": "canary-stored-gemini-0011223344556677",
    "CANARY_TOKEN": "canary-gateway-token-5566778899aabbcc",
    "CANARY_TEAM_TOKEN": "canary-team-token-ddeeff0011223344",
    "CANARY_ADMIN": "canary-admin-token-a1b2c3d4e5f60718",
}
CLIENT_KEYS = {
    "client_anthropic": "canary-client-anthropic-8877665544332211",
    "client_openai": "canary-client-openai-1122aabbccddeeff",
    "client_gemini": "canary-client-gemini-ffeeddccbbaa9988",
}
ALL = {**CANARIES, **CLIENT_KEYS}
TEAM_DIGEST = hashlib.sha256(CANARIES["CANARY_TEAM_TOKEN"].encode()).hexdigest()


def forms(secret: str) -> dict[str, bytes]:
    """The secret as it could appear: raw, URL-encoded, and base64 (standard and URL-safe) at each of
    the three alignments it can take inside a longer encoded string."""
    found = {"raw": secret.encode(), "url": quote(secret, safe="").encode()}
    for pad in range(3):
        for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            encoded = encode(b"x" * pad + secret.encode())
            # Drop the characters that mix in the padding before it or the end after it.
            start = 4 if pad else 0
            found[f"{name}{pad}"] = encoded[start : len(encoded) - 4]
    return found


class OtlpSink:
    """Accepts OTLP/HTTP exports and keeps their bodies (protobuf: strings travel as they are)."""

    def __init__(self) -> None:
        bodies: list[bytes] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


CONFIG = """
version: 1
server: {{ admin_token: "${{CANARY_ADMIN}}" }}
providers:
  anthropic: {{ type: anthropic, base_url: "{anthropic}" }}
  openai: {{ type: openai, base_url: "{openai}" }}
  google: {{ type: gemini, base_url: "{gemini}" }}
keys:
  anthropic-main: {{ provider: anthropic, secret: "${{CANARY_ANTHROPIC}}" }}
  openai-main: {{ provider: openai, secret: "${{CANARY_OPENAI}}" }}
  google-main: {{ provider: google, secret: "${{CANARY_GEMINI}}" }}
models:
  claude-*: anthropic/*
  gpt-*: openai/*
  gemini-*: google/*
gateways:
  default:
    auth: tokens
    tokens: [{{ name: app, secret: "${{CANARY_TOKEN}}" }}]
    provider_keys: [stored]
    logs: {{ bodies: true }}
  byok:
    auth: tokens
    tokens: [{{ name: team, sha256: {digest} }}]
    provider_keys: [request]
logs: {{ store: "sqlite:///./data/gateway.db", bodies: false }}
"""


class Client:
    """Sends the traffic and keeps every answer (status line, headers, body) for the search."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.seen: list[bytes] = []
        self.count = 0

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.http.stream(method, path, **kwargs) as answer:
            body = answer.read()
        self.count += 1
        # The answer only: the request's own path may carry the client's key (`?key=`).
        self.seen.append(f"{answer.status_code}\n".encode() + repr(answer.headers.raw).encode())
        self.seen.append(body)
        return answer


def anthropic_body(model: str = "claude-haiku-4-5", **extra: Any) -> dict[str, Any]:
    ask = [{"role": "user", "content": "hi"}]
    return {"model": model, "max_tokens": 16, "messages": ask, **extra}


def openai_body(model: str = "gpt-5.2", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


SERVE = [sys.executable, "-m", "gateway.cli", "serve"]


@pytest.fixture
def gateway_proc(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, OtlpSink]]:
    sink = OtlpSink()
    config = tmp_path / "config"
    config.mkdir()
    (config / "gateway.yaml").write_text(
        CONFIG.format(
            anthropic=anthropic_up.base_url,
            openai=openai_up.base_url,
            gemini=gemini_up.base_url,
            digest=TEAM_DIGEST,
        )
    )
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        **CANARIES,
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    out = (tmp_path / "stdout").open("wb")
    err = (tmp_path / "stderr").open("wb")
    proc = subprocess.Popen(
        [*SERVE, "--config", str(config), "--port", str(port), "--no-watch", "--log-level", "debug"],
        stdout=out,
        stderr=err,
        env=env,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            try:
                if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.1)
        yield proc, url, tmp_path, sink
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)
        out.close()
        err.close()
        sink.close()


def echo(key: str, status: int = 401) -> Script:
    """What real providers do: the key they were sent, in the error message."""
    return Script(status=status, error_message=f"Incorrect API key provided: {key}. Find your key at ...")


def test_no_canary_in_any_output_channel(
    gateway_proc: tuple[subprocess.Popen[bytes], str, Path, OtlpSink],
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    figures: dict[str, Any],
) -> None:
    proc, url, folder, sink = gateway_proc
    client = Client(url)
    token = {"x-gateway-key": CANARIES["CANARY_TOKEN"]}
    team = {"x-gateway-key": CANARIES["CANARY_TEAM_TOKEN"]}
    admin = {"authorization": f"Bearer {CANARIES['CANARY_ADMIN']}"}
    version = {"anthropic-version": "2023-06-01"}
    stored_anthropic, stored_openai = CANARIES["CANARY_ANTHROPIC"], CANARIES["CANARY_OPENAI"]
    rounds = scale(3, 30)
    for done in range(rounds):
        # Successes: native, streamed, translated, passthrough, count_tokens; stored keys.
        client.call("POST", "/v1/messages", json=anthropic_body(), headers={**token, **version})
        client.call("POST", "/v1/messages", json=anthropic_body(stream=True), headers={**token, **version})
        client.call("POST", "/v1/chat/completions", json=openai_body(stream=True), headers=token)
        client.call("POST", "/v1/messages", json=anthropic_body("gpt-5.2"), headers={**token, **version})
        client.call("POST", "/v1/chat/completions", json=openai_body("gemini-2.5-flash"), headers=token)
        client.call("POST", "/anthropic/v1/messages", json=anthropic_body(), headers={**token, **version})
        client.call("POST", "/v1/messages/count_tokens", json=anthropic_body(), headers={**token, **version})
        # Upstream 401s echoing the stored key: native, translated, streamed, passthrough.
        anthropic_up.push(echo(stored_anthropic))
        client.call("POST", "/v1/messages", json=anthropic_body(), headers={**token, **version})
        openai_up.push(echo(stored_openai))
        client.call("POST", "/v1/messages", json=anthropic_body("gpt-5.2"), headers={**token, **version})
        openai_up.push(echo(stored_openai))
        client.call("POST", "/v1/chat/completions", json=openai_body(stream=True), headers=token)
        gemini_up.push(echo(CANARIES["CANARY_GEMINI"], 400))
        client.call(
            "POST", "/v1/messages", json=anthropic_body("gemini-2.5-flash"), headers={**token, **version}
        )
        anthropic_up.push(echo(stored_anthropic, 403))
        client.call("POST", "/anthropic/v1/messages", json=anthropic_body(), headers={**token, **version})
        openai_up.push(Script(status=500, error_message=f"internal error for key {stored_openai}"))
        client.call("POST", "/v1/chat/completions", json=openai_body(), headers=token)
        anthropic_up.push(Script(error_event_after=1, error_message=f"overloaded, key {stored_anthropic}"))
        client.call("POST", "/v1/messages", json=anthropic_body(stream=True), headers={**token, **version})
        # The client's own keys (bodies not logged on this gateway), echoed back in 401s too.
        own_anthropic = {**team, **version, "x-api-key": CLIENT_KEYS["client_anthropic"]}
        client.call("POST", "/g/byok/v1/messages", json=anthropic_body(), headers=own_anthropic)
        anthropic_up.push(echo(CLIENT_KEYS["client_anthropic"]))
        client.call("POST", "/g/byok/v1/messages", json=anthropic_body(), headers=own_anthropic)
        own_openai = {**team, "authorization": f"Bearer {CLIENT_KEYS['client_openai']}"}
        openai_up.push(echo(CLIENT_KEYS["client_openai"]))
        client.call("POST", "/g/byok/v1/chat/completions", json=openai_body(), headers=own_openai)
        gemini = CLIENT_KEYS["client_gemini"]
        client.call(
            "POST",
            f"/g/byok/google/models/gemini-2.5-flash:generateContent?key={gemini}",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            headers={**team, "x-goog-api-key": gemini},
        )
        # Wrong credentials that are near misses of the right ones, and bad admin calls.
        client.call(
            "POST", "/v1/messages", json=anthropic_body(), headers={"x-gateway-key": "nope", **version}
        )
        client.call("GET", "/api/config", headers={"authorization": "Bearer " + CANARIES["CANARY_TOKEN"]})
        if done < 3:  # fewer than the login throttle allows, so the right login below gets in
            client.call("POST", "/dashboard/login", data={"token": CANARIES["CANARY_TOKEN"]})
    # A dashboard login with the right token (the session cookie is no token either).
    login = client.call("POST", "/dashboard/login", data={"token": CANARIES["CANARY_ADMIN"]})
    assert login.status_code == 303
    # A reload with a bad config that names a secret in the offending line, then the good one back.
    bad = folder / "config" / "zz-bad.yaml"
    token_value = CANARIES["CANARY_TOKEN"]
    bad.write_text(
        f'keys:\n  leaky: {{ provider: nowhere, secret: "{stored_anthropic}" }}\n'
        f'  leaky2: {{ provider: anthropic, secret: "{stored_openai}", bogus: "{token_value}" }}\n'
    )
    reloaded = client.call("POST", "/api/reload", headers=admin)
    assert reloaded.status_code != 200 or orjson.loads(reloaded.content)["ok"] is False
    bad.write_text(
        f"gateways:\n  x: {{ auth: tokens, tokens: [{{ name: a, secret: {stored_openai}\n"
    )  # broken
    client.call("POST", "/api/reload", headers=admin)
    bad.unlink()
    assert orjson.loads(client.call("POST", "/api/reload", headers=admin).content)["ok"] is True
    # Let the access log and the log store catch up, then read every admin surface.
    time.sleep(1.0)
    logs = orjson.loads(client.call("GET", "/api/logs?limit=500", headers=admin).content)["data"]
    assert len(logs) >= min(18 * rounds, 500)  # one page of at most 500
    for record in logs[:: max(1, len(logs) // 20)]:
        client.call("GET", f"/api/logs/{record['id']}", headers=admin)
        client.call("GET", f"/dashboard/logs/{record['id']}", headers=admin)
    for path in (
        "/api/config",
        "/api/budgets",
        "/api/limits",
        "/api/analytics?group_by=model",
        "/api/analytics?group_by=token",
        "/metrics",
        "/readyz",
        "/healthz",
        "/dashboard",
        "/dashboard/logs",
        "/dashboard/logs?status=4xx",
        "/dashboard/config",
        "/dashboard/models",
        "/v1/models",
    ):
        answer = client.call("GET", path, headers={**admin, **token})
        assert answer.status_code == 200, (path, answer.status_code)
    client.call("POST", "/api/explain", json={"model": "claude-haiku-4-5"}, headers=admin)
    # Keys shown are prefix and last 4.
    described = orjson.loads(client.call("GET", "/api/config", headers=admin).content)
    shown = {k: v["secret"] for k, v in described["keys"].items()}
    assert shown["anthropic-main"] == f"{stored_anthropic[:4]}...{stored_anthropic[-4:]}", shown
    # Stop the process: stdout, stderr, the log database and the last traces are complete.
    proc.terminate()
    assert proc.wait(30) in (0, -15)  # uvicorn re-raises the signal once it has shut down
    channels: dict[str, bytes] = {
        "stdout": (folder / "stdout").read_bytes(),
        "stderr": (folder / "stderr").read_bytes(),
        "responses": b"\n".join(client.seen),
        "traces": b"\n".join(sink.bodies),
    }
    for db in (folder / "data").glob("gateway.db*"):  # the database, its WAL and shared memory
        channels[db.name] = db.read_bytes()
    assert channels["stdout"].count(b'"latency_ms"') >= 18 * rounds  # the access log was written
    assert sink.bodies, "no trace was exported"
    assert "gateway.db" in channels
    assert b"Incorrect API key provided" in channels["responses"]  # the echoes did come back
    hits = [
        f"{name} ({form}) in {channel}"
        for channel, data in channels.items()
        for name, secret in ALL.items()
        for form, pattern in forms(secret).items()
        if pattern in data
    ]
    figures.update(
        requests=client.count,
        canaries=len(ALL),
        channels=sorted(channels),
        bytes_searched=sum(len(d) for d in channels.values()),
        failures=len(hits),
    )
    assert not hits, hits


def test_the_search_finds_what_it_looks_for() -> None:
    """The oracle can fail: each form of a canary embedded in a larger text is found."""
    secret = CANARIES["CANARY_OPENAI"]
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"x" * pad + f'{{"key": "{secret}"}}'.encode())
            assert any(p in text for p in forms(secret).values()), (pad, encode)
    assert any(p in quote(f"key={secret}&a=b").encode() for p in forms(secret).values())
    assert not any(p in re.sub("a", "b", secret).encode() for p in forms(secret).values())
