"""Writes pre-rendered SSE frames one by one, applying a script's pacing and failure controls."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from aiohttp import web

from .script import Script
from .state import GENERATION_KEY, RECORDED_KEY, STATE_KEY


async def send_events(
    request: web.Request,
    frames: Sequence[bytes],
    script: Script,
    *,
    headers: Mapping[str, str],
    error_frame: bytes,
    cut_mid_frame: bool = False,
    malformed_frame: bytes = b'data: {"choices": [{"delta": {"content": "cut\n\n',
) -> web.StreamResponse:
    """Stream ``frames``, each as its own write so chunk pacing is visible to the client.

    The failure controls are checked before frame N (0-based), i.e. after N frames were sent, and
    once more after the last frame so ``cut_after=len(frames)`` still breaks the chunked body.
    With ``cut_mid_frame`` a cut first sends half of frame N (binary framings, where a torn frame is
    what a dropped connection really leaves behind). ``end_after`` ends the body cleanly before frame
    N; ``malformed_after`` sends ``malformed_frame`` there, then ends cleanly.
    """
    response = web.StreamResponse(status=script.status or 200, headers={**headers, **script.headers})
    # What goes out is recorded before it is sent, so a test can compare a relay with it
    # (FakeUpstream.streams) as soon as its client has it.
    state = request.app[STATE_KEY]
    recorded = state.open_stream()

    async def write(data: bytes) -> None:
        state.stream_write(recorded, data)
        await response.write(data)

    try:
        await response.prepare(request)
        for sent in range(len(frames) + 1):
            if script.stall_after == sent:
                await asyncio.sleep(script.stall_seconds)
            if script.cut_after == sent:
                if cut_mid_frame and sent < len(frames):
                    await write(frames[sent][: len(frames[sent]) // 2])
                _abort(request)
                return response
            if script.end_after == sent or script.malformed_after == sent:
                if script.malformed_after == sent:
                    await write(malformed_frame)
                await response.write_eof()
                return response
            if script.error_event_after == sent:
                # Provider-format error, then a clean end of body but no stream terminator.
                await write(error_frame)
                await response.write_eof()
                return response
            if sent == len(frames):
                break
            if sent and script.chunk_delay > 0:
                await asyncio.sleep(script.chunk_delay)
            if script.drip > 0:
                for i in range(len(frames[sent])):
                    await write(frames[sent][i : i + 1])
                    await asyncio.sleep(script.drip)
            else:
                await write(frames[sent])
        await response.write_eof()
    except ConnectionResetError:
        # aiohttp raises ClientConnectionResetError (a ConnectionResetError) writing to a closed peer.
        state.note_disconnect(request[GENERATION_KEY], request.get(RECORDED_KEY))
    return response


def _abort(request: web.Request) -> None:
    """Drop the TCP connection without the terminating zero-length chunk."""
    transport = request.transport
    if transport is not None:
        transport.abort()
