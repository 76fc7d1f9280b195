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


REFERENCE = str(ROOT / "examples" / "configs" / "reference.yaml")


def test_explain_enterprise_takes_the_fallback() -> None:
    result = run(
        "explain",
        "--config",
        REFERENCE,
        "--model",
        "dynamic/customer-support",
        "--metadata",
        '{"tier":"enterprise"}',
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert 'route customer-support: switch case 0 (metadata.tier = "enterprise") matched' in lines
    assert lines[-1] == "-> anthropic/claude-sonnet-4-5, then openai/gpt-5.2 on [429, 5xx, timeout, connect]"


def test_explain_default_shows_the_split_probabilities() -> None:
    result = run("explain", "--config", REFERENCE, "--model", "dynamic/customer-support")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "switch: no case matched, taking default" in out
    assert (
        "p=0.90 (weight 90) anthropic/claude-haiku-4-5" in out
        and "p=0.10 (weight 10) openai/gpt-5-mini" in out
    )
    assert out.strip().splitlines()[-1].startswith("-> ")
    sticky = run(
        "explain", "--config", REFERENCE, "--model", "dynamic/customer-support", "--metadata", '{"user":"u1"}'
    )
    assert 'chosen sticky metadata.user="u1"' in sticky.stdout


def test_explain_headers_token_and_flags(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text(
        "providers:\n  p: { type: openai, base_url: http://127.0.0.1:1/v1 }\n"
        "gateways:\n  g:\n    auth: tokens\n"
        "    tokens: [{ name: bot, secret: s3cret-value-123, metadata: { team: a } }]\n"
        "routes:\n  r:\n    switch:\n"
        "      - when: { header.x-team: blue, stream: true, has_tools: true, input_tokens: { gt: 10 } }\n"
        "        to: p/big\n"
        "      - { when: { metadata.team: a, token: bot, has_images: true }, to: p/vision }\n"
    )
    base = ("explain", "--config", str(tmp_path), "--gateway", "g", "--model", "dynamic/r")
    big = run(*base, "--header", "X-Team: blue", "--stream", "--tools", "--input-tokens", "11")
    assert big.returncode == 0 and big.stdout.strip().endswith("-> p/big"), big.stdout + big.stderr
    vision = run(*base, "--token", "bot", "--images")
    assert vision.returncode == 0 and vision.stdout.strip().endswith("-> p/vision"), vision.stdout
    none = run(*base)
    assert none.returncode == 1 and "no switch case matched in route r" in none.stdout


def test_explain_unknown_model_exits_1() -> None:
    result = run("explain", "--config", REFERENCE, "--model", "nope/nothing")
    assert result.returncode == 1
    assert "does not resolve: unknown model 'nope/nothing'" in result.stdout


BEDROCK = "providers:\n  bedrock: { type: bedrock, region: us-east-1 }\nmodels:\n  c: bedrock/anthropic.c\n"


def without_botocore(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process where botocore cannot be imported, as without the aws extra."""
    code = (
        "import sys; sys.modules['botocore'] = None; "
        "from gateway.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_a_missing_extra_stops_serve_and_is_a_validate_warning(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(BEDROCK)
    message = "provider 'bedrock' (type bedrock) needs the aws extra: pip install 'llm-gateway[aws]'"
    served = without_botocore("serve", "--config", str(tmp_path / "c.yaml"), "--port", "1")
    assert served.returncode == 1, served.stderr
    assert f"{tmp_path}/c.yaml:2:3: providers.bedrock: {message}" in served.stderr.splitlines()
    assert "serving" not in served.stderr
    validated = without_botocore("validate", str(tmp_path / "c.yaml"))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert f"{tmp_path}/c.yaml:2:3: warning: {message}" in validated.stdout.splitlines()
    assert "ok (version" in validated.stderr
    # With the extra installed there is nothing to say.
    assert "extra" not in run("validate", str(tmp_path / "c.yaml")).stdout


def test_serve_refuses_a_memory_store_that_several_workers_would_keep_apart(tmp_path: Path) -> None:
    (tmp_path / "gw.yaml").write_text("state: { store: memory }\n")
    result = run("serve", "--config", str(tmp_path / "gw.yaml"), "--workers", "2", "--port", "1")
    assert result.returncode == 1
    assert "refusing to start 2 worker(s)" in result.stderr
    assert "gw.yaml:1:1: state.store: the 2 workers cannot share state.store: memory" in result.stderr
    assert "set state.store to sqlite:///./data/state.db" in result.stderr  # what to set instead
    one = run("validate", str(tmp_path / "gw.yaml"))  # one worker (the config's default): fine
    assert one.returncode == 0 and "warning" not in one.stdout


def test_explain_lists_the_guardrails_in_order() -> None:
    example = str(ROOT / "examples" / "configs" / "guardrails.yaml")
    result = run("explain", "--config", example, "--gateway", "reviewed", "--model", "claude-haiku-4-5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "guardrails, in order: no-secrets (input: block), pii (both: redact), size (input: block), "
        "moderation (input: block)"
    ) in result.stdout
    plain = run("explain", "--config", REFERENCE, "--model", "dynamic/customer-support")
    assert "guardrails" not in plain.stdout
