"""The upstream HTTP/1.1 client against raw loopback servers: reuse, limits, framing, flow control,
stale connections, cancellation, connect and TLS failures."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.dataplane.http1 import HIGH_WATER, Client, ConnectError, UpstreamError, _interleave

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\nok"


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


class RawServer:
    """A loopback server speaking raw bytes; `handler` runs once per connection."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()  # set each time a connection ends

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        scheme = "https" if self.ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()
            self.closed.set()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One request's head and body, or None at the end of the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return head + body


def answering(server_ref: list[RawServer], answer: bytes = OK) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server_ref[0].read_request(reader) is not None:
            writer.write(answer)

    return handler


async def serve(answer: bytes = OK) -> RawServer:
    ref: list[RawServer] = []
    server = RawServer(answering(ref, answer))
    ref.append(server)
    return await server.__aenter__()


async def get(client: Client, url: str, body: bytes = b"") -> tuple[int, bytes]:
    resp = await client.request("POST", url + "/v1/x?y=1", {"x-api-key": "k"}, body)
    try:
        return resp.status, await resp.read()
    finally:
        resp.release()


def test_keep_alive_reuses_one_connection_and_sends_exact_headers() -> None:
    async def main() -> None:
        server = await serve()
        client = Client(10, 5)
        for _ in range(5):
            assert await get(client, server.url, b'{"a":1}') == (200, b"ok")
        assert server.connections == 1 and len(server.requests) == 5
        head, _, body = server.requests[0].partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /v1/x?y=1 HTTP/1.1" and body == b'{"a":1}'
        assert sorted(lines[1:]) == [
            b"accept-encoding: gzip, deflate",
            b"content-length: 7",
            f"host: 127.0.0.1:{server.port}".encode(),
            b"x-api-key: k",
        ]
        resp = await client.request("GET", server.url + "/", {}, b"")
        assert resp.headers.get("Content-Type") == "application/json"
        assert resp.content_type == "application/json"
        assert dict(resp.headers.items()) == {"content-type": "application/json", "content-length": "2"}
        resp.release()  # unread, but the whole answer had arrived: the connection is still reusable
        assert await get(client, server.url) == (200, b"ok")
        assert server.connections == 1
        client.close()
        await server.__aexit__()

    run(main())


def test_a_line_break_in_a_header_is_refused() -> None:
    async def main() -> None:
        server = await serve()
        client = Client(10, 5)
        with pytest.raises(UpstreamError, match="line break"):
            await client.request("GET", server.url + "/", {"x-a": "1\r\nx-injected: 2"}, b"")
        assert await get(client, server.url) == (200, b"ok")  # the slot was given back
        assert server.requests[0].count(b"x-injected") == 0 and len(server.requests) == 1
        client.close()

    run(main())


def test_at_the_connection_limit_requests_wait_for_a_free_one() -> None:
    async def main() -> None:
        go = asyncio.Event()
        ref: list[RawServer] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await ref[0].read_request(reader) is not None:
                await go.wait()
                writer.write(OK)

        server = await RawServer(handler).__aenter__()
        ref.append(server)
        client = Client(2, 5)
        calls = [asyncio.create_task(get(client, server.url)) for _ in range(5)]
        await asyncio.sleep(0.3)
        assert server.connections == 2 and len(server.requests) == 2  # three still wait for a slot
        go.set()
        assert await asyncio.gather(*calls) == [(200, b"ok")] * 5
        assert server.peak == 2 and server.connections == 2

        # A waiter cancelled while queued leaves no trace: later requests still get slots.
        go.clear()
        held = [asyncio.create_task(get(client, server.url)) for _ in range(2)]
        await asyncio.sleep(0.1)
        queued = asyncio.create_task(get(client, server.url))
        await asyncio.sleep(0.1)
        queued.cancel()
        go.set()
        await asyncio.gather(*held)
        assert await get(client, server.url) == (200, b"ok")
        client.close()

    run(main())


