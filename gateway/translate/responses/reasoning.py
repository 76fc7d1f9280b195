"""A target's signed reasoning, carried opaquely in a Responses `reasoning` item's `encrypted_content`.

Anthropic verifies a replayed thinking block by its signature (and a redacted_thinking block is only its
`data`): a Responses client that keeps `encrypted_content` (Codex asks for it with `include:
["reasoning.encrypted_content"]` and `store: false`) must get back exactly what Anthropic wrote. The
carrier is `gwr1:<family>:<base64url of the block as JSON>`: the family (the hub target's wire format,
e.g. `anthropic`) decides where it may go back to. Another family never sees it (its signatures would be
rejected there), and OpenAI's own encrypted_content (no gateway prefix) is never sent to a non-OpenAI
target: both are dropped from the translated request. Gemini's thought signatures travel in the
function call ids (see translate/gemini), so Gemini's thinking needs no carrier.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

PREFIX = "gwr1:"


def encode(block: dict[str, Any], family: str) -> str | None:
    """The carrier of a hub thinking / redacted_thinking block; None when it has nothing signed to carry
    (unsigned thinking cannot be replayed to any provider)."""
    kind = block.get("type")
    if kind == "thinking" and isinstance(block.get("signature"), str) and block["signature"]:
        kept = {
            "type": "thinking",
            "thinking": str(block.get("thinking") or ""),
            "signature": block["signature"],
        }
    elif kind == "redacted_thinking" and isinstance(block.get("data"), str) and block["data"]:
        kept = {"type": "redacted_thinking", "data": block["data"]}
    else:
        return None
    payload = base64.urlsafe_b64encode(orjson.dumps(kept)).decode().rstrip("=")
    return f"{PREFIX}{family}:{payload}"


def decode(encrypted: Any, family: str) -> dict[str, Any] | None:
    """The hub block carried by `encrypted` when it is the gateway's and from `family`; else None (OpenAI's
    own encrypted reasoning, another family's, or anything damaged: dropped, never sent)."""
    if not isinstance(encrypted, str) or not encrypted.startswith(PREFIX):
        return None
    found, sep, payload = encrypted[len(PREFIX) :].partition(":")
    if not sep or found != family:
        return None
    try:
        block = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(block, dict):
        return None
    if block.get("type") == "thinking" and isinstance(block.get("signature"), str):
        return {
            "type": "thinking",
            "thinking": str(block.get("thinking") or ""),
            "signature": block["signature"],
        }
    if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
        return {"type": "redacted_thinking", "data": block["data"]}
    return None
