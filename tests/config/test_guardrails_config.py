"""The `guardrails:` section: compiled into immutable values on the table and its gateways (in the order a
gateway lists them), and every mistake `gateway validate` must catch, named by file, line and key."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config.compiler import compile_config
from tests.config.test_compiler import BASE, errors_of, write
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream

ROOT = Path(__file__).resolve().parents[2]

GOOD = (
    BASE
    + """\
guardrails:
  no-secrets:
    on: input
    check: { regex: ['sk-ant-[A-Za-z0-9_-]{20,200}', 'AKIA[0-9A-Z]{16}'] }
    action: block
  pii:
    on: both
    check: { builtin: [email, phone, credit_card, iban, us_ssn, ipv4] }
    action: redact
  size:
    check: { max_input_tokens: 100000 }
    action: block
  moderation:
    check:
      webhook:
        url: "https://moderation.internal/check"
        timeout: 500ms
        headers: { authorization: "Bearer ${MOD_TOKEN}" }
    action: block
    on_error: block
gateways:
  default: { guardrails: [pii, no-secrets, moderation] }
  plain: {}
"""
)


def test_guardrails_compile_in_the_gateways_order(tmp_path: Path) -> None:
    table = compile_config(write(tmp_path, {"a.yaml": GOOD}), {"MOD_TOKEN": "t0ken"})
    rails = table.gateways["default"].guardrails
    assert [g.name for g in rails] == ["pii", "no-secrets", "moderation"]
    assert table.gateways["plain"].guardrails == ()
    assert set(table.guardrails) == {"no-secrets", "pii", "size", "moderation"}
    pii, secrets, moderation = rails
    assert (pii.on, pii.action, pii.input, pii.output) == ("both", "redact", True, True)
    assert secrets.on == "input" and not secrets.output
    assert secrets.max_match == 207  # the longest pattern: sk-ant- and 200 more
    assert table.guardrails["size"].max_input_tokens == 100000 and table.guardrails["size"].on == "input"
    hook = moderation.webhook
    assert hook is not None and hook.timeout == 0.5 and hook.on_error == "block"
    assert hook.headers == (("authorization", "Bearer t0ken"),)
    assert "t0ken" not in repr(hook)  # a secret header never shows in a repr (logs, errors)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pii.action = "flag"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("guardrail", "expected"),
    [
        pytest.param(
            "check: { regex: ['([a-z]'] }\n    action: block",
            "a.yaml:11:22: guardrails.g.check.regex.0: '([a-z]': not a valid regular expression",
            id="invalid-regex",
        ),
        pytest.param(
            "check: { regex: ['ok{3}', 'secret-[a-z]+'] }\n    action: block",
            "guardrails.g.check.regex.1: 'secret-[a-z]+': can match more than 1024 characters",
            id="unbounded-regex",
        ),
        pytest.param(
            "check: { regex: ['x{1025}'] }\n    action: block",
            "can match more than 1024 characters",
            id="too-long-regex",
        ),
        pytest.param(
            "check: { regex: ['(?<=id )[0-9]{4}'] }\n    action: block",
            "not supported by the RE2 engine",
            id="look-behind",
        ),
        pytest.param(
            "check: { builtin: [email, passport] }\n    action: redact",
            "a.yaml:11:31: guardrails.g.check.builtin.1: unknown builtin 'passport'",
            id="unknown-builtin",
        ),
        pytest.param(
            "check: { webhook: { url: 'ftp://mod.internal/x' } }\n    action: block",
            "guardrails.g.check.webhook.url: 'ftp://mod.internal/x': a webhook URL must be http:// or https://",
            id="webhook-scheme",
        ),
        pytest.param(
            "check: { max_input_tokens: 10 }\n    action: redact",
            "guardrails.g.action: redact replaces what regex or builtin matched",
            id="redact-without-patterns",
        ),
        pytest.param(
            "check: { webhook: { url: 'http://mod.internal/x', timeout: 0s } }\n    action: block",
            "guardrails.g.check.webhook.timeout: duration must be positive",
            id="webhook-zero-timeout",
        ),
        pytest.param(
            "check: { webhook: { url: 'http://mod.internal/x', timeout: soon } }\n    action: block",
            "guardrails.g.check.webhook.timeout",
            id="webhook-bad-timeout",
        ),
        pytest.param(
            "check: { webhook: { url: 'http://mod.internal/x' } }\n    action: block\n    on_error: retry",
            "guardrails.g.on_error",
            id="bad-on-error",
        ),
        pytest.param(
            "check: { builtin: [email] }\n    action: flag\n    on: sideways", "guardrails.g.on", id="bad-on"
        ),
        pytest.param(
            "check: { max_input_tokens: 10 }\n    action: block\n    on: output",
            "guardrails.g.check.max_input_tokens: max_input_tokens looks at the input",
            id="tokens-on-output",
        ),
        pytest.param(
            "check: { webhook: { url: 'http://127.0.0.1:9/check' } }\n    action: block\n    on: both",
            "guardrails.g.on: a webhook checks input only",
            id="webhook-on-output",
        ),
        pytest.param("check: {}\n    action: block", "guardrails.g.check", id="no-check"),
        pytest.param("check: { builtin: [email] }\n    action: hide", "guardrails.g.action", id="bad-action"),
    ],
)
def test_validate_rejects_with_file_line_and_key(tmp_path: Path, guardrail: str, expected: str) -> None:
    text = BASE + f"guardrails:\n  g:\n    {guardrail}\n"
    errors = errors_of(write(tmp_path, {"a.yaml": text}))
    assert any(expected in e for e in errors), errors
    for e in errors:
        file, line, col = e.split(":")[:3]
        assert file.endswith("a.yaml") and line.isdigit() and col.isdigit(), e


def test_an_unknown_guardrail_on_a_gateway_is_named(tmp_path: Path) -> None:
    text = BASE + "guardrails:\n  pii: { check: { builtin: [email] }, action: flag }\n"
    text += "gateways:\n  default: { guardrails: [pii, nope] }\n"
    errors = errors_of(write(tmp_path, {"a.yaml": text}))
    assert any("gateways.default.guardrails.1: unknown guardrail 'nope'" in e for e in errors), errors


def test_gateway_validate_prints_the_errors(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": BASE + "guardrails:\n  g: { check: { regex: ['a+'] }, action: block }\n"})
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "a.yaml:10" in result.stdout + result.stderr
    assert "guardrails.g.check.regex.0" in result.stdout + result.stderr


def test_hot_reload_rejects_a_bad_guardrail_and_applies_a_good_one(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up), watch=True)
    version = gw.live.table.version
    config_file = gw.config / "gateway.yaml"
    good = config_file.read_text()
    message = {"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "ticket-1234"}]}
    headers = {"anthropic-version": "2023-06-01"}

    def edit(guardrail: str, ok: bool) -> dict[str, Any]:
        config_file.write_text(
            good.replace("default: { auth: none", "default: { guardrails: [g], auth: none")
            + f"\nguardrails:\n  g: {guardrail}\n"
        )
        deadline = time.monotonic() + 5
        while True:
            status: dict[str, Any] = httpx.get(gw.url + "/readyz").json()
            if (status["last_reload"] or {}).get("ok") is ok or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    status = edit("{ check: { regex: ['ticket-[0-9]+'] }, action: block }", ok=False)
    assert status["last_reload"]["ok"] is False and status["config_version"] == version
    assert any("guardrails.g.check.regex.0" in e and "1024" in e for e in status["last_reload"]["errors"])
    assert httpx.post(gw.url + "/v1/messages", json=message, headers=headers).status_code == 200
    status = edit("{ check: { regex: ['ticket-[0-9]{4}'] }, action: block }", ok=True)
    assert status["last_reload"]["ok"] is True and status["config_version"] != version
    blocked = httpx.post(gw.url + "/v1/messages", json=message, headers=headers)
    assert blocked.status_code == 400 and "'g'" in blocked.json()["error"]["message"]
