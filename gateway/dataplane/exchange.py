"""The upstream exchange: send a planned request, relay the answer chunk by chunk, read usage on the side.

Timers (per provider, config `timeouts:`): connect, first byte (response headers), idle (gap between body
chunks) and a total deadline, all kept in one rescheduled asyncio timeout. A failure before the response
starts is an error response in the client's envelope; after it starts, an error event in the client's
stream format, never a clean-looking end.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import struct
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import yarl

from gateway.core.errors import KINDS, GatewayError, NotJSON, kind_for_status, render
from gateway.core.formats import Format
from gateway.core.http import Send
from gateway.core.usage import StreamSniffer, Usage
from gateway.dataplane.http1 import ConnectError, Response, StreamedBody, UpstreamError
from gateway.dataplane.upstream import UpstreamPool
from gateway.providers.base import Decoder, ProviderType
from gateway.routing.table import Provider
from gateway.translate import StreamFailure, StreamIncomplete
from gateway.translate.gemini.errors import retry_delay
from gateway.translate.sse import stream_error

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
        # A native Bedrock client's own SigV4 signature parts: the gateway signs the call itself.
        b"x-amz-date",
        b"x-amz-security-token",
        b"x-amz-content-sha256",
    }
)
DROP_REQUEST_PREFIXES = (b"x-gateway-", b"cf-aig-", b"x-portkey-")
DROP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",  # the client has already decompressed the body
        "proxy-authenticate",
        "trailer",
        "upgrade",
        "set-cookie",
        "date",  # the gateway's server sends its own; two Date headers are invalid
    }
)
# A translated body is the gateway's own: the upstream's content type no longer describes it.
DROP_TRANSLATED = DROP_RESPONSE | {"content-type"}
# The same, as the lowercased bytes the client hands over.
_DROP_RESPONSE_RAW = frozenset(name.encode() for name in DROP_RESPONSE)
_DROP_TRANSLATED_RAW = frozenset(name.encode() for name in DROP_TRANSLATED)
# Streamed answers: SSE, and AWS event-stream framing (Bedrock), which a Decoder turns into SSE.
STREAM_TYPES = frozenset({"text/event-stream", "application/vnd.amazon.eventstream"})


class AnswerReplaced(Exception):
    """Raised by a relay whose whole answer is not to be relayed (an output guardrail blocked it): the
    client gets `status` and `body` (JSON in its envelope) instead; the upstream's status and usage stay
    the exchange's, for billing."""

    def __init__(self, status: int, body: bytes, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.message = message


class PolicyStop(StreamFailure):
    """A stream the gateway's own policy ended (an output guardrail blocked it): not the upstream's
    failure, so no mark against the target."""


class StreamRelay(Protocol):
    """Turns upstream stream bytes into client stream bytes, reading usage on the side."""

    @property
    def usage(self) -> Usage: ...

    @property
    def error(self) -> str | None: ...

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes: ...

    def error_event(self, kind: str, message: str) -> bytes: ...


class Relay(Protocol):
    """How an upstream answer becomes the client's answer: byte-exact, or translated."""

    def content_type(self, streaming: bool) -> bytes | None:
        """The client's content type, or None to keep the upstream's."""
        ...

    def response(self, status: int, data: bytes, usage: Usage) -> bytes: ...

    def stream(self) -> StreamRelay: ...


# What a complete stream shows, per stream kind: groups of marks, each met by any one of its marks, with
# what the client is told is missing, and whether the mark is among the stream's last events (looked for
# once, in its last bytes) or may come well before its end (looked for in each chunk until found: Gemini's
# finishReason may be followed by a long groundingMetadata). A mark starts at a line start (`\n`) or is a
# JSON key with a string value: text inside a JSON string holds neither a raw newline nor an unescaped
# quote, so a model's words never match.
ENDINGS: dict[str, tuple[tuple[tuple[bytes, ...], str, bool], ...]] = {
    "anthropic": (((b"\nevent: message_stop", b"\nevent:message_stop"), "event: message_stop", True),),
    "openai": (
        ((b'"finish_reason":"', b'"finish_reason": "'), "a finish_reason", False),
        ((b"\ndata: [DONE]", b"\ndata:[DONE]"), "data: [DONE]", True),
    ),
    "gemini": (((b'"finishReason":"', b'"finishReason": "'), "a finishReason", False),),
    "responses": (
        (
            (b"\nevent: response.completed", b"\nevent: response.incomplete", b"\nevent: response.failed"),
            "event: response.completed",
            True,
        ),
    ),
}
_KEEP = 4096  # bytes of a stream's end kept for its last events (Bedrock's message_stop carries metrics)
_SEAM = 32  # bytes of the previous chunk joined to the next, for a mark cut in two (longer than any mark)


class Ending:
    """Watches a stream for its terminal events without parsing it: marks that may come early are
    searched for in each chunk until found; the stream's last bytes (a few chunks, appended) are kept
    for the rest, looked at once when it ends. `missing` names what did not show; None when all did
    (or when the stream's kind has no known end)."""

    __slots__ = ("back", "ends", "found", "recent", "seam", "searching", "size")

    def __init__(self, kind: str | None) -> None:
        groups = ENDINGS.get(kind, ()) if kind is not None else ()
        self.searching = [g for g in groups if not g[2]]
        self.ends = [g for g in groups if g[2]]
        self.seam = b"\n"  # the stream's start is a line start
        self.recent: deque[bytes] = deque()
        self.size = 0
        # A terminal event can be longer than what is kept (Responses' response.completed carries the whole
        # Response): each piece let go is searched first, with the end of the one before it.
        self.found: set[str] = set()
        self.back = b"\n"

    def feed(self, chunk: bytes) -> None:
        if self.searching:
            data = self.seam + chunk
            self.searching = [g for g in self.searching if not any(m in data for m in g[0])]
            self.seam = data[-_SEAM:]
        if self.ends:
            recent = self.recent
            recent.append(chunk)
            self.size += len(chunk)
            while self.size - len(recent[0]) >= _KEEP:
                old = recent.popleft()
                self.size -= len(old)
                data = self.back + old
                self.found.update(what for marks, what, _ in self.ends if any(m in data for m in marks))
                self.back = data[-_SEAM:]

    @property
    def missing(self) -> str | None:
        if self.searching:
            return self.searching[0][1]
        if not self.ends:
            return None
        data = self.back + b"".join(self.recent)  # `back`: the line start, or what was let go last
        for marks, what, _ in self.ends:
            if what not in self.found and not any(mark in data for mark in marks):
                return what
        return None


def ending_for_path(path: str) -> str | None:
    """The stream kind of a native call, from its upstream path; None when it is not a known stream."""
    path = path.partition("?")[0]
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith(("/messages", ":streamRawPredict", "/invoke-with-response-stream", "/converse-stream")):
        return "anthropic"  # Bedrock's are read from their decoded copy, Anthropic's SSE
    if path.endswith(":streamGenerateContent"):
        return "gemini"
    return None


class PassthroughRelay:
    """Same format on both sides: every byte as the upstream sent it; usage and errors sniffed.

    `sniff` (native Bedrock calls): usage is read from a decoded copy of the answer (event-stream
    frames, Converse shapes), while the client still gets the bytes as AWS sent them."""

    __slots__ = ("client_format", "ending", "ptype", "request_id", "sniff")

    def __init__(
        self,
        ptype: ProviderType,
        client_format: Format,
        request_id: str,
        sniff: Callable[[], Decoder] | None = None,
        ending: str | None = "client",
    ) -> None:
        self.ptype = ptype
        self.client_format = client_format
        self.request_id = request_id
        self.sniff = sniff
        # Which terminal event a complete stream shows (a key of ENDINGS): the client format's by
        # default; a native call's comes from its path, None when the path's stream has none known.
        self.ending = client_format.value if ending == "client" else ending

    def content_type(self, streaming: bool) -> bytes | None:
        return None

    def response(self, status: int, data: bytes, usage: Usage) -> bytes:
        if status == 200 and not _read_usage(
            self.ptype, self.sniff().body(status, {}, data) if self.sniff else data, usage
        ):
            raise NotJSON
        return data

    def stream(self) -> StreamRelay:
        decoder = self.sniff() if self.sniff is not None else None
        return PassthroughStream(self.ptype, self.client_format, self.request_id, decoder, self.ending)


class PassthroughStream:
    __slots__ = ("client_format", "decoder", "ending", "request_id", "sniffer")

    def __init__(
        self,
        ptype: ProviderType,
        client_format: Format,
        request_id: str,
        decoder: Decoder | None,
        ending: str | None,
    ) -> None:
        self.sniffer = StreamSniffer(ptype.read_usage)
        self.client_format = client_format
        self.request_id = request_id
        self.decoder = decoder
        self.ending = Ending(ending)

    @property
    def usage(self) -> Usage:
        return self.sniffer.usage

    @property
    def error(self) -> str | None:
        return self.sniffer.error

    def feed(self, chunk: bytes) -> bytes:
        seen = chunk if self.decoder is None else self.decoder.feed(chunk)
        self.sniffer.feed(seen)
        self.ending.feed(seen)
        return chunk

    def close(self) -> bytes:
        """Raises StreamIncomplete when the upstream ended without its terminal event (and without
        an error event of its own, which the client already has)."""
        if self.decoder is not None:
            tail = self.decoder.close()
            self.sniffer.feed(tail)
            self.ending.feed(tail)
        if self.ending.missing is not None and self.sniffer.error is None:
            raise StreamIncomplete(f"the upstream stream ended without {self.ending.missing}")
        return b""

    def error_event(self, kind: str, message: str) -> bytes:
        if self.decoder is not None:  # a native Bedrock client reads AWS event-stream frames, not SSE
            return eventstream_exception(kind, message)
        return stream_error(self.client_format, kind, message, self.request_id)


# Bedrock's stream exception names for the gateway's error types (AWS's own, as botocore raises them).
_BEDROCK_EXCEPTIONS = {
    "rate_limit_error": "throttlingException",
    "overloaded_error": "serviceUnavailableException",
    "timeout_error": "modelStreamErrorException",
}


def eventstream_exception(kind: str, message: str) -> bytes:
    """A mid-stream failure framed as AWS frames one: an event-stream `exception` message (prelude,
    string headers, JSON payload, each part checksummed with CRC-32)."""
    headers = b""
    name = _BEDROCK_EXCEPTIONS.get(kind, "internalServerException")
    for key, value in (
        (":message-type", "exception"),
        (":exception-type", name),
        (":content-type", "application/json"),
    ):
        k, v = key.encode(), value.encode()
        headers += bytes((len(k),)) + k + b"\x07" + struct.pack(">H", len(v)) + v
    payload = orjson.dumps({"message": message})
    prelude = struct.pack(">II", 12 + len(headers) + len(payload) + 4, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    frame = prelude + headers + payload
    return frame + struct.pack(">I", zlib.crc32(frame))


@dataclass(slots=True)
class Exchange:
    """What happened upstream, for the access log."""

    status: int = 0
    ttfb_ms: float | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    streamed: bool = False
    # An error answer kept from the client (status, headers, body), for a retry or a fallback.
    held: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None
    retry_after: float | None = None  # seconds, from the upstream's retry-after(-ms) header
    stream: StreamRelay | None = None  # while streaming: what it has seen so far, should the client leave
    complete: bool = False  # the client has been sent the last byte: a disconnect now is not leaving
    # The client has been sent its stream's closing event (`data: [DONE]`, `event: message_stop`): SDKs
    # hang up right then, maybe before the upstream's end of body has been relayed; not leaving either.
    finished: bool = False
    # The stream started, then failed (cut, stalled, an error event): the status its record carries,
    # while `status` stays the upstream's (200) for retries, breakers and billing.
    failed: int = 0
    stopped: bool = False  # the gateway ended it (PolicyStop), the upstream did nothing wrong

    @property
    def upstream_error(self) -> str | None:
        return self.error or (self.stream.error if self.stream is not None else None)


def upstream_headers(
    raw: list[tuple[bytes, bytes]], auth: list[tuple[bytes, bytes]], provider: Provider
) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in raw:
        if raw_name in DROP_REQUEST or raw_name.startswith(DROP_REQUEST_PREFIXES):
            continue
        key = raw_name.decode("latin-1")
        text = raw_value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    for name, text in provider.headers:
        out[name] = text
    for auth_name, auth_value in auth:
        out[auth_name.decode("latin-1")] = auth_value.decode("latin-1")
    return out


@dataclass(slots=True)
class UpstreamRequest:
    """One call on the wire: where it goes, what it carries, how its answer is decoded, and the
    secrets it carries (never echoed back to the client from an upstream error body). Completed by
    the caller just before it goes (deadline, signature), hence not frozen."""

    provider: Provider
    method: str
    url: str | yarl.URL
    headers: dict[str, str]
    body: bytes | StreamedBody  # streamed: a file upload, sent as it arrives
    total: float | None = None  # the total deadline in seconds, when shorter than the provider's
    decoder: Decoder | None = None  # a cloud's answer -> the wire format the relay reads
    secrets: tuple[bytes, ...] = ()
    # A successful answer that is not JSON (a file's content, batch results) is relayed chunk by chunk,
    # like a stream, rather than read whole.
    stream_any: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """How the answer reaches the client: through which relay, with which gateway headers.

    With `retry_on`, a non-streamed error status it accepts is not sent: the answer is held back
    (`Exchange.held`) so the caller can retry or fall back while the client has seen nothing yet."""

    send: Send
    relay: Relay
    client_format: Format
    request_id: str
    headers: list[tuple[bytes, bytes]]  # the gateway's own response headers
    retry_on: Callable[[int], bool] | None = None
    cost: Callable[[Usage], str | None] | None = None  # x-gateway-cost-usd of a whole answer
    keepalive: float = 0.0  # server.stream_keepalive: seconds of silence before a keepalive comment


@dataclass(slots=True)
class _Clock:
    """The exchange's one rescheduled timeout: idle gaps between chunks within the total deadline."""

    timer: asyncio.Timeout
    idle: float
    deadline: float
    loop: asyncio.AbstractEventLoop

    def bump(self) -> None:
        self.timer.reschedule(min(self.loop.time() + self.idle, self.deadline))


async def exchange(pool: UpstreamPool, call: UpstreamRequest, reply: Reply, result: Exchange) -> Exchange:
    """Run one upstream exchange and relay its answer to the client; `result` records what happened,
    and is readable by the caller even if the exchange is cancelled (the client went away)."""
    provider = call.provider
    timeouts = provider.timeouts
    loop = asyncio.get_running_loop()
    started = loop.time()
    clock = time.perf_counter()  # for ttfb: uvloop's loop.time() has millisecond resolution
    deadline = started + (call.total or timeouts.total)
    phase = "first_byte"
    client = pool.session(provider)
    resp: Response | None = None
    # An upload's answer starts only once it is all sent: its first byte is due within the total deadline.
    first_byte = (
        deadline if isinstance(call.body, StreamedBody) else min(started + timeouts.first_byte, deadline)
    )
    try:
        async with asyncio.timeout_at(first_byte) as timer:
            resp = await client.request(call.method, call.url, call.headers, call.body)
            if 300 <= resp.status < 400 and resp.status != 304:
                # Neither followed nor relayed: SDKs follow a relayed Location with the client's
                # credentials, to a host that config does not name.
                raise GatewayError(
                    "api_error",
                    f"provider {provider.name!r} answered {resp.status} (a redirect), which the gateway "
                    "does not follow: check its base_url",
                    status=502,
                )
            result.status = resp.status
            result.ttfb_ms = (time.perf_counter() - clock) * 1000
            streaming = resp.content_type in STREAM_TYPES or (
                call.stream_any and resp.status < 300 and not _json_type(resp.content_type)
            )
            out_headers = _answer_headers(resp, call, reply, streaming)
            if streaming:
                phase = "idle"
                chunks = resp.chunks() if call.decoder is None else _decoded(resp, call.decoder)
                ticking = _Clock(timer, timeouts.idle, deadline, loop)
                first: list[bytes] = []
                if reply.retry_on is not None and resp.status == 200:
                    # Another attempt exists: an error inside the 200 stream before any content is a
                    # failure like any other, so the stream is not started until content shows.
                    first, failure = await _peek_stream(chunks, ticking)
                    status = KINDS.get(failure[0], KINDS["api_error"])[0] if failure else 0
                    if failure is not None and reply.retry_on(status):
                        _hold_stream_failure(result, reply, status, failure)
                        return result
                await _relay_stream(resp.status, chunks, first, out_headers, reply, result, ticking)
                return result
            phase = "body"
            timer.reschedule(deadline)
            await _answer_whole(resp, call, reply, result, out_headers)
            return result
    except TimeoutError:
        if result.streamed:  # the response has started: the client learns of it in its stream
            await _end_stream_with_error(
                reply,
                result,
                "timeout_error",
                f"the upstream stream stalled (no data for {timeouts.idle:g}s, or over "
                f"the total of {timeouts.total:g}s)",
            )
            return result
        what = "did not start answering" if phase == "first_byte" else "did not finish answering"
        uploading = isinstance(call.body, StreamedBody)  # its first byte was due within the total
        limit = (
            timeouts.first_byte if phase == "first_byte" and not uploading else (call.total or timeouts.total)
        )
        raise GatewayError(
            "timeout_error",
            f"provider {provider.name!r} {what} within {limit:g}s (timeouts in config)",
            cause="timeout",
        ) from None
    except UpstreamError as exc:
        if result.streamed:
            await _end_stream_with_error(
                reply, result, "api_error", f"the upstream stream broke: {_reason(exc)}"
            )
            return result
        if isinstance(exc, ConnectError):
            raise GatewayError(
                "api_error",
                f"cannot connect to provider {provider.name!r}: {_reason(exc)}",
                status=502,
                cause="connect",
            ) from None
        raise GatewayError(
            "api_error", f"provider {provider.name!r} failed: {_reason(exc)}", status=502
        ) from None
    finally:
        # Back to the pool only when read to its end; a cancelled or broken exchange closes it.
        if resp is not None:
            resp.release()


def _answer_headers(
    resp: Response, call: UpstreamRequest, reply: Reply, streaming: bool
) -> list[tuple[bytes, bytes]]:
    """The upstream's headers the client may see, the gateway's, and the content type of a body the
    gateway rewrote (translated or decoded)."""
    content_type = reply.relay.content_type(streaming)
    if content_type is None and call.decoder is not None:
        content_type = call.decoder.content_type(streaming)
    drop = _DROP_RESPONSE_RAW if content_type is None else _DROP_TRANSLATED_RAW
    out = [(name, value) for name, value in resp.headers.raw if name not in drop]
    if call.stream_any and streaming and "content-encoding" not in resp.headers:
        # A download keeps its length: a body cut short is then seen as such by the client.
        out += [(name, value) for name, value in resp.headers.raw if name == b"content-length"]
    out.extend(reply.headers)
    if content_type is not None:
        out.append((b"content-type", content_type))
    return out


def _hold_stream_failure(result: Exchange, reply: Reply, status: int, failure: tuple[str, str]) -> None:
    body = render(reply.client_format, failure[0], failure[1], reply.request_id)
    result.status, result.error = status, failure[1]
    headers = [
        *reply.headers,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    result.held = (status, headers, body)


async def _answer_whole(
    resp: Response,
    call: UpstreamRequest,
    reply: Reply,
    result: Exchange,
    headers: list[tuple[bytes, bytes]],
) -> None:
    """A non-streamed answer: read whole, relayed (or held back for a retry or a fallback)."""
    data = raw = await resp.read()
    if call.decoder is not None:
        try:
            data = call.decoder.body(resp.status, resp.headers, data)
        except NotJSON:
            raise _cut_short(call.provider) from None
    if resp.status >= 400:
        # Upstreams echo the key they were sent ("Incorrect API key provided: sk-..."); a stored
        # key must not reach the client that way.
        for secret in call.secrets:
            data = data.replace(secret, b"[redacted]")
        result.error = _error_summary(data)
    try:
        data = reply.relay.response(resp.status, data, result.usage)
    except AnswerReplaced as exc:
        result.failed, result.error = exc.status, exc.message
        headers = [(k, v) for k, v in headers if k != b"content-type"]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(exc.body)).encode())]
        await send_held(reply.send, exc.status, headers, exc.body)
        result.complete = True
        return
    except NotJSON:
        # A 200 that should be JSON and is not complete JSON was cut short; raw passthrough of another
        # content type is relayed as it is.
        if not isinstance(reply.relay, PassthroughRelay) or _json_type(resp.content_type):
            raise _cut_short(call.provider) from None
    headers.append((b"content-length", str(len(data)).encode()))
    if reply.cost is not None and resp.status == 200:
        usd = reply.cost(result.usage)
        if usd is not None:
            headers.append((b"x-gateway-cost-usd", usd.encode()))
    wait = retry_after(resp.headers)
    if resp.status == 429 and wait is None and (wait := retry_delay(raw)) is not None:
        headers.append((b"retry-after", str(math.ceil(wait)).encode()))  # Google's, from its body
    if resp.status >= 400 and reply.retry_on is not None and reply.retry_on(resp.status):
        result.held = (resp.status, headers, data)
        result.retry_after = wait
        return
    await send_held(reply.send, result.status, headers, data)
    result.complete = True


