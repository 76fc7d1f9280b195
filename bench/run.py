"""`make bench`: the same load against several arms, interleaved in rounds; prints tables, writes JSON.

    python -m bench.run [--quick] [--arms direct,ref-asgi,gateway] [--conns 1,64] [--rounds 3] ...

See bench/README.md for the method and how to read the output.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import meta, mock, peers, procs, redos, report, stats, sysstat, targets, wrk
from bench.toolkit import check_tools, free_port
from bench.workloads import MESSAGES_MODES, WORKLOADS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAYLOADS = {"json": HERE / "payloads" / "messages.json", "sse": HERE / "payloads" / "messages-stream.json"}
# Rough cost of one measurement besides warm-up and measured time (sampling, wrk start, waiting for
# the arm to go idle), and of one quiet check (once per round of a row).
MEASURE_OVERHEAD_S = 0.5
QUIET_CHECK_S = 1.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument(
        "--arms",
        default=",".join(targets.DEFAULT_ARMS),
        help=f"comma-separated, round 1 runs them in this order (default: %(default)s; also: "
        f"{', '.join(a for a in targets.ARMS if a not in targets.DEFAULT_ARMS)})",
    )
    p.add_argument(
        "--rounds", type=int, help="rounds per row, arm order reversed every round (default 3, --quick 2)"
    )
    p.add_argument("--conns", type=int_list, default=[1, 64], help="connections against the fast mock")
    p.add_argument(
        "--delayed-conns", type=int_list, default=[64], help="connections against the delayed mock"
    )
    p.add_argument(
        "--ttfb-conns", type=int_list, default=[1, 16], help="concurrent streams for SSE TTFB (paced mock)"
    )
    p.add_argument(
        "--modes",
        default=",".join(WORKLOADS),
        help="workloads (default: %(default)s): json/sse POST /v1/messages; resp/resp-sse POST "
        "/v1/responses in the same format (openai-type provider); respx/respx-sse POST /v1/responses "
        "translated to the anthropic provider",
    )
    p.add_argument(
        "--resp-conns",
        type=int_list,
        default=[64],
        help="connections for the Responses workloads (fast mock only; default: %(default)s)",
    )
    p.add_argument("--duration", type=float, help="measured seconds per row and arm (default 4, --quick 1)")
    p.add_argument(
        "--warmup", type=float, help="warm-up seconds before each measurement (default 2, --quick 1)"
    )
    p.add_argument(
        "--ttfb-duration", type=float, help="measured seconds per TTFB run (default 3, --quick 1.5)"
    )
    p.add_argument("--no-ttfb", action="store_true", help="skip the SSE TTFB / chunk-hold part")
    p.add_argument(
        "--no-redos",
        action="store_true",
        help="skip timing guardrail patterns on hostile input (bench/redos.py)",
    )
    p.add_argument("--quick", action="store_true", help="2 rounds, 1 s warm-up, 1 s measured: a smoke run")
    p.add_argument("--delay-ms", type=float, default=50.0, help="the delayed mock's sleep")
    p.add_argument("--target-cpu", default="1", help="core(s) the arms under test are pinned to")
    p.add_argument("--load-cpu", default="0", help="core(s) for wrk, the mock and this runner")
    p.add_argument("--quiet-pct", type=float, default=15.0, help="max busy %% of one core before a round")
    p.add_argument(
        "--quiet-max-wait", type=float, help="give up waiting for quiet (default 300 s, --quick 30 s)"
    )
    p.add_argument("--startup-timeout", type=float, default=60.0, help="seconds for all arms to answer")
    p.add_argument("--out", type=Path, default=HERE / "results", help="where JSON and latest.md go")
    p.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of the project: adds the arm gateway-baseline, its gateway on the same config",
    )
    args = p.parse_args(argv)
    if args.baseline is not None:
        targets.ARMS["gateway-baseline"] = targets.baseline_arm(args.baseline.resolve())
    quick = args.quick

    def pick(value: float | None, full: float, fast: float) -> float:
        return value if value is not None else (fast if quick else full)

    args.rounds = int(pick(args.rounds, 3, 2))
    args.duration = pick(args.duration, 4.0, 1.0)
    args.warmup = pick(args.warmup, 2.0, 1.0)
    args.ttfb_duration = pick(args.ttfb_duration, 3.0, 1.5)
    args.ttfb_warmup = 0.5 if quick else 1.0
    args.quiet_max_wait = pick(args.quiet_max_wait, 300.0, 30.0)
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in args.arms if a not in targets.ARMS]
    if unknown:
        p.error(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(targets.ARMS)}")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or any(m not in WORKLOADS for m in args.modes):
        p.error(f"--modes takes some of {', '.join(WORKLOADS)}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


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


def plan(args: argparse.Namespace) -> dict[str, list[tuple[str, int]]]:
    """upstream -> its rows (mode, conns), in run order. `paced` rows are the SSE TTFB runs."""
    rows: dict[str, list[tuple[str, int]]] = {}
    # The Responses workloads run against the fast mock only, at --resp-conns: they keep the default
    # run within its time (the delayed mock's rows measure waiting, the same for every format).
    rows["fast"] = [
        (mode, c) for mode in args.modes for c in (args.conns if mode in MESSAGES_MODES else args.resp_conns)
    ]
    rows["delayed"] = [(mode, c) for mode in args.modes if mode in MESSAGES_MODES for c in args.delayed_conns]
    if not args.no_ttfb and "sse" in args.modes:
        rows["paced"] = [("ttfb", c) for c in args.ttfb_conns]
    return {k: v for k, v in rows.items() if v}


def applicable(arms: list[str], mode: str) -> list[str]:
    """The arms a workload applies to (`ttfb` is the SSE Messages workload), in the order given."""
    workload = WORKLOADS["sse" if mode == "ttfb" else mode]
    return [a for a in arms if not workload.why_not(targets.ARMS[a].kind)]


def n_measurements(args: argparse.Namespace) -> int:
    rounds: int = args.rounds
    return rounds * sum(len(applicable(args.arms, mode)) for rows in plan(args).values() for mode, _ in rows)


def estimate_s(args: argparse.Namespace) -> float:
    total = 0.0
    for upstream, rows in plan(args).items():
        per = (
            (args.ttfb_warmup + args.ttfb_duration + 0.6)
            if upstream == "paced"
            else (args.warmup + args.duration + MEASURE_OVERHEAD_S)
        )
        for mode, _conns in rows:
            total += args.rounds * (QUIET_CHECK_S + len(applicable(args.arms, mode)) * per)
    return total + 3 * 20.0  # arm start-ups per upstream


def run_row(
    target: targets.Target,
    the_mock: mock.Mock,
    mode: str,
    conns: int,
    args: argparse.Namespace,
    others: list[int] | None = None,
) -> dict[str, Any]:
    """Warm-up, then the measured wrk run with CPU and RSS sampled around it.

    `others`: pids of the other arms (idle, on the same core): their CPU is reported apart.
    """
    request = WORKLOADS[mode].request_for(target.arm.kind)
    url = target.url + request.path
    payload = request.payload
    mock_pids = sysstat.tree_pids(the_mock.pid)
    sampler = sysstat.Sampler(target_pid=target.pid, mock_pids=mock_pids, other_pids=others or [])
    warm = None
    headers = target.headers_for(request)
    sampler.start_rss()
    try:
        if args.warmup > 0:
            warm, _ = wrk.run(
                url, payload, conns=conns, duration_s=args.warmup, cpus=args.load_cpu, headers=headers
            )
        sampler.start_cpu()
        result, stdout = wrk.run(
            url, payload, conns=conns, duration_s=args.duration, cpus=args.load_cpu, headers=headers
        )
        window = sampler.stop()
    finally:
        sampler.close()
    wrk_cpu_pct = 100.0 * result.cpu_s / window.wall_s if window.wall_s > 0 else 0.0
    known = (window.target_cpu_pct or 0.0) + window.mock_cpu_pct + window.runner_cpu_pct + wrk_cpu_pct
    known += window.others_cpu_pct
    return {
        "status": "ok" if result.errors == 0 and result.requests > 0 else "invalid",
        "path": request.path,
        "wrk": result.to_json(),
        "wrk_stdout": stdout,
        "warmup": warm.to_json() if warm is not None else None,
        "window": asdict(window),
        "rss_after_mib": rss_mib(target),
        "wrk_cpu_pct": wrk_cpu_pct,
        # Whatever else ran on the machine during the row (other VMs' work is not visible here).
        "foreign_cpu_pct": max(0.0, window.machine_busy_pct - known),
    }


def rss_mib(target: targets.Target) -> float | None:
    """Resident set of the arm's process tree right after a load."""
    if target.pid is None:
        return None
    return sysstat.tree_rss_kib(sysstat.tree_pids(target.pid)) / 1024


