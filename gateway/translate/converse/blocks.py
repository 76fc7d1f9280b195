"""Small readers and builders the Converse request converters share."""

from __future__ import annotations

from typing import Any

from gateway.translate import Untranslatable

JSON = dict[str, Any]

_CACHE_TTLS = frozenset({"5m", "1h"})


def is_cache_control(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "ephemeral"


def cache_point(cache_control: Any) -> JSON:
    point: JSON = {"type": "default"}
    ttl = cache_control.get("ttl") if isinstance(cache_control, dict) else None
    if ttl in _CACHE_TTLS:
        point["ttl"] = ttl
    return {"cachePoint": point}


def has_text(text: Any) -> bool:
    return isinstance(text, str) and bool(text.strip())


def as_object(block: Any, path: str) -> JSON:
    if not isinstance(block, dict):
        raise Untranslatable(f"{path}: must be an object", path)
    return block


def texts_of(content: Any) -> str:
    """The texts of a loose `content` (string or text blocks), joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""
