"""Files, batches and uploads at the SDKs' own paths, under every base URL:

    /v1/files[/{id}[/content]]                       Anthropic's (anthropic-version sent) or OpenAI's
    /v1/messages/batches[/{id}[/cancel|/results]]    Anthropic's Message Batches
    /v1/batches[/{id}[/cancel]]                      OpenAI's Batch API
    /v1/uploads[/{id}/parts|/complete|/cancel]       OpenAI's Uploads

Which provider: a request with `anthropic-version` (and every `/v1/messages/batches` call) goes to the
gateway's Anthropic provider, any other to its OpenAI provider: the provider named `anthropic` (or
`openai`) when it has that type, else the first configured one of that type. `x-gateway-provider: <name>`
picks another of a matching type (`anthropic`; `openai` or `azure-openai`, whose files and batches live
under Azure's v1 API, `{base_url}/openai/v1/...`, without api-version).

As for native calls: gateway auth, the stored or the client's key (`provider_keys`), the gateway's request
rate limits (files carry no tokens and cost nothing) and one record per request. A multipart upload is
streamed to the upstream as it arrives (`http1.StreamedBody`), capped by `server.max_body`, and logged as
its file's name, size and purpose, never its bytes; a download (a file's content, batch results) is
relayed chunk by chunk and logged as its size. File ids seen created are remembered with their provider
and key (`file_owners`); Anthropic's `results_url` points back through the gateway's base URL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import yarl

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.http import ClientGone, Message, Receive, Recorder, Send
from gateway.core.usage import Usage
from gateway.dataplane import exchange as proxy
from gateway.dataplane.auth import authenticate, upstream_auth
from gateway.dataplane.file_owners import FileOwners
from gateway.dataplane.http1 import StreamedBody
from gateway.dataplane.model_call import ask_for
from gateway.dataplane.record import LOGGED_BODY_LIMIT
from gateway.dataplane.request import Call, Request
from gateway.dataplane.responses import Owner, UnmeteredRelay
from gateway.dataplane.upstream_call import UpstreamCalls
from gateway.policy.admission import Admission, Ticket
from gateway.providers.registry import type_of
from gateway.routing.table import Leaf, Provider

# (first path segments) -> the family; the family decides the provider type and the client's format.
ANTHROPIC, OPENAI = "anthropic", "openai"
PROVIDER_TYPES = {ANTHROPIC: frozenset({"anthropic"}), OPENAI: frozenset({"openai", "azure-openai"})}
# What may follow a family's path, per method: () the collection, ("{id}",) one item, ("{id}", "x") a
# sub-resource. Anything else is a 404, a known path with another method a 405.
_SHAPES: dict[str, dict[tuple[str, ...], frozenset[str]]] = {
    "files": {
        (): frozenset({"GET", "POST"}),
        ("{id}",): frozenset({"GET", "DELETE"}),
        ("{id}", "content"): frozenset({"GET"}),
    },
    "messages/batches": {
        (): frozenset({"GET", "POST"}),
        ("{id}",): frozenset({"GET", "DELETE"}),
        ("{id}", "cancel"): frozenset({"POST"}),
        ("{id}", "results"): frozenset({"GET"}),
    },
    "batches": {
        (): frozenset({"GET", "POST"}),
        ("{id}",): frozenset({"GET"}),
        ("{id}", "cancel"): frozenset({"POST"}),
    },
    "uploads": {
        (): frozenset({"POST"}),
        ("{id}", "parts"): frozenset({"POST"}),
        ("{id}", "complete"): frozenset({"POST"}),
        ("{id}", "cancel"): frozenset({"POST"}),
    },
}
PREFIXES = ("/v1/files", "/v1/messages/batches", "/v1/batches", "/v1/uploads")
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
_DOWNLOADS = frozenset({("files", "content"), ("messages/batches", "results")})
_SMALL_FIELD = 256  # bytes of a multipart field's value kept for the log (purpose, expires_after...)


@dataclass(frozen=True, slots=True)
class FilesCall:
    family: str  # a key of _SHAPES
    item: str | None  # the id in the path
    sub: str  # "", content, results, cancel, parts, complete
    path: str  # the path under the base URL, as the SDK sent it (/v1/...)

    @property
    def download(self) -> bool:
        return (self.family, self.sub) in _DOWNLOADS


def match(path: str) -> bool:
    return path.startswith(PREFIXES) and (len(path) == len(_prefix(path)) or path[len(_prefix(path))] == "/")


def _prefix(path: str) -> str:
    return next(p for p in PREFIXES if path.startswith(p))


def parse(path: str, method: str) -> FilesCall:
    family = _prefix(path)[4:]
    rest = [s for s in path[len(family) + 4 :].split("/")]
    if rest and rest[0] == "":
        rest = rest[1:]
    if rest and rest[-1] == "":
        rest = rest[:-1]
    shape = tuple("{id}" if i == 0 else s for i, s in enumerate(rest))
    methods = _SHAPES[family].get(shape)
    item = rest[0] if rest else None
    if methods is None or (item is not None and (_VALID_ID.fullmatch(item) is None or ".." in item)):
        raise GatewayError("not_found_error", f"no endpoint {path!r}", code="not_found")
    if method not in methods:
        raise GatewayError(
            "invalid_request_error", f"{path} takes {' or '.join(sorted(methods))}", status=405
        )
    return FilesCall(family, item, rest[1] if len(rest) > 1 else "", path)


def family_kind(call: FilesCall, headers: dict[bytes, bytes]) -> str:
    """Anthropic or OpenAI: Message Batches are Anthropic's, Batches and Uploads OpenAI's, and files
    whoever's SDK is calling (Anthropic's always sends anthropic-version)."""
    if call.family == "messages/batches":
        return ANTHROPIC
    if call.family == "files" and b"anthropic-version" in headers:
        return ANTHROPIC
    return OPENAI


def choose_provider(req: Request, kind: str) -> Provider:
    """The provider named by x-gateway-provider (of a type that serves this family), else the one
    named after the family's type, else the first configured of that type."""
    types = PROVIDER_TYPES[kind]
    providers = req.table.providers
    named = req.headers.get(b"x-gateway-provider")
    what = "Anthropic files and message batches" if kind == ANTHROPIC else "OpenAI files, batches and uploads"
    if named:
        name = named.decode("latin-1")
        provider = providers.get(name)
        if provider is None:
            raise GatewayError(
                "invalid_request_error",
                f"x-gateway-provider names {name!r}, which is not a provider of this gateway",
                status=404,
                code="not_found",
            )
        if provider.type not in types:
            raise GatewayError(
                "invalid_request_error",
                f"x-gateway-provider {name!r} is of type {provider.type!r}; {what} go to a provider of type "
                + " or ".join(sorted(types)),
            )
        return provider
    default = providers.get(kind)
    if default is not None and default.type in types:
        return default
    for provider in providers.values():
        if provider.type in types:
            return provider
    raise GatewayError(
        "not_found_error",
        f"gateway {req.gateway.name!r} has no provider of type {' or '.join(sorted(types))} for {what}",
        code="not_found",
    )


