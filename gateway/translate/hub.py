"""Reading a request in the hub shape (Anthropic Messages): what the hub -> provider converters
(`gemini.py`, `converse.py`) read the same way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.translate import Untranslatable


def content_blocks(content: Any, path: str) -> list[Any]:
    """A message's content as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise Untranslatable(f"{path}: must be a string or a list of content blocks", path)
    return content


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