def test_chunked_answer_is_decoded_and_streamed_as_it_arrives() -> None:
    async def main() -> None:
        got_first = asyncio.Event()
        ref: list[RawServer] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await ref[0].read_request(reader) is not None:
                got_first.clear()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n6\r\nhello \r\n"
                )
                await writer.drain()
                await got_first.wait()  # the client must see the first chunk before the second is sent
                writer.write(b"5\r\nworld\r\n0\r\n\r\n")

        server = await RawServer(handler).__aenter__()
        ref.append(server)
        client = Client(10, 5)
        for _ in range(2):
            resp = await client.request("POST", server.url + "/s", {}, b"{}")
            assert resp.content_type == "text/event-stream"
            seen = []
            async for chunk in resp.chunks():
                seen.append(chunk)
                got_first.set()
            resp.release()
            assert seen == [b"hello ", b"world"]
        assert server.connections == 1  # a chunked answer read to its end keeps the connection
        client.close()

    run(main())


def test_body_until_close_and_answers_without_a_body() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await server.read_request(reader)
            assert request is not None
            if request.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n")
                await reader.read()  # the client closes: it never waits for 50 bytes
                return
            if b"/204" in request:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                assert await server.read_request(reader) is not None  # kept alive
                writer.write(OK)
                await reader.read()
                return
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nall of it")
            await writer.drain()
            writer.write(b" until the end")
            writer.close()

        server = await RawServer(handler).__aenter__()
        client = Client(10, 5)
        assert await get(client, server.url) == (200, b"all of it until the end")
        assert await get(client, server.url) == (200, b"all of it until the end")
        assert server.connections == 2  # an answer ended by a close cannot be followed by another

        resp = await client.request("HEAD", server.url + "/", {}, b"")
        assert resp.status == 200 and await resp.read() == b""
        resp.release()
        for path, status, body in (("/204", 204, b""), ("/after", 200, b"ok")):
            resp = await client.request("GET", server.url + path, {}, b"")
            assert (resp.status, await resp.read()) == (status, body)
            resp.release()
        assert server.connections == 4
        client.close()

    run(main())


def test_a_large_body_is_read_with_backpressure() -> None:
    total = 192 * 2**20  # beyond what loopback socket buffers can hold (tcp_rmem max is 32 MiB here)
    block = bytes(2**20)

    async def main() -> None:
        sent = [0]

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {total}\r\n\r\n".encode())
            while sent[0] < total:
                writer.write(block)
                await writer.drain()
                sent[0] += len(block)
            await reader.read()

        server = await RawServer(handler).__aenter__()
        client = Client(10, 5)
        resp = await client.request("GET", server.url + "/big", {}, b"")
        chunks = resp.chunks()
        first = await chunks.__anext__()
        await asyncio.sleep(0.5)  # not reading: the server must stall
        stalled_at = sent[0]
        assert stalled_at < total // 2
        received = len(first)
        largest = 0
        async for chunk in chunks:
            received += len(chunk)
            largest = max(largest, len(chunk))
        resp.release()
        assert received == total and sent[0] == total
        assert largest < HIGH_WATER + 2**20  # what sits in memory stays near the high-water mark
        client.close()

    run(main())


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(OK)  # keep-alive by HTTP/1.1 default, then closed while idle

        server = await RawServer(handler).__aenter__()
        client = Client(10, 5)
        assert await get(client, server.url) == (200, b"ok")
        await server.closed.wait()
        assert await get(client, server.url) == (200, b"ok")
        assert server.connections == 2 and len(server.requests) == 2
        client.close()

    run(main())


def test_a_reused_connection_lost_before_any_answer_byte_is_retried_once() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(OK)
            # The next request reaches a server that has just given up on the connection.
            await server.read_request(reader)
            writer.transport.abort()

        server = await RawServer(handler).__aenter__()
        client = Client(10, 5)
        assert await get(client, server.url) == (200, b"ok")
        assert await get(client, server.url) == (200, b"ok")
        assert server.connections == 2 and len(server.requests) == 3
        client.close()

    run(main())


def test_a_fresh_connection_reset_before_answering_is_an_error_not_retried() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.transport.abort()

        server = await RawServer(handler).__aenter__()
        client = Client(10, 5)
        with pytest.raises(UpstreamError) as info:
            await get(client, server.url)
        assert not isinstance(info.value, ConnectError)
        assert server.connections == 1 and len(server.requests) == 1
        client.close()

    run(main())


