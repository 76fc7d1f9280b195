"""Markdown tables and the goal summary, built only from a result's raw data.

    python -m bench.report bench/results/<timestamp>.json   # re-render a saved run

Every figure is a median over the rounds with its min and max; a ratio or a difference between two
arms is taken within each round (the two measurements adjacent in time) and then its median.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import redos
from bench.stats import Spread, per_round_differences, per_round_ratios
from bench.workloads import RESPONSES_MODES, WORKLOADS

BARE = "ref-httpx-aiohttp"  # issue 13's "bare Starlette + httpx-aiohttp proxy"
REF = "ref-asgi"  # the minimal raw-ASGI + aiohttp reference
GATEWAY = "gateway"
# Issue 13's goals for the full default path (the gateway arm).
GOAL_RPS_OVER_BARE = 1.2
GOAL_RPS_OVER_REF = 0.7
GOAL_DELAYED_OVER_DIRECT = 0.97
GOAL_RSS_MIB = 80.0
# A row is "disturbed" when something outside the benchmark used this much of a core.
FOREIGN_LIMIT_PCT = 10.0
# The idle arms share the target's core: more than this, and one of them was not idle.
OTHERS_LIMIT_PCT = 5.0
# An arm still busy this long after its run is said so (bench.run waits for it before the next arm).
SETTLE_NOTE_S = 1.0
# The load generator's core must stay below ~80 % for proxied arms, or it may be the limit.
LOAD_CORE_LIMIT_PCT = 80.0

UPSTREAM_TITLES = {
    "fast": "fast mock (answers at once)",
    "delayed": "delayed mock ({delay} ms before the answer)",
}
MODE_TITLES = {
    "json": "non-streaming POST /v1/messages (JSON)",
    "sse": "streaming POST /v1/messages (SSE, 8 text deltas in one write)",
}

Row = dict[str, Any]
Rounds = dict[int, Row]  # round -> its ok row


def fmt_num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_spread(spread: Spread | None, fmt: Callable[[float], str] = fmt_num, sign: bool = False) -> str:
    """`median [min..max]`; one value when there was one round."""
    if spread is None:
        return "-"

    def one(v: float) -> str:
        return ("+" if sign and v >= 0 else "") + fmt(v)

    if spread.n == 1 or spread.min == spread.max:
        return one(spread.median)
    return f"{one(spread.median)} [{one(spread.min)}..{one(spread.max)}]"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}"


def workloads(rows: list[Row]) -> list[tuple[str, str]]:
    return [
        (upstream, mode)
        for upstream in ("fast", "delayed")
        for mode in ("json", "sse")
        if any(r["upstream"] == upstream and r["mode"] == mode for r in rows)
    ]


def title(upstream: str, mode: str, delay_ms: float) -> str:
    return f"{UPSTREAM_TITLES[upstream].format(delay=f'{delay_ms:g}')}: {MODE_TITLES[mode]}"


def rounds_of(rows: list[Row], upstream: str, mode: str, conns: int, arm: str) -> Rounds:
    """The arm's valid measurements of one row, by round."""
    return {
        r.get("round", 0): r
        for r in rows
        if r["arm"] == arm
        and r["upstream"] == upstream
        and r["mode"] == mode
        and r["conns"] == conns
        and r["status"] == "ok"
    }


def wrk_value(key: str) -> Callable[[Row], float | None]:
    return lambda row: row["wrk"][key]


def ttfb_value(key: str) -> Callable[[Row], float | None]:
    return lambda row: row["ttfb"].get(key)


def values(rounds: Rounds, get: Callable[[Row], float | None]) -> dict[int, float]:
    out = {}
    for rnd, row in rounds.items():
        value = get(row)
        if value is not None:
            out[rnd] = float(value)
    return out


def spread(rounds: Rounds, get: Callable[[Row], float | None]) -> Spread | None:
    return Spread.of(values(rounds, get).values())


def ratio(a: Rounds, b: Rounds, get: Callable[[Row], float | None]) -> Spread | None:
    return Spread.of(per_round_ratios(values(a, get), values(b, get)))


