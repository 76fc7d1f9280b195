"""`make bench`: the same load against several arms in one run; prints tables, writes JSON.

    python -m bench.run [--quick] [--arms direct,ref-aiohttp,gateway] [--conns 1,64] ...

See bench/README.md for the method and how to read the output.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import meta, mock, procs, report, sysstat, targets, wrk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAYLOADS = {"json": HERE / "payloads" / "messages.json", "sse": HERE / "payloads" / "messages-stream.json"}
# Rough cost of one row besides warm-up and measurement: quiet check, sampling, wrk start.
ROW_OVERHEAD_S = 1.5
ARM_OVERHEAD_S = 2.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument(
        "--arms", default=",".join(targets.ARMS), help="comma-separated, run in this order, from: %(default)s"
    )
    p.add_argument("--conns", type=int_list, default=[1, 64], help="connections against the fast mock")
    p.add_argument(
        "--delayed-conns", type=int_list, default=[64], help="connections against the delayed mock"
    )
    p.add_argument("--modes", default="json,sse", help="json (non-streaming) and/or sse (streaming)")
    p.add_argument("--duration", type=float, help="measured seconds per row (default 10, --quick 3)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per row (default 3, --quick 1)")
    p.add_argument("--quick", action="store_true", help="1 s warm-up and 3 s measured per row")
    p.add_argument("--delay-ms", type=float, default=50.0, help="the delayed mock's sleep")
    p.add_argument("--target-cpu", default="1", help="core(s) the arm under test is pinned to")
    p.add_argument("--load-cpu", default="0", help="core(s) for wrk, the mock and this runner")
    p.add_argument("--quiet-pct", type=float, default=15.0, help="max busy %% of one core before a row")
    p.add_argument(
        "--quiet-max-wait", type=float, help="give up waiting for quiet (default 300 s, --quick 30 s)"
    )
    p.add_argument("--startup-timeout", type=float, default=30.0, help="seconds for an arm to answer")
    p.add_argument("--out", type=Path, default=HERE / "results", help="where JSON and latest.md go")
    p.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of the project: adds the arm gateway-baseline, its gateway on the same config",
    )
    args = p.parse_args(argv)
    if args.baseline is not None:
        targets.ARMS["gateway-baseline"] = targets.baseline_arm(args.baseline.resolve())
    args.duration = args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    args.quiet_max_wait = (
        args.quiet_max_wait if args.quiet_max_wait is not None else (30.0 if args.quick else 300.0)
    )
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in args.arms if a not in targets.ARMS]
    if unknown:
        p.error(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(targets.ARMS)}")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in PAYLOADS for m in args.modes):
        p.error("--modes takes json and/or sse")
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"missing {', '.join(missing)}: apt-get install -y nginx libnginx-mod-http-lua wrk util-linux"
        )
    mock.find_modules_dir()


def cpu_set(spec: str) -> set[int]:
    cpus: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def prepare_process(load_cpu: str) -> None:
    # The runner shares the load core: on the target's core it would steal from the arm.
    os.sched_setaffinity(0, cpu_set(load_cpu) & os.sched_getaffinity(0) or os.sched_getaffinity(0))
    # 64+ sockets per arm on each side; children inherit the raised soft limit.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    atexit.register(procs.stop_all)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    # SIGTERM/SIGHUP unwind like Ctrl-C does, so `finally` blocks stop every child.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(upstream, mode, conns) for one arm, in run order."""
    rows = []
    for upstream, conns_list in (("fast", args.conns), ("delayed", args.delayed_conns)):
        for mode in args.modes:
            rows += [(upstream, mode, c) for c in conns_list]
    return rows


