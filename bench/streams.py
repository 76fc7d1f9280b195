"""Memory of idle streams: 1,000 open SSE streams through an arm, and its memory before, with and after.

    python -m bench.streams [--streams 1000] [--arms gateway,ref-aiohttp] [--quick]

Each arm (pinned to --target-cpu like in `make bench`) is pointed at the mock's /hold location: a body
carrying "mock-hold" gets message_start and is then held open; other bodies are answered normally, so
the same process also serves the load burst. Per arm: a warm-up of a few requests, memory, then
--streams streams opened at once and waited for until every one has its first event, memory again,
then the streams are closed by the client (the arm must cancel its upstream calls), memory, the same
open-and-close once more (memory kept from the first round must be reused, not added to), then a
wrk burst (JSON and SSE, 64 connections), memory. Goals (issue 13): <= 50 KiB per open stream, RSS
<= 80 MiB after the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import meta, mock, openloop, procmem, procs, targets, toolkit, wrk

HOLD_MARK = "mock-hold"
KIB_PER_STREAM_GOAL = 50.0
RSS_AFTER_LOAD_GOAL_MIB = 80.0


def hold_body() -> bytes:
    """The streaming payload with the mark the mock holds on (a metadata value: every arm forwards it)."""
    body = json.loads(toolkit.PAYLOADS["sse"].read_bytes())
    body["metadata"] = {"user_id": f"{HOLD_MARK}-stream"}
    return json.dumps(body, separators=(",", ":")).encode()


def request_bytes(host: str, port: int, body: bytes) -> bytes:
    head = (
        f"POST {targets.PATH} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-length: {len(body)}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in targets.REQUEST_HEADERS.items())
        + "\r\n"
    )
    return head.encode() + body


def first_event_complete(buffer: bytes) -> bool:
    """True once the body read so far holds the whole message_start event (it ends with a blank line)."""
    at = buffer.find(b"event: message_start")
    return at >= 0 and buffer.find(b"\n\n", at) >= 0


@dataclass
class Held:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    first_event_ms: float


async def open_held(host: str, port: int, payload: bytes, timeout_s: float) -> Held:
    """One raw HTTP/1.1 streaming request, read up to its first event and then left open."""
    start = time.monotonic()

    async def go() -> Held:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            writer.close()
            raise RuntimeError(f"HTTP {status}: {head[:200]!r}")
        buffer = b""
        while not first_event_complete(buffer):
            chunk = await reader.read(4096)
            if not chunk:
                writer.close()
                raise RuntimeError(f"closed before the first event: {buffer[:200]!r}")
            buffer += chunk
        return Held(reader, writer, (time.monotonic() - start) * 1000)

    return await asyncio.wait_for(go(), timeout_s)


async def warm_up(base_url: str, requests: int) -> int:
    """A few ordinary requests of each kind (first-use imports, pools) before the baseline reading."""
    errors = 0
    async with aiohttp.ClientSession() as session:
        for i in range(requests):
            path = toolkit.PAYLOADS["sse" if i % 2 else "json"]
            async with session.post(
                base_url + targets.PATH, data=path.read_bytes(), headers=targets.REQUEST_HEADERS
            ) as response:
                await response.read()
                errors += response.status != 200
    return errors


def reading(pid: int) -> dict[str, Any]:
    tree = procmem.read_tree(pid)
    return {**asdict(tree), "rss_mib": round(tree.rss_mib, 2)}


async def settle_fds(pid: int, ceiling: int, timeout_s: float) -> float:
    """Wait until the tree's descriptors are back at or under `ceiling`; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if procmem.read_tree(pid).fds <= ceiling:
            break
        await asyncio.sleep(0.2)
    return time.monotonic() - start


