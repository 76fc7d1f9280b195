"""Provider adapters: one small module per wire format (URLs, auth headers, usage)."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.providers import anthropic, gemini, openai
from gateway.table import Format
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
