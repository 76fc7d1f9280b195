"""A Converse response -> an Anthropic Message, and the readers of Converse's answer that the stream
converter shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.translate.converse.blocks import texts_of
from gateway.translate.converse.names import anthropic_tool_id
from gateway.translate.hub import new_message_id, read_int, refusal_details, usage

JSON = dict[str, Any]

_STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "model_context_window_exceeded": "model_context_window_exceeded",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
}


def _count(meta: Mapping[str, Any], key: str) -> int:
    """A token count: a negative one is read as 0."""
    return max(read_int(meta.get(key)), 0)


def converse_usage(meta: Any) -> JSON:
    meta = meta if isinstance(meta, dict) else {}
    # inputTokens is exclusive of cache reads and writes already (see the package docstring), as
    # Anthropic's is.
    out = usage(
        _count(meta, "inputTokens"),
        _count(meta, "outputTokens"),
        cache_write=_count(meta, "cacheWriteInputTokens"),
        cache_read=_count(meta, "cacheReadInputTokens"),
    )
    details = meta.get("cacheDetails")
    if isinstance(details, list):
        by_ttl = {"5m": 0, "1h": 0}
        for detail in details:
            if isinstance(detail, dict) and detail.get("ttl") in by_ttl:
                by_ttl[detail["ttl"]] += _count(detail, "inputTokens")
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": by_ttl["5m"],
            "ephemeral_1h_input_tokens": by_ttl["1h"],
        }
    return out


def anthropic_stop_reason(reason: Any, has_calls: bool) -> str:
    mapped = _STOP_REASONS.get(reason) if isinstance(reason, str) else None
    if mapped is None or mapped in ("end_turn", "tool_use"):
        # malformed_model_output / malformed_tool_use / unknown: the turn ended. Claude Code runs tools
        # only on tool_use, and a tool_use stop without a call would stall it.
        return "tool_use" if has_calls else "end_turn"
    return mapped


def converse_refusal(reason: Any) -> JSON:
    return refusal_details(f"Bedrock stopped the response ({reason})")


def matched_stop_sequence(fields: Any) -> str | None:
    value = fields.get("stop_sequence") if isinstance(fields, dict) else None
    return value if isinstance(value, str) and value else None


def _response_blocks(block: Any, names: Mapping[str, str]) -> list[JSON]:
    if not isinstance(block, dict):
        return []
    text = block.get("text")
    if isinstance(text, str):
        return [{"type": "text", "text": text}] if text else []
    tool = block.get("toolUse")
    if isinstance(tool, dict):
        name = tool.get("name")
        args = tool.get("input")
        return [
            {
                "type": "tool_use",
                "id": anthropic_tool_id(tool.get("toolUseId")),
                "name": names.get(name, name) if isinstance(name, str) else "",
                "input": args if isinstance(args, dict) else {},
            }
        ]
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict):
        redacted = reasoning.get("redactedContent")
        if isinstance(redacted, str) and redacted:
            return [{"type": "redacted_thinking", "data": redacted}]
        inner = reasoning.get("reasoningText")
        if isinstance(inner, dict):
            thinking = inner.get("text") if isinstance(inner.get("text"), str) else ""
            signature = inner.get("signature") if isinstance(inner.get("signature"), str) else ""
            if thinking or signature:
                return [{"type": "thinking", "thinking": thinking, "signature": signature}]
        return []
    cited = block.get("citationsContent")
    if isinstance(cited, dict):
        text = texts_of(cited.get("content"))
        return [{"type": "text", "text": text}] if text else []
    return []  # image, document, toolResult, guardContent, ...: nothing an Anthropic client takes


def converse_response_to_anthropic(
    obj: dict[str, Any], model: str, tool_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Converse response JSON -> Anthropic Message dict (id msg_..., type message, role assistant,
    model=model, content, stop_reason, stop_sequence, usage). `tool_names`: see `converse_tool_names`."""
    names = tool_names or {}
    obj = obj if isinstance(obj, dict) else {}
    output = obj.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    items = message.get("content") if isinstance(message, dict) else None
    content: list[JSON] = []
    for item in items if isinstance(items, list) else []:
        content.extend(_response_blocks(item, names))
    reason = obj.get("stopReason")
    stop_reason = anthropic_stop_reason(reason, any(block["type"] == "tool_use" for block in content))
    stop_sequence = matched_stop_sequence(obj.get("additionalModelResponseFields"))
    result: JSON = {
        "id": new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": converse_usage(obj.get("usage")),
    }
    if stop_reason == "refusal":
        result["stop_details"] = converse_refusal(reason)
    return result