def added(a: Rounds, b: Rounds, get: Callable[[Row], float | None]) -> Spread | None:
    return Spread.of(per_round_differences(values(a, get), values(b, get)))


def bad_rows(rows: list[Row], upstream: str, mode: str, conns: int, arm: str) -> list[Row]:
    return [
        r
        for r in rows
        if r["arm"] == arm
        and r["upstream"] == upstream
        and r["mode"] == mode
        and r["conns"] == conns
        and r["status"] not in ("ok", "n/a")
    ]


def na_reason(rows: list[Row], upstream: str, mode: str, conns: int, arm: str) -> str | None:
    """Why a workload does not apply to the arm (its "n/a" row), or None when it does."""
    for r in rows:
        if (r["arm"], r["upstream"], r["mode"], r["conns"], r["status"]) == (
            arm,
            upstream,
            mode,
            conns,
            "n/a",
        ):
            return str(r.get("reason") or "does not apply")
    return None


def status_cell(rows: list[Row], upstream: str, mode: str, conns: int, arm: str, n_ok: int) -> str:
    bad = bad_rows(rows, upstream, mode, conns, arm)
    if not bad:
        return "ok"
    failed = [r for r in bad if r["status"] == "failed"]
    if failed and not n_ok:
        return "**FAILED** (see below)"
    # Loud on purpose: a round with errors measured something else (fast 4xx/5xx, resets).
    return f"**⚠ {len(bad)} round(s) INVALID/FAILED**"


