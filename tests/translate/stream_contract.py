"""The Anthropic stream contract a translated stream must keep (protocols.md §2.2-2.4), checked
directly and through the official SDK: shared by the Gemini and Converse stream tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic
import httpx2
import orjson
import pydantic
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent

EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)
# Content block type -> the delta types it may carry.
DELTA_KINDS: Mapping[str, set[str]] = {
    "text": {"text_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}


def check_contract(events: list[dict[str, Any]], delta_kinds: Mapping[str, set[str]] = DELTA_KINDS) -> None:
    """Checked directly: the SDK ignores some violations Claude Code trips on."""
    for event in events:
        EVENT_ADAPTER.validate_python(event)
    types = [e["type"] for e in events]
    assert types[0] == "message_start" and types.count("message_start") == 1
    assert types[-2:] == ["message_delta", "message_stop"] and types.count("message_delta") == 1
    open_block: tuple[int, str] | None = None
    next_index = 0
    for event in events[1:-2]:
        if event["type"] == "content_block_start":
            assert open_block is None, "a block opened before the previous one stopped"
            assert event["index"] == next_index
            open_block = (event["index"], event["content_block"]["type"])
            next_index += 1
        elif event["type"] == "content_block_delta":
            assert open_block is not None and event["index"] == open_block[0]
            assert event["delta"]["type"] in delta_kinds[open_block[1]]
            payload = next(v for k, v in event["delta"].items() if k != "type")
            assert payload, "empty delta"
        elif event["type"] == "content_block_stop":
            assert open_block is not None and event["index"] == open_block[0]
            open_block = None
        else:
            raise AssertionError(f"unexpected event {event['type']}")
    assert open_block is None


def accumulate(events: list[dict[str, Any]], delta_kinds: Mapping[str, set[str]] = DELTA_KINDS) -> Any:
    """The official SDK accumulator over the events (after checking the contract)."""
    check_contract(events, delta_kinds)
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)  # type: ignore[arg-type]
    return snapshot


def through_sdk(
    events: list[dict[str, Any]], delta_kinds: Mapping[str, set[str]] = DELTA_KINDS
) -> anthropic.types.Message:
    """Check the contract, then serve the events as Anthropic SSE and read them with the SDK's own
    stream helper (`sdk_final_message`)."""
    check_contract(events, delta_kinds)
    return sdk_final_message(events)


def sdk_final_message(events: list[dict[str, Any]]) -> anthropic.types.Message:
    """The message the official SDK's stream helper builds from these events served as SSE.

    The SDK runs on httpx2 and refuses httpx objects, hence httpx2's MockTransport here.
    """
    body = b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://gateway.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()
