"""Hub stream -> Responses events: the real API's order, sequence numbers, and the SDK's own stream state
reading them to the same Response the whole-answer converter builds."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.translate import StreamIncomplete
from gateway.translate.responses import AnthropicStreamToResponses, ToolNames
from gateway.translate.responses.reasoning import decode
from tests.translate.responses.support import accumulate, hub_stream, strict_response

TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
    {"type": "custom", "name": "apply_patch"},
    {
        "type": "namespace",
        "name": "crm",
        "description": "d",
        "tools": [{"type": "function", "name": "lookup"}],
    },
]
REQUEST: dict[str, Any] = {
    "model": "m",
    "input": "Q",
    "tools": TOOLS,
    "reasoning": {"effort": "low", "summary": "auto"},
    "include": ["reasoning.encrypted_content"],
}
THINKING = {"type": "thinking", "thinking": "Hmm, weather.", "signature": "sig-abc"}


def run(
    blocks: list[dict[str, Any]], stop: str = "end_turn", request: dict[str, Any] = REQUEST
) -> tuple[Any, list[dict[str, Any]], AnthropicStreamToResponses]:
    conv = AnthropicStreamToResponses(request, "resp_gwtest", "client-model", ToolNames.of(request))
    events: list[dict[str, Any]] = []
    for event in hub_stream(blocks, stop):
        events.extend(conv.feed(event))
    events.extend(conv.finish())
    return accumulate(events, TOOLS), events, conv


def test_text_event_order() -> None:
    final, events, conv = run([{"type": "text", "text": "Hello there"}])
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.output_text == "Hello there" and final.status == "completed"
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["usage"] is None
    assert all(e["logprobs"] == [] for e in events if e["type"].startswith("response.output_text"))
    assert conv.response is not None and conv.response["id"] == "resp_gwtest"
    strict_response(conv.response)


def test_every_item_kind_streams() -> None:
    blocks = [
        THINKING,
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "apply_patch", "input": {"input": "*** Begin"}},
        {"type": "tool_use", "id": "toolu_3", "name": "crm__lookup", "input": {"id": 7}},
    ]
    final, events, conv = run(blocks, stop="tool_use")
    kinds = [e["type"] for e in events]
    assert kinds[:7] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]
    assert kinds.count("response.output_item.added") == kinds.count("response.output_item.done") == 5
    assert kinds.count("response.function_call_arguments.done") == 2
    assert kinds.count("response.custom_tool_call_input.done") == 1
    assert kinds[-1] == "response.completed"
    rs, msg, fc, ctc, ns = final.output
    assert rs.summary[0].text == "Hmm, weather." and decode(rs.encrypted_content, "anthropic") == THINKING
    assert msg.content[0].text == "Checking."
    assert (fc.name, fc.arguments, fc.call_id, fc.status) == (
        "get_weather",
        '{"city":"Paris"}',
        "toolu_1",
        "completed",
    )
    assert (ctc.type, ctc.name, ctc.input) == ("custom_tool_call", "apply_patch", "*** Begin")
    assert (ns.name, ns.namespace) == ("lookup", "crm")
    # The stream's Response is the one the whole answer would have been (ids aside).
    assert conv.response is not None
    assert [i["type"] for i in conv.response["output"]] == [i.type for i in final.output]
    assert conv.response["usage"]["input_tokens"] == 14 and conv.response["usage"]["output_tokens"] == 7
    args = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert args == '{"city":"Paris"}{"id":7}'


def test_text_blocks_in_a_row_are_one_message() -> None:
    final, events, _ = run([{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}])
    [message] = final.output
    assert [p.text for p in message.content] == ["One.", "Two."]
    indexes = [e["content_index"] for e in events if e["type"] == "response.content_part.added"]
    assert indexes == [0, 1]


def test_max_tokens_is_incomplete() -> None:
    _, events, conv = run([{"type": "text", "text": "cut sho"}], stop="max_tokens")
    assert events[-1]["type"] == "response.incomplete"
    final = strict_response(events[-1]["response"])
    assert final.status == "incomplete" and final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens" and final.output_text == "cut sho"
    assert conv.response == events[-1]["response"]


def test_no_summary_events_unless_asked() -> None:
    final, events, _ = run([THINKING, {"type": "text", "text": "x"}], request={"model": "m", "input": "Q"})
    assert not [e for e in events if "reasoning_summary" in e["type"]]
    assert final.output[0].type == "reasoning" and final.output[0].summary == []
    assert final.output[0].encrypted_content is None


def test_a_stream_without_message_stop_is_incomplete() -> None:
    conv = AnthropicStreamToResponses(REQUEST, "resp_gwx", "m", ToolNames.of(REQUEST))
    for event in hub_stream([{"type": "text", "text": "Hello"}])[:-1]:
        conv.feed(event)
    with pytest.raises(StreamIncomplete):
        conv.finish()


def test_failed_ends_with_response_failed_then_error() -> None:
    conv = AnthropicStreamToResponses(REQUEST, "resp_gwx", "m", ToolNames.of(REQUEST))
    events: list[dict[str, Any]] = []
    for event in hub_stream([{"type": "text", "text": "Hello"}])[:4]:
        events.extend(conv.feed(event))
    events.extend(conv.failed("overloaded_error", "Overloaded"))
    assert [e["type"] for e in events[-2:]] == ["response.failed", "error"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    failed = events[-2]["response"]
    assert failed["status"] == "failed" and failed["error"] == {
        "code": "server_error",
        "message": "Overloaded",
    }
    assert events[-1]["message"] == "Overloaded"
    assert conv.response is failed
    strict_response(failed)


def test_failed_before_anything_still_creates_the_response() -> None:
    conv = AnthropicStreamToResponses(REQUEST, "resp_gwx", "m", ToolNames.of(REQUEST))
    kinds = [e["type"] for e in conv.failed("api_error", "boom")]
    assert kinds == ["response.created", "response.in_progress", "response.failed", "error"]


def test_web_search_is_a_web_search_call_item() -> None:
    search = {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "paris"},
    }
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
    final, _, _ = run([search, result, {"type": "text", "text": "Found."}])
    call, message = final.output
    assert call.type == "web_search_call" and call.status == "completed" and call.action.query == "paris"
    assert message.content[0].text == "Found."
