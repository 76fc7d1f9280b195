"""The upstream exchange: send a planned request, relay the answer chunk by chunk, read usage on the side.

Timers (per provider, config `timeouts:`): connect, first byte (response headers), idle (gap between body
chunks) and a total deadline, all kept in one rescheduled asyncio timeout. A failure before the response
starts is an error response in the client's envelope; after it starts, an error event in the client's
stream format, never a clean-looking end.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import aiohttp
import orjson

from gateway.errors import GatewayError, render
from gateway.http import Send
from gateway.table import Format, Provider
from gateway.upstream import UpstreamPool, is_connect_error
from gateway.usage import StreamSniffer, Usage

# Never forwarded upstream: hop-by-hop headers, credentials (the gateway sets the upstream's own),
# and the gateway's own headers.
DROP_REQUEST = frozenset(
    {
        b"host",
        b"connection",
        b"keep-alive",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"accept-encoding",
        b"authorization",
        b"x-api-key",
        b"x-goog-api-key",
        b"api-key",
        b"cookie",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-real-ip",
    }
)
DROP_REQUEST_PREFIXES = (b"x-gateway-", b"cf-aig-", b"x-portkey-")
DROP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",  # aiohttp has already decompressed the body
        "proxy-authenticate",
        "trailer",
        "upgrade",
        "set-cookie",
    }
)


@dataclass(slots=True)
class Exchange:
    """What happened upstream, for the access log."""

    status: int = 0
    ttfb_ms: float | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    streamed: bool = False


def upstream_headers(
    raw: list[tuple[bytes, bytes]], auth: list[tuple[bytes, bytes]], provider: Provider
) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in raw:
        if name in DROP_REQUEST or name.startswith(DROP_REQUEST_PREFIXES):
            continue
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    for name, text in provider.headers:
        out[name] = text
    for name, value in auth:
        out[name.decode("latin-1")] = value.decode("latin-1")
    return out


async def exchange(
    pool: UpstreamPool,
    provider: Provider,
    adapter: ModuleType,
    client_format: Format,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    send: Send,
    extra_headers: list[tuple[bytes, bytes]],
    request_id: str,
    total: float | None = None,
) -> Exchange:
    """Run one upstream exchange and relay its answer to the client. Returns what happened."""
    result = Exchange()
    timeouts = provider.timeouts
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + (total or timeouts.total)
    phase = "first_byte"
    session = pool.session(provider)
    try:
        async with asyncio.timeout(min(started + timeouts.first_byte, deadline)) as timer:
            async with session.request(method, url, data=body or None, headers=headers,
                                       allow_redirects=False) as resp:
                result.status = resp.status
                result.ttfb_ms = (loop.time() - started) * 1000
                out_headers = [
                    (k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in resp.headers.items()
                    if k.lower() not in DROP_RESPONSE
                ]
                out_headers.extend(extra_headers)
                if resp.content_type == "text/event-stream":
                    result.streamed = True
                    phase = "idle"
                    await _relay_stream(resp, send, out_headers, adapter, client_format, request_id, result,
                                        timer, timeouts.idle, deadline, loop)
                    return result
                phase = "body"
                timer.reschedule(deadline)
                data = await resp.read()
                if resp.status == 200 and resp.content_type == "application/json":
                    _read_usage(adapter, data, result.usage)
                elif resp.status >= 400:
                    result.error = _error_summary(data)
                out_headers.append((b"content-length", str(len(data)).encode()))
                await send({"type": "http.response.start", "status": resp.status, "headers": out_headers})
                await send({"type": "http.response.body", "body": data})
                return result
    except TimeoutError:
        what = {"first_byte": "did not start answering", "body": "did not finish answering"}.get(phase, "stalled")
        limit = timeouts.first_byte if phase == "first_byte" else timeouts.total
        raise GatewayError(
            "timeout_error", f"provider {provider.name!r} {what} within {limit:g}s (timeouts in config)"
        ) from None
    except aiohttp.ClientError as exc:
        if is_connect_error(exc):
            raise GatewayError(
                "api_error", f"cannot connect to provider {provider.name!r}: {_reason(exc)}", status=502
            ) from None
        raise GatewayError(
            "api_error", f"provider {provider.name!r} failed: {_reason(exc)}", status=502
        ) from None


async def _relay_stream(
    resp: aiohttp.ClientResponse,
    send: Send,
    headers: list[tuple[bytes, bytes]],
    adapter: ModuleType,
    client_format: Format,
    request_id: str,
    result: Exchange,
    timer: asyncio.Timeout,
    idle: float,
    deadline: float,
    loop: asyncio.AbstractEventLoop,
) -> None:
    sniffer = StreamSniffer(adapter.read_usage)
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    failure: str | None = None
    try:
        timer.reschedule(min(loop.time() + idle, deadline))
        async for chunk in resp.content.iter_any():
            sniffer.feed(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            timer.reschedule(min(loop.time() + idle, deadline))
    except TimeoutError:
        failure = "the upstream stream stalled (idle or total timeout)"
        kind = "timeout_error"
    except aiohttp.ClientError as exc:
        failure = f"the upstream stream broke: {_reason(exc)}"
        kind = "api_error"
    result.usage = sniffer.usage
    result.error = sniffer.error
    if failure is None:
        await send({"type": "http.response.body", "body": b""})
        return
    result.error = failure
    await send({"type": "http.response.body", "body": stream_error(client_format, kind, failure, request_id)})


def stream_error(fmt: Format, kind: str, message: str, request_id: str) -> bytes:
    """A mid-stream error event in the client's stream format; the stream ends after it."""
    payload = render(fmt, kind, message, request_id)
    if fmt is Format.ANTHROPIC:
        return b"\n\nevent: error\ndata: " + payload + b"\n\n"
    return b"\n\ndata: " + payload + b"\n\n"


def _read_usage(adapter: ModuleType, data: bytes, usage: Usage) -> None:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    if isinstance(obj, dict):
        adapter.read_usage(usage, obj)


def _error_summary(data: bytes) -> str:
    try:
        obj: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data[:200].decode("utf-8", "replace")
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or err)[:500]
    return str(err or obj)[:500]


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def now_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
