"""Worker scaling: the gateway with `--workers 1` against `--workers 2` on this 2-core machine.

    python -m bench.scaling [--rounds 3] [--layouts shared,load-pinned] [--quick]

Two worker processes cannot be pinned to the one core the bench gives an arm, and on 2 cores the load
tool and the mock must share the cores with them, so the factor depends on where everything runs. Two
layouts, each reported with the CPU every part used:

- `shared`: nothing pinned; the gateway's workers, wrk (-t1) and the nginx mock go wherever the
  kernel puts them;
- `load-pinned`: wrk, the mock and this runner pinned to core 0 (as in `make bench`), the gateway's
  workers unpinned (so they compete with the load for core 0 and have core 1 to themselves).

Per layout the two arms alternate (1, 2, then 2, 1, ...) for --rounds rounds; each run starts the
gateway afresh, checks one answer, warms up, then wrk JSON c=64 against the fast mock. Medians with
min-max; the factor is median(workers 2) / median(workers 1). Both workers write one SQLite request log:
its rows are counted against the requests answered, and the gateway's log is searched for
"database is locked" and tracebacks, which count as failures.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import meta, mock, procs, sysstat, targets, toolkit, wrk

DB = toolkit.ROOT / "data" / "gateway.db"
WORKERS = {
    1: targets.Arm("gateway-w1", "gateway", "gateway serve, 1 worker (bench/configs/gateway.yaml)"),
    2: targets.Arm(
        "gateway-w2",
        "gateway",
        "gateway serve, 2 workers (bench/configs/gateway-workers2.yaml)",
        config="gateway-workers2.yaml",
    ),
}
LAYOUTS = {
    # name: (gateway cpus, load cpus), None = unpinned
    "shared": (None, None),
    "load-pinned": (None, "0"),
}
TROUBLE = ("database is locked", "Traceback", "OperationalError")


def order(rounds: int) -> list[int]:
    """Worker counts in run order: 1, 2, 2, 1, 1, 2, ... so drift favours neither side."""
    out: list[int] = []
    for r in range(rounds):
        out += [1, 2] if r % 2 == 0 else [2, 1]
    return out


def factor(w1: list[float], w2: list[float]) -> float | None:
    if not w1 or not w2:
        return None
    base = statistics.median(w1)
    return statistics.median(w2) / base if base > 0 else None


def trouble_lines(text: str) -> list[str]:
    """Lines of a gateway log that mean a failure beyond what wrk sees (lock errors, tracebacks)."""
    return [line for line in text.splitlines() if any(mark in line for mark in TROUBLE)]


def rows_since(db: Path, since: float) -> int | None:
    """Request-log rows with ts >= since (the ts index makes this a range count)."""
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM requests WHERE ts >= ?", (since,)).fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def all_cores() -> set[int]:
    return set(range(os.cpu_count() or 1))


def one_run(
    workers: int, layout: str, the_mock: mock.Mock, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    gw_cpus, load_cpus = LAYOUTS[layout]
    quiet = sysstat.wait_quiet(args.quiet_pct, args.quiet_max_wait)
    started = time.time()
    # An unpinned child inherits the runner's affinity: lift it while the gateway starts, or a runner
    # pinned to the load core would pin the "unpinned" gateway there too.
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, all_cores())
    try:
        target = targets.start(
            WORKERS[workers], the_mock.url("fast"), toolkit.free_port(), logs, gw_cpus, args.startup_timeout
        )
    finally:
        os.sched_setaffinity(0, pinned)
    assert target.child is not None
    try:
        body = toolkit.PAYLOADS["json"]
        # With 2 workers each has its own pool and caches: one smoke request warms only one of them,
        # the wrk warm-up warms both.
        targets.smoke(target, body.read_bytes(), stream=False)
        url = target.url + targets.PATH
        warm, _ = wrk.run(url, body, conns=args.conns, duration_s=args.warmup, cpus=load_cpus)
        sampler = sysstat.Sampler(target_pid=target.pid, mock_pids=sysstat.tree_pids(the_mock.pid))
        sampler.start_rss()
        sampler.start_cpu()
        result, _ = wrk.run(url, body, conns=args.conns, duration_s=args.duration, cpus=load_cpus)
        window = sampler.stop()
        pids = len(sysstat.tree_pids(target.child.pid))
    finally:
        targets.stop(target)  # SIGTERM: each worker drains its log queue before exiting
    written = rows_since(DB, started)
    answered = 1 + warm.requests + result.requests
    log_text = target.child.log_path.read_text(errors="replace")
    trouble = trouble_lines(log_text)
    wrk_cpu_pct = 100.0 * result.cpu_s / window.wall_s if window.wall_s > 0 else 0.0
    known = (window.target_cpu_pct or 0.0) + window.mock_cpu_pct + window.runner_cpu_pct + wrk_cpu_pct
    return {
        "workers": workers,
        "layout": layout,
        "quiet": asdict(quiet),
        # Whatever else ran on the machine during the run (another user's work on this shared VM).
        "foreign_cpu_pct": max(0.0, window.machine_busy_pct - known),
        "gateway_cpus": gw_cpus or "any",
        "load_cpus": load_cpus or "any",
        "processes": pids,
        "wrk": result.to_json(),
        "wrk_cpu_pct": wrk_cpu_pct,
        "window": asdict(window),
        "log_rows": written,
        "answered": answered,
        # wrk drops its connections at the end with requests in flight: those are logged too, so rows
        # may exceed the answered count by up to --conns; fewer rows than answers would be lost records.
        "log_rows_missing": max(0, answered - written) if written is not None else None,
        "log_trouble": trouble[:10],
        "ok": result.errors == 0 and not trouble and (written is None or written >= answered),
    }


def describe(run: dict[str, Any]) -> str:
    w, window = run["wrk"], run["window"]
    text = (
        f"{w['rps']:,.0f} rps, p99 {w['p99_ms']:.1f} ms, gateway CPU {window['target_cpu_pct']:.0f} %, "
        f"wrk {run['wrk_cpu_pct']:.0f} %, mock {window['mock_cpu_pct']:.0f} %, "
        f"other {run['foreign_cpu_pct']:.0f} %, "
        f"errors {w['errors']}, log rows {run['log_rows']} for {run['answered']} answers"
    )
    return text + (f", TROUBLE: {run['log_trouble'][0]}" if run["log_trouble"] else "")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layout in dict.fromkeys(r["layout"] for r in runs):
        per: dict[int, dict[str, Any]] = {}
        for w in (1, 2):
            mine = [r for r in runs if r["layout"] == layout and r["workers"] == w]
            rps = [r["wrk"]["rps"] for r in mine]

            def med(values: list[float]) -> float | None:
                return statistics.median(values) if values else None

            per[w] = {
                "rps": rps,
                "rps_median": med(rps),
                "p50_ms_median": med([r["wrk"]["p50_ms"] for r in mine]),
                "p99_ms_median": med([r["wrk"]["p99_ms"] for r in mine]),
                "gateway_cpu_pct_median": med([r["window"]["target_cpu_pct"] or 0.0 for r in mine]),
                "wrk_cpu_pct_median": med([r["wrk_cpu_pct"] for r in mine]),
                "mock_cpu_pct_median": med([r["window"]["mock_cpu_pct"] for r in mine]),
                "runner_cpu_pct_median": med([r["window"]["runner_cpu_pct"] for r in mine]),
                "machine_busy_pct_median": med([r["window"]["machine_busy_pct"] for r in mine]),
                "foreign_cpu_pct_max": max((r["foreign_cpu_pct"] for r in mine), default=None),
                "peak_rss_mib_max": max((r["window"]["peak_rss_mib"] or 0.0 for r in mine), default=None),
                "errors": sum(r["wrk"]["errors"] for r in mine),
                "log_rows_missing": sum(r["log_rows_missing"] or 0 for r in mine),
                "log_trouble": sum(len(r["log_trouble"]) for r in mine),
                "failed_runs": sum(1 for r in mine if not r["ok"]),
            }
        out[layout] = {"workers": per, "factor": factor(per[1]["rps"], per[2]["rps"])}
    return out


def render(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        f"# Worker scaling: --workers 1 vs 2 ({result['timestamp_utc']}, commit "
        f"{str(result['meta'].get('git_commit', '?'))[:7]}, {result['meta'].get('cpu_count')} cores)",
        "",
        f"wrk -t1 -c{s['conns']} JSON against the fast mock (nginx, 1 worker), {s['warmup_s']:g} s warm-up "
        f"then {s['duration_s']:g} s measured per run; arms alternate 1,2,2,1,... for {s['rounds']} rounds; "
        "a fresh gateway per run. CPU in % of one core (200 = both cores busy): gateway = its whole process "
        "tree (the uvicorn supervisor and its workers).",
        "",
        "| layout | workers | RPS median (min-max) | p50 ms | p99 ms | gateway CPU | wrk CPU | mock CPU | "
        "machine busy | other CPU (max) | peak RSS | errors | log |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    where = {
        "shared": "nothing pinned: gateway workers, wrk and mock share both cores",
        "load-pinned": "wrk, mock and runner pinned to core 0; gateway workers unpinned (cores 0-1)",
    }
    for layout, data in result["summary"].items():
        for w, d in data["workers"].items():
            rps = d["rps"]
            if not rps:
                lines.append(f"| {layout} | {w} | no successful run |" + " |" * 10)
                continue
            span = f"{min(rps):,.0f}-{max(rps):,.0f}" if rps else "-"
            log_note = (
                "ok"
                if not (d["log_rows_missing"] or d["log_trouble"])
                else (f"{d['log_rows_missing']} rows missing, {d['log_trouble']} lock/traceback lines")
            )
            lines.append(
                f"| {layout} | {w} | {d['rps_median']:,.0f} ({span}) | {d['p50_ms_median']:.2f} | "
                f"{d['p99_ms_median']:.2f} | {d['gateway_cpu_pct_median']:.0f} % | "
                f"{d['wrk_cpu_pct_median']:.0f} % | "
                f"{d['mock_cpu_pct_median']:.0f} % | {d['machine_busy_pct_median']:.0f} % | "
                f"{d['foreign_cpu_pct_max']:.0f} % | "
                f"{d['peak_rss_mib_max']:.0f} MiB | {d['errors']} | {log_note} |"
            )
    lines.append("")
    for layout, data in result["summary"].items():
        f = data["factor"]
        lines.append(
            f"- **{layout}** ({where.get(layout, layout)}): workers 2 / workers 1 = **{f:.2f}x**"
            if f is not None
            else f"- {layout}: no factor (a side has no runs)"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="each round runs both worker counts once")
    p.add_argument("--layouts", default="shared,load-pinned", help="from: " + ", ".join(LAYOUTS))
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--duration", type=float, help="measured seconds per run (default 10, --quick 3)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per run (default 3, --quick 1)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--startup-timeout", type=float, default=30.0)
    p.add_argument("--quiet-pct", type=float, default=15.0, help="max busy %% of one core before a run")
    p.add_argument("--quiet-max-wait", type=float, default=120.0)
    p.add_argument("--out", type=Path, default=toolkit.RESULTS)
    args = p.parse_args(argv)
    args.duration = args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    args.layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    bad = [x for x in args.layouts if x not in LAYOUTS]
    if bad:
        p.error(f"unknown layout(s) {', '.join(bad)}; choose from {', '.join(LAYOUTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    toolkit.check_tools()
    toolkit.prepare(None, 8192)
    when = toolkit.stamp()
    tmp = toolkit.work_dir(args.out.resolve(), "scaling", when)
    result: dict[str, Any] = {
        "timestamp_utc": when,
        "meta": meta.collect(toolkit.ROOT),
        "settings": {
            "rounds": args.rounds,
            "layouts": {name: LAYOUTS[name] for name in args.layouts},
            "conns": args.conns,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "order": order(args.rounds),
        },
        "runs": [],
    }
    failed = False
    try:
        for layout in args.layouts:
            _gw, load = LAYOUTS[layout]
            # The runner goes where the load goes (it samples /proc and waits on wrk).
            os.sched_setaffinity(0, toolkit.cpu_set(load) if load is not None else all_cores())
            ports = toolkit.free_port(), toolkit.free_port()
            the_mock = mock.start(tmp / f"nginx-{layout}", *ports, 0.05, cpus=load)
            try:
                for i, workers in enumerate(order(args.rounds)):
                    try:
                        run = one_run(workers, layout, the_mock, args, tmp / "logs")
                    except (targets.ArmFailed, wrk.WrkError) as exc:
                        failed = True
                        toolkit.log(f"scaling {layout} workers={workers}: FAILED: {exc}")
                        continue
                    result["runs"].append(run)
                    failed |= not run["ok"]
                    toolkit.log(f"[{i + 1}/{2 * args.rounds}] {layout} workers={workers}: {describe(run)}")
            finally:
                mock.stop(the_mock)
    finally:
        procs.stop_all()
    result["summary"] = summarize(result["runs"])
    text = render(result)
    json_path, md_path = toolkit.write_results(args.out, "scaling", when, result, text)
    print(text)
    toolkit.log(f"scaling: wrote {toolkit.shown(json_path)} and {toolkit.shown(md_path)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
