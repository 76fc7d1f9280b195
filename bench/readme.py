"""Rewrite README.md's Performance figures from a `make bench` result.

    python -m bench.readme [bench/results/<timestamp>.json] [--readme README.md]

Replaces what lies between the markers `<!-- bench:start -->` and `<!-- bench:end -->` with
bench.report.readme_block() of that result (default: the newest result JSON). Nothing outside the
markers changes, so the prose around the table stays the authors'.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import report

HERE = Path(__file__).resolve().parent
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


class MarkerError(ValueError):
    pass


def replace_section(text: str, block: str, start: str = START, end: str = END) -> str:
    """`text` with the part between `start` and `end` (exclusive) replaced by `block`."""
    if text.count(start) != 1 or text.count(end) != 1:
        raise MarkerError(f"README must hold exactly one {start} and one {end} line")
    head, rest = text.split(start, 1)
    _old, tail = rest.split(end, 1)
    return f"{head}{start}\n{block.strip()}\n{end}{tail}"


def rewrite(readme: Path, block: str, start: str = START, end: str = END) -> bool:
    """Write `block` between README's markers; False, said on stderr, when they are not there once each."""
    try:
        text = replace_section(readme.read_text(), block, start, end)
    except MarkerError as exc:
        print(f"{readme}: {exc}", file=sys.stderr)
        return False
    readme.write_text(text)
    return True


def newest_result(results: Path) -> Path:
    found = sorted(p for p in results.glob("*.json") if p.name[:8].isdigit())
    if not found:
        raise FileNotFoundError(f"no result JSON in {results}: run `make bench` first")
    return found[-1]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__.splitlines()[0])
    p.add_argument("result", nargs="?", type=Path, help="a result JSON (default: the newest)")
    p.add_argument("--readme", type=Path, default=HERE.parent / "README.md")
    args = p.parse_args(argv)
    path = args.result or newest_result(HERE / "results")
    result = json.loads(path.read_text())
    if not rewrite(args.readme, report.readme_block(result)):
        return 2
    print(f"{args.readme}: Performance figures from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
