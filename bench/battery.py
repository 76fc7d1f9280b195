"""The reliability battery's figures as a Markdown table, and README.md's Reliability figures rewritten
from them (each test writes its own: test-output/battery-full/ under `make soak`, battery/ under `make test`).

    make soak                               # runs the battery at full counts first
    python -m bench.battery                 # prints the table
    python -m bench.battery --readme README.md   # replaces what lies between the battery markers

One row per test: the scenario (reliability.md section 7), the tier it ran at, and its scalar figures
(counts, failures, timings), so a README figure always comes from a run, never from memory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.readme import rewrite

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "test-output" / "battery-full"  # what `make soak` wrote (the battery at full counts)
START = "<!-- battery:start -->"
END = "<!-- battery:end -->"

# Test file -> the battery's scenario IDs it covers (reliability.md section 7, issue 14).
SCENARIOS = {
    "test_disconnects": "R1",
    "test_upstream_cuts": "R2",
    "test_timers": "R3",
    "test_reload_load": "R4",
    "test_fuzz": "R5",
    "test_auth_bypass": "S1",
    "test_ssrf": "S2",
    "test_secrets": "S3",
    "test_code_safety": "S4/S5",
    "test_workers": "B1-B3",
    "test_durability": "D1-D3",
    "test_overload": "O1/O2",
}
MAX_FIGURES = 9  # per row, after `failures`: a README cell stays readable


def load(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(path.stem, json.loads(path.read_text())) for path in sorted(folder.glob("*.json"))]


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return None


def row(name: str, figures: dict[str, Any]) -> str:
    module, _, test = name.partition(".")
    shown = []
    for key in sorted(figures, key=lambda k: (k != "failures", k)):  # `outcome` and `tier`: own columns
        text = _scalar(figures[key])
        if text is not None and len(shown) <= MAX_FIGURES:
            shown.append(f"{key} {text}")
    scenario, title = SCENARIOS.get(module, ""), test.removeprefix("test_").replace("_", " ").strip()
    tier, outcome = figures.get("tier", "?"), figures.get("outcome", "?")
    return f"| {scenario} | `{module}`: {title} | {tier} | {outcome} | {'; '.join(shown)} |"


def table(found: list[tuple[str, dict[str, Any]]]) -> str:
    order = list(SCENARIOS)
    found = sorted(found, key=lambda f: (order.index(m) if (m := f[0].split(".")[0]) in order else 99, f[0]))
    lines = ["| ID | test | tier | outcome | figures |", "|---|---|---|---|---|"]
    return "\n".join(lines + [row(name, figures) for name, figures in found])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.battery", description=__doc__.splitlines()[0])
    p.add_argument("--figures", type=Path, default=FIGURES)
    p.add_argument("--readme", type=Path, help="rewrite this README's battery section")
    args = p.parse_args(argv)
    found = load(args.figures)
    if not found:
        print(f"no figures in {args.figures}: run the battery first (make soak, or pytest tests/battery)")
        return 2
    block = table(found)
    if args.readme is None:
        print(block)
        return 0
    if not rewrite(args.readme, block, START, END):
        return 2
    print(f"{args.readme}: battery figures from {args.figures} ({len(found)} tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
