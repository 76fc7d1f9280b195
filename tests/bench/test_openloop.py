"""bench.openloop: the pacing math, and a real run against a small server on loopback."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from bench import openloop


def test_due_count_starts_with_one_request_and_follows_the_rate() -> None:
    assert openloop.due_count(-0.1, 100) == 0
    assert openloop.due_count(0.0, 100) == 1
    assert openloop.due_count(0.0099, 100) == 1
    # Exactly on a schedule point: that request is due now, not a turn later.
    assert openloop.due_count(0.01, 100) == 2
    assert openloop.due_count(0.3, 100) == 31  # 0.3 * 100 is 29.999... in floating point
    assert openloop.due_count(10.0, 750) == 7501
    assert openloop.scheduled_s(7500, 750) == 10.0


def test_sse_share_is_exact_over_any_long_run() -> None:
    picks = [openloop.is_sse(i, 0.2) for i in range(1000)]
    assert sum(picks) == 200
    assert all(sum(picks[i : i + 5]) == 1 for i in range(0, 1000, 5))  # evenly spread, not in bursts
    assert not any(openloop.is_sse(i, 0.0) for i in range(50))
    assert all(openloop.is_sse(i, 1.0) for i in range(50))
    assert sum(openloop.is_sse(i, 0.37) for i in range(10_000)) == 3700


def test_percentile_is_nearest_rank() -> None:
    assert openloop.percentile([], 50) is None
    values = [float(v) for v in range(1, 101)]
    assert openloop.percentile(values, 50) == 50.0
    assert openloop.percentile(values, 99) == 99.0
    assert openloop.percentile(values, 100) == 100.0
    assert openloop.percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_summarize_counts_errors_apart_from_latencies() -> None:
    outcomes = [
        openloop.Outcome(1.0, 0.1, ok=True, sse=False),
        openloop.Outcome(3.0, 0.2, ok=True, sse=True),
        openloop.Outcome(0.0, 0.0, ok=False, sse=False, error="http 502"),
    ]
    stats = openloop.summarize(outcomes, wall_s=0.5)
    assert (stats.completed, stats.errors, stats.sse, stats.rps) == (3, 1, 1, 6.0)
    assert stats.p50_ms == 1.0 and stats.max_ms == 3.0
    assert stats.error_kinds == {"http 502": 1}


async def _serve(delay_s: float) -> tuple[web.AppRunner, str]:
    async def messages(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        await asyncio.sleep(delay_s)
        if b'"stream":true' in body:
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b"event: message_start\ndata: {}\n\n")
            await response.write(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
            return response
        return web.Response(text='{"type":"message","content":[]}', content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/v1/messages"


def test_open_loop_keeps_its_rate_when_answers_are_slower_than_the_gaps() -> None:
    async def main() -> tuple[list[openloop.Outcome], float]:
        # Answers take 50 ms and requests are due every 5 ms: each request starts on schedule, not when
        # an earlier one is answered, and its latency counts from when it was due.
        runner, url = await _serve(0.05)
        try:
            gen = openloop.OpenLoop(
                url=url, json_body=b"{}", sse_body=b'{"stream":true}', rate=200, sse_share=0.2, connections=16
            )
            t0 = time.monotonic()
            await gen.run(1.0)
            return gen.take(), time.monotonic() - t0
        finally:
            await runner.cleanup()

    outcomes, _wall = openloop.run_uvloop(main)
    assert 195 <= len(outcomes) <= 202
    assert all(o.ok for o in outcomes), {o.error for o in outcomes if not o.ok}
    assert sum(o.sse for o in outcomes) == len(outcomes) // 5
    # The server sleeps 50 ms on the event loop, whose timers fire to about a millisecond.
    assert min(o.latency_ms for o in outcomes) >= 49.0


def test_open_loop_reports_a_wrong_answer_as_an_error() -> None:
    async def main() -> list[openloop.Outcome]:
        async def teapot(_request: web.Request) -> web.Response:
            return web.Response(status=418)

        app = web.Application()
        app.router.add_post("/v1/messages", teapot)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/messages"
            gen = openloop.OpenLoop(url=url, json_body=b"{}", sse_body=b"{}", rate=50)
            await gen.run(0.2)
            return gen.take()
        finally:
            await runner.cleanup()

    outcomes = openloop.run_uvloop(main)
    assert outcomes and all(not o.ok and o.error == "http 418" for o in outcomes)
