"""Wire formats: what a client speaks and what a provider speaks."""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    """A wire format: what a client speaks and what a provider adapter speaks."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    GEMINI = "gemini"
    # OpenAI's Responses API (`/v1/responses`): a client format of its own (items, named stream events),
    # served by OpenAI-format providers at `/responses` and translated through the hub for the others.
    RESPONSES = "responses"
