"""Overload (reliability.md O1-O2): past `server.max_in_flight` the gateway sheds new calls at once with
503 and `retry-after` in the client's envelope, memory stays bounded under a burst of slow streams, and
the retry budget holds when every upstream call fails.

The gateway runs as its own process (`gateway serve`) so that its memory and latency are its own; the
clients are raw asyncio sockets, light enough to hold thousands of connections from the test process.
"""

from __future__ import annotations

import asyncio
import calendar
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.battery.conftest import scale
from tests.battery.load import Answer, call, metric, rss_kib, wait_records
from tests.conftest import anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
OPENAI_HEADERS = {"content-type": "application/json"}
OUTAGE = "upstream outage canary"


def message(text: str, *, stream: bool = False, model: str = "fast") -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return body


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    started: list[GatewayProcess] = []

    def start(config: str) -> GatewayProcess:
        path = tmp_path / f"gw{len(started)}.yaml"
        path.write_text(config)
        gw = GatewayProcess(path).start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


def test_past_max_in_flight_calls_are_shed_at_once(
    serve: Any, anthropic_up: FakeUpstream, openai_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    limit, total, hold = 20, 60, 2.0
    gw = serve(standard_config(anthropic_up, openai_up, extra=f"server: {{ max_in_flight: {limit} }}"))
    anthropic_up.push(*(Script(delay=hold) for _ in range(total)))

    async def burst() -> list[Answer]:
        # Half Anthropic, half OpenAI clients, all at once, each on its own connection.
        calls = [
            call(gw.port, "/v1/messages", message(f"a{i}"), ANTHROPIC_HEADERS)
            if i % 2 == 0
            else call(gw.port, "/v1/chat/completions", message(f"o{i}"), OPENAI_HEADERS)
            for i in range(total)
        ]
        return await asyncio.gather(*calls)

    # While the gateway is full, the operator's endpoints and the model list still answer.
    side: dict[str, int] = {}

    def operator_checks() -> None:
        anthropic_up.wait_for_requests(limit, timeout=hold)
        for path in ("/healthz", "/readyz", "/metrics", "/api/config", "/v1/models"):
            side[path] = httpx.get(gw.url + path).status_code
        side["in_flight"] = int(metric(gw.url, "gateway_in_flight"))

    checker = threading.Thread(target=operator_checks)
    checker.start()
    answers = asyncio.run(burst())
    checker.join()

    ok = [a for a in answers if a.status == 200]
    shed = [a for a in answers if a.status == 503]
    figures.update(requests=total, admitted=len(ok), shed=len(shed), limit=limit)
    assert len(ok) == limit and len(shed) == total - limit, sorted(a.status for a in answers)
    assert len(anthropic_up.requests) == limit  # the shed ones never reached the upstream
    assert all(v == 200 for k, v in side.items() if k != "in_flight"), side
    assert side["in_flight"] == limit
    for a in shed:
        assert a.headers["retry-after"] == "1"
        error = orjson.loads(a.body)
        if "type" in error:  # Anthropic's envelope
            assert error["type"] == "error" and error["error"]["type"] == "overloaded_error"
        else:
            assert error["error"]["type"] == "overloaded_error" and error["error"]["code"] == "overloaded"
        assert a.head_s < hold / 3  # not queued behind the slow calls
    # Measured inside the gateway: each shed answered within 10 ms of its arrival.
    records = wait_records(gw, total)
    shed_records = [r for r in records if r["status"] == 503]
    assert len(shed_records) == total - limit
    slowest = max(r["latency_ms"] for r in shed_records)
    figures["shed_latency_ms_max"] = slowest
    assert slowest < 10, slowest
    assert all("max_in_flight" in r["error"] for r in shed_records)
    assert metric(gw.url, "gateway_shed_total") == total - limit
    assert metric(gw.url, "gateway_in_flight") == 0


def test_both_sdks_raise_their_503_class_when_shed(
    serve: Any, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = serve(standard_config(anthropic_up, openai_up, extra="server: { max_in_flight: 1 }"))
    anthropic_up.push(Script(delay=2.0))
    holder = threading.Thread(
        target=lambda: httpx.post(gw.url + "/v1/messages", json=message("hold"), headers=ANTHROPIC_HEADERS)
    )
    holder.start()
    assert anthropic_up.wait_for_requests(1)
    with pytest.raises(anthropic.ServiceUnavailableError) as a_err:
        anthropic_client(gw).messages.create(**message("a"))
    assert a_err.value.status_code == 503 and a_err.value.response.headers["retry-after"] == "1"
    assert isinstance(a_err.value, anthropic.InternalServerError)
    assert a_err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(openai.InternalServerError) as o_err:
        openai_client(gw).chat.completions.create(model="fast", messages=[{"role": "user", "content": "o"}])
    assert o_err.value.status_code == 503 and o_err.value.response.headers["retry-after"] == "1"
    # Native passthrough holds an upstream too: shed the same way, in the envelope its headers pick.
    native = httpx.post(gw.url + "/anthropic/v1/messages", json=message("n"), headers=ANTHROPIC_HEADERS)
    assert native.status_code == 503 and native.json()["error"]["type"] == "overloaded_error"
    assert native.headers["retry-after"] == "1"
    holder.join()
    # The slot is free again: the next call is admitted.
    assert anthropic_client(gw).messages.create(**message("after")).content


def test_memory_stays_bounded_under_a_burst_of_slow_streams(
    serve: Any, anthropic_up: FakeUpstream, openai_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    burst, limit, gap = scale(1_000, 5_000), scale(250, 1_000), scale(2, 8) / 10
    gw = serve(standard_config(anthropic_up, openai_up, extra=f"server: {{ max_in_flight: {limit} }}"))
    assert gw.proc is not None
    pid = gw.proc.pid
    t0 = time.monotonic()
    for i in range(20):  # warm up: pools, caches, the allocator
        httpx.post(
            gw.url + "/v1/messages", json=message(f"w{i}", stream=i % 2 == 0), headers=ANTHROPIC_HEADERS
        )
    time.sleep(0.5)
    before = rss_kib(pid)
    figures["warmup_s"] = round(time.monotonic() - t0, 1)
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], rss_kib(pid))

    async def run() -> list[Answer]:
        return await asyncio.gather(
            *(
                call(gw.port, "/v1/messages", message(f"s{i}", stream=True), ANTHROPIC_HEADERS)
                for i in range(burst)
            )
        )

    sampler = threading.Thread(target=sample)
    sampler.start()
    rounds: list[dict[str, int]] = []
    try:
        for _ in range(2):  # the second burst shows whether the first left anything behind
            anthropic_up.push(*(Script(chunk_delay=gap, text_chunks=10) for _ in range(burst)))
            started = time.monotonic()
            answers = asyncio.run(run())
            took = time.monotonic() - started
            time.sleep(0.5)
            ok = [a for a in answers if a.status == 200]
            shed = [a for a in answers if a.status == 503]
            rounds.append(
                {
                    "admitted": len(ok),
                    "shed": len(shed),
                    "rss_kib": rss_kib(pid),
                    "peak_kib": peak[0],
                    "seconds": round(took, 1),
                }
            )
            assert len(ok) + len(shed) == burst
            # Every stream was sent before the first admitted one could end: exactly `limit` admitted.
            assert max(a.sent_at for a in answers) < min(a.done_at for a in ok)
            assert len(ok) == limit
            assert all(a.body.rstrip().endswith(b'{"type":"message_stop"}') for a in ok)
            anthropic_up.reset()
    finally:
        stop.set()
        sampler.join()
    figures.update(burst=burst, limit=limit, stream_s=gap * 10, rss_before_kib=before, rounds=rounds)
    # Bounded by what is admitted: a shed call costs nothing once answered. Without the gate every
    # stream of the burst would be held (about 60 KiB each).
    assert (peak[0] - before) / limit < 100, figures  # KiB per admitted stream, at the peak
    # Flat across bursts: the second one reuses what the first freed (the heap keeps its high-water mark).
    assert rounds[1]["rss_kib"] < rounds[0]["rss_kib"] * 1.05, figures


def test_the_retry_budget_holds_under_a_total_outage(
    serve: Any, anthropic_up: FakeUpstream, openai_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    clients, rounds, retries = scale(100, 200), 3, 3
    extra = f"routes:\n  flaky: {{ model: anthropic/claude-haiku-4-5, retries: {retries} }}\n"
    gw = serve(standard_config(anthropic_up, openai_up, extra=extra))
    total = clients * rounds
    # Every answer fails: mostly 503 at once, and one in ten a 200 stream that breaks after its first
    # event (after the first byte nothing may be retried).
    anthropic_up.push(
        *(
            Script(error_event_after=1) if i % 10 == 0 else Script(status=503, error_message=OUTAGE)
            for i in range(total * (retries + 1))
        )
    )

    async def client(n: int) -> list[Answer]:
        out = []
        for r in range(rounds):
            anthropic_side = n % 2 == 0
            body = message(f"c{n}-{r}", stream=True, model="dynamic/flaky")
            path, headers = (
                ("/v1/messages", ANTHROPIC_HEADERS)
                if anthropic_side
                else ("/v1/chat/completions", OPENAI_HEADERS)
            )
            answer = await call(gw.port, path, body, headers)
            answer.extra["anthropic"] = anthropic_side
            out.append(answer)
        return out

    async def run() -> list[Answer]:
        return [a for group in await asyncio.gather(*(client(n) for n in range(clients))) for a in group]

    answers = asyncio.run(run())
    logged = wait_records(gw, total)
    assert len(logged) == total
    broken_streams = 0
    for a in answers:
        if a.status == 200:  # a stream that broke after its first byte: an error event, never a clean end
            broken_streams += 1
            assert (
                b"error" in a.body and b"message_stop" not in a.body and b'finish_reason":"stop' not in a.body
            )
            continue
        assert a.status == 503, a.status
        error = orjson.loads(a.body)
        # The upstream's own error (its message), in the envelope of the API the client called.
        if a.extra["anthropic"]:
            assert error["type"] == "error" and OUTAGE in error["error"]["message"]
        else:
            assert set(error) == {"error"} and OUTAGE in error["error"]["message"]
    attempts_per = [len(r["attempts"]) for r in logged]
    assert max(attempts_per) <= retries + 1
    # No retry after the first byte: a 200 attempt is always the last one.
    for r in logged:
        assert all(a["status"] != 200 for a in r["attempts"][:-1]), r["attempts"]
    # Concurrent waits before a retry stay within max(3, 20% of the requests in flight).
    waits = []
    for r in logged:
        start = _epoch(r["ts"]) - r["latency_ms"] / 1000
        tries = r["attempts"]
        for prev, nxt in itertools.pairwise(tries):
            begin = start + (prev["start_ms"] + prev["duration_ms"]) / 1000 + 0.002
            end = start + nxt["start_ms"] / 1000 - 0.002
            if end > begin:
                waits.append((begin, end))
    peak = max((sum(1 for b, e in waits if b <= t < e) for t, _ in waits), default=0)
    allowed = max(3, int(0.2 * clients))
    retried = sum(len(r["attempts"]) - 1 for r in logged)
    denied = sum(1 for r in logged if len(r["attempts"]) < retries + 1 and r["attempts"][-1]["status"] == 503)
    figures.update(
        clients=clients,
        requests=total,
        retries=retried,
        budget_denied=denied,
        concurrent_waits_max=peak,
        allowed=allowed,
        broken_streams=broken_streams,
        upstream_calls=len(anthropic_up.requests),
    )
    assert 0 < peak <= allowed, figures
    assert denied > 0, figures  # the budget, not the retry count, stopped some retries
    assert retried + total == len(anthropic_up.requests)


def _epoch(ts: str) -> float:
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + ts[19:-1])
