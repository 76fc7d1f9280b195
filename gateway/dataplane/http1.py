"""A lean HTTP/1.1 client for upstream calls: asyncio.Protocol + httptools' response parser.

Why not aiohttp: its client was ~18% of the gateway's CPU under load (request and response objects, URL
parsing, multidict headers, payload registry, timers), for features the data plane never uses (cookies,
redirects, proxies, auth helpers). This client does what the data plane needs and nothing else: one
request at a time per connection, pooled keep-alive connections per provider, a streamed or whole body.

Behaviour kept from the aiohttp client it replaces: `accept-encoding: gzip, deflate` is sent and such
bodies are decompressed here (an upstream answering in another coding fails clearly); no user-agent is
added; TLS verifies against the system's CA store (ssl.create_default_context(), as aiohttp did); a
reused connection that fails before any response byte is retried once on a new connection.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass

import httptools
import yarl

IDLE_EXPIRY = 30.0  # seconds an idle keep-alive connection is kept (aiohttp's keepalive_timeout was 30)
HAPPY_EYEBALLS = 0.25  # seconds before the next address is tried alongside (aiohttp's default delay)
HIGH_WATER = 2**16  # buffered body bytes above which the socket stops being read until drained

# Characters a URL's path and query may carry as they are; anything else is quoted (by yarl, as aiohttp did).
_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


@dataclass(frozen=True, slots=True)
class StreamedBody:
    """A request body sent as it arrives (a file upload), never held whole: `length` bytes when known
    (content-length), else chunked. An exception from `chunks` aborts the request and is raised to the
    caller (the client's body over `server.max_body`, the client gone)."""

    chunks: AsyncIterator[bytes]
    length: int | None = None


class UpstreamError(Exception):
    """The exchange with the upstream broke (reset, closed early, a malformed answer)."""


class ConnectError(UpstreamError):
    """No connection to the upstream could be opened (refused, DNS, TLS verification, connect timeout)."""


class _Stale(Exception):
    """A connection ended before any byte of the answer: on a reused one, the server had closed it idle."""


_ssl_context: ssl.SSLContext | None = None


def default_ssl_context() -> ssl.SSLContext:
    # Made once, on the first https upstream: loading the CA store reads files.
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


class Origin:
    """Where connections go: scheme, host and port, parsed once per base URL."""

    __slots__ = ("host", "host_header", "port", "server_hostname", "tls")

    def __init__(self, prefix: str) -> None:
        url = yarl.URL(prefix)
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise UpstreamError(f"not an http(s) URL: {prefix[:100]!r}")
        self.tls = url.scheme == "https"
        self.host: str = url.raw_host
        self.port: int = url.port or (443 if self.tls else 80)
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = shown if url.is_default_port() else f"{shown}:{self.port}"
        self.server_hostname = self.host.rstrip(".") if self.tls else None


def split_url(url: str | yarl.URL) -> tuple[str, str]:
    """(scheme://authority, path?query) of a request URL, the path quoted as aiohttp would have."""
    if not isinstance(url, str):
        return f"{url.scheme}://{url.raw_authority}", url.raw_path_qs  # already encoded: sent as is
    start = url.find("://") + 3
    slash = url.find("/", start)
    if slash < 0 or "?" in url[start:slash] or "#" in url:
        parsed = yarl.URL(url)
        return f"{parsed.scheme}://{parsed.raw_authority}", parsed.raw_path_qs
    target = url[slash:]
    if _UNSAFE.search(target) is not None:
        target = yarl.URL(url).raw_path_qs
    return url[:slash], target


class Headers(Mapping[str, str]):
    """An answer's headers: names lowercased, `get` by any case; the first of repeated names wins."""

    __slots__ = ("_map", "raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw  # (lowercased name, value), as received
        self._map: dict[str, str] | None = None

    def _dict(self) -> dict[str, str]:
        if self._map is None:
            out: dict[str, str] = {}
            for name, value in self.raw:
                out.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            self._map = out
        return self._map

    def __getitem__(self, key: str) -> str:
        return self._dict()[key.lower()]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._dict().get(key.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def items(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        # Every header as received, repeated ones included (the client is sent them all).
        for name, value in self.raw:
            yield name.decode("latin-1"), value.decode("latin-1")


class Connection(asyncio.Protocol):
    """One upstream connection and the state of the exchange on it (one at a time)."""

    __slots__ = (
        "_drained",
        "_waiter",
        "body",
        "body_cut",
        "buffered",
        "closed",
        "done",
        "exc",
        "framed",
        "got_bytes",
        "head",
        "headers",
        "idle_since",
        "in_use",
        "keep_alive",
        "loop",
        "no_limit",
        "origin",
        "parser",
        "paused",
        "skip_body",
        "status",
        "transport",
        "write_paused",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        # The parser holds this object's callbacks: a cycle, broken when the connection is lost.
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.closed = False
        self.in_use = False
        self.idle_since = 0.0
        self.head: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self.write_paused = False
        self.body_cut = False  # answered before its streamed body was all sent: not reusable
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: deque[bytes] = deque()
        self.buffered = 0
        self.done = False
        self.exc: BaseException | None = None
        self.got_bytes = False
        self.framed = False  # content-length or chunked: the end is known without a close
        self.keep_alive = False
        self.no_limit = False
        self.paused = False
        self.skip_body = False

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.in_use or self.done:
            # Bytes nobody asked for (an idle connection, or after a whole answer): never reuse it.
            self.close()
            return
        parser = self.parser
        if parser is None:
            return
        self.got_bytes = True
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"malformed answer from the upstream: {exc}"))

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.resume_writing()  # a streamed body waiting to write learns of the close
        # Nothing is parsed any more: let go of the parser (it holds our callbacks), so that a closed
        # connection is freed by reference counting, not left to the cyclic collector.
        self.parser = None
        if not self.in_use or self.done:
            return
        if self.head is not None and not self.head.done() and not self.got_bytes:
            self._fail(_Stale())
        elif exc is not None:
            self._fail(UpstreamError(f"the upstream connection broke: {exc}"))
        elif self.head is not None and self.head.done() and not self.framed:
            self._complete()  # a body delimited by the close of the connection
            self.keep_alive = False
        else:
            self._fail(UpstreamError("the upstream closed the connection before the answer was complete"))

    def pause_writing(self) -> None:
        # A body in memory is left to the transport's buffer; a streamed one waits (`drain`).
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drained = self._drained
        if drained is not None:
            self._drained = None
            if not drained.done():
                drained.set_result(None)

    async def drain(self) -> None:
        """Wait until the socket has taken what was written (a streamed body's flow control)."""
        if self.write_paused and not self.closed:
            self._drained = self.loop.create_future()
            await self._drained

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self.headers = []
        if self.done:
            self.close()  # a second answer to one request: what follows is ignored, the connection dropped

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self.done:
            return
        assert self.parser is not None  # called by the parser itself
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        self.status = status
        for name, value in self.headers:
            if name == b"content-length" or (name == b"transfer-encoding" and b"chunked" in value.lower()):
                self.framed = True
        head = self.head
        if head is not None and not head.done():
            head.set_result(None)
        if self.skip_body:
            self._complete()
            self.keep_alive = False  # the parser would wait for the body a HEAD answer announces

    def on_body(self, data: bytes) -> None:
        if self.done:
            return
        self.body.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self.no_limit and not self.paused:
            self.paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def on_message_complete(self) -> None:
        if not self.status:
            return  # the end of an interim answer
        if not self.done:
            assert self.parser is not None  # called by the parser itself
            self.keep_alive = self.parser.should_keep_alive()
            self._complete()

    # -- the exchange

    def _complete(self) -> None:
        self.done = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if self.exc is None:
            self.exc = exc
        head = self.head
        if head is not None and not head.done():
            head.set_exception(exc)
        self._wake()
        self.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def start(self, data: bytes, body: bytes, skip_body: bool) -> asyncio.Future[None]:
        """Send a request; the future resolves when the answer's head has arrived."""
        self.in_use = True
        self.status = 0
        self.headers = []
        self.body.clear()
        self.buffered = 0
        self.done = self.got_bytes = self.framed = self.keep_alive = self.no_limit = self.body_cut = False
        self.exc = None
        self.skip_body = skip_body
        head = self.head = self.loop.create_future()
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            head.set_exception(_Stale())
            return head
        if body:
            if len(body) < HIGH_WATER:
                transport.write(data + body)
            else:
                transport.writelines((data, body))
        else:
            transport.write(data)
        return head

    async def wait(self) -> None:
        waiter = self._waiter = self.loop.create_future()
        await waiter

    def take(self) -> bytes:
        """Everything buffered so far, and the socket read again if it was paused."""
        body = self.body
        data = body.popleft() if len(body) == 1 else b"".join(body)
        body.clear()
        self.buffered = 0
        if self.paused:
            self.paused = False
            if self.transport is not None and not self.closed:
                self.transport.resume_reading()
        return data

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Decompress:
    """gzip or deflate bodies, decoded as they arrive (the gateway asked for them)."""

    __slots__ = ("_obj", "deflate")

    def __init__(self, coding: str) -> None:
        self.deflate = coding == "deflate"
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS) if not self.deflate else None

    def feed(self, data: bytes) -> bytes:
        if self._obj is None:
            # RFC deflate is zlib-wrapped; some servers send it raw. The first byte tells them apart.
            raw = bool(data) and data[0] & 0x0F != 8
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        try:
            return self._obj.decompress(data)
        except zlib.error as exc:
            raise UpstreamError(f"cannot decompress the upstream's answer: {exc}") from None

    def flush(self) -> bytes:
        return self._obj.flush() if self._obj is not None else b""


class Response:
    """An answer whose head has arrived; its body is read whole or as chunks. `release()` must follow,
    in a `finally`: the connection goes back to the pool only when the answer was read to its end."""

    __slots__ = ("_client", "_conn", "_decompress", "headers", "status")

    def __init__(self, client: Client, conn: Connection, decompress: _Decompress | None) -> None:
        self._client = client
        self._conn: Connection | None = conn
        self._decompress = decompress
        self.status = conn.status
        self.headers = Headers(conn.headers)

    @property
    def content_type(self) -> str:
        """The media type, lowercased, without parameters (aiohttp's `content_type`)."""
        for name, value in self.headers.raw:
            if name == b"content-type":
                return value.partition(b";")[0].strip().lower().decode("latin-1")
        return "application/octet-stream"

    async def read(self) -> bytes:
        conn = self._conn
        assert conn is not None, "read after release"
        conn.no_limit = True  # all of it is wanted in memory anyway
        data = conn.take() if conn.paused else b""
        parts = [data] if data else []
        while not conn.done:
            if conn.exc is not None:
                raise conn.exc
            await conn.wait()
        if conn.exc is not None:
            raise conn.exc
        if conn.body:
            parts.append(conn.take())
        whole = parts[0] if len(parts) == 1 else b"".join(parts)
        if self._decompress is not None:
            whole = self._decompress.feed(whole) + self._decompress.flush()
        return whole

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: whatever has been received each time the caller asks."""
        conn = self._conn
        assert conn is not None, "read after release"
        decompress = self._decompress
        while True:
            if conn.body:
                data = conn.take()
                if decompress is not None:
                    data = decompress.feed(data)
                if data:
                    yield data
                continue
            if conn.exc is not None:
                raise conn.exc
            if conn.done:
                break
            await conn.wait()
        if decompress is not None:
            tail = decompress.flush()
            if tail:
                yield tail

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            reuse = (
                conn.done and conn.exc is None and conn.keep_alive and not conn.closed and not conn.body_cut
            )
            # The failure was raised from this connection's frames: its traceback holds them, and they
            # hold the connection. Forgotten here, that cycle is not left to the collector.
            conn.exc = None
            self._client.put_back(conn, reuse)


async def _send_streamed(conn: Connection, head: asyncio.Future[None], body: StreamedBody) -> None:
    """Write a streamed body while waiting for the answer's head: whichever ends first. An upstream
    that answers before the body is all sent (401, 413) is answered; the connection is not reused."""
    if head.done():
        await head  # a stale connection: nothing of the body was taken, the caller may retry
        return
    pump = asyncio.ensure_future(_pump(conn, body))
    try:
        await asyncio.wait((head, pump), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        pump.cancel()
        head.add_done_callback(_retrieve)
        raise
    if pump.done() and pump.exception() is not None:
        head.add_done_callback(_retrieve)  # the connection is closed: its head fails, unheard
        conn.close()
        await pump  # raises the body's own failure (too large, client gone)
    if not pump.done():
        pump.cancel()
        conn.body_cut = True
    await head


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


async def _pump(conn: Connection, body: StreamedBody) -> None:
    chunked = body.length is None
    sent = 0
    async for chunk in body.chunks:
        transport = conn.transport
        if conn.closed or transport is None or transport.is_closing():
            raise UpstreamError("the upstream closed the connection while the body was being sent")
        if not chunk:
            continue
        sent += len(chunk)
        if chunked:
            transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
        else:
            transport.write(chunk)
        await conn.drain()
    if body.length is not None and sent != body.length:
        raise UpstreamError(f"the request body had {sent} bytes, not the {body.length} announced")
    if chunked and conn.transport is not None and not conn.closed:
        conn.transport.write(b"0\r\n\r\n")


def _interleave(addresses: list[tuple[int, str]]) -> list[str]:
    """Addresses in the resolver's order, alternating families (RFC 8305), without repeats."""
    by_family: dict[int, list[str]] = {}
    for family, host in addresses:
        hosts = by_family.setdefault(family, [])
        if host not in hosts:
            hosts.append(host)
    lists = list(by_family.values())
    out: list[str] = []
    for i in range(max((len(h) for h in lists), default=0)):
        out.extend(hosts[i] for hosts in lists if i < len(hosts))
    return out


def _close_connected(task: asyncio.Task[Connection]) -> None:
    # An attempt that lost the race (or outlived a cancelled connect) must not leave a socket open.
    if not task.cancelled() and task.exception() is None:
        task.result().close()


class Client:
    """The connections to one provider: at most `limit` in use at once (callers wait for a free one),
    idle ones reused newest first and closed after `idle_expiry` seconds."""

    def __init__(
        self,
        limit: int,
        connect_timeout: float | None,
        *,
        ssl_context: ssl.SSLContext | None = None,  # None: the default, verifying one
        idle_expiry: float = IDLE_EXPIRY,
    ) -> None:
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.ssl_context = ssl_context
        self.idle_expiry = idle_expiry
        self.closed = False
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle: dict[Origin, list[Connection]] = {}
        self._origins: dict[str, Origin] = {}
        self._all: set[Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    def origin(self, prefix: str) -> Origin:
        origin = self._origins.get(prefix)
        if origin is None:
            origin = self._origins[prefix] = Origin(prefix)
        return origin

    async def request(
        self, method: str, url: str | yarl.URL, headers: Mapping[str, str], body: bytes | StreamedBody
    ) -> Response:
        """Send one request and wait for the head of its answer."""
        streamed: StreamedBody | None = None
        if isinstance(body, StreamedBody):
            streamed, body = body, b""
        prefix, target = split_url(url)
        origin = self.origin(prefix)
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        if "host" in headers or "Host" in headers:
            text = f"{method} {target} HTTP/1.1\r\n{lines}"  # a signed request names its host itself
            lines_expected = len(headers) + 4
        else:
            text = f"{method} {target} HTTP/1.1\r\nhost: {origin.host_header}\r\n{lines}"
            lines_expected = len(headers) + 5
        if streamed is None:
            text += f"accept-encoding: gzip, deflate\r\ncontent-length: {len(body)}\r\n\r\n"
        elif streamed.length is not None:
            text += f"accept-encoding: gzip, deflate\r\ncontent-length: {streamed.length}\r\n\r\n"
        else:
            text += "accept-encoding: gzip, deflate\r\ntransfer-encoding: chunked\r\n\r\n"
        # One line per header, no more: a CR or LF inside a name or value would smuggle a header.
        if text.count("\n") != lines_expected or text.count("\r") != lines_expected:
            raise UpstreamError("a request header contains a line break")
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            data = text.encode("utf-8")  # a configured header beyond latin-1, sent as aiohttp did
        skip_body = method == "HEAD"
        if self._in_use >= self.limit or self._waiters:
            await self._wait_slot()
        else:
            self._in_use += 1
        conn: Connection | None = None
        try:
            # A streamed body is sent once: never on an idle connection the server may have closed, where
            # the retry below would need the body again.
            conn = self._reusable(origin) if streamed is None else None
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin)
            while True:
                try:
                    if streamed is None:
                        await conn.start(data, body, skip_body)
                    else:
                        await _send_streamed(conn, conn.start(data, b"", skip_body), streamed)
                    break
                except _Stale:
                    conn.close()
                    if not reused:
                        raise UpstreamError("the upstream closed the connection without answering") from None
                    reused = False  # the server had closed it while idle: the request never reached it
                    conn = None
                    conn = await self._connect(origin)
            decompress = _decompressor(conn.headers)
            return Response(self, conn, decompress)
        except BaseException:
            if conn is not None:
                conn.close()
                conn.in_use = False
                self._all.discard(conn)
            self._free_slot()
            raise

    async def _wait_slot(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # the slot is handed over by _free_slot: _in_use already counts it
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._free_slot()  # handed a slot, then cancelled before using it
            elif waiter in self._waiters:
                self._waiters.remove(waiter)  # a waiter left behind would make newcomers queue forever
            raise

    def _free_slot(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the slot over
                return
        self._in_use -= 1

    def _reusable(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        horizon = asyncio.get_running_loop().time() - self.idle_expiry
        while idle:
            conn = idle.pop()
            if conn.closed or conn.transport is None or conn.transport.is_closing():
                self._all.discard(conn)
                continue
            if conn.idle_since < horizon:
                conn.close()
                self._all.discard(conn)
                continue
            return conn
        return None

    async def _connect(self, origin: Origin) -> Connection:
        if self.closed:
            raise UpstreamError("the connection pool was closed")
        where = f"{origin.host}:{origin.port}"
        try:
            async with asyncio.timeout(self.connect_timeout):
                conn = await self._open(origin)
        except TimeoutError:
            raise ConnectError(f"{where}: no connection within {self.connect_timeout:g}s") from None
        except OSError as exc:
            raise ConnectError(f"{where}: {exc.strerror or exc}") from None
        self._all.add(conn)
        return conn

    async def _open(self, origin: Origin) -> Connection:
        """Connect to the first address that answers. With several (IPv6 and IPv4), a new attempt
        starts every HAPPY_EYEBALLS seconds while earlier ones are pending (RFC 8305, as aiohttp did):
        an unreachable address family does not cost the whole connect timeout."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
        addresses = _interleave([(info[0], str(info[4][0])) for info in infos])
        context = (self.ssl_context or default_ssl_context()) if origin.tls else None

        async def attempt(host: str) -> Connection:
            conn = Connection(loop, origin)
            await loop.create_connection(
                lambda: conn, host, origin.port, ssl=context, server_hostname=origin.server_hostname
            )
            return conn

        tasks: list[asyncio.Task[Connection]] = []
        errors: list[BaseException] = []
        winner: asyncio.Task[Connection] | None = None
        try:
            for index, host in enumerate(addresses):
                tasks.append(asyncio.create_task(attempt(host)))
                last = index == len(addresses) - 1
                while winner is None:
                    running = [t for t in tasks if not t.done()]
                    if not running:
                        break
                    done, _ = await asyncio.wait(
                        running, timeout=None if last else HAPPY_EYEBALLS, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in done:
                        exc = task.exception()
                        if exc is None:
                            winner = winner or task
                        else:
                            errors.append(exc)
                    if not last:
                        break  # a failure, or the delay passed: the next address starts now
                if winner is not None:
                    return winner.result()
        finally:
            for task in tasks:
                if task is not winner:
                    task.cancel()
                    task.add_done_callback(_close_connected)
        if errors:
            raise errors[0]
        raise OSError(f"no address for {origin.host}")

    def put_back(self, conn: Connection, reuse: bool) -> None:
        conn.in_use = False
        conn.head = None
        if reuse and not self.closed:
            loop = conn.loop
            conn.idle_since = loop.time()
            idle = self._idle.get(conn.origin)
            if idle is None:
                idle = self._idle[conn.origin] = []
            idle.append(conn)
            if self._sweeper is None:
                self._sweeper = loop.call_later(self.idle_expiry, self._sweep)
        else:
            conn.close()
            self._all.discard(conn)
        self._free_slot()

    def _sweep(self) -> None:
        """Close idle connections past their expiry, oldest first (the bottom of each LIFO list)."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        horizon = loop.time() - self.idle_expiry
        left = False
        for idle in self._idle.values():
            expired = 0
            for conn in idle:
                if conn.idle_since >= horizon and not conn.closed:
                    break
                conn.close()
                self._all.discard(conn)
                expired += 1
            del idle[:expired]
            left = left or bool(idle)
        if left and not self.closed:
            self._sweeper = loop.call_later(self.idle_expiry / 2, self._sweep)

    @property
    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def close(self) -> None:
        """Close every connection, in use or idle; waiters for a slot fail."""
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamError("the connection pool was closed"))


def _decompressor(headers: list[tuple[bytes, bytes]]) -> _Decompress | None:
    for name, value in headers:
        if name == b"content-encoding":
            coding = value.strip().lower()
            if coding in (b"gzip", b"x-gzip"):
                return _Decompress("gzip")
            if coding == b"deflate":
                return _Decompress("deflate")
            if coding and coding != b"identity":
                raise UpstreamError(
                    f"the upstream answered in content-encoding {coding.decode('latin-1')!r}, "
                    "which the gateway did not ask for"
                )
    return None
