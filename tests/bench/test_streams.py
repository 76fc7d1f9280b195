"""bench.streams: the held-stream request, when a first event is whole, and the per-stream figure."""

from __future__ import annotations

import asyncio
import json

from bench import openloop, streams, targets


def test_hold_body_is_a_streaming_request_with_the_mark() -> None:
    body = json.loads(streams.hold_body())
    assert body["stream"] is True
    assert streams.HOLD_MARK in body["metadata"]["user_id"]
    assert body["model"] and body["messages"]


def test_request_bytes_are_one_http11_post_with_the_bench_headers() -> None:
    raw = streams.request_bytes("127.0.0.1", 8080, b'{"a":1}')
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == f"POST {targets.PATH} HTTP/1.1"
    assert "content-length: 7" in lines
    assert "anthropic-version: 2023-06-01" in lines
    assert body == b'{"a":1}'


def test_first_event_complete_waits_for_the_blank_line() -> None:
    assert not streams.first_event_complete(b"")
    assert not streams.first_event_complete(b'1a3\r\nevent: message_start\ndata: {"type":')
    assert streams.first_event_complete(
        b'1a3\r\nevent: message_start\ndata: {"type":"message_start"}\n\n\r\n'
    )


def test_per_stream_kib() -> None:
    assert streams.per_stream_kib(70_000, 110_000, 1000) == 40.0
    assert streams.per_stream_kib(None, 1, 1) is None
    assert streams.per_stream_kib(1, 2, 0) is None


def test_open_held_reads_the_first_event_and_leaves_the_stream_open() -> None:
    """Against a loopback server that sends headers and one chunked event, then holds."""

    async def main() -> tuple[bool, float]:
        release = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            event = b'event: message_start\ndata: {"type":"message_start"}\n\n'
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                + f"{len(event):x}\r\n".encode()
                + event
                + b"\r\n"
            )
            await writer.drain()
            await release.wait()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        payload = streams.request_bytes("127.0.0.1", port, b"{}")
        held = await streams.open_held("127.0.0.1", port, payload, timeout_s=5.0)
        still_open = not held.reader.at_eof()
        held.writer.close()
        release.set()
        server.close()
        await server.wait_closed()
        return still_open, held.first_event_ms

    still_open, first_ms = openloop.run_uvloop(main)
    assert still_open
    assert 0 < first_ms < 5000
