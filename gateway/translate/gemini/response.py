"""A Gemini GenerateContentResponse -> an Anthropic Message, and the readers of Gemini's answer that the
stream converter shares."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from gateway.translate.gemini.names import new_tool_id
from gateway.translate.hub import (
    answer_text,
    cite_blocks,
    new_message_id,
    read_int,
    refusal_details,
    usage,
    web_citation,
    with_searches,
)

JSON = dict[str, Any]

_REFUSAL_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "LANGUAGE",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_MESSAGE_ID_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def message_id(response_id: Any) -> str:
    if isinstance(response_id, str) and _MESSAGE_ID_SAFE.match(response_id):
        return "msg_" + response_id
    return new_message_id()


def tool_use(call: JSON, signature: Any, names: Mapping[str, str]) -> JSON:
    name = call.get("name")
    name = names.get(name, name) if isinstance(name, str) else ""
    args = call.get("args")
    return {
        "type": "tool_use",
        "id": new_tool_id(signature),
        "name": name,
        "input": args if isinstance(args, dict) else {},
    }


def gemini_usage(meta: Any) -> JSON:
    meta = meta if isinstance(meta, dict) else {}
    cached = read_int(meta.get("cachedContentTokenCount"))
    prompt = read_int(meta.get("promptTokenCount")) + read_int(meta.get("toolUsePromptTokenCount"))
    output = read_int(meta.get("candidatesTokenCount")) + read_int(meta.get("thoughtsTokenCount"))
    return usage(max(prompt - cached, 0), output, cache_read=cached)


def stop_reason(finish_reason: Any, has_calls: bool) -> str:
    if finish_reason == "MAX_TOKENS":
        return "max_tokens"
    if finish_reason in _REFUSAL_REASONS:
        return "refusal"
    return "tool_use" if has_calls else "end_turn"


def gemini_refusal(reason: str) -> JSON:
    return refusal_details(f"Gemini blocked the response ({reason})")


def parts(candidate: Any) -> list[Any]:
    content = candidate.get("content") if isinstance(candidate, dict) else None
    found = content.get("parts") if isinstance(content, dict) else None
    return found if isinstance(found, list) else []


def first_candidate(resp: Mapping[str, Any]) -> JSON | None:
    candidates = resp.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return None


def block_reason(resp: Mapping[str, Any]) -> str | None:
    feedback = resp.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return reason if isinstance(reason, str) and reason else None


def grounding(candidate: Any) -> JSON | None:
    """A candidate's groundingMetadata (Google Search grounding), when it has one."""
    meta = candidate.get("groundingMetadata") if isinstance(candidate, dict) else None
    return meta if isinstance(meta, dict) and meta else None


def _web_chunks(meta: JSON) -> list[tuple[str, str | None] | None]:
    """groundingChunks as (uri, title), by position (None for a chunk that is not a web page)."""
    found: list[tuple[str, str | None] | None] = []
    for chunk in meta.get("groundingChunks") or ():
        web = chunk.get("web") if isinstance(chunk, dict) else None
        uri = web.get("uri") if isinstance(web, dict) else None
        title = web.get("title") if isinstance(web, dict) else None
        found.append((uri, title if isinstance(title, str) else None) if isinstance(uri, str) else None)
    return found


def grounding_queries(meta: JSON) -> list[str]:
    queries = meta.get("webSearchQueries")
    return [q for q in queries if isinstance(q, str)] if isinstance(queries, list) else []


def grounding_searches(meta: JSON | None) -> int:
    """Searches to bill: the queries Gemini ran (Gemini 3 bills each); a grounded answer that names no
    query still searched once."""
    if meta is None:
        return 0
    return len(grounding_queries(meta)) or (1 if meta.get("groundingChunks") else 0)


