"""The request log end to end: traffic through the SDKs lands as exactly one record per request with
its tokens and cost, on SQLite and PostgreSQL; nothing is lost on a graceful stop and at most the last
unflushed batch on kill -9; secrets never reach the store; the logs and analytics API."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import STORED_KEY, GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess

PRICING = """
pricing:
  anthropic/claude-metered: { input: 1, output: 100 }
  openai/gpt-metered: { input: 1, output: 100 }
"""


def all_records(url: str, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": "200", **params, **({"cursor": cursor} if cursor else {})}
        answer = httpx.get(url + "/api/logs", params=query, timeout=10).json()
        out += answer["data"]
        cursor = answer["next_cursor"]
        if cursor is None:
            return out


def wait_for(url: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = all_records(url)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_every_request_is_one_record_with_its_tokens_and_cost(
    request: pytest.FixtureRequest,
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    tmp_path: Path,
    store: str,
) -> None:
    url = f"sqlite:///{tmp_path}/log.db" if store == "sqlite" else request.getfixturevalue("postgres_url")
    gw = make_gateway(standard_config(anthropic_up, openai_up, PRICING + f"\nlogs: {{ store: '{url}' }}\n"))
    n = 40
    for i in range(n):
        anthropic_up.push(Script(usage={"input_tokens": 100 + i, "output_tokens": 10 + i}))

    async def traffic() -> None:
        a = anthropic.AsyncAnthropic(base_url=gw.url, api_key="k", max_retries=0)
        o = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)

        async def one(i: int) -> None:
            meta = {"x-gateway-metadata": json.dumps({"n": i})}
            messages: Any = [{"role": "user", "content": f"q{i}"}]
            if i % 4 == 0:
                async with a.messages.stream(
                    model="claude-metered", max_tokens=100, messages=messages, extra_headers=meta
                ) as s:
                    await s.get_final_message()
            elif i % 4 == 1:
                stream = await o.chat.completions.create(
                    model="claude-metered", messages=messages, stream=True, extra_headers=meta
                )
                async for _ in stream:
                    pass
            elif i % 4 == 2:
                await o.chat.completions.create(model="claude-metered", messages=messages, extra_headers=meta)
            else:
                await a.messages.create(
                    model="claude-metered", max_tokens=100, messages=messages, extra_headers=meta
                )

        await asyncio.gather(*(one(i) for i in range(n)))

    asyncio.run(traffic())
    records = wait_for(gw.url, n)
    assert len(records) == n and len({r["id"] for r in records}) == n
    # Which script served which request depends on arrival order; the set of usages must be exact.
    usages = sorted((r["input_tokens"], r["output_tokens"]) for r in records)
    assert usages == [(100 + i, 10 + i) for i in range(n)]
    for r in records:
        expected = (Decimal(r["input_tokens"]) * 1 + Decimal(r["output_tokens"]) * 100) / 1_000_000
        assert Decimal(r["cost_usd"]) == expected
        assert r["status"] == 200 and r["provider"] == "anthropic" and r["model"] == "claude-metered"
    assert sum(r["stream"] for r in records) == n // 2
    assert sorted(r["metadata"]["n"] for r in records) == list(range(n))
    detail = httpx.get(gw.url + f"/api/logs/{records[0]['id']}").json()
    assert detail["id"] == records[0]["id"] and detail["attempts"][0]["status"] == 200
    assert httpx.get(gw.url + "/api/logs/nope").status_code == 404
    stats = httpx.get(gw.url + "/api/analytics", params={"since": "1h", "bucket": "1h"}).json()
    assert stats["totals"]["requests"] == n
    assert Decimal(stats["totals"]["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in records)


def test_filters_over_http_and_bad_queries(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up))
    anthropic_up.push(Script(), Script(status=500))
    openai_up.push(Script())
    sdk = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    sdk.messages.create(
        model="claude-haiku-4-5",
        max_tokens=5,
        messages=[{"role": "user", "content": "a"}],
        extra_headers={"x-gateway-metadata": '{"team": "red"}'},
    )
    with pytest.raises(anthropic.InternalServerError):
        sdk.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "b"}]
        )
    oai = openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
    oai.chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "c"}])
    assert len(wait_for(gw.url, 3)) == 3
    assert [r["status"] for r in all_records(gw.url, status="5xx")] == [500]
    assert [r["model"] for r in all_records(gw.url, provider="openai")] == ["gpt-5-mini"]
    assert [r["metadata"] for r in all_records(gw.url, **{"metadata.team": "red"})] == [{"team": "red"}]
    bad = httpx.get(gw.url + "/api/logs", params={"since": "last tuesday"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]
    grouped = httpx.get(gw.url + "/api/analytics", params={"group_by": "provider", "bucket": "1d"}).json()
    assert {b["group"]: b["requests"] for b in grouped["buckets"]} == {"anthropic": 2, "openai": 1}


def test_secrets_never_reach_the_store(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, tmp_path: Path
) -> None:
    client_key = "sk-ant-client-canary-7731-abcdefgh"
    token = "gw-token-canary-5519-zyxwvu"
    db = tmp_path / "log.db"
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            f"logs: {{ store: 'sqlite:///{db}', bodies: true }}\n",
            gateway=f"""
