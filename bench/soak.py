"""`make soak`: the gateway at 70 % of its measured maximum for 10 minutes; is it flat?

    python -m bench.soak [--minutes 10] [--load-pct 70] [--sse-share 0.2] [--sample-s 15]

1. The gateway (bench/configs/gateway.yaml: access log and SQLite request log on) pinned to
   --target-cpu, the mock and this process on --load-cpu, as in `make bench`.
2. Its maximum: wrk, JSON, 64 connections, a warm-up then a measured run against the fast mock.
3. The soak: an open-loop load (bench/openloop.py) at --load-pct of that maximum, a --sse-share of the
   requests streaming. Every --sample-s: the gateway tree's RSS (and its anonymous part), PSS, open
   descriptors, CPU, the request log's queue and the database's size, and the window's achieved
   rate, p50/p99 and errors.
4. After the warm-up (default 2 of the 10 minutes) it judges: RSS growth < 5 % (median of the last
   third of the samples against the first third), descriptors flat (the same comparison, within a
   small slack for connections in flight), p99 stable (last third's median p99 <= 1.5x the first
   third's), no errors, and the achieved rate within 3 % of the asked one. Exit 1 if one is missed.

The request log's SQLite file grows all along (one row per request); it is on disk, not in the
process: RSS counts only what is mapped, and SQLite maps only its small WAL index (-shm). Its size is
reported beside RSS, and RssFile (mapped files) beside RssAnon (heap), so file growth is never
mistaken for a leak.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import meta, mock, openloop, procmem, procs, sysstat, targets, toolkit, wrk

RSS_GROWTH_MAX_PCT = 5.0
P99_FACTOR_MAX = 1.5
RATE_TOLERANCE_PCT = 3.0


# --- judging (pure) ----------------------------------------------------------------------------------


def thirds(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The first and the last third of a series (at least one value each; needs 3 values)."""
    n = max(1, len(values) // 3)
    return list(values[:n]), list(values[-n:])


def slope_per_min(ts: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over ts (seconds), per minute; 0 for fewer than two points."""
    if len(ts) < 2:
        return 0.0
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mt) ** 2 for t in ts)
    if var == 0:
        return 0.0
    return 60.0 * sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var


def fd_slack(first_median: float) -> float:
    """How far descriptors may wander without being a trend: connections in flight come and go."""
    return max(5.0, 0.1 * first_median)


@dataclass(frozen=True)
class Criterion:
    name: str
    ok: bool
    value: str  # what was seen, in words


def judge(samples: Sequence[dict[str, Any]], warmup_s: float, rate: float) -> list[Criterion]:
    """The soak's verdicts over the samples taken after the warm-up."""
    post = [s for s in samples if s["t_s"] > warmup_s]
    if len(post) < 3:
        why = f"only {len(post)} sample(s) after the warm-up, 3 needed"
        names = ("RSS growth", "descriptors flat", "p99 stable", "no errors", "rate held")
        return [Criterion(name, False, why) for name in names]
    out = []

    rss_first, rss_last = thirds([s["rss_kib"] for s in post])
    base = statistics.median(rss_first)
    growth = 100.0 * (statistics.median(rss_last) - base) / base
    ts = [s["t_s"] for s in post]
    rss_slope = slope_per_min(ts, [s["rss_kib"] for s in post])
    out.append(
        Criterion(
            "RSS growth",
            growth < RSS_GROWTH_MAX_PCT,
            f"{growth:+.2f} % (median of last third {statistics.median(rss_last) / 1024:.1f} MiB vs first "
            f"{base / 1024:.1f} MiB; trend {rss_slope:+.0f} KiB/min), limit < {RSS_GROWTH_MAX_PCT:g} %",
        )
    )

    fd_first, fd_last = thirds([float(s["fds"]) for s in post])
    fd_base = statistics.median(fd_first)
    fd_delta = statistics.median(fd_last) - fd_base
    fd_slope = slope_per_min(ts, [float(s["fds"]) for s in post])
    out.append(
        Criterion(
            "descriptors flat",
            fd_delta <= fd_slack(fd_base),
            f"median {fd_base:.0f} -> {statistics.median(fd_last):.0f} ({fd_delta:+.0f}, slack "
            f"{fd_slack(fd_base):.0f}; trend {fd_slope:+.2f}/min; range {min(s['fds'] for s in post)}-"
            f"{max(s['fds'] for s in post)})",
        )
    )

    p99s = [s["p99_ms"] for s in post if s["p99_ms"] is not None]
    if len(p99s) >= 3:
        p_first, p_last = thirds(p99s)
        factor = statistics.median(p_last) / statistics.median(p_first)
        out.append(
            Criterion(
                "p99 stable",
                factor <= P99_FACTOR_MAX,
                f"median p99 {statistics.median(p_first):.2f} ms -> {statistics.median(p_last):.2f} ms "
                f"({factor:.2f}x, limit {P99_FACTOR_MAX:g}x)",
            )
        )
    else:
        out.append(Criterion("p99 stable", False, "no latencies"))

    errors = sum(s["errors"] for s in samples)
    out.append(Criterion("no errors", errors == 0, f"{errors} error(s) over the whole soak"))

    completed = sum(s["completed"] for s in post)
    wall = sum(s["wall_s"] for s in post)
    achieved = completed / wall if wall > 0 else 0.0
    off = 100.0 * (achieved - rate) / rate
    out.append(
        Criterion(
            "rate held",
            abs(off) <= RATE_TOLERANCE_PCT,
            f"{achieved:.1f}/s achieved for {rate:.1f}/s asked ({off:+.2f} %)",
        )
    )
    return out


# --- running -------------------------------------------------------------------------------------------


def readyz_logs(payload: dict[str, Any]) -> dict[str, Any]:
    logs = payload.get("logs")
    return logs if isinstance(logs, dict) else {}


async def soak(
    target: targets.Target, mock_pid: int, db: Path, rate: float, args: argparse.Namespace
) -> list[dict[str, Any]]:
    assert target.pid is not None
    pid = target.pid
    gen = openloop.OpenLoop(
        url=target.url + targets.PATH,
        json_body=toolkit.PAYLOADS["json"].read_bytes(),
        sse_body=toolkit.PAYLOADS["sse"].read_bytes(),
        rate=rate,
        sse_share=args.sse_share,
        connections=args.connections,
    )
    duration = args.minutes * 60
    runner = asyncio.create_task(gen.run(duration))
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    last = t0
    gw_ticks = sysstat.tree_ticks(sysstat.tree_pids(pid))
    mock_pids = sysstat.tree_pids(mock_pid)
    mock_ticks = sysstat.tree_ticks(mock_pids)
    self_ticks = sysstat.self_ticks()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as probe:
        while True:
            await asyncio.wait({runner}, timeout=max(0.0, last + args.sample_s - time.monotonic()))
            now = time.monotonic()
            wall = now - last
            stats = openloop.summarize(gen.take(), wall)
            mem = await asyncio.to_thread(procmem.read_tree, pid)
            gw_now = await asyncio.to_thread(lambda: sysstat.tree_ticks(sysstat.tree_pids(pid)))
            mock_now, self_now = sysstat.tree_ticks(mock_pids), sysstat.self_ticks()
            try:
                async with probe.get(target.url + "/readyz") as response:
                    logs = readyz_logs(await response.json())
            except (aiohttp.ClientError, TimeoutError, ValueError):
                logs = {}

            def pct(ticks: float, wall: float = wall) -> float:
                return round(100.0 * ticks / sysstat.CLK_TCK / wall, 1) if wall > 0 else 0.0

            sample = {
                "t_s": round(now - t0, 2),
                **asdict(stats),
                "sent": gen.sent,
                "in_flight": gen.in_flight,
                "rss_kib": mem.rss_kib,
                "pss_kib": mem.pss_kib,
                "anon_kib": mem.anon_kib,
                "file_kib": mem.file_kib,
                "hwm_kib": mem.hwm_kib,
                "fds": mem.fds,
                "pids": mem.pids,
                "gateway_cpu_pct": pct(gw_now - gw_ticks),
                "mock_cpu_pct": pct(mock_now - mock_ticks),
                "generator_cpu_pct": pct(self_now - self_ticks),
                "db_kib": procmem.files_kib(procmem.sqlite_files(db)),
                "log_queued": logs.get("queued"),
                "log_written": logs.get("written"),
                "log_dropped": logs.get("dropped"),
            }
            gw_ticks, mock_ticks, self_ticks, last = gw_now, mock_now, self_now, now
            samples.append(sample)
            toolkit.log(
                f"soak {sample['t_s']:6.0f} s: {stats.rps:6.1f} rps, p50 {stats.p50_ms or 0:.2f} ms, "
                f"p99 {stats.p99_ms or 0:.2f} ms, errors {stats.errors}, RSS {mem.rss_kib / 1024:.1f} MiB "
                f"(anon {mem.anon_kib / 1024:.1f}), fds {mem.fds}, "
                f"gateway CPU {sample['gateway_cpu_pct']} %, "
                f"db {sample['db_kib'] / 1024:.1f} MiB, lag p99 {stats.lag_p99_ms or 0:.2f} ms"
            )
            if runner.done():
                break
    runner.result()  # an exception in the generator must not pass as a quiet soak
    return samples


def mixed_max(json_rps: float, sse_rps: float, sse_share: float) -> float:
    """The maximum rate of the soak's mix: each request costs 1/max of its kind's capacity."""
    return 1 / ((1 - sse_share) / json_rps + sse_share / sse_rps)


def measure_max(target: targets.Target, args: argparse.Namespace) -> dict[str, Any]:
    """Closed-loop maxima of each kind, combined for the soak's share of streams (a JSON-only maximum
    would set the soak's rate too high: a stream costs the gateway more than a JSON answer)."""
    url = target.url + targets.PATH
    wrk.run(url, toolkit.PAYLOADS["json"], conns=64, duration_s=args.max_warmup, cpus=args.load_cpu)
    found: dict[str, Any] = {}
    for kind in ("json", "sse"):
        result, _ = wrk.run(
            url, toolkit.PAYLOADS[kind], conns=64, duration_s=args.max_duration, cpus=args.load_cpu
        )
        if result.errors:
            raise wrk.WrkError(f"{result.errors} errors while measuring the {kind} maximum")
        found[kind] = result.to_json()
    found["rps"] = mixed_max(found["json"]["rps"], found["sse"]["rps"], args.sse_share)
    return found


def render(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        f"# Soak: {s['minutes']:g} min at {s['load_pct']:g} % of the maximum ({result['timestamp_utc']}, "
        f"commit {str(result['meta'].get('git_commit', '?'))[:7]})",
        "",
        "Gateway (bench/configs/gateway.yaml: access log and SQLite request log on), one worker pinned to "
        f"core {s['target_cpu']}; mock and the open-loop generator (asyncio + aiohttp on uvloop) on core "
        f"{s['load_cpu']}. Maximum: wrk c=64, {s['max_duration_s']:g} s per kind after "
        f"{s['max_warmup_s']:g} s, JSON and SSE combined for the mix: **{result['max']['rps']:,.0f} rps**. "
        f"Soak rate {s['rate']:.1f}/s, {s['sse_share'] * 100:g} % SSE, "
        f"samples every {s['sample_s']:g} s, judged after {s['warmup_s']:g} s of warm-up.",
        "",
        "| criterion | verdict | seen |",
        "|---|---|---|",
    ]
    for c in result["criteria"]:
        lines.append(f"| {c['name']} | {toolkit.met(c['ok'])} | {c['value']} |")
    db = result["db"]
    lines += [
        "",
        f"Request log: {db['path']} grew {db['before_kib'] / 1024:.1f} -> {db['after_kib'] / 1024:.1f} MiB "
        f"({db['grown_kib'] / 1024:.1f} MiB, {db['bytes_per_request']:.0f} bytes per request sent); "
        f"dropped records: {db['dropped']}. Access log file: {result['access_log_kib'] / 1024:.1f} MiB. "
        "Both on disk: the RSS columns are the process's own memory (anon = heap; file = mapped files).",
        "",
        "| t s | rps | p50 ms | p99 ms | errors | RSS MiB | anon MiB | file MiB | fds | gateway CPU % | "
        "gen CPU % | lag p99 ms | log queue | db MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for x in result["samples"]:
        mark = " (warm-up)" if x["t_s"] <= s["warmup_s"] else ""
        lines.append(
            f"| {x['t_s']:.0f}{mark} | {x['rps']:.1f} | {num(x['p50_ms'], '.2f')} | "
            f"{num(x['p99_ms'], '.2f')} | {x['errors']} | {x['rss_kib'] / 1024:.1f} | "
            f"{x['anon_kib'] / 1024:.1f} | {x['file_kib'] / 1024:.1f} | "
            f"{x['fds']} | {x['gateway_cpu_pct']:.0f} | {x['generator_cpu_pct']:.0f} | "
            f"{num(x['lag_p99_ms'], '.2f')} | {x['log_queued'] if x['log_queued'] is not None else '-'} | "
            f"{x['db_kib'] / 1024:.1f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default %(default)s)")
    p.add_argument(
        "--warmup-minutes", type=float, help="not judged (default: a fifth of --minutes, at most 2)"
    )
    p.add_argument("--load-pct", type=float, default=70.0, help="%% of the measured maximum")
    p.add_argument("--rate", type=float, help="requests/s to soak at, instead of measuring the maximum")
    p.add_argument("--sse-share", type=float, default=0.2, help="share of streaming requests")
    p.add_argument("--connections", type=int, default=64, help="the generator's keep-alive pool")
    p.add_argument("--sample-s", type=float, default=15.0, help="seconds between samples")
    p.add_argument("--max-duration", type=float, default=10.0, help="measured seconds of the maximum")
    p.add_argument("--max-warmup", type=float, default=3.0)
    p.add_argument("--target-cpu", default="1")
    p.add_argument("--load-cpu", default="0")
    p.add_argument("--out", type=Path, default=toolkit.RESULTS)
    args = p.parse_args(argv)
    if args.warmup_minutes is None:
        args.warmup_minutes = min(2.0, args.minutes / 5)
    if not 0 <= args.sse_share <= 1:
        p.error("--sse-share is a fraction between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    toolkit.check_tools()
    toolkit.prepare(args.load_cpu, 8192)
    when = toolkit.stamp()
    tmp = toolkit.work_dir(args.out.resolve(), "soak", when)
    result: dict[str, Any] = {"timestamp_utc": when, "meta": meta.collect(toolkit.ROOT)}
    the_mock = None
    target = None
    port = toolkit.free_port()
    # The bench config's log store (BENCH_DB): a fresh file in the run's folder.
    db = targets.run_dir_of(targets.ARMS["gateway"], port, tmp / "logs") / "gateway.db"
    db_before = procmem.files_kib(procmem.sqlite_files(db))
    try:
        ports = toolkit.free_port(), toolkit.free_port()
        the_mock = mock.start(tmp / "nginx", *ports, 0.05, cpus=args.load_cpu)
        gateway = targets.start(
            targets.ARMS["gateway"],
            the_mock.url("fast"),
            port,
            tmp / "logs",
            args.target_cpu,
            30.0,
        )
        target, mock_pid = gateway, the_mock.pid
        targets.smoke(target, toolkit.PAYLOADS["json"].read_bytes(), stream=False)
        targets.smoke(target, toolkit.PAYLOADS["sse"].read_bytes(), stream=True)
        if args.rate is None:
            result["max"] = measure_max(target, args)
            rate = result["max"]["rps"] * args.load_pct / 100
        else:
            result["max"] = {"rps": args.rate * 100 / args.load_pct, "given": True}
            rate = args.rate
        toolkit.log(
            f"soak: maximum {result['max']['rps']:,.0f} rps; soaking at {rate:.1f}/s for {args.minutes:g} min"
        )
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        samples = openloop.run_uvloop(lambda: soak(gateway, mock_pid, db, rate, args))
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    except (targets.ArmFailed, wrk.WrkError, mock.MockError) as exc:
        toolkit.log(f"soak: FAILED: {exc}")
        return 2
    finally:
        if target is not None:
            targets.stop(target)  # SIGTERM: the gateway drains its log queue before exiting
        access_log = target.child.log_path if target is not None and target.child is not None else None
        if the_mock is not None:
            mock.stop(the_mock)
        procs.stop_all()
    warmup_s = args.warmup_minutes * 60
    criteria = judge(samples, warmup_s, rate)
    db_after = procmem.files_kib(procmem.sqlite_files(db))
    sent = samples[-1]["sent"] if samples else 0
    result |= {
        "settings": {
            "minutes": args.minutes,
            "warmup_s": warmup_s,
            "load_pct": args.load_pct,
            "rate": rate,
            "sse_share": args.sse_share,
            "sample_s": args.sample_s,
            "max_duration_s": args.max_duration,
            "max_warmup_s": args.max_warmup,
            "target_cpu": args.target_cpu,
            "load_cpu": args.load_cpu,
            "connections": args.connections,
            "generator": "bench/openloop.py: open loop, fixed pool, aiohttp on uvloop, latency from due time",
        },
        "criteria": [asdict(c) for c in criteria],
        "samples": samples,
        "generator_cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
        "db": {
            "path": toolkit.shown(db),
            "before_kib": db_before,
            "after_kib": db_after,
            "grown_kib": db_after - db_before,
            "bytes_per_request": 1024 * (db_after - db_before) / sent if sent else 0.0,
            "dropped": max((s["log_dropped"] or 0 for s in samples), default=0),
        },
        "access_log_kib": procmem.files_kib([access_log]) if access_log is not None else 0,
    }
    text = render(result)
    json_path, md_path = toolkit.write_results(args.out, "soak", when, result, text)
    print(text)
    toolkit.log(f"soak: wrote {toolkit.shown(json_path)} and {toolkit.shown(md_path)}")
    return 0 if all(c.ok for c in criteria) else 1


if __name__ == "__main__":
    sys.exit(main())
