"""`POST /v1/embeddings` to a target that does not speak OpenAI's API (Gemini, Vertex, Bedrock's Titan
and Cohere): the request cut into the calls the target's API takes (a list of texts may need several,
Titan one per text), those run concurrently but bounded, their vectors put back in input order and
answered in OpenAI's shape, float or base64. OpenAI-format targets never come here: their calls are
forwarded byte-exact like chat (`upstream_call.py`).

Usage: Vertex and Titan report input tokens in the answer, Bedrock's Cohere in a response header;
Gemini's API reports none, so its usage is the gateway's offline estimate (`tokens.text_tokens`, which
errs high), priced like reported usage and said so with `x-gateway-token-count: estimate` and the
record's `usage_estimated`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from gateway.core.errors import GatewayError, render
from gateway.core.formats import Format
from gateway.core.http import Headers, Message, Send
from gateway.core.usage import Usage
from gateway.dataplane import exchange as proxy
from gateway.dataplane import translated as relays
from gateway.dataplane.request import Call, Request
from gateway.providers import base
from gateway.providers.base import ProviderType
from gateway.routing.table import Leaf, Provider, RoutingTable
from gateway.translate import Untranslatable
from gateway.translate import embeddings as embed
from gateway.translate.gemini import gemini_error_to_anthropic
from gateway.translate.openai_chat import anthropic_error_to_openai
from gateway.translate.tokens import text_tokens

# Upstream calls of one request in flight at once (Titan: one per text): enough to overlap latency,
# few enough not to trip a provider's per-second limit with one client request.
CONCURRENCY = 4
JSON = b"application/json"
BEDROCK_TOKENS = "x-amzn-bedrock-input-token-count"

Exchanger = Callable[
    [Request, proxy.UpstreamRequest, proxy.Reply, Headers, proxy.Exchange], Awaitable[proxy.Exchange]
]


class Target(Protocol):
    """What an attempt's target is to this module (`upstream_call.Target`, which imports this one)."""

    @property
    def leaf(self) -> Leaf: ...
    @property
    def provider(self) -> Provider: ...
    @property
    def ptype(self) -> ProviderType: ...
    @property
    def send(self) -> Send: ...
    @property
    def retry_on(self) -> Callable[[int], bool] | None: ...


def checked(obj: dict[str, Any]) -> embed.EmbedRequest:
    """The client's request checked as OpenAI's API checks it: a 400 naming the field."""
    try:
        return embed.check_request(obj)
    except Untranslatable as exc:
        raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None


def api_for(table: RoutingTable, leaf: Leaf) -> str | None:
    """The embedding API of a target (`translate.embeddings.api_of`); None: it cannot embed."""
    provider = table.providers.get(leaf.provider)
    if provider is None:
        return None
    return embed.api_of(provider.type, leaf.model, open_server=provider.type in embed.OPEN_PRESETS)


