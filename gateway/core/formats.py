"""Wire formats: what a client speaks and what a provider speaks."""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    """A wire format: what a client speaks and what a provider adapter speaks."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    GEMINI = "gemini"
