"""Load for the battery from the test process: raw HTTP/1.1 calls on asyncio sockets (light enough to hold
thousands of connections at once), and what the gateway process shows (RSS, metrics, access log)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.gateway_process import GatewayProcess


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    head_s: float  # from the request's last byte sent to the status line received
    total_s: float
    sent_at: float = 0.0
    done_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


async def call(
    port: int, path: str, body: dict[str, Any], headers: dict[str, str], timeout: float = 60.0
) -> Answer:
    """One HTTP/1.1 request on its own connection (Connection: close), read to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        payload = orjson.dumps(body)
        head = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", "connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"content-length: {len(payload)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        sent = time.perf_counter()
        async with asyncio.timeout(timeout):
            status_line = await reader.readline()
            head_s = time.perf_counter() - sent
            raw = await reader.read()
        done = time.perf_counter()
    finally:
        writer.close()
    header_block, _, rest = raw.partition(b"\r\n\r\n")
    parsed = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        rest = _dechunk(rest)
    return Answer(int(status_line.split()[1]), parsed, rest, head_s, done - sent, sent, done)


def _dechunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


def wait_records(gw: GatewayProcess, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The access log once it holds `count` records (its writer thread lags the answers a little)."""
    deadline = time.monotonic() + timeout
    while len(records := gw.records()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return records


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")