gateways:
  default: {{ auth: none, provider_keys: [stored, request] }}
  byok:
    auth: tokens
    tokens: [{{ name: app, secret: {token} }}]
    provider_keys: [request]
""",
        )
    )
    # An upstream that echoes the key it was sent, as real ones do in 401s.
    anthropic_up.push(
        Script(status=401, error_message=f"invalid x-api-key: {STORED_KEY}"),
        Script(text="fine"),
        Script(status=401, error_message=f"invalid x-api-key: {client_key}"),
    )
    sdk = anthropic.Anthropic(base_url=gw.url, api_key=client_key, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        sdk.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    sdk.messages.create(
        model="claude-haiku-4-5",
        max_tokens=5,
        messages=[{"role": "user", "content": f"my key is {client_key}"}],
    )
    byok = anthropic.Anthropic(
        base_url=gw.url + "/g/byok",
        api_key=client_key,
        default_headers={"x-gateway-key": token},
        max_retries=0,
    )
    with pytest.raises(anthropic.AuthenticationError):
        byok.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "y"}]
        )
    records = wait_for(gw.url, 3)
    assert len(records) == 3
    detail = httpx.get(gw.url + f"/api/logs/{records[1]['id']}").json()
    assert "my key is [redacted]" in detail["request_body"] and "fine" in detail["response_body"]
    shown = httpx.get(gw.url + "/api/logs").text + json.dumps(
        [httpx.get(gw.url + f"/api/logs/{r['id']}").json() for r in records]
    )
    raw = db.read_bytes() + (
        db.with_name(db.name + "-wal").read_bytes() if db.with_name(db.name + "-wal").exists() else b""
    )
    stdout = b"".join(gw.log.lines)  # the access log the gateway writes to stdout
    assert b'"request_body"' in stdout
    for secret in (client_key, token, STORED_KEY):
        assert secret not in shown
        assert secret.encode() not in raw
        assert secret.encode() not in stdout


def _serve_config(tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    db = tmp_path / "log.db"
    (folder / "gateway.yaml").write_text(
        textwrap.dedent(standard_config(anthropic_up, openai_up, f"logs: {{ store: 'sqlite:///{db}' }}\n"))
    )
    return folder


def _count(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM requests")}
    finally:
        conn.close()


def test_a_graceful_stop_mid_load_loses_no_record(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    folder = _serve_config(tmp_path, anthropic_up, openai_up)
    for _ in range(30):
        anthropic_up.push(Script(delay=0.5))
    gw = GatewayProcess(folder).start()
    body = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}

    async def load() -> list[str]:
        async with httpx.AsyncClient(timeout=10) as client:

            async def one() -> str | None:
                r = await client.post(
                    gw.url + "/v1/messages",
                    json=body,
                    headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                )
                return r.headers.get("x-gateway-request-id") if r.status_code == 200 else None

            tasks = [asyncio.ensure_future(one()) for _ in range(30)]
            await asyncio.sleep(0.25)  # every request is in flight upstream
            assert gw.proc is not None
            gw.proc.send_signal(signal.SIGTERM)
            return [i for i in await asyncio.gather(*tasks, return_exceptions=True) if isinstance(i, str)]

    acknowledged = asyncio.run(load())
    # uvicorn re-raises the signal once shut down: a graceful stop ends as "terminated by SIGTERM".
    assert gw.proc is not None and gw.proc.wait(30) == -signal.SIGTERM
    gw.stop()
    assert len(acknowledged) == 30  # the drain let every request in flight finish
    assert set(acknowledged) <= _count(tmp_path / "log.db")


def test_kill_9_loses_at_most_the_last_unflushed_batch(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    from gateway.observe.logstore.writer import INTERVAL

    folder = _serve_config(tmp_path, anthropic_up, openai_up)
    gw = GatewayProcess(folder).start()
    acknowledged: list[tuple[float, str]] = []
    with httpx.Client(timeout=10) as client:
        started = time.monotonic()
        while time.monotonic() - started < 2.0:
            r = client.post(
                gw.url + "/v1/messages",
                json={
                    "model": "claude-haiku-4-5",
                    "max_tokens": 5,
                    "messages": [{"role": "user", "content": "x"}],
                },
                headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
            )
            acknowledged.append((time.monotonic(), r.headers["x-gateway-request-id"]))
    assert gw.proc is not None
    gw.proc.kill()
    killed = time.monotonic()
    gw.proc.wait(5)
    gw.stop()
    stored = _count(tmp_path / "log.db")
    # The bound: a record is written within one batch interval (plus the batch's own write) of its
    # request ending; everything acknowledged earlier than that before the kill is on disk.
    bound = INTERVAL + 0.4
    older = [ident for at, ident in acknowledged if at < killed - bound]
    assert older and set(older) <= stored
    assert len(acknowledged) - len(stored) <= sum(1 for at, _ in acknowledged if at >= killed - bound)


# The access-log line's keys, in order, with the optional ones last (README "Access log"): pinned so the
# typed record (gateway/observe/record.py) keeps the line byte-compatible with what consumers parse.
ACCESS_KEYS = [
    "ts", "id", "gateway", "method", "path", "endpoint", "route", "provider", "model", "client_model",
    "status", "stream", "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "token", "key", "cost_usd", "cache", "state_error", "config_version", "attempts",
    "error",
]  # fmt: skip
# The stored record as /api/logs/<id> shows it: the table's columns, in order.
STORED_KEYS = [
    "id", "ts", "gateway", "route", "provider", "model", "client_model", "method", "path", "status",
    "stream", "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "cache", "token", "key", "config_version", "error", "metadata",
    "attempts", "request_body", "response_body", "endpoint", "guardrails", "prompt",
]  # fmt: skip


def test_the_access_log_and_the_request_log_carry_the_same_record(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, tmp_path: Path
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            PRICING
            + f"logs: {{ store: 'sqlite:///{tmp_path}/log.db', bodies: true }}\n"
            + "routes:\n  sturdy:\n    fallback: [anthropic/claude-metered, openai/gpt-metered]\n",
        )
    )
    anthropic_up.push(Script(status=500))
    openai_up.push(Script(usage={"prompt_tokens": 7, "completion_tokens": 3}))
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    sdk = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    sdk.messages.create(
        model="dynamic/sturdy",
        max_tokens=20,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"traceparent": parent, "x-gateway-metadata": '{"team": "red"}'},
    )
    anthropic_up.push(Script(usage={"input_tokens": 4, "output_tokens": 2}))
    httpx.post(  # no traceparent, no metadata header
        gw.url + "/v1/messages",
        json={"model": "claude-metered", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        headers={"anthropic-version": "2023-06-01", "x-api-key": "k"},
        timeout=10,
    ).raise_for_status()
    lines = gw.records(wait_for=2)
    assert len(lines) == 2 and len(wait_for(gw.url, 2)) == 2  # both logs have written both records
    first, second = lines
    assert list(first) == [*ACCESS_KEYS, "metadata", "traceparent", "request_body", "response_body"]
    assert list(second) == [*ACCESS_KEYS, "metadata", "request_body", "response_body"]
    assert first["traceparent"] == parent and first["metadata"] == {"team": "red"}
    assert first["route"] == "sturdy" and first["provider"] == "openai" and first["model"] == "gpt-metered"
    assert first["endpoint"] == second["endpoint"] == "messages"
    assert [(a["target"], a["status"]) for a in first["attempts"]] == [
        ("anthropic/claude-metered", 500),
        ("openai/gpt-metered", 200),
    ]
    assert [list(a) for a in first["attempts"]] == [
        ["target", "status", "error", "start_ms", "duration_ms"]
    ] * 2
    assert first["cost_usd"] == "0.000307" and first["state_error"] is None
    assert isinstance(first["ts"], str) and first["ts"].endswith("Z")
    for line in lines:
        for key in ("latency_ms", "ttfb_ms"):
            assert round(line[key], 3) == line[key]
        stored = httpx.get(gw.url + f"/api/logs/{line['id']}").json()
        assert list(stored) == STORED_KEYS
        shared = [k for k in STORED_KEYS if k in line]
        assert {k: stored[k] for k in shared} == {k: line[k] for k in shared}
    listed = httpx.get(gw.url + "/api/logs").json()["data"]
    assert [list(r) for r in listed] == [[k for k in STORED_KEYS if not k.endswith("_body")]] * 2
