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
from typing import Any
from urllib.parse import quote, unquote

import orjson

from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.providers import anthropic
from gateway.providers.base import Call, NativeRead, Prepared, ProviderType
from gateway.routing.table import Provider
from gateway.translate.gemini import gemini_error_to_anthropic

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


def is_claude(model: str) -> bool:
    return model.startswith("claude")


def wire_format(model: str) -> Format:
    return Format.ANTHROPIC if is_claude(model) else Format.GEMINI


def publisher_url(provider: Provider, publisher: str) -> str:
    project = quote(provider.settings.project, safe="")
    region = quote(provider.settings.region, safe="")
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


_NATIVE = re.compile(r"/publishers/(anthropic|google)/models/([^/:]+):[A-Za-z]+$")


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


class VertexType(ProviderType):
    """Claude answers in Anthropic's format (a decoder mends Google's front-door errors); Gemini calls
    are Gemini's format under the Google publisher."""

    name = "vertex"
    format = Format.ANTHROPIC  # the provider's default; per model see `wire_format`
    display = "Vertex AI"
    client_key_hint = "Authorization: Bearer (a Google OAuth access token)"
    paths = {"messages": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}  # operations
    default_base_url = "https://{region}-aiplatform.googleapis.com/v1"
    pricing_id = "google"
    tracing_system = "gcp.vertex_ai"
    extra = "gcp"
    settings = ("project", "region")
    key_fields = ("credentials_file",)

    def base_url(self, spec: Mapping[str, Any]) -> str:
        return str(spec.get("base_url") or vertex_base_url(str(spec.get("region", ""))))

    def wire_format(self, provider: Provider, model: str) -> Format:
        return wire_format(model)

    def prepare(self, provider: Provider, call: Call) -> Prepared:
        if self.wire_format(provider, call.model) is Format.GEMINI:  # a Gemini API path, translated
            return Prepared(publisher_url(provider, "google") + call.path, call.body)
        url, body = claude_request(provider, call.model, call.operation, call.body)
        return Prepared(url, body, Decoder(call.request_id), json_body=True)

    def count_body(self, request: dict[str, Any], model: str) -> bytes:
        """Vertex counts contents, system and tools as they are."""
        return orjson.dumps(
            {k: request[k] for k in ("contents", "systemInstruction", "tools") if k in request}
        )

    def native(self, path: str) -> NativeRead | None:
        found = _NATIVE.search(path)
        if found is None or found.group(2) == "count-tokens":
            return None
        fmt = Format.ANTHROPIC if found.group(1) == "anthropic" else Format.GEMINI
        return NativeRead(unquote(found.group(2)), fmt)

    def auth_headers(self, secret: str) -> list[tuple[bytes, bytes]]:
        """A stored key's `secret` is taken as an access token (service accounts mint their own)."""
        return [(b"authorization", b"Bearer " + secret.encode())]

    def minted(self, provider: Provider) -> bool:
        return True

    def read_usage(self, usage: Usage, obj: dict[str, Any]) -> None:
        anthropic.read_usage(usage, obj)  # Claude's; Gemini calls are read as Gemini's


TYPE = VertexType()
