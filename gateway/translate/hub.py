"""The hub shape (Anthropic Messages) as the converters share it: reading a request the way the hub ->
provider converters (`gemini.py`, `converse.py`) do, and the first events of a translated stream."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.translate import Untranslatable

# Claude Code's first system line changes on every request and defeats a provider's prefix cache, so
# translations drop it (protocols.md §3.3).
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
# Put before a `role: "system"` message that has to travel as user text.
MID_SYSTEM_NOTE = "[System message from the application, not from the user]\n"


def content_blocks(content: Any, path: str) -> list[Any]:
    """A message's content as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise Untranslatable(f"{path}: must be a string or a list of content blocks", path)
    return content


def system_blocks(system: Any) -> list[dict[str, Any]]:
    """The request's `system` as its non-blank text blocks (a string is one block), without Claude
    Code's billing line. Raises Untranslatable for anything but text."""
    if system is None:
        return []
    if isinstance(system, str):
        if system.startswith(BILLING_HEADER_PREFIX):
            system = system.partition("\n")[2]
        return [{"type": "text", "text": system}] if system.strip() else []
    if not isinstance(system, list):
        raise Untranslatable("system: must be a string or a list of text blocks", "system")
    out: list[dict[str, Any]] = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type", "text") != "text":
            raise Untranslatable(f"system.{i}: only text blocks are supported", f"system.{i}")
        text = block.get("text")
        if not isinstance(text, str):
            raise Untranslatable(f"system.{i}.text: must be a string", f"system.{i}.text")
        if i == 0 and text.startswith(BILLING_HEADER_PREFIX):
            continue
        if text.strip():
            out.append(block)
    return out


def is_custom_tool(tool: Mapping[str, Any]) -> bool:
    # Claude Code may omit `type`; versioned types (web_search_20250305, bash_..., ...) are server tools
    # that only Anthropic can run.
    return tool.get("type") in (None, "custom")


def search_result_text(block: Mapping[str, Any]) -> str:
    """A search_result block as plain text: its title, source and text content, one per line."""
    lines = [str(block[key]) for key in ("title", "source") if isinstance(block.get(key), str)]
    content = block.get("content")
    for item in content if isinstance(content, list) else []:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            lines.append(item["text"])
    return "\n".join(lines)


def renamed_tools(hub: Mapping[str, Any], rename: Callable[[str], str]) -> dict[str, str]:
    """Provider tool name -> the client's, for the custom tools whose name `rename` had to change."""
    names: dict[str, str] = {}
    tools = hub.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and is_custom_tool(tool) and isinstance(tool.get("name"), str):
            renamed = rename(tool["name"])
            if renamed != tool["name"]:
                names[renamed] = tool["name"]
    return names


def start_usage(input_estimate: int, output_tokens: int = 0) -> dict[str, Any]:
    """A stream's usage before the provider reports it. Zero cache fields are still sent: Claude Code
    takes their presence as "caching works"."""
    return {
        "input_tokens": input_estimate,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def message_start(message_id: str, model: str, usage: dict[str, Any]) -> dict[str, Any]:
    """A translated stream's first event."""
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return {"type": "message_start", "message": message}