def upstream_url(provider: Provider, call: FilesCall, query: str) -> str:
    """Anthropic's base URL takes the SDK's path as it is, OpenAI's ends in /v1 already, Azure's v1 API
    is {base_url}/openai/v1 (without the api-version an AzureOpenAI client sends)."""
    if provider.type == "anthropic":
        tail = call.path
    elif provider.type == "azure-openai":
        tail = "/openai/v1" + call.path[3:]
        query = "&".join(p for p in query.split("&") if p and not p.startswith("api-version="))
    else:
        tail = call.path[3:]
    return provider.base_url.rstrip("/") + tail + ("?" + query if query else "")


class Files:
    def __init__(self, admission: Admission, calls: UpstreamCalls, owners: FileOwners) -> None:
        self.admission = admission
        self.calls = calls
        self.owners = owners

    async def __call__(
        self,
        req: Request,
        path: str,
        receive: Receive,
        send: Send,
        read: Callable[[], Awaitable[bytes]],
        watch: Callable[[], None],
    ) -> None:
        """`read` reads a whole (JSON) body; `watch` starts watching for the client leaving, once its
        body has been read."""
        method = req.scope["method"]
        call = parse(path, method)
        kind = family_kind(call, req.headers)
        req.format = Format.ANTHROPIC if kind == ANTHROPIC else Format.OPENAI
        req.caller = authenticate(req.gateway, req.headers)
        provider = choose_provider(req, kind)
        req.target = f"{provider.name}/"
        ptype = type_of(provider)
        auth, req.key = upstream_auth(req.table, req.gateway, Leaf(provider.name, ""), req.caller, ptype)
        await self._limits(req)
        content_type = req.headers.get(b"content-type", b"")
        log_bodies = _logs_bodies(req)
        body: bytes | StreamedBody
        summary: Multipart | None = None
        if method == "POST" and content_type.lower().startswith(b"multipart/form-data"):
            summary = Multipart(_boundary(content_type))
            body = StreamedBody(_client_body(receive, req, summary, watch), _content_length(req))
        else:
            body = await read() if method == "POST" else b""
            watch()
            if log_bodies:
                req.request_body = body  # b"" too: the record keeps a response only beside a request
        if log_bodies:
            req.response = (
                _Logged(send, LOGGED_BODY_LIMIT) if call.download else Recorder(send, LOGGED_BODY_LIMIT)
            )
            send = req.response
        query = req.scope.get("query_string", b"").decode("latin-1")
        url = yarl.URL(upstream_url(provider, call, query), encoded=True)
        headers = proxy.upstream_headers(req.scope["headers"], auth, provider)
        if not isinstance(body, StreamedBody) and not body:
            headers.pop("content-type", None)
        base = _gateway_base(req, path)
        relay = FilesRelay(ptype, req.format, req.id, call, base, self._learn(req, provider))
        upstream = proxy.UpstreamRequest(provider, method, url, headers, body, stream_any=call.download)
        reply = proxy.Reply(_owners_first(relay, send), relay, req.format, req.id, req.response_headers())
        try:
            await self.calls.exchange(req, upstream, reply, auth)
        finally:
            if summary is not None and log_bodies:
                req.request_body = orjson.dumps(summary.record())
        if method == "DELETE" and call.family == "files" and call.item and req.status == 200:
            await self.owners.forget(req.table, call.item)

    def _learn(self, req: Request, provider: Provider) -> Callable[[str], Awaitable[None]]:
        owner = Owner(provider.name, req.key, "")

        def learn(file_id: str) -> Awaitable[None]:
            return asyncio.ensure_future(self.owners.remember(req.table, file_id, owner))

        return learn

    async def _limits(self, req: Request) -> None:
        """The gateway's request rate limits apply; files carry no tokens and cost nothing."""
        if not req.gateway.rate_limits:
            return
        ticket = req.ticket = Ticket()
        await self.admission.gateway_limits(ticket, ask_for(req, Call("native", {}, b"", "")))


