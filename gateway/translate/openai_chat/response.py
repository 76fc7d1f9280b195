"""Non-streamed answers both ways: an OpenAI chat.completion <-> an Anthropic Message."""

from __future__ import annotations

import time
import uuid
from typing import Any

from gateway.translate.hub import cited_text_blocks, web_citation, web_citations, with_searches
from gateway.translate.openai_chat.common import (
    FINISH_TO_STOP,
    STOP_TO_FINISH,
    dumps,
    loads_object,
    message_id,
    reasoning_text,
    sanitize_id,
)
from gateway.translate.openai_chat.usage import usage_to_anthropic, usage_to_openai

JSON = dict[str, Any]


def url_citation_spans(text: str, annotations: Any) -> list[tuple[int, int, list[JSON]]]:
    """OpenAI `url_citation` annotations (Chat's nested shape or the Responses API's flat one) as
    (start, end, [hub citation]) spans of `text`."""
    spans: list[tuple[int, int, list[JSON]]] = []
    for item in annotations if isinstance(annotations, list) else ():
        if not isinstance(item, dict) or item.get("type") != "url_citation":
            continue
        inner = item.get("url_citation")
        cite = inner if isinstance(inner, dict) else item
        start, end, url = cite.get("start_index"), cite.get("end_index"), cite.get("url")
        if isinstance(start, int) and isinstance(end, int) and isinstance(url, str) and 0 <= start < end:
            spans.append((start, end, [web_citation(url, cite.get("title"), text[start:end])]))
    return spans


def openai_response_to_anthropic(
    resp: JSON, model: str, tool_names: dict[str, str] | None = None, *, searched: bool = False
) -> JSON:
    """`searched`: the request asked a search model to search (web_search_options), which OpenAI bills
    as one web search call; Chat reports no count of its own."""
    names = tool_names or {}
    choices = resp.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[JSON] = []

    signed = [
        b
        for b in message.get("thinking_blocks") or ()
        if isinstance(b, dict)
        and b.get("type") == "thinking"
        and isinstance(b.get("signature"), str)
        and b["signature"]
    ]
    if signed:
        content.extend(
            {"type": "thinking", "thinking": str(b.get("thinking") or ""), "signature": b["signature"]}
            for b in signed
        )
    elif reasoning := reasoning_text(message):
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})

    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(p.get("text") or "") for p in text if isinstance(p, dict))
    if isinstance(text, str) and text:
        content.extend(cited_text_blocks(text, url_citation_spans(text, message.get("annotations"))))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})

    calls = list(message.get("tool_calls") or ())
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"function": legacy})
    for k, call in enumerate(calls):
        if not isinstance(call, dict):
            continue
        fn = call.get("function") or {}
        name = str(fn.get("name") or "")
        args = fn.get("arguments")
        content.append(
            {
                "type": "tool_use",
                "id": sanitize_id(call.get("id"), f"{resp.get('id')}:{k}"),
                "name": names.get(name, name),
                "input": args if isinstance(args, dict) else loads_object(args or "{}") or {},
            }
        )

    finish = choice.get("finish_reason")
    stop_reason = FINISH_TO_STOP.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    if any(b["type"] == "tool_use" for b in content):
        stop_reason = "tool_use"
    elif isinstance(refusal, str) and refusal:
        stop_reason = "refusal"
    return {
        "id": message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": with_searches(usage_to_anthropic(resp.get("usage")), 1 if searched else 0),
    }


def url_annotations(block: JSON, text: str, base: int) -> list[JSON]:
    """A hub text block's web citations as Chat's `url_citation` annotations (`text`: the block's
    text, `base`: where it starts in the message's content)."""
    return [
        {
            "type": "url_citation",
            "url_citation": {
                "start_index": base + s,
                "end_index": base + e,
                "url": url,
                "title": title or "",
            },
        }
        for url, title, s, e in web_citations(block, text)
    ]


def anthropic_response_to_openai(resp: JSON, model: str) -> JSON:
    texts: list[str] = []
    annotations: list[JSON] = []
    at = 0
    reasoning: list[str] = []
    thinking_blocks: list[JSON] = []
    calls: list[JSON] = []
    for block in resp.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text = str(block.get("text") or "")
            annotations.extend(url_annotations(block, text, at))
            texts.append(text)
            at += len(text)
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking") or ""))
            thinking_blocks.append(
                {
                    "type": "thinking",
                    "thinking": block.get("thinking") or "",
                    "signature": block.get("signature") or "",
                }
            )
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data") or ""})
        elif kind == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name") or ""),
                        "arguments": dumps(block.get("input") or {}),
                    },
                }
            )
    message: JSON = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    if annotations:
        message["annotations"] = annotations
    if reasoning:
        # Non-standard, as vLLM/DeepSeek/LiteLLM send it; the OpenAI SDK keeps unknown fields.
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        # LiteLLM's field: a client that sends the message back unchanged lets the next request replay the
        # signed thinking, which Anthropic requires inside a tool loop.
        message["thinking_blocks"] = thinking_blocks
    stop = resp.get("stop_reason")
    finish = STOP_TO_FINISH.get(stop, "stop") if isinstance(stop, str) else "stop"
    return {
        "id": f"chatcmpl-{resp.get('id') or uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage_to_openai(resp.get("usage")),
    }
