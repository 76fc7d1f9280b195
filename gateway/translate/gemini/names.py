"""Gemini's tool names and the tool ids minted for its function calls (which carry thought
signatures, see the package docstring)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from gateway.translate.hub import renamed_tools, shorten_name

_GEMINI_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_NOT_GEMINI_NAME_CHAR = re.compile(r"[^A-Za-z0-9_.:-]")
_GEMINI_NAME_START = re.compile(r"[A-Za-z_]")
_SIGNED_TOOL_ID = re.compile(r"^toolu_[0-9a-f]{24}_gsig_(?P<sig>[A-Za-z0-9_-]+)$")
_STANDARD_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def gemini_tool_names(body: Mapping[str, Any]) -> dict[str, str]:
    """Gemini function name -> the client's tool name, for the tools whose name had to be rewritten."""
    return renamed_tools(body, gemini_name)


def gemini_name(name: str) -> str:
    """Gemini's function name for a tool name (unchanged when Gemini accepts it)."""
    return shorten_name(name, _GEMINI_NAME, _NOT_GEMINI_NAME_CHAR, _GEMINI_NAME_START)


def new_tool_id(signature: Any) -> str:
    base = "toolu_" + secrets.token_hex(12)
    # Gemini signatures are protobuf bytes, i.e. standard padded base64; anything else is not carried.
    if isinstance(signature, str) and len(signature) % 4 == 0 and _STANDARD_BASE64.match(signature):
        return f"{base}_gsig_{signature.rstrip('=').replace('+', '-').replace('/', '_')}"
    return base


def signature_from_tool_id(tool_id: str) -> str | None:
    match = _SIGNED_TOOL_ID.match(tool_id)
    if match is None:
        return None
    sig = match["sig"].replace("-", "+").replace("_", "/")
    return sig + "=" * (-len(sig) % 4)
