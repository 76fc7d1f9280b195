"""Provider adapters: one small module per wire format (URLs, auth headers, usage), plus provider
types that speak a format with their own URLs and auth (Azure OpenAI)."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.providers import anthropic, azure_openai, gemini, openai
from gateway.table import Format, Provider
from gateway.usage import Usage


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

# Provider types whose URLs and auth differ from their wire format's usual ones.
TYPE_ADAPTERS: dict[str, Adapter] = {"azure-openai": azure_openai}


def adapter_for(provider: Provider) -> Adapter:
    """The adapter for a served provider (format not None): by type first, else by wire format."""
    adapter = TYPE_ADAPTERS.get(provider.type)
    if adapter is not None:
        return adapter
    assert provider.format is not None
    return ADAPTERS[provider.format]


def model_url(provider: Provider, path: str, model: str) -> str:
    """Where a model call for `model` goes: `path` below base_url, or the type's own URL scheme."""
    if provider.type == "azure-openai":
        return azure_openai.chat_url(provider, model)
    return provider.base_url + path
