"""Answers, Anthropic Messages (the hub) -> an OpenAI Responses `Response` object, in the shape the real
API returns (the SDK's `Response` type): output items, usage, status, and the request's echoed fields.

Hub blocks become items: thinking / redacted_thinking -> `reasoning` (its text as the summary when the
request asked for one; the signed block in `encrypted_content` when `include` asks for
`reasoning.encrypted_content`, see reasoning.py); a run of text blocks -> one `message` with an
`output_text` part per block; tool_use -> `function_call` or `custom_tool_call` under the client's own
name and namespace (items.ToolNames); Anthropic's web search -> `web_search_call`; a text block's web
citations -> `url_citation` annotations of its part. The stream side (stream_to_responses.py) builds
the same items (annotations as `response.output_text.annotation.added`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.translate.hub import read_int, web_citations
from gateway.translate.responses import reasoning
from gateway.translate.responses.items import ToolNames, new_item_id

JSON = dict[str, Any]

ENCRYPTED = "reasoning.encrypted_content"
# Anthropic stop reasons that leave a Response incomplete, and the reason the real API gives.
_INCOMPLETE = {"max_tokens": "max_output_tokens", "model_context_window_exceeded": "max_output_tokens"}
_FILTERED = {"refusal"}


def anthropic_response_to_responses(
    hub_answer: JSON,
    request: JSON,
    response_id: str,
    client_model: str,
    names: ToolNames,
    *,
    family: str = "anthropic",
    created_at: int | None = None,
) -> JSON:
    """`request`: the Responses request as the data plane holds it (its history already expanded);
    `family`: the target's wire format, recorded in carried reasoning (reasoning.py)."""
    items = OutputItems(request, names, family)
    blocks = hub_answer.get("content")
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict):
            items.block(block)
    status, details = stop_status(hub_answer.get("stop_reason"))
    return response_object(
        request,
        response_id,
        client_model,
        created_at if created_at is not None else int(time.time()),
        status,
        items.output,
        usage(hub_answer.get("usage")),
        incomplete_details=details,
    )


def stop_status(stop_reason: Any) -> tuple[str, JSON | None]:
    if stop_reason in _INCOMPLETE:
        return "incomplete", {"reason": _INCOMPLETE[stop_reason]}
    if stop_reason in _FILTERED:
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def usage(hub_usage: Any) -> JSON:
    """Anthropic's usage as the Responses API counts it: input includes the cached and cache-written
    tokens; Anthropic does not count reasoning tokens apart from the output."""
    u = hub_usage if isinstance(hub_usage, dict) else {}
    fresh, written = read_int(u.get("input_tokens")), read_int(u.get("cache_creation_input_tokens"))
    cached, output = read_int(u.get("cache_read_input_tokens")), read_int(u.get("output_tokens"))
    total_in = fresh + written + cached
    return {
        "input_tokens": total_in,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total_in + output,
    }


def wants_summary(request: JSON) -> bool:
    spec = request.get("reasoning")
    return isinstance(spec, dict) and (
        spec.get("summary") is not None or spec.get("generate_summary") is not None
    )


def wants_encrypted(request: JSON) -> bool:
    include = request.get("include")
    return isinstance(include, list) and ENCRYPTED in include