def _cut_short(provider: Provider) -> GatewayError:
    return GatewayError(
        "api_error",
        f"provider {provider.name!r} answered 200 with a body that is not complete JSON (cut short)",
        status=502,
    )


def _json_type(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def _end_stream_with_error(reply: Reply, result: Exchange, kind: str, message: str) -> None:
    result.error, result.failed = message, _failure_status(kind)
    # The stream's own relay knows what it has sent (a Responses stream ends with `response.failed`).
    stream = result.stream
    error = (
        stream.error_event(kind, message)
        if stream is not None
        else stream_error(reply.client_format, kind, message, reply.request_id)
    )
    await reply.send({"type": "http.response.body", "body": error})
    result.complete = True


def _failure_status(kind: str) -> int:
    return KINDS.get(kind, KINDS["api_error"])[0]


async def _decoded(resp: Response, decoder: Decoder) -> AsyncIterator[bytes]:
    """The answer's body as it arrives, through the decoder."""
    async for chunk in resp.chunks():
        out = decoder.feed(chunk)
        if out:
            yield out
    tail = decoder.close()
    if tail:
        yield tail


async def _relay_stream(
    status: int,
    chunks: AsyncIterator[bytes],
    first: list[bytes],
    headers: list[tuple[bytes, bytes]],
    reply: Reply,
    result: Exchange,
    clock: _Clock,
) -> None:
    """Relay a stream chunk by chunk as it arrives; `first` holds what was read ahead to see whether
    the stream starts with content."""
    send = reply.send
    stream = reply.relay.stream()
    result.usage = stream.usage
    result.stream = stream
    await send({"type": "http.response.start", "status": status, "headers": headers})
    result.streamed = True  # from here on, failures are reported inside the stream
    clock.bump()
    idle = _Keepalive(send, reply.keepalive) if reply.keepalive > 0 and _is_sse(headers) else None
    try:
        for chunk in first:
            out = stream.feed(chunk)
            if out:
                if idle is not None:
                    idle.sent(out)
                await send({"type": "http.response.body", "body": out, "more_body": True})
                if _CLOSING_EVENT.search(out):
                    result.finished = True
        async for chunk in chunks:
            out = stream.feed(chunk)
            if out:
                if idle is not None:
                    idle.sent(out)
                await send({"type": "http.response.body", "body": out, "more_body": True})
                if _CLOSING_EVENT.search(out):
                    result.finished = True
            clock.bump()
        tail = stream.close()
    except StreamFailure as exc:
        if idle is not None:
            idle.stop()  # before the last write
        detail = exc.detail if isinstance(exc, StreamIncomplete) else None
        result.error = f"{exc.message} ({detail})" if detail else exc.message
        result.failed = _failure_status(exc.kind)
        result.stopped = isinstance(exc, PolicyStop)
        await send({"type": "http.response.body", "body": stream.error_event(exc.kind, exc.message)})
        result.complete = True
        return
    finally:
        # Before any last write: a keepalive must never follow the end of the body.
        if idle is not None:
            idle.stop()
    result.error = stream.error
    if result.error is not None:  # the upstream's own error event, relayed: a failure all the same
        result.failed = _failure_status("api_error")
    await send({"type": "http.response.body", "body": tail})
    result.complete = True


def _is_sse(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.startswith(b"text/event-stream")
    return False


KEEPALIVE = b": keepalive\n\n"


class _Keepalive:
    """Sends an SSE comment on a stream idle for `interval` seconds, so that proxies and load balancers
    do not cut it: one timer task per stream, woken once per interval, never per chunk. A comment only
    goes between events (after a blank line), never inside one the upstream is still sending."""

    __slots__ = ("between", "interval", "last", "loop", "send", "task")

    def __init__(self, send: Send, interval: float) -> None:
        self.send = send
        self.interval = interval
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.between = True  # nothing sent yet: between events
        self.task: asyncio.Task[None] | None = asyncio.ensure_future(self._run())

    def sent(self, out: bytes) -> None:
        self.last = self.loop.time()
        self.between = out.endswith((b"\n\n", b"\r\n\r\n"))

    def stop(self) -> None:
        # Let go of the task as it is cancelled: the cancelled task keeps its CancelledError, whose
        # traceback holds `_run`'s frame and so this object. Held both ways, that cycle (and the stream's
        # `send`: uvicorn's cycle, the transport) waited for a full collection, which `gateway serve`
        # runs rarely: the RSS growth of reliability R4.
        task, self.task = self.task, None
        if task is not None:
            task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.last + self.interval - self.loop.time())
            if self.loop.time() - self.last >= self.interval and self.between:
                await self.send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                self.last = self.loop.time()
            elif self.loop.time() - self.last >= self.interval:
                self.last = self.loop.time()  # mid-event: wait a whole interval again


async def send_held(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Send a whole (non-streamed) answer."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date), if given."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


# A stream's closing event at the start of a line: JSON text cannot hold a raw newline, so a model's
# words never match.
_CLOSING_EVENT = re.compile(
    rb"^(?:data: \[DONE\]|event: message_stop|event: response\.(?:completed|incomplete|failed))", re.MULTILINE
)
# Where a stream's first content shows, per wire format, and how an error event starts. An error is an
# object: a Response carries `"error":null` from its first event on, which is no error.
_CONTENT_MARKS = (b"content_block_", b'"delta"', b'"candidates"', b"event: response.output_item.added")
_ERROR_MARKS = (b"event: error", b'{"error"', b'"error":{', b'"error": {', b"event: response.failed")


async def _peek_stream(
    chunks_in: AsyncIterator[bytes], clock: _Clock
) -> tuple[list[bytes], tuple[str, str] | None]:
    """Read a stream until its first content or an error event. Returns the chunks read and, if the
    stream failed before any content, (Anthropic error type, message)."""
    chunks: list[bytes] = []
    seen = b""
    clock.bump()
    async for chunk in chunks_in:
        chunks.append(chunk)
        seen += chunk
        clock.bump()
        content = min((i for i in (seen.find(m) for m in _CONTENT_MARKS) if i >= 0), default=-1)
        error = min((i for i in (seen.find(m) for m in _ERROR_MARKS) if i >= 0), default=-1)
        if error >= 0 and (content < 0 or error < content):
            rest = b"".join([chunk async for chunk in chunks_in])
            return chunks, _stream_failure(seen + rest)
        if content >= 0:
            return chunks, None
    return chunks, None


# The Responses API's error codes (an error event's, a failed Response's) as the gateway's error types.
_RESPONSES_CODES = {
    "rate_limit_exceeded": "rate_limit_error",
    "server_error": "api_error",
    "vector_store_timeout": "timeout_error",
    "invalid_prompt": "invalid_request_error",
}


def _stream_failure(data: bytes) -> tuple[str, str]:
    for line in data.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        try:
            obj = orjson.loads(line[5:].strip())
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("type") == "response.failed":
            inner = obj.get("response")
            obj = {"error": inner.get("error")} if isinstance(inner, dict) else obj
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(obj, dict) and obj.get("type") == "error" and err is None:
            err = obj  # a Responses stream's error event: its code and message are top-level
        if isinstance(err, dict):
            kind = err.get("type")
            status = err.get("code")
            if isinstance(status, str):  # the Responses API's codes are names
                kind = _RESPONSES_CODES.get(status, kind)
            if kind not in KINDS:
                kind = kind_for_status(status) if isinstance(status, int) else "api_error"
            return str(kind), str(err.get("message") or kind)
    return "api_error", "the upstream stream failed before any content"


def _read_usage(ptype: ProviderType, data: bytes, usage: Usage) -> bool:
    """False when the body is not JSON."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    if isinstance(obj, dict):
        ptype.read_usage(usage, obj)
    return True


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
