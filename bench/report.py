"""Markdown tables and the goal summary, built only from a result's raw data.

python -m bench.report bench/results/<timestamp>.json   # re-render a saved run
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REF = "ref-aiohttp"
# Goals for the gateway against the reference proxy on the same client (see bench/README.md).
GOAL_P50_RATIO = 1.3
GOAL_RPS_SHARE = 0.70
# A row is "disturbed" when something outside the benchmark used this much of a core.
FOREIGN_LIMIT_PCT = 10.0
# performance.md section 5: the load generator's core must stay below ~80 % for proxied arms.
LOAD_CORE_LIMIT_PCT = 80.0

UPSTREAM_TITLES = {
    "fast": "fast mock (answers at once)",
    "delayed": "delayed mock ({delay} ms before the answer)",
}
MODE_TITLES = {
    "json": "non-streaming POST /v1/messages (JSON)",
    "sse": "streaming POST /v1/messages (SSE, 8 text deltas)",
}
COLUMNS = (
    "arm",
    "conns",
    "RPS",
    "p50 ms",
    "p99 ms",
    "errors",
    f"÷{REF} p50",
    f"÷{REF} RPS",
    "÷direct RPS",
    "CPU %",
)
ALIGN = ("---", "---:", "---:", "---:", "---:", "---", "---:", "---:", "---:", "---:")

Row = dict[str, Any]


def fmt_ms(value: float) -> str:
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def fmt_ratio(num: float | None, den: float | None) -> str:
    if num is None or not den:
        return "-"
    return f"{num / den:.2f}"


def workloads(rows: list[Row]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for upstream in ("fast", "delayed"):
        for mode in ("json", "sse"):
            if (
                any(r["upstream"] == upstream and r["mode"] == mode for r in rows)
                and (upstream, mode) not in seen
            ):
                seen.append((upstream, mode))
    return seen


def title(upstream: str, mode: str, delay_ms: float) -> str:
    return f"{UPSTREAM_TITLES[upstream].format(delay=f'{delay_ms:g}')}: {MODE_TITLES[mode]}"


def _find(rows: list[Row], arm: str, conns: int) -> Row | None:
    for row in rows:
        if row["arm"] == arm and row["conns"] == conns and row["status"] == "ok":
            return row
    return None


def _metric(row: Row | None, key: str) -> float | None:
    if row is None or row.get("wrk") is None:
        return None
    value = row["wrk"][key]
    return float(value) if value is not None else None


def errors_cell(row: Row) -> str:
    if row["status"] == "failed":
        return "**FAILED** (see below)"
    w = row["wrk"]
    if w["errors"] == 0 and w["requests"] > 0:
        return "0"
    # Loud on purpose: a row with errors measured something else (fast 4xx/5xx, resets).
    return f"**⚠ {w['errors']:,} INVALID** (non-2xx {w['non_2xx']:,}, socket {w['socket_errors']:,})"


def table(rows: list[Row], arm_order: list[str]) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(ALIGN) + "|"]
    ordered = sorted(rows, key=lambda r: (arm_order.index(r["arm"]), r["conns"]))
    for row in ordered:
        if row["status"] == "failed":
            cells = [row["arm"], str(row["conns"]), "-", "-", "-", errors_cell(row), "-", "-", "-", "-"]
        else:
            w = row["wrk"]
            ref = _find(rows, REF, row["conns"])
            direct = _find(rows, "direct", row["conns"])
            cpu = row["window"]["target_cpu_pct"]
            cells = [
                row["arm"],
                str(row["conns"]),
                f"{w['rps']:,.0f}",
                fmt_ms(w["p50_ms"]),
                fmt_ms(w["p99_ms"]),
                errors_cell(row),
                fmt_ratio(w["p50_ms"], _metric(ref, "p50_ms")),
                fmt_ratio(w["rps"], _metric(ref, "rps")),
                fmt_ratio(w["rps"], _metric(direct, "rps")),
                f"{cpu:.0f}" if cpu is not None else "-",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def row_notes(rows: list[Row], load_cpu: str) -> list[str]:
    notes = []
    for row in rows:
        tag = f"{row['arm']} c={row['conns']}"
        if row["status"] == "invalid":
            notes.append(
                f"- ⚠ **{tag} is INVALID**: {row['wrk']['errors']:,} errors; do not use its numbers."
            )
        if row["status"] == "failed":
            continue
        if not row["quiet"]["quiet"]:
            notes.append(
                f"- {tag}: machine not quiet before the row "
                f"({row['quiet']['busy_pct']:.0f} % of a core after {row['quiet']['waited_s']:.0f} s)."
            )
        if row["foreign_cpu_pct"] > FOREIGN_LIMIT_PCT:
            notes.append(
                f"- {tag}: disturbed, {row['foreign_cpu_pct']:.0f} % of a core used outside the benchmark."
            )
        load = row["window"]["core_busy_pct"].get("cpu" + load_cpu.split(",")[0].split("-")[0])
        if row["arm"] != "direct" and load is not None and load > LOAD_CORE_LIMIT_PCT:
            notes.append(f"- {tag}: load core {load:.0f} % busy; wrk or the mock may have limited this row.")
    return notes


def summary(rows: list[Row], result: dict[str, Any]) -> list[str]:
    lines = [f"## Summary: gateway against {REF}", ""]
    gateway_rows = [r for r in rows if r["arm"] == "gateway"]
    if not gateway_rows:
        return [*lines, "- gateway arm not run.", ""]
    delay = result["settings"]["delay_ms"]
    for upstream, mode in workloads(rows):
        rs = [r for r in rows if r["upstream"] == upstream and r["mode"] == mode]
        name = title(upstream, mode, delay)
        lines.append(f"- {name}")
        lines.append(f"  - gateway p50 at c=1 = {_goal(rs, 1, 'p50_ms', lower_is_better=True)}")
        lines.append(f"  - gateway RPS at c=64 = {_goal(rs, 64, 'rps', lower_is_better=False)}")
    rss = _peak_rss(rows)
    if rss:
        lines += ["", "Peak RSS of each arm's process tree (max over its rows): " + ", ".join(rss) + "."]
    return [*lines, ""]


def _goal(rows: list[Row], conns: int, key: str, lower_is_better: bool) -> str:
    gw = next((r for r in rows if r["arm"] == "gateway" and r["conns"] == conns), None)
    ref = next((r for r in rows if r["arm"] == REF and r["conns"] == conns), None)
    # The multiplication sign is meant (RUF001 would have an x).
    p50_goal = f"goal ≤ {GOAL_P50_RATIO}×"  # noqa: RUF001
    goal = p50_goal if lower_is_better else f"goal ≥ {GOAL_RPS_SHARE:.0%}"
    if gw is None:
        return f"n/a: no c={conns} row in this workload ({goal})"
    if gw["status"] == "failed":
        return f"**FAILED**: gateway did not run ({goal})"
    if ref is None or ref["status"] == "failed":
        return f"n/a: no {REF} row at c={conns} ({goal})"
    if gw["status"] != "ok" or ref["status"] != "ok":
        return f"**INVALID**: errors in the gateway or {REF} row ({goal})"
    ratio = gw["wrk"][key] / ref["wrk"][key]
    if lower_is_better:
        verdict = "met" if ratio <= GOAL_P50_RATIO else "**missed**"
        return f"{ratio:.2f}× {REF} ({goal}) {verdict}"  # noqa: RUF001
    verdict = "met" if ratio >= GOAL_RPS_SHARE else "**missed**"
    return f"{ratio:.0%} of {REF} ({goal}) {verdict}"


def _peak_rss(rows: list[Row]) -> list[str]:
    peaks: dict[str, float] = {}
    for row in rows:
        window = row.get("window")
        if window and window.get("peak_rss_mib") is not None:
            peaks[row["arm"]] = max(peaks.get(row["arm"], 0.0), window["peak_rss_mib"])
    return [f"{arm} {mib:.0f} MiB" for arm, mib in peaks.items()]


def failures(result: dict[str, Any]) -> list[str]:
    lines = []
    for name, arm in result["arms"].items():
        for failure in arm.get("failures", []):
            lines += [
                f"### {name} FAILED ({failure['where']})",
                "",
                "```",
                failure["reason"].rstrip(),
                "```",
                "",
            ]
    return ["## Failed arms", "", *lines] if lines else []


def header(result: dict[str, Any]) -> list[str]:
    meta, s = result["meta"], result["settings"]
    commit = (meta.get("git_commit") or "unknown")[:12] + (" (dirty)" if meta.get("git_dirty") else "")
    interrupted = " — **INTERRUPTED, partial results**" if result.get("interrupted") else ""
    return [
        f"# Gateway benchmark {result['timestamp_utc']}{interrupted}",
        "",
        f"- commit {commit}; {meta['cpu_model']}, {meta['cpu_count']} CPUs, Linux {meta['kernel']}; "
        f"Python {meta['python']}; wrk {meta['wrk']}; nginx {meta['nginx']}",
        f"- target on core {s['target_cpu']} (taskset, children included); wrk -t1, the nginx+Lua mock "
        f"(1 worker) and this runner on core {s['load_cpu']}",
        f"- per row: quiet check (< {s['quiet_pct']:g} % of a core), {s['warmup_s']:g} s warm-up, "
        f"{s['duration_s']:g} s measured; closed loop; POST of {s['body_bytes']} B; "
        f"delayed mock sleeps {s['delay_ms']:g} ms",
        "- p50/p99: wrk latency of the whole response (for SSE, to the last byte); "
        f"÷{REF}: ratio to {REF} at the same conns; CPU %: target's process tree, % of one core",
        "",
    ]


def render(result: dict[str, Any]) -> str:
    rows: list[Row] = result["rows"]
    arm_order = list(result["arms"])
    out = header(result)
    for upstream, mode in workloads(rows):
        wl_rows = [r for r in rows if r["upstream"] == upstream and r["mode"] == mode]
        out += [f"## {title(upstream, mode, result['settings']['delay_ms'])}", ""]
        out += table(wl_rows, arm_order)
        notes = row_notes(wl_rows, result["settings"]["load_cpu"])
        out += ["", *notes, ""] if notes else [""]
    out += summary(rows, result)
    out += failures(result)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.report RESULT.json", file=sys.stderr)
        return 2
    print(render(json.loads(Path(argv[0]).read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
