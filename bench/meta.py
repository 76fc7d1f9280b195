"""What a result was measured on: commit, versions, CPU. Read-only: never changes git state."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import wrk

PACKAGES = (
    "llm-gateway",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "aiohttp",
    "httpx",
    "httpcore",
    "httpx-aiohttp",
    "anyio",
    "sniffio",
    "orjson",
)


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        # GIT_OPTIONAL_LOCKS=0: `git status` would otherwise refresh (write) the index.
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            cwd=cwd,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except OSError:
        return ""
    return (proc.stdout + proc.stderr).strip() if proc.returncode == 0 else ""


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return match.group(1).strip() if match else "unknown"


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def collect(root: Path) -> dict[str, Any]:
    nginx = _run(["nginx", "-v"])  # nginx prints its version on stderr
    lua = _run(["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-http-lua"])
    return {
        "git_commit": _run(["git", "rev-parse", "HEAD"], cwd=root) or None,
        "git_dirty": bool(_run(["git", "status", "--porcelain"], cwd=root)),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "nginx": nginx.removeprefix("nginx version: nginx/") or None,
        "libnginx_mod_http_lua": lua or None,
        "wrk": wrk.version(),
        "node": _run(["node", "--version"]).removeprefix("v") or None,  # the portkey arm's runtime
    }
