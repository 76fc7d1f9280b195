"""bench/report.py and bench/readme.py: tables, goals and the README section, from synthetic results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import readme, report

ARMS = ["direct", "ref-httpx-aiohttp", "ref-asgi", "gateway"]


def wrk_row(
    arm: str, upstream: str, mode: str, conns: int, rnd: int, rps: float, p50: float
) -> dict[str, Any]:
    return {
        "arm": arm,
        "upstream": upstream,
        "mode": mode,
        "conns": conns,
        "round": rnd,
        "status": "ok",
        "wrk": {"rps": rps, "p50_ms": p50, "p99_ms": p50 * 3, "errors": 0, "requests": int(rps)},
        "window": {"target_cpu_pct": 90.0, "core_busy_pct": {"cpu0": 50.0}},
        "foreign_cpu_pct": 0.0,
        "quiet": {"quiet": True, "waited_s": 0.0, "busy_pct": 1.0},
        "rss_after_mib": 60.0 + rnd,
    }


def ttfb_row(arm: str, conns: int, rnd: int, p50: float, p99: float, hold: float) -> dict[str, Any]:
    ttfb = {"requests": 20, "errors": 0, "ttfb_p50_ms": p50, "ttfb_p99_ms": p99, "hold_p99_ms": hold,
            "hold_max_ms": hold + 1}  # fmt: skip
    return {"arm": arm, "upstream": "paced", "mode": "ttfb", "conns": conns, "round": rnd, "status": "ok",
            "ttfb": ttfb, "rss_after_mib": 50.0}  # fmt: skip


def result(
    rows: list[dict[str, Any]], failures: dict[str, list[dict[str, str]]] | None = None
) -> dict[str, Any]:
    return {
        "timestamp_utc": "20261207T120000Z",
        "meta": {
            "git_commit": "abcdef1234567",
            "git_dirty": False,
            "cpu_model": "Test CPU",
            "cpu_count": 2,
            "python": "3.11.7",
            "nginx": "1.22.1",
            "wrk": "4.1.0",
            "peers": {"litellm": "1.80.17"},
        },
        "settings": {
            "rounds": 3,
            "duration_s": 4.0,
            "warmup_s": 2.0,
            "delay_ms": 50.0,
            "target_cpu": "1",
            "load_cpu": "0",
            "quiet_pct": 15.0,
            "body_bytes": 907,
            "ttfb_conns": [1],
            "paced_gaps_ms": [10, 20],
        },
        "arms": {name: {"what": name, "failures": (failures or {}).get(name, [])} for name in ARMS},
        "rows": rows,
    }


def sample() -> dict[str, Any]:
    rows = []
    # Rounds drift (x1, x2, x0.5) but within a round the gateway is 1.5x the bare proxy and 0.75x ref-asgi.
    for rnd, scale in enumerate((1.0, 2.0, 0.5)):
        for arm, rps in (
            ("direct", 20000),
            ("ref-httpx-aiohttp", 1000),
            ("ref-asgi", 2000),
            ("gateway", 1500),
        ):
            rows.append(wrk_row(arm, "fast", "json", 64, rnd, rps * scale, 40.0))
        for arm, p50 in (("direct", 0.1), ("ref-httpx-aiohttp", 0.9), ("ref-asgi", 0.5), ("gateway", 0.7)):
            rows.append(wrk_row(arm, "fast", "json", 1, rnd, 1000, p50 + rnd * 0.01))
        for arm, rps in (("direct", 1000), ("gateway", 960)):
            rows.append(wrk_row(arm, "delayed", "json", 64, rnd, rps, 60.0))
        for arm, p50, hold in (("direct", 1.0, 5.0), ("ref-httpx-aiohttp", 4.0, 8.0), ("gateway", 2.0, 6.0)):
            rows.append(ttfb_row(arm, 1, rnd, p50, p50 * 2, hold))
    return result(rows)


def test_goals_use_per_round_ratios_and_differences() -> None:
    by_what = {g.what: g for g in report.goals(sample())}
    over_bare = by_what["JSON c=64: RPS ≥ 1.2× ref-httpx-aiohttp"]  # noqa: RUF001
    assert over_bare.measured == "1.50×" and over_bare.verdict == "met"  # noqa: RUF001
    over_ref = by_what["JSON c=64: RPS ≥ 0.7× ref-asgi"]  # noqa: RUF001
    assert over_ref.measured == "0.75×" and over_ref.verdict == "met"  # noqa: RUF001
    added = by_what["JSON c=1: p50 over direct ≤ ref-httpx-aiohttp's"]
    assert added.measured == "+0.60 ms vs +0.80 ms" and added.verdict == "met"
    ttfb99 = by_what["SSE c=1: TTFB p99 over direct ≤ ref-httpx-aiohttp's"]
    assert ttfb99.measured == "+2.00 ms vs +6.00 ms" and ttfb99.verdict == "met"
    delayed = by_what["50 ms upstream, JSON c=64: RPS ≥ 0.97× direct"]  # noqa: RUF001
    assert delayed.measured == "0.96×" and delayed.verdict == "**missed**"  # noqa: RUF001
    rss = next(g for g in report.goals(sample()) if g.what.startswith("RSS"))
    assert rss.measured == "60 [50..62] MiB" and rss.verdict == "met"
    assert len(by_what) == len(report.goals(sample()))  # every goal has a distinct label


def test_missing_reference_is_not_a_verdict() -> None:
    rows = [r for r in sample()["rows"] if r["arm"] != "ref-asgi"]
    by_what = {g.what: g for g in report.goals(result(rows))}
    assert by_what["JSON c=64: RPS ≥ 0.7× ref-asgi"].verdict.startswith("n/a")  # noqa: RUF001


def test_table_shows_median_and_range_and_flags_bad_rounds() -> None:
    data = sample()
    bad = wrk_row("gateway", "fast", "json", 64, 3, 9999.0, 1.0)
    bad |= {"status": "invalid", "wrk": {**bad["wrk"], "errors": 12}}
    data["rows"].append(bad)
    text = report.render(data)
    gateway_line = next(line for line in text.splitlines() if line.startswith("| gateway | 64 |"))
    # Medians over the valid rounds only; the invalid round's 9,999 RPS is left out, and said so.
    assert "| 1,500 [750..3,000] |" in gateway_line
    assert "1.50 |" in gateway_line and "0.75 |" in gateway_line
    assert "INVALID" in gateway_line
    assert "gateway c=64 round 4 is INVALID**: 12 errors;" in text
    slow = wrk_row("gateway", "fast", "json", 64, 4, 0.0, 0.0)
    slow |= {"status": "invalid", "wrk": {**slow["wrk"], "requests": 0}}
    data["rows"].append(slow)
    assert "round 5 is INVALID**: no request finished in the measured time;" in report.render(data)


def test_failed_arm_is_reported_with_its_reason() -> None:
    data = sample()
    data["arms"]["gateway"]["failures"] = [{"where": "install", "reason": "install failed: no network"}]
    text = report.render(data)
    assert "### gateway FAILED (install)" in text and "no network" in text
    assert "Failed in that run: gateway (install)" in report.readme_block(data)


def test_readme_block_has_machine_commit_and_peers() -> None:
    block = report.readme_block(sample())
    assert "2026-12-07, commit abcdef1" in block and "Test CPU (2 cores)" in block
    assert "Python 3.11.7" in block and "litellm 1.80.17" in block
    assert "| gateway | 0.71 [0.70..0.72] | 1,500 [750..3,000] |" in block


def test_readme_section_is_replaced_between_markers_only(tmp_path: Path) -> None:
    text = "# P\n\nbefore\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nafter\n"
    out = readme.replace_section(text, "new table\n")
    assert out == "# P\n\nbefore\n<!-- bench:start -->\nnew table\n<!-- bench:end -->\nafter\n"
    assert readme.replace_section(out, "new table") == out  # idempotent
    with pytest.raises(readme.MarkerError):
        readme.replace_section("no markers", "x")
    with pytest.raises(readme.MarkerError):
        readme.replace_section(text + text, "x")


def test_readme_command_rewrites_the_file(tmp_path: Path) -> None:
    import json

    path = tmp_path / "README.md"
    path.write_text("intro\n<!-- bench:start -->\n<!-- bench:end -->\n")
    res = tmp_path / "r.json"
    res.write_text(json.dumps(sample()))
    assert readme.main([str(res), "--readme", str(path)]) == 0
    assert "| goal (gateway, full default path)" in path.read_text()
    assert path.read_text().startswith("intro\n<!-- bench:start -->\nMeasured by `make bench`")


def test_a_piece_held_for_an_upstream_gap_misses_the_goal() -> None:
    data = sample()
    hold = next(g for g in report.goals(data) if "no piece held" in g.what)
    assert hold.verdict == "met"  # 6 ms p99 against gaps of at least 10 ms
    for row in data["rows"]:
        if row["arm"] == "gateway" and row["mode"] == "ttfb":
            row["ttfb"]["hold_p99_ms"] = 10.5  # a piece waited for the next one
    hold = next(g for g in report.goals(data) if "no piece held" in g.what)
    assert hold.what.startswith("SSE c=1: no piece held for an upstream gap (hold p99 < 10 ms")
    assert hold.verdict == "**missed**"


def na(arm: str, mode: str, reason: str) -> dict[str, Any]:
    return {"arm": arm, "upstream": "fast", "mode": mode, "conns": 64, "round": 0, "status": "n/a",
            "reason": reason}  # fmt: skip


def with_responses() -> dict[str, Any]:
    """sample() plus Responses rows: the gateway's translated rate is 0.8x its same-format rate in every
    round, although the rounds drift; ref-asgi does not apply to the translated rows."""
    data = sample()
    data["arms"]["nginx"] = {"what": "nginx", "failures": []}
    data["settings"]["responses_body_bytes"] = 1907
    for rnd, scale in enumerate((1.0, 2.0, 0.5)):
        for mode, arm, rps in (
            ("resp", "direct", 30000),
            ("resp", "ref-asgi", 4000),
            ("resp", "gateway", 2000),
            ("respx", "direct", 25000),
            ("respx", "gateway", 1600),
        ):
            row = wrk_row(arm, "fast", mode, 64, rnd, rps * scale, 30.0)
            row["path"] = "/v1/messages" if (mode, arm) == ("respx", "direct") else "/v1/responses"
            data["rows"].append(row)
    data["rows"] += [
        na("nginx", "resp", "not run here"),
        na("nginx", "respx", "cannot translate"),
        na("ref-asgi", "respx", "cannot translate"),
    ]
    return data


def test_responses_tables_show_n_a_and_ratios_within_rounds() -> None:
    text = report.render(with_responses())
    assert "## Responses API (POST /v1/responses)" in text and "of 1907 B" in text
    section = text.split("## Responses API")[1]
    same, translated = section.split("### ")[1:3]
    assert "(`resp`)" in same and "÷ref-asgi RPS" in same
    gateway = next(line for line in same.splitlines() if line.startswith("| gateway |"))
    assert "| 2,000 [1,000..4,000] |" in gateway and "| 0.50 |" in gateway  # ÷ref-asgi, per round
    assert "| nginx | 64 | n/a |" in same and "n/a: not run here |" in same
    assert "(`respx`)" in translated and "÷same format (resp) RPS" in translated
    gateway = next(line for line in translated.splitlines() if line.startswith("| gateway |"))
    assert "| 0.80 |" in gateway and "| 0.06 |" in gateway  # ÷same format, ÷direct (1,600 / 25,000)
    assert "| direct (mock /v1/messages) | 64 | 25,000" in translated
    assert "n/a: cannot translate |" in translated
    assert "FAILED" not in section and "INVALID" not in section


def test_responses_rows_leave_the_messages_tables_and_goals_as_they_were() -> None:
    before, after = report.render(sample()), report.render(with_responses())
    assert "Responses API" not in before
    tables = before.split("\n## fast mock", 1)[1].rstrip("\n")
    assert tables in after.split("\n## Responses API")[0]
    # Only the RSS goal changes: it covers every measurement of the gateway, Responses rows included.
    rss = [g.what.startswith("RSS") for g in report.goals(sample())]
    assert [g for g, r in zip(report.goals(sample()), rss, strict=True) if not r] == [
        g for g, r in zip(report.goals(with_responses()), rss, strict=True) if not r
    ]


def test_readme_block_gains_a_responses_table() -> None:
    block = report.readme_block(with_responses())
    assert "Responses API (`POST /v1/responses`, a 1,907-byte Codex-like body" in block
    lines = block.splitlines()
    head = next(line for line in lines if line.startswith("| arm | same format JSON c=64 RPS"))
    assert (
        head
        == "| arm | same format JSON c=64 RPS | translated JSON c=64 RPS | JSON: translated ÷ same format |"
    )
    assert "| gateway | 2,000 [1,000..4,000] | 1,600 [800..3,200] | 0.80 |" in lines
    assert "| ref-asgi | 4,000 [2,000..8,000] | n/a | n/a |" in lines
    assert "| nginx | n/a | n/a | |" not in lines  # an arm with no Responses row at all is left out
    assert "| direct | 30,000 [15,000..60,000] | 25,000 [12,500..50,000] |  |" in lines
    assert "Responses API" not in report.readme_block(sample())


def test_an_arm_busy_after_its_run_is_noted() -> None:
    data = sample()
    slow = next(r for r in data["rows"] if r["arm"] == "ref-asgi" and r["conns"] == 64)
    slow["settle_s"] = 4.6
    next(r for r in data["rows"] if r["arm"] == "gateway" and r["conns"] == 64)["settle_s"] = 0.1
    notes = [line for line in report.render(data).splitlines() if "stayed busy" in line]
    assert notes == [
        "- ref-asgi c=64 round 1: the arm stayed busy 4.6 s after its run (requests left in flight); "
        "the next arm started after it went idle."
    ]
