"""bench/redos.py: its measurement's shape (on a small text; no timing asserted) and the report section
`make bench` prints from it, met or missed."""

from __future__ import annotations

from bench import redos, report
from tests.bench.test_report import sample as sample_report


def test_measure_covers_every_detector_and_shape() -> None:
    data = redos.measure(size=4096, runs=1)
    assert data["shapes"] == list(redos.SHAPES) and data["size"] == 4096 and data["limit_ms"] == 50.0
    assert "builtin:iban" in data["rows"] and "no-secrets#0" in data["rows"]
    assert all(len(v) == len(redos.SHAPES) and min(v) >= 0 for v in data["rows"].values())
    assert data["dense_ms"] >= 0


def sample(worst: float) -> dict[str, object]:
    return {
        "size": redos.MIB,
        "runs": 5,
        "limit_ms": 50.0,
        "shapes": ["letters", "digits"],
        "rows": {"builtin:email": [1.25, 2.0], "builtin:ipv4": [0.5, worst]},
        "dense_ms": 80.0,
    }


def test_section_says_met_or_missed_and_names_the_worst() -> None:
    met = "\n".join(redos.section(sample(12.0)))
    assert "every cell under 50 ms per MiB: met (worst 12.0 ms, builtin:ipv4)" in met
    assert "| builtin:email | 1.2 | 2.0 |" in met and "| detector | letters | digits |" in met
    assert "a real hit every ~20 characters: 80.0 ms" in met
    missed = "\n".join(redos.section(sample(75.0)))
    assert "**MISSED** (worst 75.0 ms, builtin:ipv4)" in missed
    assert redos.section(None) == []
    assert "Not measured: TimeoutExpired" in "\n".join(redos.section({"error": "TimeoutExpired"}))


def test_the_report_carries_the_section() -> None:
    data = sample_report()
    assert "Guardrail patterns" not in report.render(data)  # an older run's JSON: no section
    data["redos"] = sample(12.0)
    assert "## Guardrail patterns on hostile input (ReDoS)" in report.render(data)
