"""What every provider type offers the rest of the gateway: one object per `type` (see `registry.py`).

A provider type knows its default base URL, the wire format a call to a model speaks, how a call is
prepared for the wire (URL, body, the decoder of its answer), its auth headers, how usage is read from
its answers, how a native passthrough call is read, and the facts other layers look up (pricing id,
tracing system name, the pip extra it needs, the settings and key fields config may give it). The
base class is the plain HTTP case; a type overrides only what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.routing.table import Provider

Headers = list[tuple[bytes, bytes]]


class Decoder(Protocol):
    """A cloud's answer in the wire format the rest of the gateway expects (Anthropic's or Gemini's):
    its error envelope, its non-SSE stream framing (Bedrock's event-stream), its Converse shapes."""

    def content_type(self, streaming: bool) -> bytes: ...

    def body(self, status: int, headers: Mapping[str, str], data: bytes) -> bytes: ...

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Call:
    """A model call in the provider's wire format, before the provider type places it."""

    model: str
    operation: str  # messages, count_tokens, chat, or a translated call's operation
    path: str  # below base_url, in the wire format's usual layout (`/v1/messages`, `/models/m:x`)
    body: bytes
    request_id: str
    query: str = ""  # the client's query string, kept on same-format calls
    betas: str | None = None  # the client's anthropic-beta header (Bedrock puts it in the body)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A call ready for the wire: where it goes, what it carries, and how its answer is read."""

    url: str
    body: bytes
    decoder: Decoder | None = None
    json_body: bool = False  # the type rewrote the body: send it as application/json


@dataclass(frozen=True, slots=True)
class NativeRead:
    """How a native passthrough call's answer is read for usage: its model (from the URL), the format
    its usage is in, and a decoder of a copy of the answer, when the bytes are not that format's."""

    model: str
    format: Format
    decoder: Callable[[str], Decoder] | None = None  # request id -> decoder


class ProviderType:
    """The plain case: `{base_url}{path}` with an API key header, answers in the wire format."""

    name: str
    format: Format
    display: str  # for people: "OpenAI", "AWS Bedrock"
    client_key_hint: str  # where a client puts its own key, for error messages
    paths: Mapping[str, str] = {}  # operation -> path below base_url, for same-format calls
    default_base_url: str = ""
    pricing_id: str | None = None  # the genai-prices provider id, when the base_url names none
    tracing_system: str = ""  # OpenTelemetry's gen_ai.system (default: the type's name)
    extra: str | None = None  # the pip extra whose libraries the type needs (`llm-gateway[aws]`)
    settings: tuple[str, ...] = ()  # provider keys in config beyond type/base_url/timeouts/headers/...
    key_fields: tuple[str, ...] = ()  # stored-key fields that are this type's cloud credentials
    needs_key: bool = True  # False: a local server that takes calls without a key

    def system(self) -> str:
        return self.tracing_system or self.name

    def extra_needed(self, provider: Provider) -> tuple[str, str] | None:
        """The pip extra this provider's calls need and the setting that makes it needed ("" for the
        type itself); None: the core package serves it."""
        return (self.extra, "") if self.extra else None

    # -- config ----------------------------------------------------------------------------------------

    def base_url(self, spec: Mapping[str, Any]) -> str:
        url = str(spec.get("base_url") or self.default_base_url)
        return url.format(region=spec.get("region", "")) if "{region}" in url else url

    def check(self, spec: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
        """Config problems the schema cannot see: (key path below the provider, message)."""
        return []

    # -- calls -----------------------------------------------------------------------------------------

    def wire_format(self, provider: Provider, model: str) -> Format:
        """The format a call to `model` speaks upstream (Vertex: per model)."""
        return self.format

    def serves(self, provider: Provider, client: Format) -> bool:
        """Whether `provider` serves the `client` format's API natively, so that such a client's calls
        go to it same-format (byte-exact) rather than translated."""
        return client is self.format

    def body_model(self, provider: Provider, model: str, operation: str) -> str:
        """The model name a same-format body carries upstream (Azure's Responses API: the deployment)."""
        return model

    def prepare(self, provider: Provider, call: Call) -> Prepared:
        query = "?" + call.query if call.query else ""
        return Prepared(provider.base_url + call.path + query, call.body)

    def clean(self, body: bytes, obj: Mapping[str, Any] | None = None) -> bytes:
        """The body without request fields this type's API rejects (presets); `body` when none."""
        return body

    def count_body(self, request: dict[str, Any], model: str) -> bytes:
        """A Gemini countTokens body for a Gemini generateContent request (Gemini-format types)."""
        raise NotImplementedError(f"{self.display} has no countTokens")

    def native(self, path: str) -> NativeRead | None:
        """How to read a native call to `path` (below base_url); None: as the provider's format."""
        return None

    # -- auth and usage --------------------------------------------------------------------------------

    def auth_headers(self, secret: str) -> Headers:
        return [(b"authorization", b"Bearer " + secret.encode())]

    def client_auth_headers(self, header: bytes, value: bytes) -> Headers:
        return [(b"authorization", b"Bearer " + value)]

    def minted(self, provider: Provider) -> bool:
        """Whether the gateway's own cloud identity authorizes calls when no key is given."""
        return False

    def read_usage(self, usage: Usage, obj: dict[str, Any]) -> None:
        raise NotImplementedError
