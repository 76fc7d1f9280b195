"""The package stands alone: a wheel built from this repository, installed without extras into a fresh
virtualenv, validates and serves a config from an empty folder (schema, templates and static files come
from the wheel), proxies a call, and names the extra a config needs when it is not installed.

Slow (a wheel build and a pip install from PyPI), so the virtualenv is built once per test session.
Installing needs PyPI: without it the tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import free_port

ROOT = Path(__file__).resolve().parents[1]
# What the wheel is built from: the package and what pyproject.toml names (the readme).
SOURCES = ("pyproject.toml", "README.md", "gateway")
# A module of every extra; none may be importable after a plain install.
EXTRA_MODULES = ("botocore", "google.auth", "azure.identity", "psycopg", "redis", "opentelemetry")
KEY = "sk-stored-canary-packaging-0123"

pytestmark = pytest.mark.timeout(900)


def require(ok: bool, reason: str) -> None:
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def clean_env() -> dict[str, str]:
    """This environment without what would let the installed gateway see the repository (PYTHONPATH) or
    need an extra (tracing)."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {
        name: value
        for name, value in os.environ.items()
        if name not in dropped and not name.startswith("OTEL_")
    }


@dataclass(frozen=True)
class Installed:
    bin: Path  # the fresh virtualenv's bin folder
    env: dict[str, str]

    def gateway(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.bin / "gateway", *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=60
        )


def constraints(lock: Path, out: Path) -> Path:
    """requirements.lock's pins without hashes: the install gets the locked versions, extras stay out."""
    pins = [line.rstrip(" \\") for line in lock.read_text().splitlines() if line[:1].isalnum()]
    out.write_text("\n".join(pins) + "\n")
    return out


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("packaging")
    env = clean_env()
    pip = [sys.executable, "-m", "pip"]
    probe = subprocess.run(
        [*pip, "download", "--quiet", "--no-deps", "-d", work / "probe", "setuptools>=68"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    require(probe.returncode == 0, f"cannot download from the package index: {probe.stderr[-500:]}")
    # Built from a copy: the build writes build/ and *.egg-info beside the sources.
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    run([*pip, "wheel", "--quiet", "--no-deps", "-w", work / "dist", source], work, env)
    (wheel,) = (work / "dist").glob("llm_gateway-*.whl")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", venv], work, env)
    pins = constraints(ROOT / "requirements.lock", work / "constraints.txt")
    run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-c", pins, wheel],
        work,
        env,
        timeout=900,
    )
    return Installed(venv / "bin", env)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("anthropic") as fake:
        yield fake


def test_the_install_brings_the_core_only(installed: Installed, empty: Path) -> None:
    code = (
        "import gateway, importlib.util\n"
        "print(gateway.__file__)\n"
        f"for name in {EXTRA_MODULES!r}:\n"
        "    try:\n"
        "        found = importlib.util.find_spec(name) is not None\n"
        "    except ModuleNotFoundError:\n"
        "        found = False\n"
        "    if found:\n"
        "        print('importable:', name)\n"
    )
    out = run([installed.bin / "python", "-c", code], empty, installed.env).splitlines()
    assert out[0].startswith(str(installed.bin.parent)), out  # the wheel's copy, not the repository's
    assert out[1:] == []
    for name in ("botocore", "psycopg", "redis", "opentelemetry"):
        result = subprocess.run(
            [installed.bin / "python", "-c", f"import {name}"], cwd=empty, env=installed.env, timeout=60
        )
        assert result.returncode != 0, name


def test_validate_and_serve_from_an_empty_folder(
    installed: Installed, empty: Path, anthropic_fake: FakeUpstream
) -> None:
    (empty / "gateway.yaml").write_text(
        "version: 1\n"
        f'providers:\n  anthropic: {{ type: anthropic, base_url: "{anthropic_fake.base_url}" }}\n'
        f'keys:\n  main: {{ provider: anthropic, secret: "{KEY}" }}\n'
        "models:\n  claude-*: anthropic/*\n"
        "gateways:\n  default: { auth: none, provider_keys: [stored] }\n"
    )
    validated = installed.gateway("validate", "gateway.yaml", cwd=empty)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "gateway.yaml: ok (version" in validated.stderr
    # The schema is read from the wheel: a typo is reported as the schema reports it.
    (empty / "typo.yaml").write_text("providers:\n  a: { type: anthropic, base_ulr: http://x }\n")
    typo = installed.gateway("validate", "typo.yaml", cwd=empty)
    assert typo.returncode == 1 and "unknown key 'base_ulr'" in typo.stdout, typo.stdout + typo.stderr

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        installed.bin / "gateway",
        "serve",
        "--config",
        "gateway.yaml",
        "--port",
        str(port),
        "--no-watch",
    ]
    with (empty / "serve.log").open("wb") as log:
        proc = subprocess.Popen(command, cwd=empty, env=installed.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(proc, url, empty / "serve.log")
            anthropic_fake.push(Script(text="hello from the fake"))
            answer = httpx.post(
                url + "/v1/messages",
                json={"model": "claude-x", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
                headers={"anthropic-version": "2023-06-01"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["content"][0]["text"] == "hello from the fake"
            assert anthropic_fake.requests[-1].headers["x-api-key"] == KEY

            page = httpx.get(url + "/dashboard", timeout=30)  # no admin token: open on loopback
            assert page.status_code == 200 and "/dashboard/static/dashboard.css?v=" in page.text, page.text
            static = ROOT / "gateway" / "admin" / "dashboard" / "static"
            for name in ("dashboard.css", "vendor/uplot/uPlot.iife.min.js"):
                served = httpx.get(f"{url}/dashboard/static/{name}", timeout=30)
                assert served.status_code == 200 and served.content == (static / name).read_bytes(), name
        finally:
            proc.terminate()
            proc.wait(30)


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"gateway exited with {proc.returncode}: {log.read_text()}"
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"gateway did not start: {log.read_text()}")


def test_a_config_needing_an_extra(installed: Installed, empty: Path) -> None:
    (empty / "bedrock.yaml").write_text(
        "providers:\n  bedrock: { type: bedrock, region: us-east-1 }\nmodels:\n  c: bedrock/anthropic.c\n"
    )
    message = "provider 'bedrock' (type bedrock) needs the aws extra: pip install 'llm-gateway[aws]'"
    served = installed.gateway("serve", "--config", "bedrock.yaml", "--port", str(free_port()), cwd=empty)
    assert served.returncode != 0
    assert any(
        line.endswith(f"bedrock.yaml:2:3: providers.bedrock: {message}")
        for line in served.stderr.splitlines()
    ), served.stderr
    validated = installed.gateway("validate", "bedrock.yaml", cwd=empty)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert any(
        line.endswith(f"bedrock.yaml:2:3: warning: {message}") for line in validated.stdout.splitlines()
    )
