"""The peers of `make bench`, installed from their registries at pinned versions into git-ignored dirs.

- litellm: LiteLLM's proxy 1.80.17 (never 1.82.7 or 1.82.8: compromised on PyPI) in its own venv,
  bench/.peers/litellm, from bench/peers/litellm.lock (every package pinned with its hashes).
- portkey: `@portkey-ai/gateway` from npm, pinned by bench/peers/package.json + package-lock.json,
  installed with `npm ci` into bench/peers/node_modules.

    python -m bench.peers [litellm] [portkey]   # install (or check) them; `make bench-peers`

An install is redone only when its lock file changed (a stamp holds the lock's digest). A failure is
returned as text: the runner reports the arm as failed with that reason.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINS = HERE / "peers"
VENVS = HERE / ".peers"
LITELLM_VERSION = "1.80.17"
COMPROMISED_LITELLM = ("1.82.7", "1.82.8")
LITELLM_VENV = VENVS / "litellm"
LITELLM_LOCK = PINS / "litellm.lock"
PORTKEY_PACKAGE = "@portkey-ai/gateway"
PORTKEY_DIR = PINS / "node_modules" / "@portkey-ai" / "gateway"
PORTKEY_SERVER = PORTKEY_DIR / "build" / "start-server.js"


class PeerError(RuntimeError):
    pass


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()


def _run(argv: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise PeerError(f"`{' '.join(argv)}` failed with code {proc.returncode}:\n{tail}")


def _installed_version(python: Path, package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def litellm_python() -> Path:
    return LITELLM_VENV / "bin" / "python"


def ensure_litellm() -> str:
    """Install the pinned LiteLLM proxy if needed; return its version."""
    if f"litellm=={LITELLM_VERSION}" not in LITELLM_LOCK.read_text():
        raise PeerError(f"{LITELLM_LOCK} does not pin litellm=={LITELLM_VERSION}")
    stamp = LITELLM_VENV / ".installed"
    digest = _digest(LITELLM_LOCK)
    if not (stamp.is_file() and stamp.read_text() == digest and litellm_python().exists()):
        if LITELLM_VENV.exists():
            shutil.rmtree(LITELLM_VENV)
        # The venv's base interpreter: the peer must not see this project's packages.
        base = Path(getattr(sys, "_base_executable", sys.executable))
        _run([str(base), "-m", "venv", str(LITELLM_VENV)])
        pip = [str(litellm_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run([*pip, "--require-hashes", "--no-deps", "-r", str(LITELLM_LOCK)])
        stamp.write_text(digest)
    version = _installed_version(litellm_python(), "litellm")
    # Checked on what is installed, not only on the lock: a compromised release must never run.
    if version in COMPROMISED_LITELLM or version != LITELLM_VERSION:
        raise PeerError(f"litellm {version or '(none)'} installed, {LITELLM_VERSION} required")
    return version


def ensure_portkey() -> str:
    """`npm ci` the pinned Portkey gateway if needed; return its version."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise PeerError(f"{tool} not found: the portkey arm needs Node.js (apt-get install nodejs npm)")
    lock = PINS / "package-lock.json"
    stamp = PINS / "node_modules" / ".installed"
    digest = _digest(PINS / "package.json", lock)
    if not (stamp.is_file() and stamp.read_text() == digest and PORTKEY_SERVER.is_file()):
        # --ignore-scripts: the gateway runs from its published build; no install script is needed.
        _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=PINS)
        stamp.write_text(digest)
    return str(json.loads((PORTKEY_DIR / "package.json").read_text())["version"])


ENSURE = {"litellm": ensure_litellm, "portkey": ensure_portkey}


def ensure(name: str) -> tuple[str | None, str]:
    """(version, "") when the peer is ready, (None, why not) when it could not be installed."""
    try:
        return ENSURE[name](), ""
    except (PeerError, OSError) as exc:
        return None, f"install failed: {exc}"


def main(argv: list[str]) -> int:
    names = argv or list(ENSURE)
    bad = 0
    for name in names:
        version, why = ensure(name)
        print(f"{name}: {version}" if version else f"{name}: {why}")
        bad += version is None
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
