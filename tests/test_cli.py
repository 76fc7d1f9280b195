"""`gateway validate` and `gateway routes` as CI and operators run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def test_validate_passes_the_default_config_and_every_example() -> None:
    result = run(
        "validate", "routes", *sorted(str(p) for p in (ROOT / "examples" / "configs").glob("*.yaml"))
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.lower()


def test_validate_prints_every_error_with_location_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("providers:\n  p: { type: anthropic }\nmodels:\n  x: q/y\n  z: p/w\n")
    (tmp_path / "b.yaml").write_text(
        "gateways:\n  g: { auth: tokens, tokens: [{ name: t, secret: '${NOPE}' }] }\n"
        "routes:\n  r: { fallback: [p/a, dynamic/r] }\n"
    )
    result = run("validate", str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert f"{tmp_path}/a.yaml:4:3: models.x: unknown provider 'q' in 'q/y' (defined: p)" in lines
    assert f"{tmp_path}/b.yaml:4:3: routes.r: route cycle: r -> r" in lines
    warning = [line for line in lines if "environment variable NOPE is not set" in line]
    assert warning and warning[0].startswith(f"{tmp_path}/b.yaml:2:50: warning: gateways.g.tokens.0.secret:")


def test_validate_warnings_alone_exit_0(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "keys:\n  k: { provider: p, secret: '${UNSET_VAR}' }\nproviders:\n  p: { type: openai }\n"
    )
    result = run("validate", str(tmp_path / "a.yaml"))
    assert result.returncode == 0 and "warning: keys.k.secret" in result.stdout


def test_routes_prints_the_table_with_secrets_masked(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-canary-secret-value-1234"}
    result = run("routes", "--config", "routes", env=env)
    assert result.returncode == 0, result.stderr
    assert "sk-ant-canary-secret-value-1234" not in result.stdout
    assert "sk-a...1234" in result.stdout
    for word in ("gateways:", "default:", "claude-*: anthropic/*", "version:"):
        assert word in result.stdout
