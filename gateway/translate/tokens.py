"""Offline input-token estimate for an Anthropic-shaped request, for upstreams without a count endpoint.

Where it is used: `message_start.usage.input_tokens` when an Anthropic client (Claude Code) talks to a
non-Anthropic upstream, and `count_tokens` there. Claude Code reads its context size from these numbers
and compacts only when they say the window is nearly full, so the estimate errs HIGH: a low one lets the
conversation run into "prompt is too long" (protocols.md §4, §8).

Text costs one token per three UTF-8 bytes, which is above the real count for English, code and JSON
(about 3.5-4.5 bytes per token) and about right for CJK (3 bytes per character, one character per token
or more). An exact BPE was considered (quicktok-v1 bundles o200k offline) and left out: on the Claude
Code capture it gives 19,680 against this estimate's 25,570 for a true 17,502, a gain not worth a
single-maintainer native dependency; the estimate already errs on the side that keeps clients safe.

Counted: system, messages (text, tool calls and results, documents, images) and tools. Thinking blocks
are not: every non-Anthropic upstream has them removed by the translation, so the upstream never sees
them.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

# Anthropic bills an image at about (width * height) / 750 tokens, capped near 1,600 for images it does not
# downscale; reading the image size would mean decoding it, so every image counts as the cap.
IMAGE_TOKENS = 1600
# Anthropic's guidance is 1,500-3,000 text tokens per PDF page; the top of the range keeps the estimate high.
PDF_PAGE_TOKENS = 3000
# Per message: role markers and separators in every chat template (3-4 for OpenAI); one more for safety.
MESSAGE_OVERHEAD = 5
# Per content block or tool call: the delimiters around it.
BLOCK_OVERHEAD = 3
# Defining tools adds a tool-use preamble to the prompt (Anthropic documents 300-350 tokens; OpenAI and
# Gemini render definitions in their own formats, close to the JSON size).
TOOLS_OVERHEAD = 400
# Bytes per token: below every tokenizer's average for English, code and JSON.
BYTES_PER_TOKEN = 3

_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_PDF_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d{1,6})")
_PDF_MAX_PAGES = 100


def estimate_input_tokens(anthropic_request: dict[str, Any]) -> int:
    total = 0
    system = anthropic_request.get("system")
    if isinstance(system, str):
        total += text_tokens(system)
    elif isinstance(system, list):
        total += _blocks(system)
    for message in anthropic_request.get("messages") or ():
        if not isinstance(message, dict):
            continue
        total += MESSAGE_OVERHEAD
        content = message.get("content")
        if isinstance(content, str):
            total += text_tokens(content)
        elif isinstance(content, list):
            total += _blocks(content)
    tools = anthropic_request.get("tools")
    if isinstance(tools, list) and tools:
        # Tool definitions are small next to a conversation (Claude Code's ~25 tools are ~60 KB), and
        # their JSON form is what the upstream tokenizes, so serializing them is both fast and faithful.
        total += TOOLS_OVERHEAD + text_tokens(orjson.dumps(tools).decode())
    return total


def text_tokens(text: str) -> int:
    # isascii() is a flag check in CPython, so ASCII text (most code and JSON) is never re-encoded.
    size = len(text) if text.isascii() else len(text.encode("utf-8", errors="replace"))
    return -(-size // BYTES_PER_TOKEN)


def _blocks(blocks: list[Any]) -> int:
    total = 0
    for block in blocks:
        if isinstance(block, dict):
            total += BLOCK_OVERHEAD + _block(block)
        elif isinstance(block, str):
            total += text_tokens(block)
    return total


def _block(block: dict[str, Any]) -> int:
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text") or ""))
    if kind == "image":
        return IMAGE_TOKENS
    if kind in ("tool_use", "server_tool_use"):
        # Tool inputs are usually small; a large one (a Write of a whole file) is one string inside, and
        # orjson is faster than walking it in Python.
        return text_tokens(str(block.get("name") or "")) + text_tokens(
            orjson.dumps(block.get("input") or {}).decode()
        )
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            return text_tokens(content)
        if isinstance(content, list):
            return _blocks(content)
        return 0
    if kind == "document":
        return _document(block)
    if kind in ("thinking", "redacted_thinking"):
        return 0
    if kind == "search_result":
        inner = block.get("content")
        head = text_tokens(str(block.get("title") or "")) + text_tokens(str(block.get("source") or ""))
        return head + (_blocks(inner) if isinstance(inner, list) else 0)
    # Server tool results and other rare blocks: their JSON size, minus nothing, is a safe upper guess.
    return text_tokens(orjson.dumps(block).decode())


def _document(block: dict[str, Any]) -> int:
    source = block.get("source")
    if not isinstance(source, dict):
        return 0
    title = text_tokens(str(block.get("title") or "")) + text_tokens(str(block.get("context") or ""))
    kind = source.get("type")
    if kind == "text":
        return title + text_tokens(str(source.get("data") or ""))
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return title + text_tokens(inner)
        return title + (_blocks(inner) if isinstance(inner, list) else 0)
    if kind == "base64":
        return title + _pdf_tokens(str(source.get("data") or ""))
    # A URL or file id: the size is unknown here; count one page.
    return title + PDF_PAGE_TOKENS


def _pdf_tokens(data: str) -> int:
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return text_tokens(data)
    # Page objects are `/Type /Page` (the page tree is `/Type /Pages`, whose `/Count` is the page total).
    # PDF 1.5 object streams compress both away; then one page per 100 KB is assumed, capped at
    # Anthropic's 100-page limit so one large scan does not claim the whole context window.
    pages = len(_PDF_PAGE.findall(raw))
    if not pages:
        counts = [int(n) for n in _PDF_COUNT.findall(raw)]
        pages = max(counts) if counts else min(max(len(raw) // 100_000, 1), _PDF_MAX_PAGES)
    return pages * PDF_PAGE_TOKENS
