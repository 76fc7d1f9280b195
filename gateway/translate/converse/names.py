"""Tool names and tool-use ids between the hub and Converse, which allow fewer characters than
Anthropic (names) or more (ids)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from gateway.translate import Untranslatable
from gateway.translate.hub import renamed_tools, shorten_name

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}\Z")  # matched from the start: the whole name
# Converse's answers may hold `.` and `:` in ids, but its requests' ToolUseBlock and ToolResultBlock take
# only these (AWS API reference), so ids from elsewhere are checked against the narrower set.
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_NOT_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_NOT_ANTHROPIC_ID = re.compile(r"[^a-zA-Z0-9_-]")


def converse_tool_names(hub: Mapping[str, Any]) -> dict[str, str]:
    """Converse tool name -> the client's tool name, for the tools whose name had to be shortened."""
    return renamed_tools(hub, converse_name)


def converse_name(name: str) -> str:
    """Converse's tool name for a tool name (unchanged when Converse accepts it)."""
    return shorten_name(name, _TOOL_NAME, _NOT_TOOL_NAME)


def converse_tool_id(tool_id: Any, path: str) -> str:
    """An id Converse accepts: unchanged when it does, else `toolu_` and 32 hex of its sha256, the same
    for a call and its result (Gemini's ids carry a thought signature and run far past 64)."""
    if not isinstance(tool_id, str) or not tool_id:
        raise Untranslatable(f"{path}: a tool id is required", path)
    if _TOOL_USE_ID.fullmatch(tool_id):
        return tool_id
    return "toolu_" + hashlib.sha256(tool_id.encode()).hexdigest()[:32]


def anthropic_tool_id(tool_id: Any) -> str:
    # Converse ids may hold `.` and `:`, which Anthropic's `^[a-zA-Z0-9_-]+$` refuses if the
    # conversation later goes to Claude; the id only has to match its result, which the client copies.
    if isinstance(tool_id, str) and tool_id:
        return _NOT_ANTHROPIC_ID.sub("_", tool_id)
    return "toolu_" + secrets.token_hex(12)