class OutputItems:
    """Hub content blocks -> Responses output items (the whole-answer side)."""

    def __init__(self, request: JSON, names: ToolNames, family: str) -> None:
        self.names = names
        self.family = family
        self.summary = wants_summary(request)
        self.encrypted = wants_encrypted(request)
        self.output: list[JSON] = []
        self._message: JSON | None = None  # the message item the last text block went to

    def block(self, block: JSON) -> None:
        kind = block.get("type")
        if kind == "text":
            if self._message is None:
                self._message = message_item(new_item_id("msg"), "completed")
                self.output.append(self._message)
            text = str(block.get("text") or "")
            part = output_text(text)
            part["annotations"] = url_annotations(block, text, 0)
            self._message["content"].append(part)
            return
        self._message = None
        if kind in ("thinking", "redacted_thinking"):
            self.output.append(self.reasoning_item(new_item_id("rs"), block))
        elif kind == "tool_use":
            self.output.append(self.call_item(block, _arguments(block.get("input")), "completed"))
        elif kind == "server_tool_use" and block.get("name") == "web_search":
            self.output.append(web_search_item(block, "completed"))
        # web_search_tool_result and other server blocks: their findings are in the text that follows.

    def reasoning_item(self, item_id: str, block: JSON) -> JSON:
        item: JSON = {"id": item_id, "type": "reasoning", "summary": []}
        text = block.get("thinking")
        if self.summary and block.get("type") == "thinking" and isinstance(text, str) and text:
            item["summary"].append({"type": "summary_text", "text": text})
        if self.encrypted:
            item["encrypted_content"] = reasoning.encode(block, self.family)
        return item

    def call_item(self, block: JSON, arguments: str, status: str, item_id: str | None = None) -> JSON:
        """A function_call or custom_tool_call item for a hub tool_use block (`arguments`: its input as
        JSON text)."""
        name = self.names.get(str(block.get("name") or ""))
        call_id = str(block.get("id") or "")
        item: JSON
        if name.kind == "custom":
            parsed = _loads(arguments)
            text = parsed.get("input") if isinstance(parsed, dict) else None
            item = {
                "id": item_id or new_item_id("ctc"),
                "type": "custom_tool_call",
                "call_id": call_id,
                "name": name.name,
                "input": text if isinstance(text, str) else "",
            }
        else:
            item = {
                "id": item_id or new_item_id("fc"),
                "type": "function_call",
                "status": status,
                "arguments": arguments,
                "call_id": call_id,
                "name": name.name,
            }
        if name.namespace is not None:
            item["namespace"] = name.namespace
        return item


def message_item(item_id: str, status: str) -> JSON:
    return {"id": item_id, "type": "message", "status": status, "content": [], "role": "assistant"}


def output_text(text: str) -> JSON:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def url_annotations(block: JSON, text: str, base: int) -> list[JSON]:
    """A hub text block's web citations as the Responses API's flat `url_citation` annotations (`text`:
    the block's text, `base`: where it starts in the part)."""
    return [
        {
            "type": "url_citation",
            "start_index": base + s,
            "end_index": base + e,
            "url": url,
            "title": title or "",
        }
        for url, title, s, e in web_citations(block, text)
    ]


def web_search_item(block: JSON, status: str) -> JSON:
    raw = block.get("input")
    query = raw.get("query") if isinstance(raw, dict) else None
    action: JSON = {"type": "search"}
    if isinstance(query, str):
        action["query"] = query
    return {"id": new_item_id("ws"), "type": "web_search_call", "status": status, "action": action}


def _arguments(value: Any) -> str:
    return orjson.dumps(value if isinstance(value, dict) else {}).decode()


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def response_object(
    request: JSON,
    response_id: str,
    model: str,
    created_at: int,
    status: str,
    output: list[JSON],
    usage_obj: JSON | None,
    *,
    incomplete_details: JSON | None = None,
    error: JSON | None = None,
) -> JSON:
    """The Response object, with the request's settings echoed as the real API echoes them (its
    defaults where the request left a field out)."""
    spec = request.get("reasoning")
    text = request.get("text")
    metadata = request.get("metadata")
    done = status in ("completed", "incomplete", "failed")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls") is not False,
        "previous_response_id": request.get("previous_response_id"),
        "prompt_cache_key": request.get("prompt_cache_key"),
        "reasoning": {
            "effort": spec.get("effort") if isinstance(spec, dict) else None,
            "summary": spec.get("summary") if isinstance(spec, dict) else None,
        },
        "safety_identifier": request.get("safety_identifier"),
        "service_tier": "default",
        "store": request.get("store") is not False,
        "temperature": _number(request.get("temperature"), 1.0),
        "text": {
            "format": (text.get("format") if isinstance(text, dict) else None) or {"type": "text"},
            "verbosity": (text.get("verbosity") if isinstance(text, dict) else None) or "medium",
        },
        "tool_choice": request.get("tool_choice") if request.get("tool_choice") is not None else "auto",
        "tools": request.get("tools") if isinstance(request.get("tools"), list) else [],
        "top_logprobs": request.get("top_logprobs") or 0,
        "top_p": _number(request.get("top_p"), 1.0),
        "truncation": request.get("truncation") or "disabled",
        "usage": usage_obj if done else None,
        "user": request.get("user"),
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