def table(rows: list[Row], upstream: str, mode: str, arm_order: list[str]) -> list[str]:
    head = (
        "| arm | conns | RPS | p50 ms | p99 ms | CPU % | "
        f"÷{BARE} RPS | ÷{REF} RPS | ÷direct RPS | p50 over direct, ms | status |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    conns_list = sorted({r["conns"] for r in rows if r["upstream"] == upstream and r["mode"] == mode})
    for conns in conns_list:
        bare = rounds_of(rows, upstream, mode, conns, BARE)
        ref = rounds_of(rows, upstream, mode, conns, REF)
        direct = rounds_of(rows, upstream, mode, conns, "direct")
        for arm in arm_order:
            mine = rounds_of(rows, upstream, mode, conns, arm)
            if not mine and not bad_rows(rows, upstream, mode, conns, arm):
                continue
            rps = wrk_value("rps")
            cpu = spread(mine, lambda r: r["window"]["target_cpu_pct"])
            cells = [
                arm,
                str(conns),
                fmt_spread(spread(mine, rps), lambda v: f"{v:,.0f}"),
                fmt_spread(spread(mine, wrk_value("p50_ms"))),
                fmt_spread(spread(mine, wrk_value("p99_ms"))),
                fmt_spread(cpu, lambda v: f"{v:.0f}"),
                fmt_spread(ratio(mine, bare, rps), fmt_ratio) if arm != BARE else "",
                fmt_spread(ratio(mine, ref, rps), fmt_ratio) if arm != REF else "",
                fmt_spread(ratio(mine, direct, rps), fmt_ratio) if arm != "direct" else "",
                fmt_spread(added(mine, direct, wrk_value("p50_ms")), sign=True) if arm != "direct" else "",
                status_cell(rows, upstream, mode, conns, arm, len(mine)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def ttfb_table(rows: list[Row], arm_order: list[str]) -> list[str]:
    head = (
        "| arm | conns | streams/round | TTFB p50 ms | TTFB p99 ms | TTFB p50 over direct | "
        "TTFB p99 over direct | hold p99 ms | hold max ms | status |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for conns in sorted({r["conns"] for r in rows if r["mode"] == "ttfb"}):
        direct = rounds_of(rows, "paced", "ttfb", conns, "direct")
        for arm in arm_order:
            mine = rounds_of(rows, "paced", "ttfb", conns, arm)
            if not mine and not bad_rows(rows, "paced", "ttfb", conns, arm):
                continue
            cells = [
                arm,
                str(conns),
                fmt_spread(spread(mine, ttfb_value("requests")), lambda v: f"{v:.0f}"),
                fmt_spread(spread(mine, ttfb_value("ttfb_p50_ms"))),
                fmt_spread(spread(mine, ttfb_value("ttfb_p99_ms"))),
                fmt_spread(added(mine, direct, ttfb_value("ttfb_p50_ms")), sign=True)
                if arm != "direct"
                else "",
                fmt_spread(added(mine, direct, ttfb_value("ttfb_p99_ms")), sign=True)
                if arm != "direct"
                else "",
                fmt_spread(spread(mine, ttfb_value("hold_p99_ms"))),
                fmt_spread(spread(mine, ttfb_value("hold_max_ms"))),
                status_cell(rows, "paced", "ttfb", conns, arm, len(mine)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def row_notes(rows: list[Row], load_cpu: str) -> list[str]:
    notes = []
    for row in rows:
        tag = f"{row['arm']} c={row['conns']} round {row.get('round', 0) + 1}"
        if row["status"] == "invalid":
            errors = row["wrk"]["errors"] if "wrk" in row else row["ttfb"]["errors"]
            # No error and no answer: the arm was too slow to finish one request in the measured time.
            what = f"{errors:,} errors" if errors else "no request finished in the measured time"
            notes.append(f"- ⚠ **{tag} is INVALID**: {what}; its numbers are left out.")
        if row["status"] == "failed" or "window" not in row:
            continue
        settle = row.get("settle_s", 0.0)
        if settle > SETTLE_NOTE_S:
            notes.append(
                f"- {tag}: the arm stayed busy {settle:.1f} s after its run (requests left in flight); "
                "the next arm started after it went idle."
            )
        quiet = row.get("quiet")
        if quiet and not quiet["quiet"]:
            notes.append(
                f"- {tag}: machine not quiet before the round "
                f"({quiet['busy_pct']:.0f} % of a core after {quiet['waited_s']:.0f} s)."
            )
        others = row["window"].get("others_cpu_pct", 0.0)
        if others > OTHERS_LIMIT_PCT:
            notes.append(f"- {tag}: the other (idle) arms used {others:.0f} % of a core during it.")
        if row["foreign_cpu_pct"] > FOREIGN_LIMIT_PCT:
            notes.append(
                f"- {tag}: disturbed, {row['foreign_cpu_pct']:.0f} % of a core used outside the benchmark."
            )
        load = row["window"]["core_busy_pct"].get("cpu" + load_cpu.split(",")[0].split("-")[0])
        if row["arm"] != "direct" and load is not None and load > LOAD_CORE_LIMIT_PCT:
            notes.append(f"- {tag}: load core {load:.0f} % busy; wrk or the mock may have limited it.")
    return notes


@dataclass
class Goal:
    what: str
    measured: str
    verdict: str  # "met", "missed" or "n/a: why"


def _verdict(ok: bool | None, why: str = "") -> str:
    if ok is None:
        return f"n/a{': ' + why if why else ''}"
    return "met" if ok else "**missed**"


def goals(result: dict[str, Any]) -> list[Goal]:
    """Issue 13's goals that this run measures, each met or missed on the medians."""
    rows: list[Row] = result["rows"]
    out: list[Goal] = []
    rps, p50 = wrk_value("rps"), wrk_value("p50_ms")

    def rnds(upstream: str, mode: str, conns: int, arm: str) -> Rounds:
        return rounds_of(rows, upstream, mode, conns, arm)

    gw64 = rnds("fast", "json", 64, GATEWAY)
    for other, goal in ((BARE, GOAL_RPS_OVER_BARE), (REF, GOAL_RPS_OVER_REF)):
        r = ratio(gw64, rnds("fast", "json", 64, other), rps)
        out.append(
            Goal(
                f"JSON c=64: RPS ≥ {goal}× {other}",  # noqa: RUF001
                f"{fmt_spread(r, fmt_ratio)}×" if r else "-",  # noqa: RUF001
                _verdict(r.median >= goal if r else None, "missing rows"),
            )
        )
    direct1 = rnds("fast", "json", 1, "direct")
    gw_add = added(rnds("fast", "json", 1, GATEWAY), direct1, p50)
    bare_add = added(rnds("fast", "json", 1, BARE), direct1, p50)
    out.append(
        Goal(
            f"JSON c=1: p50 over direct ≤ {BARE}'s",
            f"{fmt_spread(gw_add, sign=True)} ms vs {fmt_spread(bare_add, sign=True)} ms",
            _verdict(gw_add.median <= bare_add.median if gw_add and bare_add else None, "missing rows"),
        )
    )
    for conns in result["settings"].get("ttfb_conns", []):
        direct = rnds("paced", "ttfb", conns, "direct")
        for key, name in (("ttfb_p50_ms", "p50"), ("ttfb_p99_ms", "p99")):
            gw = added(rnds("paced", "ttfb", conns, GATEWAY), direct, ttfb_value(key))
            bare = added(rnds("paced", "ttfb", conns, BARE), direct, ttfb_value(key))
            out.append(
                Goal(
                    f"SSE c={conns}: TTFB {name} over direct ≤ {BARE}'s",
                    f"{fmt_spread(gw, sign=True)} ms vs {fmt_spread(bare, sign=True)} ms",
                    _verdict(gw.median <= bare.median if gw and bare else None, "missing rows"),
                )
            )
        gw_hold = spread(rnds("paced", "ttfb", conns, GATEWAY), ttfb_value("hold_p99_ms"))
        bare_hold = spread(rnds("paced", "ttfb", conns, BARE), ttfb_value("hold_p99_ms"))
        direct_hold = spread(direct, ttfb_value("hold_p99_ms"))
        # A relay that passed a piece on only with the next one would hold it for at least the gap
        # between them; the timer jitter that direct shows stays well below the shortest gap.
        gap = min(result["settings"].get("paced_gaps_ms") or [0])
        out.append(
            Goal(
                f"SSE c={conns}: no piece held for an upstream gap (hold p99 < {gap:g} ms, the shortest)",
                f"{fmt_spread(gw_hold)} ms (direct {fmt_spread(direct_hold)}, "
                f"{BARE} {fmt_spread(bare_hold)})",
                _verdict(gw_hold.median < gap if gw_hold and gap else None, "missing rows"),
            )
        )
    for mode in ("json", "sse"):
        r = ratio(rnds("delayed", mode, 64, GATEWAY), rnds("delayed", mode, 64, "direct"), rps)
        if r is None and not any(x["upstream"] == "delayed" and x["mode"] == mode for x in rows):
            continue
        out.append(
            Goal(
                f"{result['settings']['delay_ms']:g} ms upstream, {mode.upper()} c=64: "
                f"RPS ≥ {GOAL_DELAYED_OVER_DIRECT}× direct",  # noqa: RUF001
                f"{fmt_spread(r, fmt_ratio)}×" if r else "-",  # noqa: RUF001
                _verdict(r.median >= GOAL_DELAYED_OVER_DIRECT if r else None, "missing rows"),
            )
        )
    rss = Spread.of(
        r["rss_after_mib"] for r in rows if r["arm"] == GATEWAY and r.get("rss_after_mib") is not None
    )
    out.append(
        Goal(
            f"RSS after load ≤ {GOAL_RSS_MIB:g} MiB (every measurement; median [min..max])",
            f"{fmt_spread(rss, lambda v: f'{v:.0f}')} MiB",
            _verdict(rss.max <= GOAL_RSS_MIB if rss else None, "gateway not run"),
        )
    )
    return out


def goals_table(result: dict[str, Any]) -> list[str]:
    lines = ["| goal (gateway, full default path) | measured: median [min..max] | verdict |", "|---|---|---|"]
    lines += [f"| {g.what} | {g.measured} | {g.verdict} |" for g in goals(result)]
    return lines


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


def machine(result: dict[str, Any]) -> str:
    m = result["meta"]
    commit = (m.get("git_commit") or "unknown")[:7] + (" (dirty)" if m.get("git_dirty") else "")
    peers = ", ".join(f"{k} {v or 'not installed'}" for k, v in (m.get("peers") or {}).items())
    date = result["timestamp_utc"]
    day = f"{date[0:4]}-{date[4:6]}-{date[6:8]}"
    return (
        f"{day}, commit {commit}, {m['cpu_model']} ({m['cpu_count']} cores), Python {m['python']}, "
        f"nginx {m['nginx']}, wrk {m['wrk']}" + (f"; peers: {peers}" if peers else "")
    )


def header(result: dict[str, Any]) -> list[str]:
    s = result["settings"]
    interrupted = " — **INTERRUPTED, partial results**" if result.get("interrupted") else ""
    rounds = s.get("rounds", 1)
    return [
        f"# Gateway benchmark {result['timestamp_utc']}{interrupted}",
        "",
        f"- {machine(result)}",
        f"- arms on core {s['target_cpu']} (taskset, children included, one worker/process each, all "
        f"started at once per upstream); wrk -t1, the nginx+Lua mock and this runner on core {s['load_cpu']}",
        f"- every row: {rounds} round(s), arm order reversed every round; per round a quiet check "
        f"(< {s['quiet_pct']:g} % of a core), then per arm {s['warmup_s']:g} s warm-up and "
        f"{s['duration_s']:g} s measured; closed loop; POST of {s['body_bytes']} B",
        "- cells: median [min..max] over rounds; ratios and differences to another arm are taken per "
        "round, then their median; p50/p99: wrk latency of the whole response (SSE: to the last byte); "
        "CPU %: the arm's process tree, % of one core",
        "",
    ]


def render(result: dict[str, Any]) -> str:
    rows: list[Row] = result["rows"]
    arm_order = list(result["arms"])
    s = result["settings"]
    out = header(result)
    out += ["## Goals (issue 13)", "", *goals_table(result), ""]
    for upstream, mode in workloads(rows):
        wl_rows = [r for r in rows if r["upstream"] == upstream and r["mode"] == mode]
        out += [f"## {title(upstream, mode, s['delay_ms'])}", ""]
        out += table(rows, upstream, mode, arm_order)
        notes = row_notes(wl_rows, s["load_cpu"])
        out += ["", *notes, ""] if notes else [""]
    ttfb_rows = [r for r in rows if r["mode"] == "ttfb"]
    if ttfb_rows:
        gaps = ", ".join(f"{g:g}" for g in s.get("paced_gaps_ms", []))
        out += [
            "## SSE time to first byte and chunk hold (paced mock)",
            "",
            f"The paced mock writes message_start at once, then 9 more pieces after gaps of {gaps} ms. "
            "TTFB: request sent to message_start received. Hold: each later piece's arrival after "
            "message_start minus the mock's scheduled offset (direct shows the timer jitter). "
            f"{s.get('ttfb_warmup_s', 0):g} s warm-up, {s.get('ttfb_duration_s', 0):g} s measured per arm "
            "and round (bench/ttfb.py, on the load core).",
            "",
            *ttfb_table(rows, arm_order),
            "",
            *row_notes(ttfb_rows, s["load_cpu"]),
            "",
        ]
    out += responses_sections(result)
    out += redos.section(result.get("redos"))
    out += failures(result)
    return "\n".join(out).rstrip() + "\n"


def responses_modes(rows: list[Row]) -> list[str]:
    return [m for m in RESPONSES_MODES if any(r["mode"] == m for r in rows)]


def responses_table(rows: list[Row], mode: str, arm_order: list[str], upstream: str = "fast") -> list[str]:
    """One Responses workload: same format (with ÷ref-asgi) or translated (with ÷ the arm's own
    same-format row of the same round). direct is the mock: its /v1/responses for the same-format rows,
    its /v1/messages (what the translated call asks of the upstream) for the translated ones."""
    same_format = WORKLOADS[mode].same_format
    rps, p50 = wrk_value("rps"), wrk_value("p50_ms")
    ref_col = f"÷{REF} RPS" if same_format is None else f"÷same format ({same_format}) RPS"
    head = (
        f"| arm | conns | RPS | p50 ms | p99 ms | CPU % | ÷direct RPS | {ref_col} | p50 over direct, ms | "
        "status |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    conns_list = sorted({r["conns"] for r in rows if r["upstream"] == upstream and r["mode"] == mode})
    for conns in conns_list:
        direct = rounds_of(rows, upstream, mode, conns, "direct")
        ref = rounds_of(rows, upstream, mode, conns, REF)
        for arm in arm_order:
            why = na_reason(rows, upstream, mode, conns, arm)
            if why is not None:
                lines.append(f"| {arm} | {conns} | n/a | | | | | | | n/a: {why} |")
                continue
            mine = rounds_of(rows, upstream, mode, conns, arm)
            if not mine and not bad_rows(rows, upstream, mode, conns, arm):
                continue
            name = arm
            if arm == "direct":
                paths = {r["path"] for r in mine.values() if "path" in r}
                name += f" (mock {paths.pop()})" if len(paths) == 1 else ""
            if arm == "direct":
                versus = ""
            elif same_format is None:
                versus = fmt_spread(ratio(mine, ref, rps), fmt_ratio) if arm != REF else ""
            else:
                own = rounds_of(rows, upstream, same_format, conns, arm)
                versus = fmt_spread(ratio(mine, own, rps), fmt_ratio)
            cells = [
                name,
                str(conns),
                fmt_spread(spread(mine, rps), lambda v: f"{v:,.0f}"),
                fmt_spread(spread(mine, p50)),
                fmt_spread(spread(mine, wrk_value("p99_ms"))),
                fmt_spread(spread(mine, lambda r: r["window"]["target_cpu_pct"]), lambda v: f"{v:.0f}"),
                fmt_spread(ratio(mine, direct, rps), fmt_ratio) if arm != "direct" else "",
                versus,
                fmt_spread(added(mine, direct, p50), sign=True) if arm != "direct" else "",
                status_cell(rows, upstream, mode, conns, arm, len(mine)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def responses_sections(result: dict[str, Any]) -> list[str]:
    rows: list[Row] = result["rows"]
    s = result["settings"]
    modes = responses_modes(rows)
    if not modes:
        return []
    size = s.get("responses_body_bytes")
    out = [
        "## Responses API (POST /v1/responses)",
        "",
        f"A Codex-like body{f' of {size} B' if size else ''} (instructions, a user message, a function_call "
        "and its output, a second user message, two function tools), fast mock. Same format: the model is "
        "on an openai-type provider and the mock answers /v1/responses itself. Translated: the model is on "
        "the anthropic provider, so the arm turns the request into a Messages call and the answer back; "
        "direct then loads the mock's /v1/messages with the Messages body (the upstream's own work). "
        "÷same format: the arm's rate against its own same-format row of the same round.",
        "",
    ]
    for mode in modes:
        mode_rows = [r for r in rows if r["mode"] == mode]
        out += [f"### {UPSTREAM_TITLES['fast']}: {WORKLOADS[mode].title} (`{mode}`)", ""]
        out += responses_table(rows, mode, list(result["arms"]))
        notes = row_notes(mode_rows, s["load_cpu"])
        out += ["", *notes, ""] if notes else [""]
    seen = [
        f"- {name} `{mode}`: " + "; ".join(what)
        for name, arm in result["arms"].items()
        for mode, what in (arm.get("deviations") or {}).items()
    ]
    if seen:
        out += [
            "Deviations from the Responses API's shape in the smoke check's answer (measured anyway):",
            "",
            *seen,
            "",
        ]
    return out


def readme_block(result: dict[str, Any]) -> str:
    """The compact tables for README's Performance section (between the bench markers)."""
    rows: list[Row] = result["rows"]
    s = result["settings"]
    rps, p50 = wrk_value("rps"), wrk_value("p50_ms")
    delay = f"{s['delay_ms']:g} ms"
    lines = [
        f"Measured by `make bench` ({s.get('rounds', 1)} interleaved rounds of {s['duration_s']:g} s per "
        f"row; median [min..max]): {machine(result)}. Full tables: `bench/results/latest.md` of that run.",
        "",
        f"| arm | JSON c=1 p50 ms | JSON c=64 RPS | SSE c=64 RPS | {delay} upstream JSON c=64 RPS | "
        "SSE c=1 TTFB p50 ms | RSS after load, max MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in result["arms"]:

        def cell(
            upstream: str, mode: str, conns: int, get: Callable[[Row], float | None], arm: str = arm
        ) -> str:
            mine = rounds_of(rows, upstream, mode, conns, arm)
            if not mine:
                return "failed" if bad_rows(rows, upstream, mode, conns, arm) else "-"
            sp = spread(mine, get)
            return fmt_spread(sp, lambda v: f"{v:,.0f}") if get is rps else fmt_spread(sp)

        rss = Spread.of(
            r["rss_after_mib"] for r in rows if r["arm"] == arm and r.get("rss_after_mib") is not None
        )
        cells = [
            arm,
            cell("fast", "json", 1, p50),
            cell("fast", "json", 64, rps),
            cell("fast", "sse", 64, rps),
            cell("delayed", "json", 64, rps),
            cell("paced", "ttfb", 1, ttfb_value("ttfb_p50_ms")),
            f"{rss.max:.0f}" if rss else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *goals_table(result)]
    lines += responses_readme_table(result)
    failed = [f"{name} ({f['where']})" for name, a in result["arms"].items() for f in a.get("failures", [])]
    if failed:
        lines += ["", "Failed in that run: " + "; ".join(failed) + " (reasons in its latest.md)."]
    return "\n".join(lines) + "\n"


def responses_readme_table(result: dict[str, Any]) -> list[str]:
    """README's Responses rows: each arm's rate per Responses workload and translated ÷ same format."""
    rows: list[Row] = result["rows"]
    modes = responses_modes(rows)
    if not modes:
        return []
    conns = max(r["conns"] for r in rows if r["mode"] in modes)
    rps = wrk_value("rps")
    cols = [m for m in RESPONSES_MODES if m in modes]
    pairs = [m for m in cols if WORKLOADS[m].same_format in cols]
    names = {"resp": "same format JSON", "resp-sse": "same format SSE", "respx": "translated JSON",
             "respx-sse": "translated SSE"}  # fmt: skip
    head = ["arm", *(f"{names[m]} c={conns} RPS" for m in cols)]
    head += [f"{names[m].split()[1]}: translated ÷ same format" for m in pairs]
    size = result["settings"].get("responses_body_bytes")
    lines = [
        "",
        f"Responses API (`POST /v1/responses`, a {f'{size:,}-byte ' if size else ''}"
        "Codex-like body, fast mock): same format to an openai-type provider, translated to the anthropic "
        "provider; direct is the mock (its translated cells: its /v1/messages, the upstream's own work).",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    for arm in result["arms"]:
        cells = [arm]
        seen = False
        for mode in cols:
            mine = rounds_of(rows, "fast", mode, conns, arm)
            if mine:
                cells.append(fmt_spread(spread(mine, rps), lambda v: f"{v:,.0f}"))
                seen = True
            elif na_reason(rows, "fast", mode, conns, arm) is not None:
                cells.append("n/a")
            elif bad_rows(rows, "fast", mode, conns, arm):
                cells.append("failed")
                seen = True
            else:
                cells.append("-")
        if not seen:
            continue
        for mode in pairs:
            same = WORKLOADS[mode].same_format or ""
            r = ratio(
                rounds_of(rows, "fast", mode, conns, arm), rounds_of(rows, "fast", same, conns, arm), rps
            )
            if arm == "direct":
                cells.append("")
            elif na_reason(rows, "fast", mode, conns, arm) is not None:
                cells.append("n/a")
            else:
                cells.append(fmt_spread(r, fmt_ratio))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.report RESULT.json", file=sys.stderr)
        return 2
    print(render(json.loads(Path(argv[0]).read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
