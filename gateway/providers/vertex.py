"""Google Vertex AI: Claude through rawPredict / streamRawPredict, Gemini through generateContent.

URLs live under `{base_url}/projects/{project}/locations/{region}/publishers/{anthropic|google}/models/`.
Claude (a model named `claude-...`, e.g. `claude-sonnet-4-5@20250929`) takes Anthropic's body without
`model`, plus `anthropic_version: vertex-2023-10-16`, as the official `AnthropicVertex` client sends it,
and answers in Anthropic's format (SSE for streamRawPredict). Any other model is Gemini's format.

Auth: `Authorization: Bearer <OAuth access token>`, minted by google-auth from a stored key's service
account file or the Google default credentials (see `credentials.py`), or the client's own token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, unquote

import orjson

from gateway.core.formats import Format
from gateway.providers.anthropic import read_usage as read_usage  # Claude's; Gemini calls are translated
from gateway.routing.table import Provider
from gateway.translate.gemini import gemini_error_to_anthropic

FORMAT = Format.ANTHROPIC
PATHS = {"messages": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}  # operations
DISPLAY = "Vertex AI"
CLIENT_KEY_HINT = "Authorization: Bearer (a Google OAuth access token)"
VERSION = "vertex-2023-10-16"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"


def vertex_base_url(region: str) -> str:
    """Vertex's endpoint for a region, as Google documents it (and AnthropicVertex picks it)."""
    if region == "global":
        return "https://aiplatform.googleapis.com/v1"
    if region in ("us", "eu"):  # multi-region endpoints
        return f"https://aiplatform.{region}.rep.googleapis.com/v1"
    return f"https://{region}-aiplatform.googleapis.com/v1"


def auth_headers(secret: str) -> list[tuple[bytes, bytes]]:
    """A stored key's `secret` is taken as an access token (service accounts mint their own)."""
    return [(b"authorization", b"Bearer " + secret.encode())]


def client_auth_headers(header: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", b"Bearer " + value)]


def is_claude(model: str) -> bool:
    return model.startswith("claude")


def wire_format(model: str) -> Format:
    return Format.ANTHROPIC if is_claude(model) else Format.GEMINI


def publisher_url(provider: Provider, publisher: str) -> str:
    project = quote(str(provider.options.get("project", "")), safe="")
    region = quote(str(provider.options.get("region", "")), safe="")
    return f"{provider.base_url}/projects/{project}/locations/{region}/publishers/{publisher}"


def claude_request(provider: Provider, model: str, operation: str, body: bytes) -> tuple[str, bytes]:
    """(url, body) of a Claude call for an Anthropic Messages body (or a count_tokens body)."""
    obj = orjson.loads(body)
    obj.setdefault("anthropic_version", VERSION)
    base = publisher_url(provider, "anthropic")
    if operation == "count_tokens":  # the count endpoint takes the model in the body
        return f"{base}/models/count-tokens:rawPredict", orjson.dumps({**obj, "model": model})
    obj.pop("model", None)
    action = "streamRawPredict" if obj.get("stream") is True else "rawPredict"
    return f"{base}/models/{quote(model, safe='@')}:{action}", orjson.dumps(obj)


def gemini_url(provider: Provider, path: str) -> str:
    """A Gemini API path (`/models/{model}:generateContent`) under Vertex's Google publisher."""
    return publisher_url(provider, "google") + path


_NATIVE = re.compile(r"/publishers/(anthropic|google)/models/([^/:]+):[A-Za-z]+$")


def native_model(path: str) -> tuple[str, Format] | None:
    """A native call's model (from its URL) and the format it speaks, or None for other paths."""
    found = _NATIVE.search(path)
    if found is None or found.group(2) == "count-tokens":
        return None
    return unquote(found.group(2)), Format.ANTHROPIC if found.group(1) == "anthropic" else Format.GEMINI


class Decoder:
    """Claude on Vertex answers in Anthropic's format, but Google's front door (auth, quota, a wrong
    project) answers in Google's envelope: that is turned into Anthropic's."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id

    def content_type(self, streaming: bool) -> bytes:
        return SSE if streaming else JSON

    def body(self, status: int, headers: Mapping[str, str], data: bytes) -> bytes:
        if status >= 400 and b'"type"' not in data[:40]:  # Anthropic's own errors start {"type":"error"
            return gemini_error_to_anthropic(status, data)
        return data

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def close(self) -> bytes:
        return b""