def test_an_answer_cut_mid_body_is_an_error() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")

        server = await RawServer(handler).__aenter__()
        client = Client(10, 5)
        resp = await client.request("GET", server.url + "/", {}, b"")
        with pytest.raises(UpstreamError, match="before the answer was complete"):
            await resp.read()
        resp.release()
        client.close()

    run(main())


def test_cancelling_mid_body_closes_the_connection() -> None:
    async def main() -> None:
        ref: list[RawServer] = []
        ended = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await ref[0].read_request(reader)
            if request is not None and b"/slow" in request:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                assert await reader.read() == b""  # the client closed the connection
                ended.set()
                return
            writer.write(OK)

        server = await RawServer(handler).__aenter__()
        ref.append(server)
        client = Client(1, 5)

        async def slow() -> None:
            resp = await client.request("GET", server.url + "/slow", {}, b"")
            try:
                async for _ in resp.chunks():
                    pass
            finally:
                resp.release()

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(ended.wait(), 5)
        assert await get(client, server.url) == (200, b"ok")  # the one slot was given back
        assert server.connections == 2
        client.close()

    run(main())


def test_idle_connections_expire() -> None:
    async def main() -> None:
        server = await serve()
        client = Client(10, 5, idle_expiry=0.2)
        assert await get(client, server.url) == (200, b"ok")
        await asyncio.wait_for(server.closed.wait(), 2)  # closed by the client's sweep
        assert client.idle_count == 0
        assert await get(client, server.url) == (200, b"ok")
        assert server.connections == 2
        client.close()

    run(main())


def test_gzip_answers_are_decompressed_and_unknown_codings_refused() -> None:
    packed = gzip.compress(b'{"hello":"world"}')

    async def main() -> None:
        head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(packed)
        server = await serve(head + packed)
        client = Client(10, 5)
        assert await get(client, server.url) == (200, b'{"hello":"world"}')
        other = await serve(b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 2\r\n\r\nxx")
        with pytest.raises(UpstreamError, match="content-encoding 'br'"):
            await get(client, other.url)
        client.close()

    run(main())


def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening

    async def main() -> None:
        client = Client(10, 5)
        with pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
            await get(client, f"http://127.0.0.1:{port}")
        assert await _still_usable(client)
        client.close()

    run(main())


async def _still_usable(client: Client) -> bool:
    server = await serve()
    return await get(client, server.url) == (200, b"ok")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_verifies_by_default_and_works_with_a_trusted_certificate() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = _self_signed(Path(tmp))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert, key)
        trusting = ssl.create_default_context(cafile=str(cert))

        async def main() -> None:
            ref: list[RawServer] = []
            server = await RawServer(answering(ref), server_context).__aenter__()
            ref.append(server)
            client = Client(10, 5)
            with pytest.raises(ConnectError, match="certificate verify failed"):
                await get(client, server.url)
            trusted = Client(10, 5, ssl_context=trusting)
            for _ in range(3):
                assert await get(trusted, server.url) == (200, b"ok")
            assert len(server.requests) == 3
            trusted.close()
            client.close()

        run(main())


def test_connect_timeout_is_a_connect_error() -> None:
    # The connect phase includes the TLS handshake: a server that accepts TCP and never answers the
    # handshake makes it time out (an address that drops SYNs is not something a test can rely on).
    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        server = await RawServer(silent).__aenter__()
        client = Client(10, 0.3)
        started = time.monotonic()
        with pytest.raises(ConnectError, match=r"no connection within 0\.3s"):
            await get(client, server.url.replace("http://", "https://"))
        assert time.monotonic() - started < 2
        client.close()

    run(main())


def test_every_address_of_a_name_is_tried_alternating_families() -> None:
    assert _interleave([(10, "::1"), (10, "::2"), (2, "127.0.0.1"), (10, "::1")]) == [
        "::1",
        "127.0.0.1",
        "::2",
    ]

    async def main() -> None:
        server = await serve()  # IPv4 only: wherever "localhost" also means ::1, that attempt fails first
        client = Client(10, 5)
        assert await get(client, f"http://localhost:{server.port}") == (200, b"ok")
        resp = await client.request("GET", f"http://localhost:{server.port}/", {}, b"")
        resp.release()
        assert server.requests[-1].count(f"host: localhost:{server.port}\r\n".encode()) == 1
        client.close()

    run(main())