def grounding_blocks(meta: JSON) -> list[JSON]:
    """The searches as Anthropic server_tool_use + web_search_tool_result pairs, one per query; the
    pages found (Gemini does not say which query found which) are the first result's."""
    pages = [
        {
            "type": "web_search_result",
            "url": uri,
            "title": title or "",
            "encrypted_content": "",
            "page_age": None,
        }
        for uri, title in (c for c in _web_chunks(meta) if c is not None)
    ]
    blocks: list[JSON] = []
    for i, query in enumerate(grounding_queries(meta) or ([""] if pages else [])):
        tool_id = "srvtoolu_" + secrets.token_hex(12)
        blocks.append(
            {"type": "server_tool_use", "id": tool_id, "name": "web_search", "input": {"query": query}}
        )
        blocks.append(
            {"type": "web_search_tool_result", "tool_use_id": tool_id, "content": pages if i == 0 else []}
        )
    return blocks


def grounding_spans(meta: JSON, text: str) -> list[tuple[int, int, list[JSON]]]:
    """groundingSupports as (start, end, [hub citation]) spans of `text`, the answer's text. Gemini's
    segment indices count UTF-8 bytes; the spans count characters."""
    chunks = _web_chunks(meta)
    encoded = text.encode()

    def chars(offset: int) -> int:
        return len(encoded[:offset].decode(errors="ignore"))

    spans: list[tuple[int, int, list[JSON]]] = []
    for support in meta.get("groundingSupports") or ():
        segment = support.get("segment") if isinstance(support, dict) else None
        if not isinstance(segment, dict):
            continue
        start, end = read_int(segment.get("startIndex")), read_int(segment.get("endIndex"))
        if end <= start:
            continue
        first, last = chars(start), chars(end)
        citations = []
        for index in support.get("groundingChunkIndices") or ():
            page = chunks[index] if isinstance(index, int) and 0 <= index < len(chunks) else None
            if page is not None:
                citations.append(web_citation(page[0], page[1], text[first:last]))
        if citations:
            spans.append((first, last, citations))
    return spans


def gemini_response_to_anthropic(
    resp: dict[str, Any], model: str, tool_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A GenerateContentResponse -> a full Anthropic Message. `tool_names`: see `gemini_tool_names`."""
    names = tool_names or {}
    candidate = first_candidate(resp)
    content: list[JSON] = []
    stop_details: JSON | None = None
    if candidate is None:
        # A blocked prompt has no candidates at all, only promptFeedback.blockReason.
        blocked = block_reason(resp)
        stop = "refusal" if blocked else "end_turn"
        if blocked:
            stop_details = gemini_refusal(blocked)
    else:
        for part in parts(candidate):
            if not isinstance(part, dict):
                continue
            call = part.get("functionCall")
            if isinstance(call, dict):
                content.append(tool_use(call, part.get("thoughtSignature"), names))
                continue
            text = part.get("text")
            if not isinstance(text, str) or not text:
                continue  # empty text, inlineData, executable code: nothing an Anthropic client can take
            kind = "thinking" if part.get("thought") is True else "text"
            if content and content[-1]["type"] == kind:
                content[-1][kind] += text
            elif kind == "thinking":
                content.append({"type": "thinking", "thinking": text, "signature": ""})
            else:
                content.append({"type": "text", "text": text})
        meta = grounding(candidate)
        if meta is not None:
            content = grounding_blocks(meta) + cite_blocks(
                content, grounding_spans(meta, answer_text(content))
            )
        finish_reason = candidate.get("finishReason")
        has_calls = any(block["type"] == "tool_use" for block in content)
        stop = stop_reason(finish_reason, has_calls)
        if stop == "refusal":
            stop_details = gemini_refusal(str(finish_reason))
    message: JSON = {
        "id": message_id(resp.get("responseId")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": with_searches(
            gemini_usage(resp.get("usageMetadata")), grounding_searches(grounding(candidate))
        ),
    }
    if stop_details is not None:
        message["stop_details"] = stop_details
    return message
