"""What the OpenAI Chat converters of both directions share: tool names and ids, finish/stop reasons,
JSON helpers."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import orjson

from gateway.translate import Untranslatable
from gateway.translate.hub import shorten_name

JSON = dict[str, Any]

EMPTY_SCHEMA: JSON = {"type": "object", "properties": {}}

# OpenAI function names: 1-64 of these characters.
_OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_ID_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_OPENAI_ID = 40  # OpenAI: "string too long. Expected a string with maximum length 40"

FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "compaction": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def sanitize_id(raw: Any, fallback_seed: str) -> str:
    """Anthropic tool ids must match ^[a-zA-Z0-9_-]+$; other servers send ids like `functions.Bash:0`.
    The mapping is a pure function of the id, so a call and its result map to the same value."""
    text = raw if isinstance(raw, str) else ""
    clean = _ID_BAD_CHARS.sub("_", text)
    if clean:
        return clean
    return "toolu_" + hashlib.sha256(fallback_seed.encode()).hexdigest()[:24]


def openai_tool_id(raw: Any) -> str:
    """A tool call id OpenAI accepts (at most 40 characters): unchanged when it fits, else `call_` and 32
    hex of its sha256. Ids minted elsewhere are often longer (Gemini's carry their thought signature), and
    the mapping is a pure function of the id, so a call and its result still match."""
    text = raw if isinstance(raw, str) else ""
    if 0 < len(text) <= _MAX_OPENAI_ID:
        return text
    return "call_" + hashlib.sha256(text.encode()).hexdigest()[:32]


def short_tool_name(name: str) -> str:
    """An OpenAI-valid function name for `name`: unchanged when valid, else a 55-character sanitized
    prefix, `_` and 8 hex digits of the name's sha256 (so distinct long names stay distinct)."""
    return shorten_name(name, _OPENAI_NAME, _NAME_BAD_CHARS)


def tool_name_map(body: JSON) -> dict[str, str]:
    """For an Anthropic request: {shortened name: original name} for every name that
    `anthropic_request_to_openai` shortens, to map tool calls in the response back."""
    names: set[str] = set()
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            names.add(tool["name"])
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for block in content:
                if (
                    isinstance(block, dict)
                    and block.get("type") == "tool_use"
                    and isinstance(block.get("name"), str)
                ):
                    names.add(block["name"])
    return {short: name for name in names if (short := short_tool_name(name)) != name}


def arguments_object(raw: Any, where: str) -> JSON:
    """A tool call's arguments (a JSON object, or its text; empty means none) as an object."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        value = loads_object(raw)
        if value is not None:
            return value
    raise Untranslatable("tool call arguments must be a JSON object", where)


def loads_object(text: str) -> JSON | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def message_id(openai_id: Any) -> str:
    clean = _ID_BAD_CHARS.sub("", openai_id) if isinstance(openai_id, str) else ""
    return f"msg_{clean or uuid.uuid4().hex}"


def reasoning_text(message: JSON) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""