def run_ttfb(target: targets.Target, conns: int, args: argparse.Namespace) -> dict[str, Any]:
    """bench/ttfb.py against the arm on the paced mock, pinned to the load core."""
    argv = [
        "taskset", "-c", args.load_cpu, sys.executable, "-m", "bench.ttfb",
        "--url", target.url + targets.PATH, "--body", str(PAYLOADS["sse"]),
        "--conns", str(conns), "--duration", f"{args.ttfb_duration:g}", "--warmup", f"{args.ttfb_warmup:g}",
    ]  # fmt: skip
    for name, value in target.request_headers.items():
        argv += ["--header", f"{name}: {value}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    timeout = args.ttfb_duration + args.ttfb_warmup + 60
    proc = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=timeout
    )
    if proc.returncode != 0:
        raise wrk.WrkError(f"bench.ttfb exited {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    data: dict[str, Any] = json.loads(proc.stdout)
    ok = data["errors"] == 0 and data["requests"] > 0
    return {"status": "ok" if ok else "invalid", "ttfb": data, "rss_after_mib": rss_mib(target)}


@dataclass
class Progress:
    total: int
    done: int = 0

    def step(self, text: str) -> None:
        self.done += 1
        log(f"[{self.done}/{self.total}] {text}")


def na_row(arm: str, upstream: str, mode: str, conns: int, reason: str) -> dict[str, Any]:
    """A workload that does not apply to the arm: one row, not a measurement, not a failure."""
    return {"arm": arm, "upstream": upstream, "mode": mode, "conns": conns, "round": 0, "status": "n/a",
            "reason": reason}  # fmt: skip


def failed_row(arm: str, upstream: str, mode: str, conns: int, reason: str, rnd: int = 0) -> dict[str, Any]:
    return {
        "arm": arm,
        "upstream": upstream,
        "mode": mode,
        "conns": conns,
        "round": rnd,
        "status": "failed",
        "failure": reason,
    }


def run_upstream(
    upstream: str,
    rows: list[tuple[str, int]],
    arms: list[str],
    the_mock: mock.Mock,
    args: argparse.Namespace,
    result: dict[str, Any],
    progress: Progress,
) -> None:
    """Start every arm against this upstream at once, then each row: rounds of every arm in turn."""
    logs = Path(result["work_dir"]) / "logs"
    failed: dict[str, str] = {}  # arm -> why it cannot run here
    started: dict[str, targets.Target] = {}

    def fail(name: str, where: str, reason: str) -> None:
        failed[name] = reason
        result["arms"][name]["failures"].append({"where": where, "reason": reason})
        log(f"{name} ({where}) FAILED: {reason.splitlines()[0]}")

    try:
        pending: dict[str, targets.Pending | targets.Target] = {}
        for name in arms:
            if result["arms"][name].get("install_failure"):
                failed[name] = result["arms"][name]["install_failure"]
                continue
            arm = targets.ARMS[name]
            cpus = None if arm.kind == "direct" else args.target_cpu
            pending[name] = targets.launch(arm, the_mock.url(upstream), free_port(), logs, cpus)
        deadline = time.monotonic() + args.startup_timeout
        for name, waiting in pending.items():
            try:
                started[name] = targets.wait_ready(waiting, deadline)
                result["arms"][name]["commands"].append(started[name].command)
            except targets.ArmFailed as exc:
                fail(name, f"{upstream} mock", str(exc))
        smoke: dict[tuple[str, str], str] = {}  # (arm, mode) -> "" if it answered correctly, else why
        for mode, conns in rows:
            payload_mode = "sse" if mode == "ttfb" else mode
            runs = applicable(arms, mode)
            for name in arms:
                if name not in runs:
                    why_na = WORKLOADS[payload_mode].why_not(targets.ARMS[name].kind)
                    result["rows"].append(na_row(name, upstream, mode, conns, why_na))
            for name in started:
                if name in runs and name not in failed and (name, payload_mode) not in smoke:
                    why = smoke_check(started[name], payload_mode, result["arms"][name])
                    child = started[name].child
                    if why and child is not None:
                        # The arm's own words: a peer's 500 says little without its log.
                        why += f"\nlog tail:\n{child.log_tail(12)}"
                    smoke[name, payload_mode] = why
                    if why:
                        result["arms"][name]["failures"].append(
                            {"where": f"{upstream} {mode}", "reason": why}
                        )
            for rnd in range(args.rounds):
                quiet = sysstat.wait_quiet(args.quiet_pct, args.quiet_max_wait)
                for name in stats.round_order(runs, rnd):
                    where = f"{upstream} {mode} c={conns} round {rnd + 1}"
                    why = failed.get(name) or smoke.get((name, payload_mode), "")
                    if why:
                        row = failed_row(name, upstream, mode, conns, why, rnd)
                    else:
                        others = [
                            pid
                            for other, t in started.items()
                            if other != name and t.pid is not None
                            for pid in sysstat.tree_pids(t.pid)
                        ]
                        row = measure(started[name], the_mock, mode, conns, args, upstream, rnd, others)
                        row["quiet"] = asdict(quiet)
                        pid = started[name].pid
                        if pid is not None:
                            row["settle_s"] = sysstat.wait_idle(pid)
                    result["rows"].append(row)
                    progress.step(f"{name} {where}: {describe(row)}")
                    child = started[name].child if name in started else None
                    if name not in failed and child is not None and not child.alive():
                        fail(name, where, f"died during {where}\n{child.log_tail()}")
    finally:
        for target in started.values():
            targets.stop(target)


def measure(
    target: targets.Target,
    the_mock: mock.Mock,
    mode: str,
    conns: int,
    args: argparse.Namespace,
    upstream: str,
    rnd: int,
    others: list[int],
) -> dict[str, Any]:
    head = {"arm": target.arm.name, "upstream": upstream, "mode": mode, "conns": conns, "round": rnd}
    try:
        if mode == "ttfb":
            return {**head, **run_ttfb(target, conns, args)}
        return {**head, **run_row(target, the_mock, mode, conns, args, others)}
    except (wrk.WrkError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        return failed_row(target.arm.name, upstream, mode, conns, str(exc), rnd)


def smoke_check(target: targets.Target, mode: str, arm_info: dict[str, Any] | None = None) -> str:
    """'' if the arm answered the workload's request correctly, else why; deviations from the real API's
    shape go to `arm_info["deviations"]` (mode -> what)."""
    try:
        deviations = targets.smoke_request(target, WORKLOADS[mode].request_for(target.arm.kind))
    except targets.ArmFailed as exc:
        return str(exc)
    if deviations and arm_info is not None:
        arm_info.setdefault("deviations", {})[mode] = deviations
    return ""


def describe(row: dict[str, Any]) -> str:
    if row["status"] == "failed":
        return "FAILED " + str(row["failure"]).splitlines()[0]
    if "ttfb" in row:
        t = row["ttfb"]
        if not t["requests"]:
            return f"⚠ {t['errors']} ERRORS: INVALID"
        text = (
            f"{t['requests']} streams, TTFB p50 {t['ttfb_p50_ms']:.2f} ms, p99 {t['ttfb_p99_ms']:.2f} ms, "
            f"hold p99 {t['hold_p99_ms']:.2f} ms"
        )
        return text + (f"  ⚠ {t['errors']} ERRORS: INVALID" if t["errors"] else "")
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


def install_peers(result: dict[str, Any]) -> None:
    """Install (or check) every peer arm asked for; a failure is kept and fails that arm's rows."""
    for name, info in result["arms"].items():
        kind = targets.ARMS[name].kind
        if kind not in targets.PEER_KINDS:
            continue
        log(f"bench: installing/checking peer {name} ...")
        version, why = peers.ensure(kind)
        info["version"] = version
        if version is None:
            info["install_failure"] = why
            info["failures"].append({"where": "install", "reason": why})
            log(f"bench: {name}: {why.splitlines()[0]}")
        result["meta"].setdefault("peers", {})[name] = version


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
            "rounds": args.rounds,
            "conns": args.conns,
            "delayed_conns": args.delayed_conns,
            "ttfb_conns": [] if args.no_ttfb else args.ttfb_conns,
            "modes": args.modes,
            "resp_conns": args.resp_conns,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "ttfb_duration_s": args.ttfb_duration,
            "ttfb_warmup_s": args.ttfb_warmup,
            "paced_gaps_ms": list(mock.PACED_GAPS_MS),
            "delay_ms": args.delay_ms,
            "target_cpu": args.target_cpu,
            "load_cpu": args.load_cpu,
            "quiet_pct": args.quiet_pct,
            "quiet_max_wait_s": args.quiet_max_wait,
            "body_bytes": PAYLOADS["json"].stat().st_size,
            "responses_body_bytes": WORKLOADS["resp"].request.payload.stat().st_size,
            "wrk": "-t1, closed loop, --timeout 10s, bench/wrk/post.lua",
        },
        "arms": {  # in the order asked for: round 1's order
            name: {"what": targets.ARMS[name].what, "commands": [], "failures": []} for name in args.arms
        },
        "rows": [],
        "interrupted": False,
    }
    work = plan(args)
    total = n_measurements(args)
    log(
        f"bench: {total} measurements ({len(args.arms)} arms, {args.rounds} rounds), "
        f"about {estimate_s(args) / 60:.0f} min if quiet"
    )
    progress = Progress(total)
    the_mock: mock.Mock | None = None
    t0 = time.monotonic()
    try:
        install_peers(result)
        the_mock = mock.start(
            tmp / "nginx",
            free_port(),
            free_port(),
            args.delay_ms / 1000,
            cpus=args.load_cpu,
            paced_port=free_port(),
        )
        for upstream, rows in work.items():
            run_upstream(upstream, rows, args.arms, the_mock, args, result, progress)
        if not args.no_redos:
            log("bench: guardrail patterns on hostile input (bench/redos.py) ...")
            result["redos"] = redos.run_pinned(args.target_cpu, quick=args.quick)
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
    bad = [r for r in result["rows"] if r["status"] not in ("ok", "n/a")]
    if bad:
        log(f"bench: {len(bad)} measurement(s) failed or invalid (see the tables)")
    return 1 if bad or result["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
