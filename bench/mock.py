"""The fake upstream: nginx + lua-nginx-module serving canned Anthropic/OpenAI answers.

Three ports from one nginx: `fast` answers at once, `delayed` after a non-blocking sleep, and
`paced` sends its Anthropic SSE stream in PACED_GAPS_MS-spaced writes (for bench/ttfb.py). The
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
# The paced stream: message_start + content_block_start at once, then each of the 8 text deltas and
# finally the closing events, each written after this many ms (uneven, so that a relay that batches
# on a timer shows up). bench/ttfb.py compares each event's arrival with this schedule.
PACED_GAPS_MS = (10, 20, 15, 10, 20, 15, 10, 20, 15)
# What identifies each paced write in the relayed bytes, whatever a proxy does to framing or JSON. The
# last piece is known by its last word: an arm with output guardrails sends `to the ` at once and holds
# `client.` (an email could go on after the dot) to the block's end, and that hold is what it measures.
PACED_MARKERS = (
    "message_start",
    "Here is a short overview ",
    "of the gateway benchmark. ",
    "The mock upstream sends ",
    "this canned stream so that ",
    "every arm relays the same ",
    "eight text deltas, ",
    "one event at a time, ",
    "client.",
    "message_stop",
)


def paced_offsets_ms() -> list[float]:
    """When each paced write leaves the mock, in ms after the first one."""
    offsets = [0.0]
    for gap in PACED_GAPS_MS:
        offsets.append(offsets[-1] + gap)
    return offsets


class MockError(RuntimeError):
    pass


@dataclass
class Mock:
    child: procs.Child
    fast_port: int
    delayed_port: int
    delay_s: float
    paced_port: int | None = None

    def url(self, upstream: str) -> str:
        ports = {"fast": self.fast_port, "delayed": self.delayed_port, "paced": self.paced_port}
        port = ports[upstream]
        if port is None:
            raise MockError("this mock was started without a paced port")
        return f"http://127.0.0.1:{port}"

    @property
    def pid(self) -> int:
        return self.child.pid


def find_modules_dir() -> Path:
    for candidate in MODULE_DIRS:
        if all((candidate / name).is_file() for name in MODULES):
            return candidate
    raise MockError(f"nginx Lua module not found in {', '.join(map(str, MODULE_DIRS))}: {INSTALL_HINT}")


def render(
    prefix: Path, fast_port: int, delayed_port: int, delay_s: float, paced_port: int | None = None
) -> str:
    paced = ""
    if paced_port is not None:
        gaps = ", ".join(f"{gap / 1000:g}" for gap in PACED_GAPS_MS)
        paced = PACED_SERVER.replace("@@PACED_PORT@@", str(paced_port)).replace("@@GAPS@@", gaps)
    values = {
        "PACED_SERVER": paced,
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


PACED_SERVER = """
    # Paced mock: SSE written piece by piece with pauses (JSON answers as the fast mock).
    server {
        listen 127.0.0.1:@@PACED_PORT@@ backlog=4096;
        location = /v1/messages { content_by_lua_block { require("mock").paced({@@GAPS@@}) } }
        location = /healthz { return 200 "ok\\n"; }
        location / { return 404 '{"type":"error","error":{"type":"not_found_error"}}'; }
    }
"""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def start(
    prefix: Path,
    fast_port: int,
    delayed_port: int,
    delay_s: float,
    cpus: str | None,
    timeout: float = 10.0,
    paced_port: int | None = None,
) -> Mock:
    """Render the config under `prefix`, check it with `nginx -t`, run nginx in the foreground."""
    nginx = shutil.which("nginx")
    if nginx is None:
        raise MockError(f"nginx not installed: {INSTALL_HINT}")
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render(prefix, fast_port, delayed_port, delay_s, paced_port))
    # -e: nginx opens its compiled-in error log (/var/log/nginx) before reading the config.
    base = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise MockError(f"nginx -t failed:\n{check.stderr.strip()}")
    child = procs.spawn("mock", [*base, "-g", "daemon off;"], log_path=prefix / "stdout.log", cpus=cpus)
    deadline = time.monotonic() + timeout
    ports = [fast_port, delayed_port] + ([paced_port] if paced_port is not None else [])
    while not all(port_open(port) for port in ports):
        if not child.alive() or time.monotonic() > deadline:
            procs.stop(child)
            errors = (
                (prefix / "error.log").read_text(errors="replace") if (prefix / "error.log").exists() else ""
            )
            raise MockError(f"nginx mock did not come up:\n{child.log_tail()}\n{errors[-2000:]}")
        time.sleep(0.05)
    return Mock(child, fast_port, delayed_port, delay_s, paced_port)


def stop(mock: Mock) -> None:
    procs.stop(mock.child)
