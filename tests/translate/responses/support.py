"""Checks shared by the Responses client-side converter tests: the openai SDK's own types and stream
accumulator as the judge of shapes and event order."""

from __future__ import annotations

from typing import Any

import orjson
import pydantic
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)


def strict_response(obj: dict[str, Any]) -> Response:
    """The object as the SDK's `Response` type, failing on any field the type does not have but `store`
    (the real API returns it; this SDK's type lacks it)."""
    response = Response.model_validate(obj, strict=False)
    extra = {k: v for k, v in (response.model_extra or {}).items() if k != "store"}
    assert not extra, extra
    return response


def accumulate(events: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Any:
    """Every event validated against the SDK's union, numbered from 0, and read by the SDK's own stream
    state (which raises on a wrong order or identity); returns its final Response."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=tools or omit, text_format=omit)
    for raw in events:
        event = EVENTS.validate_python(raw)
        state.handle_event(event)
    return state._completed_response


def hub_stream(blocks: list[dict[str, Any]], stop: str = "end_turn") -> list[dict[str, Any]]:
    """An Anthropic event stream for `blocks` (text split in two deltas, tool input in two)."""
    usage = {"input_tokens": 10, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0}
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "usage": usage},
        }
    ]
    for i, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            events.append(
                {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}
            )
            half = len(block["text"]) // 2
            for piece in (block["text"][:half], block["text"][half:]):
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "text_delta", "text": piece},
                    }
                )
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            events.append({"type": "content_block_start", "index": i, "content_block": start})
            delta = {"type": "thinking_delta", "thinking": block["thinking"]}
            events.append({"type": "content_block_delta", "index": i, "delta": delta})
            sig = {"type": "signature_delta", "signature": block["signature"]}
            events.append({"type": "content_block_delta", "index": i, "delta": sig})
        elif kind == "tool_use":
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            events.append({"type": "content_block_start", "index": i, "content_block": start})
            text = orjson.dumps(block["input"]).decode()
            for piece in (text[:3], text[3:]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                events.append({"type": "content_block_delta", "index": i, "delta": delta})
        else:
            events.append({"type": "content_block_start", "index": i, "content_block": block})
        events.append({"type": "content_block_stop", "index": i})
    events.append({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 7}})
    events.append({"type": "message_stop"})
    return events
