"""The response cache: exact-match answers, keyed on the normalised request, replayed byte for byte.

The key is a SHA-256 of the gateway, the endpoint and the request body with its keys sorted (so JSON
key order and whitespace do not matter), leaving out fields that do not change the answer (`metadata`,
`user`). Credentials are never part of it: the same question through the same gateway gets the same
answer whichever key asked. `x-gateway-cache-key` replaces the body part. Only complete 200 answers are
stored, streams included (their events are replayed as a stream); errors never are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.core.errors import GatewayError
from gateway.core.http import Send
from gateway.core.usage import Usage
from gateway.routing.table import Gateway

MAX_TTL = 30 * 24 * 3600.0
IGNORED_FIELDS = frozenset({"metadata", "user"})  # who asked, not what


@dataclass(frozen=True, slots=True)
class Policy:
    """What the cache does for one request: `use` (look up, then store), or `bypass` (neither)."""

    mode: str  # use | bypass
    ttl: float
    key: str = ""


def policy(
    gateway: Gateway, headers: dict[bytes, bytes], endpoint: str, obj: dict[str, Any]
) -> Policy | None:
    """None when caching is off for this request (no header is sent then)."""
    skip = _header(headers, b"x-gateway-skip-cache", b"cf-aig-skip-cache")
    ttl_text = _header(headers, b"x-gateway-cache-ttl", b"cf-aig-cache-ttl")
    ttl = gateway.cache_ttl
    if ttl_text is not None:
        try:
            ttl = float(ttl_text)
        except ValueError:
            ttl = -1.0
        if not 0 <= ttl <= MAX_TTL:
            raise GatewayError(
                "invalid_request_error",
                f"x-gateway-cache-ttl: {ttl_text!r} must be a number of seconds from 0 to {MAX_TTL:.0f}",
            )
    if skip is not None and skip.lower() in ("true", "1", "yes"):
        return Policy("bypass", 0.0)
    if not ttl:
        return None
    custom = _header(headers, b"x-gateway-cache-key", b"cf-aig-cache-key")
    try:
        key = cache_key(gateway.name, endpoint, obj, custom)
    except orjson.JSONEncodeError:
        return Policy("bypass", 0.0)  # nested past what orjson writes: no key, so never cached
    return Policy("use", ttl, key)


def cache_key(gateway: str, endpoint: str, obj: dict[str, Any], custom: str | None = None) -> str:
    if custom is not None:
        part = b"key\0" + custom.encode()
    else:
        kept = {k: v for k, v in obj.items() if k not in IGNORED_FIELDS}
        part = b"body\0" + orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(gateway.encode() + b"\0" + endpoint.encode() + b"\0" + part).hexdigest()
    return f"{gateway}:{digest}"


@dataclass(slots=True)
class Entry:
    """A stored answer: what the client was sent, and what produced it (for headers and the log)."""

    status: int
    content_type: bytes
    chunks: list[bytes]
    target: str | None = None
    route: str | None = None
    usage: Usage = field(default_factory=Usage)

    def encode(self) -> bytes:
        head = {
            "status": self.status,
            "content_type": self.content_type.decode("latin-1"),
            "sizes": [len(c) for c in self.chunks],
            "target": self.target,
            "route": self.route,
            "usage": [
                self.usage.input_tokens,
                self.usage.output_tokens,
                self.usage.cache_read_tokens,
                self.usage.cache_write_tokens,
            ],
        }
        return orjson.dumps(head) + b"\n" + b"".join(self.chunks)

    @classmethod
    def decode(cls, data: bytes) -> Entry | None:
        """None for anything unreadable (e.g. written by another version): a miss, never an error."""
        try:
            line, _, body = data.partition(b"\n")
            head = orjson.loads(line)
            chunks, at = [], 0
            for size in head["sizes"]:
                chunks.append(body[at : at + size])
                at += size
            if at != len(body):
                return None
            return cls(
                head["status"],
                head["content_type"].encode("latin-1"),
                chunks,
                head.get("target"),
                head.get("route"),
                Usage(*head["usage"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


async def replay(send: Send, entry: Entry, headers: list[tuple[bytes, bytes]]) -> None:
    """Send a stored answer: one body message per stored chunk, so a stream arrives as a stream."""
    out = [(b"content-type", entry.content_type), *headers]
    streamed = entry.content_type.startswith(b"text/event-stream")
    if not streamed:
        size = sum(len(c) for c in entry.chunks)
        out += [(b"content-length", str(size).encode()), (b"x-gateway-cost-usd", b"0")]
    await send({"type": "http.response.start", "status": entry.status, "headers": out})
    if streamed:
        for chunk in entry.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.body", "body": b"".join(entry.chunks)})


def _header(headers: dict[bytes, bytes], *names: bytes) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value.decode("latin-1").strip()
    return None
