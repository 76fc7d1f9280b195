"""The web server tools as the converters recognise them. Which target runs which tool is decided once,
in gateway/providers/server_tools.py (checked before any upstream call); the converters map what that
table lets through: web_search -> Chat's `web_search_options` (search models only), the Responses
`web_search` tool, Gemini's `google_search`; web_fetch -> Gemini's `url_context`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

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
