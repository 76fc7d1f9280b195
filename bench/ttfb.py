"""SSE time to first byte and chunk hold through one arm, against the paced mock.

wrk times whole responses; this client times each piece of a stream. The paced mock (bench/mock.py
PACED_GAPS_MS) writes message_start at once and every later piece after a pause; for each request
this records when each piece (found by its marker text, whatever the arm does to framing) arrives:

- TTFB: from sending the request to the arrival of message_start;
- hold: a piece's arrival after message_start minus the mock's scheduled offset for it. Positive
  means the piece was held somewhere on the way longer than the upstream held it.

    python -m bench.ttfb --url http://127.0.0.1:8080/v1/messages --body bench/payloads/messages-stream.json \\
        --conns 16 --duration 4 --warmup 1 --header 'x-api-key: sk-bench-token'

Prints one JSON object. The runner starts it pinned to the load core, one run per arm and round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from bench import stats
from bench.mock import PACED_MARKERS, paced_offsets_ms


class StreamError(RuntimeError):
    pass


def marker_times(chunks: list[tuple[float, bytes]], markers: tuple[bytes, ...]) -> list[float]:
    """The arrival time of each marker, in order, given (time, bytes) as they came off the socket.

    A marker split across two reads is found when its last byte arrives.
    """
    found: list[float] = []
    buf = b""
    pos = 0
    for at, data in chunks:
        buf += data
        while len(found) < len(markers):
            index = buf.find(markers[len(found)], pos)
            if index < 0:
                break
            pos = index + len(markers[len(found)])
            found.append(at)
    if len(found) != len(markers):
        missing = markers[len(found)].decode()
        raise StreamError(f"stream lacks {missing!r} (found {len(found)} of {len(markers)} pieces)")
    return found


def holds_ms(times: list[float], scheduled_ms: list[float]) -> list[float]:
    """Each later piece's arrival after the first, minus when the mock let it go after the first."""
    return [(t - times[0]) * 1000 - s for t, s in zip(times[1:], scheduled_ms[1:], strict=True)]


async def one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[float, list[float]]:
    """(send time, marker arrival times) for one streamed request."""
    sent = time.perf_counter()
    chunks: list[tuple[float, bytes]] = []
    async with session.post(url, data=body, headers=headers) as response:
        if response.status != 200:
            text = (await response.read())[:300].decode(errors="replace")
            raise StreamError(f"HTTP {response.status}: {text}")
        async for data in response.content.iter_any():
            chunks.append((time.perf_counter(), data))
    return sent, marker_times(chunks, tuple(m.encode() for m in PACED_MARKERS))


async def load(
    url: str, body: bytes, headers: dict[str, str], conns: int, duration_s: float, warmup_s: float
) -> dict[str, Any]:
    scheduled = paced_offsets_ms()
    ttfb: list[float] = []
    holds: list[float] = []
    request_max_hold: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=conns, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        start = time.perf_counter()
        measure_from = start + warmup_s
        end = measure_from + duration_s

        async def worker() -> None:
            while time.perf_counter() < end:
                try:
                    sent, times = await one_stream(session, url, body, headers)
                except (StreamError, aiohttp.ClientError, TimeoutError) as exc:
                    if time.perf_counter() >= measure_from:
                        errors.append(repr(exc)[:300])
                    continue
                if sent < measure_from:
                    continue  # warm-up
                ttfb.append((times[0] - sent) * 1000)
                piece_holds = holds_ms(times, scheduled)
                holds.extend(piece_holds)
                request_max_hold.append(max(piece_holds))

        await asyncio.gather(*(worker() for _ in range(conns)))
    out: dict[str, Any] = {
        "requests": len(ttfb),
        "errors": len(errors),
        "error_samples": errors[:5],
        "conns": conns,
        "duration_s": duration_s,
        "ttfb_ms": [round(v, 3) for v in ttfb],
        "request_max_hold_ms": [round(v, 3) for v in request_max_hold],
    }
    if ttfb:
        out |= {
            "ttfb_p50_ms": stats.percentile(ttfb, 50),
            "ttfb_p99_ms": stats.percentile(ttfb, 99),
            "hold_p50_ms": stats.percentile(holds, 50),
            "hold_p99_ms": stats.percentile(holds, 99),
            "hold_max_ms": max(holds),
        }
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ttfb", description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--body", type=Path, required=True)
    p.add_argument("--header", action="append", default=[], help="'name: value', repeatable")
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--warmup", type=float, default=1.0)
    args = p.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    body = args.body.read_bytes()
    result = uvloop.run(load(args.url, body, headers, args.conns, args.duration, args.warmup))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
