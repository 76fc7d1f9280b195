"""The fake upstream: nginx + lua-nginx-module serving canned Anthropic/OpenAI answers.

Two ports from one nginx: `fast` answers at once, `delayed` after a non-blocking sleep. The
config comes from bench/mock/nginx.conf.in; all of nginx's files live under a private prefix.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "mock" / "nginx.conf.in"
LUA_DIR = HERE / "mock"
# Debian's libnginx-mod-http-lua installs into /usr/lib/nginx/modules; /usr/share/nginx/modules
# is a symlink to it on Debian 12, but either may be missing on other layouts.
MODULE_DIRS = (Path("/usr/share/nginx/modules"), Path("/usr/lib/nginx/modules"))
MODULES = ("ndk_http_module.so", "ngx_http_lua_module.so")
INSTALL_HINT = "apt-get install -y nginx libnginx-mod-http-lua"


class MockError(RuntimeError):
    pass


@dataclass
class Mock:
    child: procs.Child
    fast_port: int
    delayed_port: int
    delay_s: float

    def url(self, upstream: str) -> str:
        port = self.fast_port if upstream == "fast" else self.delayed_port
        return f"http://127.0.0.1:{port}"

    @property
    def pid(self) -> int:
        return self.child.pid


def find_modules_dir() -> Path:
    for candidate in MODULE_DIRS:
        if all((candidate / name).is_file() for name in MODULES):
            return candidate
    raise MockError(f"nginx Lua module not found in {', '.join(map(str, MODULE_DIRS))}: {INSTALL_HINT}")


def render(prefix: Path, fast_port: int, delayed_port: int, delay_s: float) -> str:
    values = {
        "PREFIX": str(prefix),
        "MODULES_DIR": str(find_modules_dir()),
        "LUA_DIR": str(LUA_DIR),
        "FAST_PORT": str(fast_port),
        "DELAYED_PORT": str(delayed_port),
        "DELAY": f"{delay_s:g}",
    }
    text = TEMPLATE.read_text()
    # @@NAME@@ rather than $NAME: nginx configs are full of $variables of their own.
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    left = re.findall(r"@@[A-Z_]+@@", text)
    if left:
        raise MockError(f"unfilled placeholder(s) in nginx.conf.in: {', '.join(left)}")
    return text


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def start(
    prefix: Path, fast_port: int, delayed_port: int, delay_s: float, cpus: str | None, timeout: float = 10.0
) -> Mock:
    """Render the config under `prefix`, check it with `nginx -t`, run nginx in the foreground."""
    nginx = shutil.which("nginx")
    if nginx is None:
        raise MockError(f"nginx not installed: {INSTALL_HINT}")
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render(prefix, fast_port, delayed_port, delay_s))
    # -e: nginx opens its compiled-in error log (/var/log/nginx) before reading the config.
    base = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise MockError(f"nginx -t failed:\n{check.stderr.strip()}")
    child = procs.spawn("mock", [*base, "-g", "daemon off;"], log_path=prefix / "stdout.log", cpus=cpus)
    deadline = time.monotonic() + timeout
    while not (port_open(fast_port) and port_open(delayed_port)):
        if not child.alive() or time.monotonic() > deadline:
            procs.stop(child)
            errors = (
                (prefix / "error.log").read_text(errors="replace") if (prefix / "error.log").exists() else ""
            )
            raise MockError(f"nginx mock did not come up:\n{child.log_tail()}\n{errors[-2000:]}")
        time.sleep(0.05)
    return Mock(child=child, fast_port=fast_port, delayed_port=delayed_port, delay_s=delay_s)


def stop(mock: Mock) -> None:
    procs.stop(mock.child)
