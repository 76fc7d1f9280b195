"""A Gemini GenerateContentResponse -> an Anthropic Message, and the readers of Gemini's answer that the
stream converter shares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.translate.gemini.names import new_tool_id
from gateway.translate.hub import new_message_id, read_int, refusal_details, usage

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
        "usage": gemini_usage(resp.get("usageMetadata")),
    }
    if stop_details is not None:
        message["stop_details"] = stop_details
    return message
