"""Guardrail patterns on hostile input (issue 17 item 6): a 1 MiB prompt shaped to make a backtracking
engine retry at every position, or made of candidates a validator must refuse in Python, against every
builtin detector and every regex of the example config (examples/configs/guardrails.yaml) plus bounded
forms of the textbook catastrophic patterns. Each must stay under 50 ms per MiB; patterns run on RE2
(linear time), so the time follows the text's length.

Timed as the gateway uses a matcher: a `block` or `flag` guardrail needs only the first hit
(`Matcher.first`), a `redact` one every hit and the rewritten text (`Matcher.redact`): one table each.

    python -m bench.redos            # the table (markdown), on whatever core this runs on
    python -m bench.redos --json     # what bench.run stores under "redos" (it runs this pinned)

Best of five runs per cell, so a busy machine's scheduler does not count as matcher time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "configs" / "guardrails.yaml"
MIB = 1024 * 1024
LIMIT_MS = 50.0

# Near misses: each almost matches at every position (what makes a backtracking engine retry), and the
# classic ReDoS shape of a long run that fails at its end.
SHAPES = {
    "letters": "a",
    "digits": "1",
    "digit-groups": "4111 ",
    "dotted-digits": "1.",
    "dashed-digits": "123-45-",
    "at-signs": "a@",
    "dotted-domain": "a@a.",
    "plus-digits": "+1 (",
    "key-prefixes": "sk-ant-sk-proj-AKIAAIzaghp_github_pat_",
    "short-keys": "sk-ant-aaaaaaaaaaaaaaaaaaa ",
    "iban-groups": "GB82 WEST ",
    # The shortest candidates that still reach a validator in Python (the worst a pattern cannot refuse):
    # Norway's 15-character IBAN with a bad checksum (its 13 digits a Luhn-invalid card number too), a
    # 13-digit Luhn-invalid card number, and what SSN and IPv4 validators refuse.
    "iban-like": "NO9386011117948 ",
    "card-like": "4111111111112,",
    "ssn-like": "000-12-3456 ",
    "ipv4-like": "1.2.3.999 ",
    "nested": "a" * 76 + "!",
}
# Bounded forms of the textbook catastrophic patterns (unbounded ones are a validate error).
CATASTROPHIC = {
    "nested-repeat": r"(a{1,10}){1,10}b",
    "alternation": r"(?:a|aa){1,50}b",
    "overlapping-classes": r"[a-z0-9]{1,100}[a-z]{1,100}@",
}
# The worst honest case: a real hit every ~20 characters, each one redacted by all builtins at once.
DENSE_UNIT = "mail bob@example.com card 4111 1111 1111 1111 from 10.0.0.1; "


def hostile(shape: str, size: int = MIB) -> str:
    unit = SHAPES[shape]
    return (unit * (size // len(unit) + 1))[:size]


def dense(size: int = MIB) -> str:
    return (DENSE_UNIT * (size // len(DENSE_UNIT) + 1))[:size]


def matchers(path: Path = EXAMPLE) -> dict[str, Any]:
    """name -> Matcher: each builtin alone, each regex of the example config as the compiler built it
    (named guardrail#index), each catastrophic form."""
    from gateway.config.compiler import compile_config
    from gateway.policy.guardrails import BUILTINS, DETECTORS, Matcher, matcher_of

    out: dict[str, Any] = {f"builtin:{name}": Matcher.of([DETECTORS[name]]) for name in BUILTINS}
    for name, rail in compile_config(path, {}, strict_env=False).guardrails.items():
        regexes = [d for d in (rail.matcher.detectors if rail.matcher else ()) if d.kind == name]
        for i, detector in enumerate(regexes):
            out[f"{name}#{i}"] = Matcher.of([detector])
    for name, pattern in CATASTROPHIC.items():
        out[name] = matcher_of(name, [pattern], [])
    return out


def best_ms(work: Any, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def measure(size: int = MIB, runs: int = 5) -> dict[str, Any]:
    """{"size", "runs", "limit_ms", "shapes", "rows": {detector: [ms per shape]} (block/flag: the first
    hit), "redact_rows" (the same for redact: every hit, the text rewritten), "dense_first_ms",
    "dense_ms"}."""
    from gateway.policy.guardrails import BUILTINS, matcher_of

    texts = {s: hostile(s, size) for s in SHAPES}
    every = matchers()
    rows = {
        name: [round(best_ms(lambda m=m, t=texts[s]: m.first(t), runs), 2) for s in SHAPES]
        for name, m in every.items()
    }
    redact_rows = {
        name: [round(best_ms(lambda m=m, t=texts[s]: m.redact(t), runs), 2) for s in SHAPES]
        for name, m in every.items()
    }
    pii = matcher_of("pii", [], list(BUILTINS))
    assert pii is not None
    text = dense(size)
    return {
        "size": size,
        "runs": runs,
        "limit_ms": LIMIT_MS,
        "shapes": list(SHAPES),
        "rows": rows,
        "redact_rows": redact_rows,
        "dense_first_ms": round(best_ms(lambda: pii.first(text), runs), 2),
        "dense_ms": round(best_ms(lambda: pii.redact(text), runs), 2),
    }


def _table(shapes: list[str], rows: dict[str, list[float]]) -> list[str]:
    out = ["| detector | " + " | ".join(shapes) + " |", "|---|" + "---:|" * len(shapes)]
    for name, values in rows.items():
        out.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    return out


def _verdict(rows: dict[str, list[float]], limit: float) -> str:
    name, worst = max(((n, max(v)) for n, v in rows.items()), key=lambda x: x[1])
    return f"{'met' if worst < limit else '**MISSED**'} (worst {worst:.1f} ms, {name})"


def worst_ms(data: dict[str, Any]) -> float:
    tables = [data["rows"], data.get("redact_rows") or {}]
    return max(max(v) for rows in tables for v in rows.values())


def section(data: dict[str, Any] | None) -> list[str]:
    """The report's markdown: one row per detector, one column per shape, and the verdict."""
    if not data:
        return []
    if "error" in data:
        return ["## Guardrail patterns on hostile input (ReDoS)", "", f"Not measured: {data['error']}", ""]
    shapes: list[str] = data["shapes"]
    rows: dict[str, list[float]] = data["rows"]
    redact_rows: dict[str, list[float]] | None = data.get("redact_rows")  # older runs: find() only
    limit = data["limit_ms"]
    mib = data["size"] / MIB
    # An older run's JSON timed find() alone.
    first = "As a block/flag (the first hit) guardrail searches" if redact_rows is not None else "Every hit"
    out = [
        "## Guardrail patterns on hostile input (ReDoS)",
        "",
        f"{mib:g} MiB of each hostile shape against each builtin detector, the example config's "
        f"regexes and bounded catastrophic forms; ms, best of {data['runs']} (bench/redos.py, RE2). "
        f"Goal: every cell under {limit:g} ms per MiB.",
        "",
        f"{first}: {_verdict(rows, limit)}.",
        "",
        *_table(shapes, rows),
        "",
    ]
    if redact_rows is not None:
        out += [
            f"As a redact guardrail searches (every hit, the text rewritten): "
            f"{_verdict(redact_rows, limit)}.",
            "",
            *_table(shapes, redact_rows),
            "",
        ]
    dense_first = data.get("dense_first_ms")
    out += [
        f"All builtins at once on {mib:g} MiB with a real hit every ~20 characters: "
        + (f"{dense_first:.1f} ms to the first hit (block/flag), " if dense_first is not None else "")
        + f"{data['dense_ms']:.1f} ms redacting every hit.",
        "",
    ]
    return out


def run_pinned(cpus: str, quick: bool = False) -> dict[str, Any]:
    """bench.run's part: this module in a child pinned to the arms' core (the machine is quiet then)."""
    command = ["taskset", "-c", cpus, sys.executable, "-m", "bench.redos", "--json"]
    if quick:
        command += ["--runs", "2"]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        if done.returncode not in (0, 1):  # 1: measured, and the goal missed (the JSON says where)
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
        data: dict[str, Any] = json.loads(done.stdout)
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        stderr = getattr(exc, "stderr", None) or ""
        return {"error": f"{type(exc).__name__}: {stderr.strip().splitlines()[-1:] or exc}"}
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.redos", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the measurement as JSON")
    p.add_argument("--runs", type=int, default=5, help="runs per cell, the best kept (default 5)")
    p.add_argument("--size", type=int, default=MIB, help="bytes of hostile text (default 1 MiB)")
    args = p.parse_args(argv)
    data = measure(args.size, args.runs)
    print(json.dumps(data) if args.json else "\n".join(section(data)))
    return 0 if worst_ms(data) < LIMIT_MS * args.size / MIB else 1


if __name__ == "__main__":
    sys.exit(main())