async def hold_phase(target: targets.Target, n: int, args: argparse.Namespace) -> dict[str, Any]:
    assert target.pid is not None
    pid = target.pid
    host, port_text = target.url.removeprefix("http://").rsplit(":", 1)
    port = int(port_text)
    payload = request_bytes(host, port, hold_body())
    out: dict[str, Any] = {}

    out["warmup_errors"] = await warm_up(target.url, args.warmup_requests)
    # A few held streams opened and closed, so that path is warm too.
    few = await asyncio.gather(*(open_held(host, port, payload, 10.0) for _ in range(10)))
    for held in few:
        held.writer.close()
    await asyncio.sleep(2.0)
    out["before"] = reading(pid)

    t0 = time.monotonic()
    results = await asyncio.gather(
        *(open_held(host, port, payload, args.open_timeout) for _ in range(n)), return_exceptions=True
    )
    open_s = time.monotonic() - t0
    held_ok = [r for r in results if isinstance(r, Held)]
    failures = [repr(r) for r in results if not isinstance(r, Held)]
    out["opened"] = len(held_ok)
    out["open_failures"] = len(failures)
    out["open_failure_examples"] = sorted(set(failures))[:5]
    out["all_open_s"] = round(open_s, 3)
    firsts = [h.first_event_ms for h in held_ok]
    out["first_event_ms"] = {"p50": openloop.percentile(firsts, 50), "max": max(firsts, default=None)}
    await asyncio.sleep(2.0)  # let allocator and buffers settle with every stream idle
    out["open"] = reading(pid)
    # Still open? A stream the arm ended early would make the reading meaningless.
    out["still_open"] = sum(1 for h in held_ok if not h.reader.at_eof())

    for held in held_ok:
        held.writer.close()
    for held in held_ok:
        with contextlib.suppress(OSError):
            await held.writer.wait_closed()
    out["fds_settle_s"] = round(await settle_fds(pid, out["before"]["fds"] + 10, 15.0), 2)
    await asyncio.sleep(2.0)
    out["after_close"] = reading(pid)

    # The same again: memory a process keeps after the first round (Python's allocator rarely gives
    # arenas back) must be reused by the second, not added to; growth here would be a leak.
    again = await asyncio.gather(
        *(open_held(host, port, payload, args.open_timeout) for _ in range(n)), return_exceptions=True
    )
    held_again = [r for r in again if isinstance(r, Held)]
    out["second_opened"] = len(held_again)
    await asyncio.sleep(2.0)
    out["second_open"] = reading(pid)
    for held in held_again:
        held.writer.close()
    for held in held_again:
        with contextlib.suppress(OSError):
            await held.writer.wait_closed()
    await settle_fds(pid, out["before"]["fds"] + 10, 15.0)
    await asyncio.sleep(2.0)
    out["second_after_close"] = reading(pid)
    return out


def per_stream_kib(before: int | None, during: int | None, streams: int) -> float | None:
    if before is None or during is None or streams <= 0:
        return None
    return (during - before) / streams


def measure(target: targets.Target, args: argparse.Namespace) -> dict[str, Any]:
    assert target.pid is not None
    soft, hard = procmem.nofile_limit(target.pid)
    out: dict[str, Any] = {"command": target.command, "nofile_soft": soft, "nofile_hard": hard}
    need = 2 * args.streams + 100
    if soft is not None and soft < need:
        raise targets.ArmFailed(f"the arm's soft NOFILE limit {soft} is under the {need} needed")
    targets.smoke(target, toolkit.PAYLOADS["json"].read_bytes(), stream=False)
    targets.smoke(target, toolkit.PAYLOADS["sse"].read_bytes(), stream=True)
    out |= openloop.run_uvloop(lambda: hold_phase(target, args.streams, args))
    for key in ("rss_kib", "pss_kib", "anon_kib"):
        out[f"{key.removesuffix('_kib')}_kib_per_stream"] = per_stream_kib(
            out["before"][key], out["open"][key], out["opened"]
        )
    bursts = {}
    for mode in ("json", "sse"):
        result, _ = wrk.run(
            target.url + targets.PATH,
            toolkit.PAYLOADS[mode],
            conns=64,
            duration_s=args.burst,
            cpus=args.load_cpu,
        )
        bursts[mode] = {"rps": round(result.rps), "p99_ms": result.p99_ms, "errors": result.errors}
    out["burst"] = bursts
    time.sleep(2.0)
    out["after_load"] = reading(target.pid)
    return out


