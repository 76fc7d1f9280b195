"""The request log at scale: fill a store with N synthetic records, serve it with the real gateway
process, and time `/api/logs` and `/api/analytics` over HTTP (medians of several repetitions, the
first, cold, call shown apart), against the goals of issue 13: the first page of logs < 100 ms and a
7-day analytics overview < 1 s.

    python -m bench.logscale --store sqlite:///bench/results/tmp/logs-1m.db --records 1000000
    python -m bench.logscale --store postgres-temp --records 1000000
    python -m bench.logscale --store postgresql://user@host/db --records 1000000

An existing store that already holds records is reused as it is (`--fresh` empties it first), so one
fill serves many runs, and a store filled by an older checkout measures the upgrade: `--tree PATH` runs
the schema migration and the server of another checkout (e.g. a `git worktree` of the commit before)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import logdata, procs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LOGS_GOAL_MS = 100.0
ANALYTICS_GOAL_MS = 1000.0
SLOW_MS = 5000.0  # a query slower than this once is repeated only MIN_REPS times


@dataclass
class Case:
    name: str
    path: str
    params: dict[str, str]
    goal_ms: float | None = None
    results: list[float] = field(default_factory=list)
    cold_ms: float | None = None
    status: int | None = None
    summary: str = ""


def cases(mid_ts: float) -> list[Case]:
    """What is timed. `mid_ts` is a time half way back through the data (for the deep page)."""
    logs: list[tuple[str, dict[str, str]]] = [
        ("logs: first page", {"limit": "50"}),
        ("logs: model (common)", {"model": "claude-sonnet-4-6"}),
        ("logs: model (1%)", {"model": "llama3.3"}),
        ("logs: token (rare, ~1e-4)", {"token": "token-39"}),
        ("logs: token (absent)", {"token": "no-such-token"}),
        ("logs: status=5xx", {"status": "5xx"}),
        ("logs: status=429", {"status": "429"}),
        ("logs: provider+status", {"provider": "google", "status": "5xx"}),
        ("logs: gateway, since=24h", {"gateway": "research", "since": "24h"}),
        ("logs: route", {"route": "fallback-chain"}),
        ("logs: cache=HIT", {"cache": "HIT"}),
        ("logs: metadata.team", {"metadata.team": "ops"}),
        ("logs: metadata.user (rare)", {"metadata.user": "u17"}),
        ("logs: metadata.user (absent)", {"metadata.user": "nobody"}),
        ("logs: status=504 (0.2%)", {"status": "504"}),
        ("logs: since=7d until=6d", {"since": "7d", "until": "6d"}),
        ("logs: deep page (cursor)", {"cursor": "<deep>"}),
    ]
    analytics: list[tuple[str, dict[str, str]]] = [
        ("analytics: 7d overview, 1h buckets", {"since": "7d", "bucket": "1h"}),
        ("analytics: 7d, 3h buckets", {"since": "7d", "bucket": "3h"}),
        ("analytics: 7d by model", {"since": "7d", "bucket": "7d", "group_by": "model"}),
        ("analytics: 7d by gateway, 1d", {"since": "7d", "bucket": "1d", "group_by": "gateway"}),
        ("analytics: 7d model=gpt-5.2, 1h", {"since": "7d", "bucket": "1h", "model": "gpt-5.2"}),
        ("analytics: 7d by metadata.team", {"since": "7d", "bucket": "1d", "group_by": "metadata.team"}),
        ("analytics: 24h, 30m buckets", {"since": "24h", "bucket": "30m"}),
        ("analytics: 30d, 1d buckets", {"since": "30d", "bucket": "1d"}),
        ("analytics: 30d by token, 1d", {"since": "30d", "bucket": "1d", "group_by": "token"}),
    ]
    out = [Case(n, "/api/logs", p, LOGS_GOAL_MS if n == "logs: first page" else None) for n, p in logs]
    out += [
        Case(n, "/api/analytics", p, ANALYTICS_GOAL_MS if "overview" in n else None) for n, p in analytics
    ]
    out.append(Case("dashboard: overview 7d (page)", "/dashboard", {"range": "7d"}))
    return out


def python_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def migrate(tree: Path, url: str) -> float:
    """The schema migration the gateway runs at start, in a process of `tree`; returns seconds."""
    code = (
        "import sys; from gateway.observe.logstore import open_backend; "
        "b = open_backend(sys.argv[1]); b.migrate(); b.close()"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, url], env=python_env(tree), check=True)
    return time.perf_counter() - start


def count(url: str) -> int:
    if url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COUNT(*) FROM requests").fetchone()
        return int(row[0]) if row else 0


def empty(url: str) -> None:
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(url.removeprefix("sqlite:///") + suffix)
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS requests CASCADE")
        conn.execute("DROP TABLE IF EXISTS requests_hourly")
        conn.execute("DROP TABLE IF EXISTS requests_hourly_latency")
        conn.execute("DROP TABLE IF EXISTS requests_hourly_latency_all")
        conn.execute("DROP TABLE IF EXISTS gateway_schema")


# Tables the migrations derive from the records (schema version, tables): a bulk fill writes records only,
# so these are made again afterwards by the served checkout's own migration, as an upgrade would.
DERIVED = ((3, ("requests_hourly", "requests_hourly_latency", "requests_hourly_latency_all")),)


def forget_derived(url: str) -> None:
    """Drop the derived tables and their schema versions, so the next migration rebuilds them."""
    statements = [f"DROP TABLE IF EXISTS {t}" for _, tables in DERIVED for t in tables]
    statements.append(f"DELETE FROM gateway_schema WHERE version >= {min(v for v, _ in DERIVED)}")  # noqa: S608
    if url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            with conn:
                for statement in statements:
                    conn.execute(statement)
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url) as pg:
        for statement in statements:
            pg.execute(statement)


def fill(url: str, n: int, days: float) -> float:
    rows = logdata.records(n, time.time(), days)
    start = time.perf_counter()
    if url.startswith("sqlite:///"):
        logdata.load_sqlite(url.removeprefix("sqlite:///"), rows)
    else:
        logdata.load_postgres(url, rows)
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def gateway(tree: Path, url: str, folder: Path) -> Iterator[str]:
    """The real gateway process serving the admin API over `url`; yields its base URL."""
    config = folder / "gateway.yaml"
    config.write_text(
        "version: 1\n"
        "providers:\n  anthropic: { type: anthropic, base_url: 'http://127.0.0.1:9' }\n"
        "gateways:\n  default: { auth: none }\n"
        f"logs: {{ store: '{url}', retention: 3650d }}\n"
    )
    port = _free_port()
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--no-watch"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    child = procs.spawn("gateway", argv, log_path=folder / "gateway.log", env=python_env(tree), cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            if not child.alive() or time.monotonic() > deadline:
                raise SystemExit(f"logscale: the gateway did not start:\n{child.log_tail()}")
            time.sleep(0.1)
        yield base
    finally:
        procs.stop(child)


def deep_cursor(client: httpx.Client, mid_ts: float) -> str:
    """A cursor half way back through the data: the next page after the newest record before mid_ts."""
    answer = client.get("/api/logs", params={"until": repr(mid_ts), "limit": "1"}).json()
    cursor = answer.get("next_cursor")
    if not cursor:
        raise SystemExit(f"logscale: no cursor half way back: {answer}")
    return str(cursor)


def run_case(client: httpx.Client, case: Case, reps: int, min_reps: int) -> None:
    for i in range(reps + 1):
        start = time.perf_counter()
        response = client.get(case.path, params=case.params)
        elapsed = (time.perf_counter() - start) * 1000
        case.status = response.status_code
        if response.status_code != 200:
            case.summary = response.text[:200]
            return
        if i == 0:
            case.cold_ms = elapsed
            body = response.json() if case.path.startswith("/api/") else {}
            if case.path == "/api/logs":
                case.summary = f"{len(body['data'])} rows" + (", more" if body["next_cursor"] else "")
            elif case.path == "/api/analytics":
                case.summary = f"{body['totals']['requests']} requests, {len(body['buckets'])} buckets"
            if elapsed > SLOW_MS:
                reps = min(reps, min_reps)
            continue
        case.results.append(elapsed)
        if i >= reps:
            break


def verdict(case: Case) -> str:
    if case.status != 200:
        return f"FAILED ({case.status})"
    if case.goal_ms is None or not case.results:
        return ""
    return "met" if statistics.median(case.results) < case.goal_ms else "MISSED"


def report(store: str, info: dict[str, Any], measured: list[Case]) -> str:
    lines = [
        f"# logscale: {store}",
        "",
        ", ".join(f"{k}: {v}" for k, v in info.items()),
        "",
        "| query | median ms | min | max | cold ms | n | goal | result | answer |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for c in measured:
        med = f"{statistics.median(c.results):.1f}" if c.results else "-"
        lo = f"{min(c.results):.1f}" if c.results else "-"
        hi = f"{max(c.results):.1f}" if c.results else "-"
        cold = f"{c.cold_ms:.1f}" if c.cold_ms is not None else "-"
        goal = f"< {c.goal_ms:g} ms" if c.goal_ms else ""
        cells = [c.name, med, lo, hi, cold, str(len(c.results)), goal, verdict(c), c.summary]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.logscale", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--store", required=True, help="sqlite:///path.db, postgresql://..., or postgres-temp"
    )
    parser.add_argument("--pg-dir", help="with postgres-temp: keep the cluster in this folder (reused)")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30.0, help="the records span this many days to now")
    parser.add_argument("--fresh", action="store_true", help="empty the store first")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose gateway is served")
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions per query (after one cold)")
    parser.add_argument("--min-reps", type=int, default=2, help="repetitions of a query slower than 5 s")
    parser.add_argument("--only", default="", help="comma-separated substrings: time only matching queries")
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="drop what the migrations derive from the records, and time the migration that makes it again",
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        url = args.store
        if url == "postgres-temp":
            from bench import pgtemp

            url = stack.enter_context(pgtemp.cluster(args.pg_dir))
        if url.startswith("sqlite:///"):
            # The gateway runs in a temporary folder: a relative path would name another, empty, file.
            path = Path(url.removeprefix("sqlite:///")).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{path}"
        if args.fresh:
            empty(url)
        info: dict[str, Any] = {"tree": str(args.tree)}
        info["migrate_s"] = round(migrate(args.tree, url), 2)
        have = count(url)
        if have == 0:
            print(f"filling {args.records:,} records over {args.days:g} days ...", flush=True)
            info["fill_s"] = round(fill(url, args.records, args.days), 1)
            have = count(url)
            forget_derived(url)
            info["backfill_s"] = round(migrate(args.tree, url), 2)
        elif args.rebuild:
            forget_derived(url)
            info["backfill_s"] = round(migrate(args.tree, url), 2)
        info["records"] = have
        print(", ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
        if args.fill_only:
            return 0
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="logscale-")))
        base = stack.enter_context(gateway(args.tree, url, folder))
        client = stack.enter_context(httpx.Client(base_url=base, timeout=600))
        newest = client.get("/api/logs", params={"limit": "1"}).json()["data"]
        if not newest:
            raise SystemExit("logscale: the store is empty")
        mid_ts = time.time() - args.days * 86400 / 2
        todo = cases(mid_ts)
        if args.only:
            todo = [c for c in todo if any(s.strip() in c.name for s in args.only.split(","))]
        for case in todo:
            if case.params.get("cursor") == "<deep>":
                case.params["cursor"] = deep_cursor(client, mid_ts)
            run_case(client, case, args.reps, args.min_reps)
            med = f"{statistics.median(case.results):.1f} ms" if case.results else "-"
            print(f"  {case.name}: {med} {verdict(case)}", flush=True)
        store = "sqlite" if url.startswith("sqlite") else "postgresql"
        text = report(store, info, todo)
        print("\n" + text)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        out = RESULTS / f"logscale-{store}-{stamp}.json"
        out.write_text(json.dumps({"store": store, **info, "cases": [c.__dict__ for c in todo]}, indent=1))
        print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        procs.stop_all()