def run_row(
    target: targets.Target, the_mock: mock.Mock, mode: str, conns: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Quiet check, warm-up, then the measured wrk run with CPU and RSS sampled around it."""
    quiet = sysstat.wait_quiet(args.quiet_pct, args.quiet_max_wait)
    url = target.url + targets.PATH
    sampler = sysstat.Sampler(target_pid=target.pid, mock_pids=sysstat.tree_pids(the_mock.pid))
    warm = None
    sampler.start_rss()
    try:
        if args.warmup > 0:
            warm, _ = wrk.run(url, PAYLOADS[mode], conns=conns, duration_s=args.warmup, cpus=args.load_cpu)
        sampler.start_cpu()
        result, stdout = wrk.run(
            url, PAYLOADS[mode], conns=conns, duration_s=args.duration, cpus=args.load_cpu
        )
        window = sampler.stop()
    finally:
        sampler.close()
    wrk_cpu_pct = 100.0 * result.cpu_s / window.wall_s if window.wall_s > 0 else 0.0
    known = (window.target_cpu_pct or 0.0) + window.mock_cpu_pct + window.runner_cpu_pct + wrk_cpu_pct
    return {
        "status": "ok" if result.errors == 0 and result.requests > 0 else "invalid",
        "wrk": result.to_json(),
        "wrk_stdout": stdout,
        "warmup": warm.to_json() if warm is not None else None,
        "window": asdict(window),
        "wrk_cpu_pct": wrk_cpu_pct,
        # Whatever else ran on the machine during the row (other VMs' work is not visible here).
        "foreign_cpu_pct": max(0.0, window.machine_busy_pct - known),
        "quiet": asdict(quiet),
    }


@dataclass
class Progress:
    total: int
    done: int = 0

    def step(self, text: str) -> None:
        self.done += 1
        log(f"[{self.done}/{self.total}] {text}")


def failed_row(arm: str, upstream: str, mode: str, conns: int, reason: str) -> dict[str, Any]:
    return {
        "arm": arm,
        "upstream": upstream,
        "mode": mode,
        "conns": conns,
        "status": "failed",
        "failure": reason,
    }


def run_arm(
    arm: targets.Arm,
    the_mock: mock.Mock,
    args: argparse.Namespace,
    result: dict[str, Any],
    progress: Progress,
) -> None:
    # One target process per upstream: like a real deployment, its config names one upstream.
    for upstream in ("fast", "delayed"):
        rows = [(m, c) for (u, m, c) in plan(args) if u == upstream]
        if rows:
            run_upstream(arm, upstream, rows, the_mock, args, result, progress)


def run_upstream(
    arm: targets.Arm,
    upstream: str,
    rows: list[tuple[str, int]],
    the_mock: mock.Mock,
    args: argparse.Namespace,
    result: dict[str, Any],
    progress: Progress,
) -> None:
    failures: list[dict[str, str]] = result["arms"][arm.name]["failures"]
    pending = list(rows)
    target: targets.Target | None = None
    try:
        cpus = None if arm.kind == "direct" else args.target_cpu
        logs = Path(result["work_dir"]) / "logs"
        target = targets.start(arm, the_mock.url(upstream), free_port(), logs, cpus, args.startup_timeout)
        result["arms"][arm.name]["commands"].append(target.command)
        smoke: dict[str, str] = {}  # mode -> "" if the arm answered correctly, else why not
        while pending:
            mode, conns = pending.pop(0)
            where = f"{upstream} {mode} c={conns}"
            if mode not in smoke:
                smoke[mode] = smoke_check(target, mode)
                if smoke[mode]:
                    failures.append({"where": f"{upstream} {mode}", "reason": smoke[mode]})
            if smoke[mode]:
                row = failed_row(arm.name, upstream, mode, conns, smoke[mode])
            else:
                try:
                    measured = run_row(target, the_mock, mode, conns, args)
                    row = {"arm": arm.name, "upstream": upstream, "mode": mode, "conns": conns, **measured}
                except wrk.WrkError as exc:
                    row = failed_row(arm.name, upstream, mode, conns, str(exc))
                    failures.append({"where": where, "reason": str(exc)})
            result["rows"].append(row)
            progress.step(f"{arm.name} {where}: {describe(row)}")
            if target.child is not None and not target.child.alive():
                raise targets.ArmFailed(f"died during {where}\n{target.child.log_tail()}")
    except targets.ArmFailed as exc:
        # Report and go on with the next arm: one broken arm must not cost the others' numbers.
        failures.append({"where": f"{upstream} mock", "reason": str(exc)})
        log(f"{arm.name} ({upstream} mock) FAILED: {exc}")
        for mode, conns in pending:
            result["rows"].append(failed_row(arm.name, upstream, mode, conns, str(exc)))
            progress.step(f"{arm.name} {upstream} {mode} c={conns}: FAILED")
    finally:
        if target is not None:
            targets.stop(target)


def smoke_check(target: targets.Target, mode: str) -> str:
    try:
        targets.smoke(target, PAYLOADS[mode].read_bytes(), stream=mode == "sse")
    except targets.ArmFailed as exc:
        return str(exc)
    return ""


def describe(row: dict[str, Any]) -> str:
    if row["status"] == "failed":
        return "FAILED " + row["failure"].splitlines()[0]
    w = row["wrk"]
    text = f"{w['rps']:,.0f} rps, p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms"
    cpu = row["window"]["target_cpu_pct"]
    if cpu is not None:
        text += f", cpu {cpu:.0f} %"
    if row["status"] == "invalid":
        text += f"  ⚠ {w['errors']} ERRORS: INVALID"
    return text


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_outputs(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{result['timestamp_utc']}.json"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    text = report.render(result)
    md_path = out_dir / "latest.md"
    md_path.write_text(text)
    return json_path, md_path, text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    check_tools()
    prepare_process(args.load_cpu)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    # One folder per run (nginx prefix, arm logs): never clear a folder another run may be using.
    args.out = args.out.resolve()
    tmp = args.out / "tmp" / stamp
    result: dict[str, Any] = {
        "timestamp_utc": stamp,
        "work_dir": str(tmp),
        "meta": meta.collect(ROOT),
        "settings": {
            "arms": args.arms,
            "conns": args.conns,
            "delayed_conns": args.delayed_conns,
            "modes": args.modes,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "delay_ms": args.delay_ms,
            "target_cpu": args.target_cpu,
            "load_cpu": args.load_cpu,
            "quiet_pct": args.quiet_pct,
            "quiet_max_wait_s": args.quiet_max_wait,
            "body_bytes": PAYLOADS["json"].stat().st_size,
            "wrk": "-t1, closed loop, --timeout 10s, bench/wrk/post.lua",
        },
        "arms": {  # in the order asked for, so that runs can alternate their arms
            name: {"what": targets.ARMS[name].what, "commands": [], "failures": []} for name in args.arms
        },
        "rows": [],
        "interrupted": False,
    }
    per_arm = len(plan(args))
    total = per_arm * len(args.arms)
    estimate = total * (args.warmup + args.duration + ROW_OVERHEAD_S) + len(args.arms) * 2 * ARM_OVERHEAD_S
    log(f"bench: {total} rows over {len(args.arms)} arms, about {estimate / 60:.1f} min if quiet")
    progress = Progress(total)
    the_mock: mock.Mock | None = None
    t0 = time.monotonic()
    try:
        the_mock = mock.start(
            tmp / "nginx", free_port(), free_port(), args.delay_ms / 1000, cpus=args.load_cpu
        )
        for name in result["arms"]:
            run_arm(targets.ARMS[name], the_mock, args, result, progress)
    except mock.MockError as exc:
        log(f"bench: the mock upstream did not start: {exc}")
        return 2
    except (KeyboardInterrupt, SystemExit):
        result["interrupted"] = True
        log("bench: interrupted; writing partial results")
    finally:
        if the_mock is not None:
            mock.stop(the_mock)
        procs.stop_all()
    result["elapsed_s"] = time.monotonic() - t0
    json_path, md_path, text = write_outputs(result, args.out)
    print(text)
    log(f"bench: {result['elapsed_s']:.0f} s; wrote {shown(json_path)} and {shown(md_path)}")
    bad = [r for r in result["rows"] if r["status"] != "ok"]
    if bad:
        log(f"bench: {len(bad)} row(s) failed or invalid (see the tables)")
    return 1 if bad or result["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