def render(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        f"# Idle streams: {s['streams']:,} open SSE streams ({result['timestamp_utc']}, "
        f"commit {str(result['meta'].get('git_commit', '?'))[:7]})",
        "",
        f"Arm pinned to core {s['target_cpu']}, one worker; client (asyncio, raw HTTP/1.1), mock and wrk on "
        f"core {s['load_cpu']}. Memory of the arm's whole process tree from /proc (RSS summed; PSS from "
        "smaps_rollup). Per stream: (with all open - before) / streams open. Burst: wrk c=64, "
        f"{s['burst_s']:g} s JSON then {s['burst_s']:g} s SSE.",
        "",
        "| arm | RSS before | RSS open | KiB/stream RSS | KiB/stream PSS | KiB/stream anon | "
        "RSS after close | 2nd round open / closed | RSS after load | fds before/open/after | "
        "all first events | failures |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|",
    ]

    def mib(r: dict[str, Any]) -> str:
        return f"{r['rss_kib'] / 1024:.1f} MiB"

    def kib(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for name, arm in result["arms"].items():
        if "error" in arm:
            lines.append(f"| {name} | FAILED: {arm['error'].splitlines()[0]} |" + " |" * 10)
            continue
        b, o, c, a = arm["before"], arm["open"], arm["after_close"], arm["after_load"]
        lines.append(
            f"| {name} | {mib(b)} | {mib(o)} | {kib(arm['rss_kib_per_stream'])} | "
            f"{kib(arm['pss_kib_per_stream'])} | {kib(arm['anon_kib_per_stream'])} | {mib(c)} | "
            f"{mib(arm['second_open'])} / {mib(arm['second_after_close'])} | {mib(a)} | "
            f"{b['fds']}/{o['fds']}/{c['fds']} | {arm['all_open_s']:.2f} s | "
            f"{arm['open_failures'] + (arm['opened'] - arm['still_open'])} |"
        )
    gw = result["arms"].get("gateway")
    if gw and "error" not in gw:
        per = gw["rss_kib_per_stream"]
        after = gw["after_load"]["rss_kib"] / 1024
        lines += [
            "",
            f"- gateway, KiB per open stream (RSS) <= {KIB_PER_STREAM_GOAL:g}: {per:.1f}, "
            f"{toolkit.met(per <= KIB_PER_STREAM_GOAL)}",
            f"- gateway, RSS after the load <= {RSS_AFTER_LOAD_GOAL_MIB:g} MiB: {after:.1f} MiB, "
            f"{toolkit.met(after <= RSS_AFTER_LOAD_GOAL_MIB)}",
        ]
    for name, arm in result["arms"].items():
        if "burst" in arm:
            bursts = ", ".join(
                f"{m} {v['rps']:,} rps p99 {v['p99_ms']:.1f} ms, {v['errors']} errors"
                for m, v in arm["burst"].items()
            )
            lines.append(f"- {name} burst: {bursts}; NOFILE soft limit {arm['nofile_soft']}")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--arms", default="gateway,ref-aiohttp", help="from: " + ", ".join(targets.ARMS))
    p.add_argument("--burst", type=float, help="seconds of each wrk burst (default 10, --quick 3)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--warmup-requests", type=int, default=40)
    p.add_argument("--open-timeout", type=float, default=60.0, help="seconds for every stream's first event")
    p.add_argument("--target-cpu", default="1")
    p.add_argument("--load-cpu", default="0")
    p.add_argument("--out", type=Path, default=toolkit.RESULTS)
    args = p.parse_args(argv)
    args.burst = args.burst if args.burst is not None else (3.0 if args.quick else 10.0)
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    bad = [a for a in args.arms if a not in targets.ARMS or targets.ARMS[a].kind == "direct"]
    if bad:
        p.error(f"not a proxy arm: {', '.join(bad)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    toolkit.check_tools()
    # The client's streams plus headroom; the arm inherits the limit (it holds two per stream).
    nofile = toolkit.prepare(args.load_cpu, 3 * args.streams + 1024)
    when = toolkit.stamp()
    tmp = toolkit.work_dir(args.out.resolve(), "streams", when)
    result: dict[str, Any] = {
        "timestamp_utc": when,
        "meta": meta.collect(toolkit.ROOT),
        "settings": {
            "streams": args.streams,
            "burst_s": args.burst,
            "target_cpu": args.target_cpu,
            "load_cpu": args.load_cpu,
            "runner_nofile": nofile,
        },
        "arms": {},
    }
    the_mock = None
    try:
        ports = toolkit.free_port(), toolkit.free_port()
        the_mock = mock.start(tmp / "nginx", *ports, 0.05, cpus=args.load_cpu)
        for name in args.arms:
            toolkit.log(f"streams: {name}")
            target = None
            try:
                target = targets.start(
                    targets.ARMS[name],
                    the_mock.url("fast") + "/hold",
                    toolkit.free_port(),
                    tmp / "logs",
                    args.target_cpu,
                    30.0,
                )
                result["arms"][name] = measure(target, args)
            except (targets.ArmFailed, wrk.WrkError) as exc:
                result["arms"][name] = {"error": str(exc)}
                toolkit.log(f"streams: {name} FAILED: {exc}")
            finally:
                if target is not None:
                    targets.stop(target)
    finally:
        if the_mock is not None:
            mock.stop(the_mock)
        procs.stop_all()
    text = render(result)
    json_path, md_path = toolkit.write_results(args.out, "streams", when, result, text)
    print(text)
    toolkit.log(f"streams: wrote {toolkit.shown(json_path)} and {toolkit.shown(md_path)}")
    return 0 if all("error" not in a for a in result["arms"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
