"""A graceful stop's drain window ending with requests still running (`gateway serve`, SIGTERM): a stream
is cut with its format's error event, a request not yet answered gets a 503 in its envelope, and both
are stored with the reason. Never a silently truncated answer."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import textwrap
from pathlib import Path

import httpx
import orjson

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def test_requests_outlasting_the_drain_are_cut_in_their_format_and_logged(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    db = tmp_path / "log.db"
    extra = f"logs: {{ store: 'sqlite:///{db}' }}\nserver: {{ drain: 1s }}\n"
    (tmp_path / "gateway.yaml").write_text(textwrap.dedent(standard_config(anthropic_up, openai_up, extra)))
    anthropic_up.push(Script(chunk_delay=2.0, text_chunks=5))  # a stream of ~20 s
    anthropic_up.push(Script(delay=30))  # an answer that has not started
    gw = GatewayProcess(tmp_path).start()

    async def scenario() -> tuple[httpx.Response, bytes, httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            body = {
                "model": "claude-haiku-4-5",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
            }
            async with client.stream(
                "POST", gw.url + "/v1/messages", json={**body, "stream": True}, headers=HEADERS
            ) as streamed:
                assert await asyncio.to_thread(anthropic_up.wait_for_requests, 1)
                waiting = asyncio.ensure_future(
                    client.post(gw.url + "/v1/messages", json=body, headers=HEADERS)
                )
                assert await asyncio.to_thread(anthropic_up.wait_for_requests, 2)
                assert gw.proc is not None
                gw.proc.send_signal(signal.SIGTERM)
                raw = b"".join([chunk async for chunk in streamed.aiter_raw()])
            return streamed, raw, await waiting

    try:
        streamed, raw, waiting = asyncio.run(scenario())
        assert gw.proc is not None and gw.proc.wait(10) == -signal.SIGTERM
    finally:
        gw.stop()
    assert streamed.status_code == 200 and b"event: message_start" in raw
    assert raw.rstrip().endswith(b"}") and b"event: message_stop" not in raw
    event = orjson.loads(raw.rsplit(b"event: error\ndata: ", 1)[1])
    assert event["error"]["type"] == "overloaded_error" and "server.drain" in event["error"]["message"]
    assert waiting.status_code == 503
    assert waiting.json()["error"]["type"] == "overloaded_error"
    conn = sqlite3.connect(db)
    rows = dict(conn.execute("SELECT id, error FROM requests").fetchall())
    conn.close()
    for answer in (streamed, waiting):
        assert "server.drain" in rows[answer.headers["x-gateway-request-id"]]
