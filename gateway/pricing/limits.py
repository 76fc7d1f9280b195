"""The most output tokens a model may write per call, where the gateway knows it, and the output cap a
translated call gets when its client set none.

Chat Completions and Responses clients may leave the output length open (Codex never sets it): the
real APIs then let the model write up to its own maximum. Anthropic requires `max_tokens`, so a call
translated to it (Anthropic, Bedrock, Vertex) is given the model's maximum from this table, or
`FALLBACK` (4096, which every Claude model accepts) for a model the table does not know. The price data
(`genai-prices`) has context windows but no output limits, so the few families served through the hub
are listed here from the providers' model pages. Ids are recognised in every provider's spelling:
`claude-sonnet-4-5-20250929`, `anthropic.claude-...-v1:0` and its `us.`/`global.` profiles (Bedrock),
`claude-sonnet-4-5@20250929` (Vertex), the older `claude-3-7-sonnet-...` order, and Gemini's ids.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ("FALLBACK", "NON_STREAMED_CAP", "default_output_tokens", "max_output_tokens")

FALLBACK = 4096  # an unknown model: accepted by every Claude model, and what the gateway always sent
# An unstreamed call is capped lower: Anthropic's SDKs refuse to send one whose max_tokens may take over
# 10 minutes (their estimate: 128,000 tokens an hour), as idle connections that long get dropped on the
# way; the API itself accepts it. 21,333 is the largest max_tokens those SDKs send unstreamed.
NON_STREAMED_CAP = 600 * 128_000 // 3600

# Claude: (family, major, minor) -> maximum output tokens (without beta headers). A model missing here
# gets FALLBACK; a newer one is added here.
_CLAUDE: dict[tuple[str, int, int], int] = {
    ("opus", 3, 0): 4096,
    ("sonnet", 3, 0): 4096,
    ("haiku", 3, 0): 4096,
    ("sonnet", 3, 5): 8192,
    ("haiku", 3, 5): 8192,
    ("sonnet", 3, 7): 64_000,
    ("opus", 4, 0): 32_000,
    ("opus", 4, 1): 32_000,
    ("sonnet", 4, 0): 64_000,
    ("opus", 4, 5): 64_000,
    ("sonnet", 4, 5): 64_000,
    ("haiku", 4, 5): 64_000,
    ("opus", 4, 6): 128_000,
    ("opus", 4, 7): 128_000,
    ("opus", 4, 8): 128_000,
    ("sonnet", 4, 6): 64_000,  # sources disagree (64K or 128K): too high a cap is a 400, too low is not
}
# `claude-opus-4-1-2025...`, `claude-opus-4-20250514` (a date is not a minor version), `claude-opus-4@...`
_CLAUDE_NEW = re.compile(r"claude-(opus|sonnet|haiku)-(\d)(?:-(\d)(?!\d))?")
_CLAUDE_OLD = re.compile(r"claude-(\d)(?:-(\d))?-(opus|sonnet|haiku)")  # claude-3-7-sonnet, claude-4-opus
# Gemini: ids from 2.5 on write up to 65,536 tokens, 2.0 and 1.5 up to 8,192.
_GEMINI = re.compile(r"gemini-(\d+)(?:\.(\d+))?-")


@lru_cache(maxsize=1024)
def max_output_tokens(model: str) -> int | None:
    """The model's maximum output tokens, or None when the gateway does not know the model."""
    name = model.lower()
    found = _CLAUDE_NEW.search(name)
    if found is not None:
        return _CLAUDE.get((found[1], int(found[2]), int(found[3] or 0)))
    found = _CLAUDE_OLD.search(name)
    if found is not None:
        return _CLAUDE.get((found[3], int(found[1]), int(found[2] or 0)))
    found = _GEMINI.search(name)
    if found is not None:
        version = (int(found[1]), int(found[2] or 0))
        if version >= (2, 5):
            return 65_536
        if version >= (1, 5):
            return 8192
    return None


def default_output_tokens(model: str, *, stream: bool) -> int:
    """The `max_tokens` a translated call to `model` gets when its client set no cap: the model's
    maximum (at most NON_STREAMED_CAP for an unstreamed call), else FALLBACK."""
    limit = max_output_tokens(model)
    if limit is None:
        return FALLBACK
    return limit if stream else min(limit, NON_STREAMED_CAP)
