"""bench.battery: the battery's figures as README's table."""

from __future__ import annotations

import json
from pathlib import Path

from bench import battery


def test_rows_follow_the_scenarios_and_show_failures_first(tmp_path: Path) -> None:
    figures = {
        "test_ssrf.test_ssrf_corpus": {"tier": "full", "requests": 1284, "outcome": "passed"},
        "test_disconnects.test_every_window": {"tier": "reduced", "failures": 1, "outcome": "failed"},
    }
    for name, found in figures.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(found))
    lines = battery.table(battery.load(tmp_path)).splitlines()
    assert lines[2] == "| R1 | `test_disconnects`: every window | reduced | failed | failures 1 |"
    assert lines[3] == "| S2 | `test_ssrf`: ssrf corpus | full | passed | requests 1,284 |"


def test_the_readme_section_between_its_markers_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "test_fuzz.test_fuzz.json").write_text('{"tier": "full", "cases": 20000}')
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{battery.START}\nold\n{battery.END}\nafter\n")
    assert battery.main(["--figures", str(tmp_path / "figures"), "--readme", str(readme)]) == 0
    assert readme.read_text() == (
        f"intro\n{battery.START}\n| ID | test | tier | outcome | figures |\n|---|---|---|---|---|\n"
        f"| R5 | `test_fuzz`: fuzz | full | ? | cases 20,000 |\n{battery.END}\nafter\n"
    )
