"""bench/redos.py: its measurement's shape (on a small text; no timing asserted) and the report section
`make bench` prints from it, met or missed."""

from __future__ import annotations

from bench import redos, report
from tests.bench.test_report import sample as sample_report


def test_measure_covers_every_detector_and_shape() -> None:
    data = redos.measure(size=4096, runs=1)
    assert data["shapes"] == list(redos.SHAPES) and data["size"] == 4096 and data["limit_ms"] == 50.0
    assert "builtin:iban" in data["rows"] and "no-secrets#0" in data["rows"]
    assert data["redact_rows"].keys() == data["rows"].keys()
    for rows in (data["rows"], data["redact_rows"]):
        assert all(len(v) == len(redos.SHAPES) and min(v) >= 0 for v in rows.values())
    assert data["dense_ms"] >= 0 and data["dense_first_ms"] >= 0


def sample(worst: float, redact_worst: float = 30.0) -> dict[str, object]:
    return {
        "size": redos.MIB,
        "runs": 5,
        "limit_ms": 50.0,
        "shapes": ["letters", "digits"],
        "rows": {"builtin:email": [1.25, 2.0], "builtin:ipv4": [0.5, worst]},
        "redact_rows": {"builtin:email": [redact_worst, 2.0], "builtin:ipv4": [0.5, 3.0]},
        "dense_first_ms": 4.0,
        "dense_ms": 80.0,
    }


def test_section_says_met_or_missed_and_names_the_worst() -> None:
    met = "\n".join(redos.section(sample(12.0)))
    assert "Goal: every cell under 50 ms per MiB." in met
    assert "block/flag (the first hit) guardrail searches: met (worst 12.0 ms, builtin:ipv4)" in met
    assert "(every hit, the text rewritten): met (worst 30.0 ms, builtin:email)" in met
    assert "| builtin:email | 1.2 | 2.0 |" in met and "| builtin:email | 30.0 | 2.0 |" in met
    assert met.count("| detector | letters | digits |") == 2
    assert "~20 characters: 4.0 ms to the first hit (block/flag), 80.0 ms redacting every hit" in met
    missed = "\n".join(redos.section(sample(75.0)))
    assert "searches: **MISSED** (worst 75.0 ms, builtin:ipv4)" in missed
    assert "rewritten): met" in missed
    redact_missed = "\n".join(redos.section(sample(12.0, redact_worst=90.0)))
    assert "searches: met" in redact_missed and "**MISSED** (worst 90.0 ms, builtin:email)" in redact_missed
    assert redos.worst_ms(sample(12.0, redact_worst=90.0)) == 90.0
    assert redos.section(None) == []
    assert "Not measured: TimeoutExpired" in "\n".join(redos.section({"error": "TimeoutExpired"}))


def test_an_older_runs_json_still_renders() -> None:
    old = sample(12.0)
    del old["redact_rows"], old["dense_first_ms"]
    text = "\n".join(redos.section(old))
    assert "Every hit: met (worst 12.0 ms, builtin:ipv4)." in text
    assert "searches (every hit" not in text and "~20 characters: 80.0 ms redacting every hit" in text


def test_the_report_carries_the_section() -> None:
    data = sample_report()
    assert "Guardrail patterns" not in report.render(data)  # an older run's JSON: no section
    data["redos"] = sample(12.0)
    assert "## Guardrail patterns on hostile input (ReDoS)" in report.render(data)
