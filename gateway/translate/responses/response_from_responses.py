"""Answers, OpenAI Responses API `Response` -> Anthropic Message (the hub).

- `reasoning` items -> thinking blocks: the summary texts joined by a blank line, and the item's
  `encrypted_content` (with its id) carried in `signature` behind `REASONING_PREFIX`, which
  `request_to_responses.py` turns back into the same item when the client replays the turn. A reasoning
  item with neither summary nor encrypted content (reasoning the request did not ask to see) is dropped.
- `message` items -> one text block each (`output_text` parts joined; a `refusal` part too, and the
  answer's stop reason becomes `refusal`).
- `function_call` -> `tool_use` (the client's tool name restored, the call id made Anthropic-safe,
  arguments that do not parse -> `{}`); `custom_tool_call` -> `tool_use` with input `{"input": <text>}`.
  `web_search_call` -> Anthropic's `server_tool_use` (name web_search, input the query) and a
  `web_search_tool_result` listing the action's sources; `url_citation` annotations -> text blocks split
  at the cited spans, each carrying a `web_search_result_location` citation. Other server-side tool
  items (file search...) are not the client's: dropped.
- Status: `incomplete` with `max_output_tokens` -> `max_tokens`, with `content_filter` -> `refusal`;
  tool calls in the answer -> `tool_use`; else `end_turn`.
- Usage: `input_tokens` counts the cached ones, Anthropic's does not: input = input_tokens - cached,
  cache_read = cached; output_tokens as is (it includes the reasoning tokens, which are also reported as
  `output_tokens_details.thinking_tokens`).
"""

from __future__ import annotations

from typing import Any

from gateway.translate.hub import cited_text_blocks, read_int, with_searches
from gateway.translate.hub import usage as hub_usage
from gateway.translate.openai_chat.common import loads_object, message_id, sanitize_id
from gateway.translate.openai_chat.response import url_citation_spans
from gateway.translate.responses.request_to_responses import reasoning_signature

JSON = dict[str, Any]

INCOMPLETE_TO_STOP = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}


def responses_response_to_anthropic(resp: JSON, model: str, tool_names: dict[str, str] | None = None) -> JSON:
    names = tool_names or {}
    content: list[JSON] = []
    refused = False
    for position, item in enumerate(resp.get("output") or ()):
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            block = thinking_block(item)
            if block is not None:
                content.append(block)
        elif kind == "message":
            text, refusal = message_text(item)
            refused = refused or refusal
            if text:
                content.extend(cited_text_blocks(text, message_spans(item)))
        elif kind == "web_search_call":
            content.extend(web_search_blocks(item, f"{resp.get('id')}:{position}"))
        elif kind in ("function_call", "custom_tool_call"):
            content.append(tool_use(item, names, f"{resp.get('id')}:{position}"))
    stop_reason = stop_reason_of(resp, any(b["type"] == "tool_use" for b in content), refused)
    return {
        "id": message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": with_searches(usage_to_anthropic(resp.get("usage")), web_searches(resp.get("output"))),
    }


def web_searches(output: Any) -> int:
    """Web search calls to bill: each `web_search_call` item is one call."""
    items = output if isinstance(output, list) else ()
    return sum(1 for item in items if isinstance(item, dict) and item.get("type") == "web_search_call")


def web_search_blocks(item: JSON, seed: str) -> list[JSON]:
    """A web_search_call item as Anthropic's server_tool_use + web_search_tool_result pair."""
    action = item.get("action")
    action = action if isinstance(action, dict) else {}
    query = action.get("query")
    if not isinstance(query, str):
        queries = action.get("queries")
        query = " | ".join(q for q in queries if isinstance(q, str)) if isinstance(queries, list) else ""
    tool_id = "srvtoolu_" + sanitize_id(item.get("id"), seed)
    pages = [
        {
            "type": "web_search_result",
            "url": src["url"],
            "title": str(src.get("title") or ""),
            "encrypted_content": "",
            "page_age": None,
        }
        for src in action.get("sources") or ()
        if isinstance(src, dict) and isinstance(src.get("url"), str)
    ]
    return [
        {"type": "server_tool_use", "id": tool_id, "name": "web_search", "input": {"query": query}},
        {"type": "web_search_tool_result", "tool_use_id": tool_id, "content": pages},
    ]


def message_spans(item: JSON) -> list[tuple[int, int, list[JSON]]]:
    """A message item's url_citation annotations as spans of its text (the output_text parts joined:
    each part's offsets are its own)."""
    spans: list[tuple[int, int, list[JSON]]] = []
    at = 0
    for part in item.get("content") or ():
        if not isinstance(part, dict):
            continue
        text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
        if not isinstance(text, str):
            continue
        spans.extend((s + at, e + at, c) for s, e, c in url_citation_spans(text, part.get("annotations")))
        at += len(text)
    return spans


def thinking_block(item: JSON) -> JSON | None:
    """A reasoning item as a thinking block, or None when it shows and carries nothing."""
    texts = [
        str(part.get("text") or "")
        for part in item.get("summary") or ()
        if isinstance(part, dict) and part.get("type") == "summary_text"
    ]
    text = "\n\n".join(t for t in texts if t)
    encrypted = item.get("encrypted_content")
    item_id = item.get("id")
    signature = (
        reasoning_signature(item_id, encrypted)
        if isinstance(encrypted, str) and encrypted and isinstance(item_id, str) and item_id
        else ""
    )
    if not text and not signature:
        return None
    return {"type": "thinking", "thinking": text, "signature": signature}


def message_text(item: JSON) -> tuple[str, bool]:
    """A message item's text, and whether it was a refusal."""
    texts: list[str] = []
    refused = False
    for part in item.get("content") or ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "output_text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
            refused = True
    return "".join(texts), refused


def tool_use(item: JSON, names: dict[str, str], seed: str) -> JSON:
    name = str(item.get("name") or "")
    tool_input: JSON | None
    if item.get("type") == "custom_tool_call":
        tool_input = {"input": str(item.get("input") or "")}
    else:
        arguments = item.get("arguments")
        tool_input = loads_object(arguments) if isinstance(arguments, str) else None
    return {
        "type": "tool_use",
        "id": sanitize_id(item.get("call_id"), seed),
        "name": names.get(name, name),
        "input": tool_input or {},
    }


def stop_reason_of(resp: JSON, has_tool_use: bool, refused: bool) -> str:
    if resp.get("status") == "incomplete":
        details = resp.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return INCOMPLETE_TO_STOP.get(str(reason), "max_tokens")
    if has_tool_use:
        return "tool_use"
    return "refusal" if refused else "end_turn"


def usage_to_anthropic(usage: Any) -> JSON:
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("input_tokens_details")
    cached = read_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    out = hub_usage(
        max(read_int(usage.get("input_tokens")) - cached, 0), read_int(usage.get("output_tokens"))
    )
    out["cache_read_input_tokens"] = cached
    output_details = usage.get("output_tokens_details")
    if isinstance(output_details, dict) and isinstance(output_details.get("reasoning_tokens"), int):
        out["output_tokens_details"] = {"thinking_tokens": output_details["reasoning_tokens"]}
    return out
