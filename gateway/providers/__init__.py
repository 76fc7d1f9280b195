"""Provider adapters: one small module per wire format (URLs, auth headers, usage)."""

from __future__ import annotations

from types import ModuleType

from gateway.providers import anthropic, gemini, openai
from gateway.table import Format

ADAPTERS: dict[Format, ModuleType] = {
    Format.ANTHROPIC: anthropic,
    Format.OPENAI: openai,
    Format.GEMINI: gemini,
}
