"""Which targets can run the web server tools, and as what. One table, so that the request converters
and the "can this target take this call" check (before any upstream call) agree.

- web_search: Anthropic's own API runs `web_search_*` as is; OpenAI Chat Completions only on its search
  models (`web_search_options`; any other model answers 400); OpenAI's Responses API as its
  `web_search` tool; Gemini (AI Studio and Vertex) as `google_search` grounding. Bedrock's Converse has
  no search.
- web_fetch: Anthropic runs `web_fetch_*`; Gemini's `url_context` fetches the URLs a prompt names, the
  nearest equivalent; OpenAI has none (Chat or Responses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.core.formats import Format

# OpenAI's Chat Completions search models: gpt-4o-search-preview, gpt-4o-mini-search-preview,
# gpt-5-search-api and their dated snapshots.
_SEARCH_MODEL = re.compile(r"-search-(?:preview|api)(?:$|-)")


def openai_search_model(model: str) -> bool:
    """Whether Chat Completions can search with `model` (only the search models take web_search_options)."""
    return _SEARCH_MODEL.search(model) is not None


def is_web_search(tool: Mapping[str, Any]) -> bool:
    kind = tool.get("type")
    return isinstance(kind, str) and kind.startswith("web_search_")


def is_web_fetch(tool: Mapping[str, Any]) -> bool:
    kind = tool.get("type")
    return isinstance(kind, str) and kind.startswith("web_fetch_")


def runs_web_search(provider_type: str, wire: Format, model: str) -> bool:
    """Whether the target (a provider of `provider_type` spoken to in `wire`) runs a web search."""
    if wire is Format.ANTHROPIC:
        return provider_type == "anthropic"
    if wire is Format.OPENAI:
        return openai_search_model(model)
    return wire is Format.RESPONSES or wire is Format.GEMINI


def runs_web_fetch(provider_type: str, wire: Format, model: str) -> bool:
    """Whether the target fetches web pages for the model (Anthropic web_fetch, Gemini url_context)."""
    if wire is Format.ANTHROPIC:
        return provider_type == "anthropic"
    return wire is Format.GEMINI
