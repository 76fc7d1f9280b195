"""Provider adapters: one small module per wire format (URLs, auth headers, usage), plus provider
types that speak a format with their own URLs and auth (Azure OpenAI, Bedrock, Vertex AI)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.providers import anthropic, azure_openai, bedrock, gemini, openai, vertex
from gateway.routing.table import Provider


class Adapter(Protocol):
    """What every provider module offers; the modules satisfy it structurally."""

    FORMAT: Format
    PATHS: dict[str, str]  # operation -> path appended to the provider's base_url
    DISPLAY: str
    CLIENT_KEY_HINT: str  # where a client puts its own key for this provider, for error messages

    def auth_headers(self, secret: str) -> list[tuple[bytes, bytes]]: ...

    def client_auth_headers(self, header: bytes, value: bytes) -> list[tuple[bytes, bytes]]: ...

    def read_usage(self, usage: Usage, obj: dict[str, Any]) -> None: ...


ADAPTERS: dict[Format, Adapter] = {
    Format.ANTHROPIC: anthropic,
    Format.OPENAI: openai,
    Format.GEMINI: gemini,
}


class Decoder(Protocol):
    """A cloud's answer in the wire format the rest of the gateway expects (Anthropic's or Gemini's):
    its error envelope, its non-SSE stream framing (Bedrock's event-stream), its Converse shapes."""

    def content_type(self, streaming: bool) -> bytes: ...

    def body(self, status: int, headers: Mapping[str, str], data: bytes) -> bytes: ...

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes: ...


# Provider types whose URLs and auth differ from their wire format's usual ones.
TYPE_ADAPTERS: dict[str, Adapter] = {"azure-openai": azure_openai, "bedrock": bedrock, "vertex": vertex}
# Types whose calls are prepared per model (URL, body, answer decoding) and signed or given a minted
# token (credentials.py).
CLOUD_TYPES = frozenset({"bedrock", "vertex"})


def minted(provider: Provider) -> bool:
    """Whether the gateway's own cloud identity authorizes this provider's calls when no key is given:
    the AWS chain, Google default credentials, or Microsoft Entra ID (`auth: entra-id`)."""
    return provider.type in CLOUD_TYPES or (
        provider.type == "azure-openai" and azure_openai.entra_id(provider)
    )


def adapter_for(provider: Provider) -> Adapter:
    """The adapter for a provider: by type first, else by wire format."""
    adapter = TYPE_ADAPTERS.get(provider.type)
    if adapter is not None:
        return adapter
    return ADAPTERS[provider.format]


def wire_format(provider: Provider, model: str) -> Format:
    """The format a call to `model` speaks upstream: the provider's, except Gemini models on Vertex."""
    if provider.type == "vertex":
        return vertex.wire_format(model)
    return provider.format


def model_url(provider: Provider, path: str, model: str) -> str:
    """Where a model call for `model` goes: `path` below base_url, or the type's own URL scheme."""
    if provider.type == "azure-openai":
        return azure_openai.chat_url(provider, model)
    if provider.type == "vertex":  # only Gemini calls get here; Claude's are prepared by vertex.py
        return vertex.gemini_url(provider, path)
    return provider.base_url + path
