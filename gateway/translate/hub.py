"""The hub shape (Anthropic Messages) as the converters share it: reading a request the way the hub ->
provider converters (`gemini/`, `converse/`) do, tool names a provider rejects, ints and usage as the
answer converters read and build them. The stream side is `hub_stream.py`."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from gateway.translate import Untranslatable

JSON = dict[str, Any]

# Claude Code's first system line changes on every request and defeats a provider's prefix cache, so
# translations drop it (protocols.md §3.3).
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
# Put before a `role: "system"` message that has to travel as user text.
MID_SYSTEM_NOTE = "[System message from the application, not from the user]\n"
# A thinking block's signature that carries an OpenAI reasoning item (translate/responses): only OpenAI's
# Responses API can read it, every other provider must treat the block as unsigned.
OPENAI_REASONING_PREFIX = "openai-reasoning:"


def claude_signature(signature: Any) -> bool:
    """Whether a thinking block's signature may be Anthropic's (non-empty, not an OpenAI carrier): the
    only kind a Claude provider (Anthropic, Bedrock, Vertex) takes back."""
    return (
        isinstance(signature, str) and bool(signature) and not signature.startswith(OPENAI_REASONING_PREFIX)
    )


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


def shorten_name(
    name: str, valid: re.Pattern[str], invalid_char: re.Pattern[str], first: re.Pattern[str] | None = None
) -> str:
    """A tool name the provider accepts: `name` when `valid` matches it, else its invalid characters as
    `_` (and a leading `_` when `first` does not match the start), cut to 55 characters, `_` and 8 hex of
    its sha256. The digest keeps two long names with a shared prefix apart, deterministically, so the
    same tool gets the same name in every request of a conversation."""
    if valid.match(name):
        return name
    safe = invalid_char.sub("_", name)
    if first is not None and not first.match(safe):
        safe = "_" + safe
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{safe[:55]}_{digest}"


def int_or_none(value: Any) -> int | None:
    """A JSON integer (a bool is not one), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_int(value: Any, default: int = 0) -> int:
    """A JSON integer (a bool is not one), else `default`."""
    found = int_or_none(value)
    return default if found is None else found


def usage(input_tokens: int, output_tokens: int = 0, *, cache_write: int = 0, cache_read: int = 0) -> JSON:
    """An Anthropic usage object. Zero cache fields are still sent: Claude Code takes their presence as
    "caching works"."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
    }


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def refusal_details(explanation: str) -> JSON:
    """A refusal's `stop_details`, for a provider that blocked the answer."""
    return {"type": "refusal", "category": None, "explanation": explanation}


def add_turn(turns: list[JSON], role: str, blocks: list[JSON]) -> None:
    """Append blocks as a hub turn, merged into the last turn when it has the same role (Anthropic
    wants user and assistant turns to alternate)."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def tool_results_first(turn: JSON) -> None:
    """Anthropic wants the tool results first in the user turn that answers a tool call."""
    content = turn["content"]
    results = [b for b in content if b.get("type") == "tool_result"]
    if results and len(results) != len(content):
        turn["content"] = results + [b for b in content if b.get("type") != "tool_result"]


def trim_prefill(turns: list[JSON]) -> None:
    """A final assistant turn is a prefill, which Anthropic rejects when it ends in whitespace."""
    if not turns or turns[-1]["role"] != "assistant":
        return
    content = turns[-1]["content"]
    last = content[-1]
    if last.get("type") == "text":
        text = last["text"].rstrip()
        if text:
            last["text"] = text
        else:
            content.pop()
            if not content:
                turns.pop()


# -- web search: citations and search counts in the hub shape ------------------------------------------


def web_citation(url: str, title: Any, cited_text: str) -> JSON:
    """An Anthropic `web_search_result_location` citation. Other providers give no encrypted index, so
    it is empty: enough for a client to show the source, not for Anthropic to re-verify it."""
    return {
        "type": "web_search_result_location",
        "url": url,
        "title": title if isinstance(title, str) else None,
        "cited_text": cited_text,
        "encrypted_index": "",
    }


def cited_text_blocks(text: str, spans: list[tuple[int, int, list[JSON]]]) -> list[JSON]:
    """`text` as Anthropic text blocks, each span [start, end) that has citations its own block carrying
    them (Anthropic cites a whole text block). Overlapping or out-of-range spans are clipped; the blocks
    joined give back `text` exactly."""
    blocks: list[JSON] = []
    at = 0
    for start, end, citations in sorted(spans, key=lambda s: (s[0], s[1])):
        start, end = max(start, at), min(end, len(text))
        if end <= start or not citations:
            continue
        if start > at:
            blocks.append({"type": "text", "text": text[at:start]})
        blocks.append({"type": "text", "text": text[start:end], "citations": citations})
        at = end
    if at < len(text):
        blocks.append({"type": "text", "text": text[at:]})
    return blocks


def with_searches(usage_obj: JSON, searches: int) -> JSON:
    """An Anthropic usage object with `server_tool_use.web_search_requests`, when there were searches."""
    if searches > 0:
        usage_obj["server_tool_use"] = {"web_search_requests": searches}
    return usage_obj


def web_citations(block: Any, text: str) -> list[tuple[str, str | None, int, int]]:
    """(url, title, start, end) of each web citation of a hub text block whose text is `text`, in order.
    The span is the citation's `cited_text` where the block holds it (a streamed block carries the
    citations of parts of it: its text was sent before they came), else the whole block."""
    found: list[tuple[str, str | None, int, int]] = []
    citations = block.get("citations") if isinstance(block, dict) else None
    for c in citations if isinstance(citations, list) else ():
        if isinstance(c, dict) and isinstance(c.get("url"), str):
            title = c.get("title")
            cited = c.get("cited_text")
            at = text.find(cited) if isinstance(cited, str) and cited else -1
            start, end = (at, at + len(cited)) if at >= 0 and isinstance(cited, str) else (0, len(text))
            found.append((c["url"], title if isinstance(title, str) else None, start, end))
    return found


def answer_text(content: list[JSON]) -> str:
    """The text blocks of an answer joined: what a provider's citation offsets count in."""
    return "".join(str(b.get("text") or "") for b in content if b.get("type") == "text")


def cite_blocks(content: list[JSON], spans: list[tuple[int, int, list[JSON]]]) -> list[JSON]:
    """An answer's blocks with its text blocks split by `spans` (offsets into `answer_text(content)`),
    each cited span its own block carrying its citations."""
    if not spans:
        return content
    out: list[JSON] = []
    at = 0
    for block in content:
        if block.get("type") != "text":
            out.append(block)
            continue
        text = str(block.get("text") or "")
        end = at + len(text)
        local = [(max(s, at) - at, min(e, end) - at, c) for s, e, c in spans if s < end and e > at]
        out.extend(cited_text_blocks(text, local) if local else [block])
        at = end
    return out