@dataclass(slots=True)
class _Captured:
    """A sub-call's 200 answer, kept instead of sent: its headers and body."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.headers = list(message.get("headers", ()))
        else:
            self.body += message.get("body", b"")


class _Whole:
    """The relay of a sub-call: the bytes as they came (read and converted once all are in)."""

    def content_type(self, streaming: bool) -> bytes | None:
        return None

    def response(self, status: int, data: bytes, usage: Usage) -> bytes:
        return data

    def stream(self) -> proxy.StreamRelay:
        raise GatewayError("api_error", "the provider streamed an embeddings answer", status=502)


async def translated(
    req: Request, call: Call, target: Target, api: str, auth: Headers, run: Exchanger, coster: Any
) -> proxy.Exchange:
    """The target's embedding calls for this request, then one OpenAI answer (or the first failure)."""
    request = checked(call.obj)
    leaf, provider, ptype = target.leaf, target.provider, target.ptype
    try:
        embed.check_target(api, leaf.model, request, call.obj)
    except Untranslatable as exc:
        raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
    parts = embed.batches(api, leaf.model, request)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(part: embed.Batch) -> tuple[proxy.Exchange, _Captured]:
        async with gate:
            model_call = base.Call(leaf.model, "embeddings", part.path, part.body, req.id)
            try:
                prepared = ptype.prepare(provider, model_call)
            except Untranslatable as exc:
                raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
            headers = relays.upstream_headers(Format.OPENAI, provider, auth)
            upstream = proxy.UpstreamRequest(
                provider, "POST", prepared.url, headers, prepared.body, leaf.timeout, prepared.decoder
            )
            captured = _Captured()
            # Every error is held: the request's answer is decided once all its calls are in.
            reply = proxy.Reply(captured, _Whole(), Format.OPENAI, req.id, [], lambda status: True)
            result = await run(req, upstream, reply, auth, proxy.Exchange())
            if result.held is not None:
                raise _Failed(result)  # the request fails with it: the other calls are not needed
            return result, captured

    ex = req.exchange = proxy.Exchange()
    tasks = [asyncio.ensure_future(one(part)) for part in parts]
    try:
        results = await asyncio.gather(*tasks)
    except _Failed as failed:
        await _cancel(tasks)
        ex.ttfb_ms = failed.result.ttfb_ms
        return await _failure(req, target, api, failed.result, ex)
    except BaseException:
        await _cancel(tasks)
        raise
    ex.ttfb_ms = max((r.ttfb_ms or 0.0) for r, _ in results)
    found: list[list[float]] = []
    reported: list[int | None] = []
    for (_, captured), part in zip(results, parts, strict=True):
        try:
            answer = orjson.loads(captured.body)
            vectors, tokens = embed.vectors(api, answer, part.count)
        except (orjson.JSONDecodeError, embed.BadAnswer) as exc:
            message = f"provider {provider.name!r} answered 200 with no usable embeddings: {exc}"
            raise GatewayError("api_error", message, status=502) from None
        if tokens is None:
            tokens = _header_tokens(captured.headers)
        found.extend(vectors)
        reported.append(tokens)
    if request.dimensions is not None and any(len(v) != request.dimensions for v in found):
        # A provider that ignored `dimensions`: the client is told, never handed the wrong size.
        raise GatewayError(
            "api_error",
            f"provider {provider.name!r} returned embeddings of {len(found[0])} dimensions for model "
            f"{leaf.model!r}, not the {request.dimensions} asked for (dimensions)",
            status=502,
        )
    estimated = any(t is None for t in reported)
    input_tokens = sum(text_tokens(t) for t in request.texts) if estimated else sum(t or 0 for t in reported)
    ex.status = 200
    ex.usage = Usage(input_tokens=input_tokens, output_tokens=0, cache_read_tokens=0, cache_write_tokens=0)
    body = embed.answer(call.model, found, request.encoding, input_tokens)
    headers = [*req.response_headers(), (b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    if estimated:
        headers.append((b"x-gateway-token-count", b"estimate"))
        req.usage_estimated = True
    usd = coster(ex.usage)
    if usd is not None:
        headers.append((b"x-gateway-cost-usd", usd.encode()))
    await proxy.send_held(target.send, 200, headers, body)
    ex.complete = True
    req.adopt(ex)
    return ex


class _Failed(Exception):
    """A call of the request answered an error (held): the request's answer."""

    def __init__(self, result: proxy.Exchange) -> None:
        super().__init__()
        self.result = result


async def _cancel(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _header_tokens(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == BEDROCK_TOKENS.encode():
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _failure(
    req: Request, target: Target, api: str, failed: proxy.Exchange, ex: proxy.Exchange
) -> proxy.Exchange:
    """The first failed call's error in OpenAI's envelope: held for a retry or fallback, else sent."""
    assert failed.held is not None
    status, upstream_headers, data = failed.held
    # Bedrock's decoder has made its error Anthropic's envelope already; Google's is converted here.
    hub = data if api in ("titan", "cohere") else gemini_error_to_anthropic(status, data)
    try:
        body = anthropic_error_to_openai(status, hub)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        body = render(Format.OPENAI, "api_error", f"provider answered {status}", req.id)
    headers = [*req.response_headers(), (b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    headers += [(k, v) for k, v in upstream_headers if k.lower() == b"retry-after"]
    ex.status, ex.error, ex.retry_after = status, failed.error, failed.retry_after
    if target.retry_on is not None and target.retry_on(status):
        ex.held = (status, headers, body)
        return ex
    await proxy.send_held(target.send, status, headers, body)
    ex.complete = True
    req.adopt(ex)
    return ex


def check_same_format(call: Call, model: str) -> None:
    """An OpenAI-format target's call is forwarded as is; only what the gateway knows better than a
    silent mismatch is refused first (`dimensions` on a fixed-size model)."""
    try:
        embed.check_target("openai", model, checked(call.obj), call.obj)
    except Untranslatable as exc:
        raise GatewayError("invalid_request_error", exc.message, param=exc.param) from None