def _owners_first(relay: FilesRelay, send: Send) -> Send:
    """The client hears of a file id only once its owner is remembered: a message naming it right
    after is routed to where it lives."""

    async def sending(message: Message) -> None:
        if relay.learned:
            pending, relay.learned = relay.learned, []
            await asyncio.gather(*pending)
        await send(message)

    return sending


def _logs_bodies(req: Request) -> bool:
    bodies = req.gateway.log_bodies
    return req.table.logs.bodies if bodies is None else bodies


def _content_length(req: Request) -> int | None:
    """The announced length; over server.max_body it is refused before anything goes upstream."""
    raw = req.headers.get(b"content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise GatewayError("invalid_request_error", "content-length is not a number") from None
    limit = req.table.server.max_body
    if length > limit:
        raise GatewayError(
            "request_too_large", f"request body of {length} bytes is over server.max_body ({limit} bytes)"
        )
    return length


async def _client_body(
    receive: Receive, req: Request, summary: Multipart, watch: Callable[[], None]
) -> AsyncIterator[bytes]:
    """The client's body as it arrives, counted against server.max_body and read on the side for the
    log; the watch for the client leaving starts once it has all arrived."""
    limit = req.table.server.max_body
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise GatewayError(
                    "request_too_large", f"request body is over server.max_body ({limit} bytes)"
                )
            summary.feed(chunk)
            yield chunk
        if not message.get("more_body", False):
            break
    watch()


def _boundary(content_type: bytes) -> bytes:
    for param in content_type.split(b";")[1:]:
        name, _, value = param.strip().partition(b"=")
        if name.lower() == b"boundary" and value:
            return value.strip(b'"')
    raise GatewayError("invalid_request_error", "a multipart/form-data body needs a boundary")


def _gateway_base(req: Request, path: str) -> str:
    """The base URL the client called: scheme, host and the /g/<name> prefix, if any."""
    scope = req.scope
    host = req.headers.get(b"host", b"").decode("latin-1")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    full = scope["path"]
    prefix = full[: len(full) - len(path)] if full.endswith(path) else ""
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{prefix}"


class FilesRelay(UnmeteredRelay):
    """Relayed as the upstream sent it, never read for usage; a JSON answer is read for the file ids it
    creates (their owners remembered) and Anthropic's `results_url`, rewritten to the gateway's base."""

    __slots__ = ("base", "call", "learn", "learned")

    def __init__(
        self,
        ptype: Any,
        client_format: Format,
        request_id: str,
        call: FilesCall,
        base: str,
        learn: Callable[[str], Awaitable[None]],
    ) -> None:
        super().__init__(ptype, client_format, request_id, ending=None)
        self.call = call
        self.base = base
        self.learn = learn
        self.learned: list[Awaitable[None]] = []

    def response(self, status: int, data: bytes, usage: Usage) -> bytes:
        if status != 200 or self.call.download or data[:1] != b"{":
            return data
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        if not isinstance(obj, dict):
            return data
        for file_id in created_file_ids(self.call, obj):
            self.learned.append(self.learn(file_id))
        if self.call.family == "messages/batches" and _rewrite_results_urls(obj, self.base):
            return orjson.dumps(obj)
        return data

    def stream(self) -> proxy.StreamRelay:
        return RawStream(self.client_format, self.request_id)


class RawStream:
    """A download's bytes as they come: nothing parsed, nothing kept (a file need not be text)."""

    __slots__ = ("client_format", "request_id", "usage")

    error = None

    def __init__(self, client_format: Format, request_id: str) -> None:
        self.client_format = client_format
        self.request_id = request_id
        self.usage = Usage()

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def close(self) -> bytes:
        return b""

    def error_event(self, kind: str, message: str) -> bytes:
        # Mid-download there is no envelope left to use: the client sees a body cut short, and the
        # record says why.
        return b""


class _Logged(Recorder):
    """Keeps an error answer for the log; of a download's content only its size."""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.body" and self.status == 200:
            self.size += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
                self.chunks = [f"({self.size} bytes of content, not logged)".encode()]
            await self._send(message)
            return
        await super().__call__(message)


def created_file_ids(call: FilesCall, obj: dict[str, Any]) -> list[str]:
    """The file ids an answer shows created: an uploaded file, a completed upload's file, a batch's
    input, output and error files (OpenAI names these in every batch object)."""
    found: list[Any] = []
    if call.family == "files" and call.item is None:
        found.append(obj.get("id"))
    elif call.family == "uploads" and call.sub == "complete":
        file = obj.get("file")
        found.append(file.get("id") if isinstance(file, dict) else None)
    elif call.family == "batches":
        items = obj.get("data") if obj.get("object") == "list" else [obj]
        for batch in items if isinstance(items, list) else []:
            if isinstance(batch, dict):
                found += [batch.get("input_file_id"), batch.get("output_file_id"), batch.get("error_file_id")]
    return [f for f in found if isinstance(f, str) and f.startswith("file")]


def _rewrite_results_urls(obj: dict[str, Any], base: str) -> bool:
    """`results_url` of a batch (or of each batch in a list) -> the same path under the gateway's base."""
    data = obj.get("data")
    batches: list[Any] = data if isinstance(data, list) else [obj]
    changed = False
    for batch in batches:
        if isinstance(batch, dict) and isinstance(batch.get("results_url"), str) and batch.get("id"):
            batch["results_url"] = f"{base}/v1/messages/batches/{batch['id']}/results"
            changed = True
    return changed


class Multipart:
    """Reads a multipart/form-data body as it streams past, keeping only what the log may show: each
    field's name, a file's name, content type and size, a small field's value (a purpose)."""

    __slots__ = ("buf", "delim", "offset", "parts", "state")

    def __init__(self, boundary: bytes) -> None:
        self.delim = b"\r\n--" + boundary
        self.buf = b"\r\n"  # the body's first boundary has no CRLF before it
        self.offset = -2  # the body offset of buf[0]
        self.state = "preamble"  # preamble | head | data | end
        self.parts: list[dict[str, Any]] = []

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        while self.state != "end":
            if self.state == "head":
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > 16384:  # not multipart as announced: stop looking
                        self.state, self.buf = "end", b""
                    return
                self._head(self.buf[:end])
                self._advance(end + 4)
                self.parts[-1]["start"] = self.offset
                self.state = "data"
                continue
            at = self.buf.find(self.delim)
            if at < 0:
                keep = len(self.delim) + 2
                if len(self.buf) > keep:
                    self._take(len(self.buf) - keep)
                return
            if len(self.buf) < at + len(self.delim) + 2:
                return  # what follows the boundary (CRLF or --) has not arrived yet
            self._take(at)
            if self.state == "data":
                part = self.parts[-1]
                part["size"] = self.offset - part.pop("start")
            after = self.buf[len(self.delim) : len(self.delim) + 2]
            self._advance(len(self.delim) + 2)
            self.state = "end" if after == b"--" else "head"

    def _take(self, n: int) -> None:
        """Move past n bytes of a part's data (or the preamble), keeping a small field's start."""
        if self.state == "data" and "filename" not in self.parts[-1]:
            value = self.parts[-1].setdefault("value", b"")
            if len(value) < _SMALL_FIELD:
                self.parts[-1]["value"] = value + self.buf[: _SMALL_FIELD - len(value)][:n]
        self._advance(n)

    def _advance(self, n: int) -> None:
        self.buf = self.buf[n:]
        self.offset += n

    def _head(self, raw: bytes) -> None:
        part: dict[str, Any] = {}
        for line in raw.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-disposition":
                for param in value.split(b";")[1:]:
                    key, _, text = param.strip().partition(b"=")
                    if key.lower() in (b"name", b"filename"):
                        part[key.lower().decode()] = text.strip(b'"').decode("utf-8", "replace")[:200]
            elif name == b"content-type":
                part["content_type"] = value.strip().decode("latin-1")[:100]
        self.parts.append(part)

    def record(self) -> dict[str, Any]:
        """What the log shows of the body: {"purpose": ..., "file": {"name", "size", "content_type"}}."""
        out: dict[str, Any] = {}
        for part in self.parts:
            field = str(part.get("name", ""))
            if "filename" in part:
                out[field] = {
                    "name": part["filename"],
                    "size": part.get("size"),
                    "content_type": part.get("content_type"),
                }
            else:
                out[field] = bytes(part.get("value", b"")).decode("utf-8", "replace")
        return out
