"""ConverseStream events -> Anthropic stream events, checked by the SDK's accumulator."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.errors import KINDS
from gateway.translate import StreamIncomplete
from gateway.translate.converse import (
    ConverseStreamError,
    ConverseStreamToAnthropic,
    converse_response_to_anthropic,
    exception_kind,
)
from tests.translate.converse.support import (
    MODEL,
    USAGE,
    accumulate,
    assert_same_message,
    convert_stream,
    stream_of,
    through_sdk,
)


def test_streamed_text_answer_equals_the_whole_response() -> None:
    blocks = [{"text": "Hello there, how can I help?"}]
    events = convert_stream(stream_of(blocks, "end_turn", USAGE))
    whole = converse_response_to_anthropic(
        {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": "end_turn",
            "usage": USAGE,
        },
        MODEL,
    )
    assert_same_message(through_sdk(events), whole)
    assert_same_message(accumulate(events), whole)
    start = events[0]["message"]
    assert start["usage"] == {
        "input_tokens": 42,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 0,
    }
    assert start["model"] == MODEL


def test_streamed_tool_call_equals_the_whole_response() -> None:
    blocks: list[dict[str, Any]] = [
        {"reasoningContent": {"reasoningText": {"text": "User wants weather.", "signature": "sig-abc"}}},
        {"text": "Checking."},
        {
            "toolUse": {
                "toolUseId": "tooluse_1",
                "name": "get_weather",
                "input": {"city": "Paris", "days": [1, 2]},
            }
        },
        {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {}}},
    ]
    events = convert_stream(stream_of(blocks, "tool_use", USAGE))
    whole = converse_response_to_anthropic(
        {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": "tool_use",
            "usage": USAGE,
        },
        MODEL,
    )
    message = through_sdk(events)
    assert_same_message(message, whole)
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[2].input == {"city": "Paris", "days": [1, 2]}  # type: ignore[union-attr]
    assert message.content[3].input == {}  # type: ignore[union-attr]
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert starts[2] == {"type": "tool_use", "id": "tooluse_1", "name": "get_weather", "input": {}}
    signature = [
        e for e in events if e["type"] == "content_block_delta" and e["delta"]["type"] == "signature_delta"
    ]
    assert signature == [
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig-abc"},
        }
    ]


def test_usage_arrives_in_metadata_after_message_stop() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 99)
    assert [e["type"] for e in converter.feed("messageStart", {"role": "assistant"})] == ["message_start"]
    converter.feed("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    stop = converter.feed("messageStop", {"stopReason": "max_tokens"})
    # The open block closes; message_delta waits for the usage.
    assert [e["type"] for e in stop] == ["content_block_stop"]
    usage = {"inputTokens": 5, "outputTokens": 1, "totalTokens": 306, "cacheWriteInputTokens": 300}
    end = converter.feed("metadata", {"usage": usage, "metrics": {"latencyMs": 1}})
    assert end == [
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {
                "input_tokens": 5,
                "cache_creation_input_tokens": 300,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        },
        {"type": "message_stop"},
    ]
    assert converter.finish() == []
    assert converter.feed("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "late"}}) == []


def test_stream_ending_after_message_stop_without_metadata_still_closes() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 17)
    events = converter.feed("messageStart", {"role": "assistant"})
    events += converter.feed("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    events += converter.feed("messageStop", {"stopReason": "end_turn"})
    events += converter.finish()
    message = accumulate(events)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 17 and message.usage.output_tokens == 0


def test_stream_without_message_stop_is_incomplete() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 1)
    converter.feed("messageStart", {"role": "assistant"})
    converter.feed("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    converter.feed("metadata", {"usage": USAGE, "metrics": {"latencyMs": 1}})
    with pytest.raises(StreamIncomplete):
        converter.finish()
    with pytest.raises(StreamIncomplete):
        ConverseStreamToAnthropic(MODEL, 1).finish()


def test_metadata_before_message_stop_is_held() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 1)
    events = converter.feed("metadata", {"usage": USAGE, "metrics": {"latencyMs": 1}})
    assert [e["type"] for e in events] == ["message_start"]
    events += converter.feed("messageStop", {"stopReason": "end_turn"})
    assert [e["type"] for e in events][-2:] == ["message_delta", "message_stop"]
    assert events[-2]["usage"]["input_tokens"] == 20


def test_stream_stop_sequence_refusal_and_redacted_reasoning() -> None:
    events = convert_stream(
        [
            ("messageStart", {"role": "assistant"}),
            (
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"reasoningContent": {"redactedContent": "EmwK"}}},
            ),
            (
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"reasoningContent": {"redactedContent": "AhgB"}}},
            ),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Sorry"}}),
            ("messageStop", {"stopReason": "guardrail_intervened"}),
            ("metadata", {"usage": USAGE, "metrics": {"latencyMs": 1}}),
        ]
    )
    message = accumulate(events)
    assert [block.type for block in message.content] == ["redacted_thinking", "text"]
    assert message.content[0].data == "EmwKAhgB"
    assert message.stop_reason == "refusal"
    assert events[-2]["delta"]["stop_details"]["type"] == "refusal"
    stop_sequence = convert_stream(
        [
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a"}}),
            (
                "messageStop",
                {"stopReason": "stop_sequence", "additionalModelResponseFields": {"stop_sequence": "END"}},
            ),
        ]
    )
    assert accumulate(stop_sequence).stop_sequence == "END"


def test_stream_is_defensive_about_odd_events() -> None:
    events = convert_stream(
        [
            # No messageStart at all: message_start is still first.
            (
                "contentBlockDelta",
                {"contentBlockIndex": 5, "delta": {"toolUse": {"input": '{"a":1}'}}},
            ),  # never started
            ("contentBlockStop", {"contentBlockIndex": 7}),  # never opened
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": ""}}),  # empty
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": "junk"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "A"}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"citation": {"title": "x"}}}),
            ("contentBlockStart", {"contentBlockIndex": 1, "start": {"image": {"format": "png"}}}),
            # A new index without a stop for the previous one: the previous block is closed first.
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"reasoningContent": {"text": "hmm"}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "B"}}),  # back to an old index
            ("someFutureEvent", {"x": 1}),
            ("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"name": "f"}}}),  # no id
            ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": ""}}}),
            ("contentBlockStop", {"contentBlockIndex": 2}),
            ("messageStop", {}),
            ("metadata", {"usage": "junk"}),
        ]
    )
    message = accumulate(events)
    assert [block.type for block in message.content] == ["text", "thinking", "text", "tool_use"]
    assert message.content[3].id.startswith("toolu_")
    assert message.stop_reason == "tool_use"  # messageStop without a reason: the turn ended, with a call


def test_stream_exception_events_raise_with_their_kind() -> None:
    converter = ConverseStreamToAnthropic(MODEL, 1)
    converter.feed("messageStart", {"role": "assistant"})
    with pytest.raises(ConverseStreamError) as info:
        converter.feed("throttlingException", {"message": "Too many requests"})
    assert (info.value.kind, info.value.message) == ("rate_limit_error", "Too many requests")
    with pytest.raises(ConverseStreamError) as info:
        converter.feed("modelStreamErrorException", {"originalMessage": "boom", "originalStatusCode": 500})
    assert (info.value.kind, info.value.message) == ("api_error", "boom")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ThrottlingException", "rate_limit_error"),
        ("throttlingException", "rate_limit_error"),
        ("ServiceQuotaExceededException", "rate_limit_error"),
        ("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/", "invalid_request_error"),
        ("validationException", "invalid_request_error"),
        ("ServiceUnavailableException", "overloaded_error"),
        ("ModelNotReadyException", "overloaded_error"),
        ("AccessDeniedException", "permission_error"),
        ("ResourceNotFoundException", "not_found_error"),
        ("ModelTimeoutException", "timeout_error"),
        ("InternalServerException", "api_error"),
        ("modelStreamErrorException", "api_error"),
        ("ModelErrorException", "api_error"),
        ("SomethingNewException", "api_error"),
        ("", "api_error"),
    ],
)
def test_exception_kind(name: str, kind: str) -> None:
    assert exception_kind(name) == kind
    assert kind in KINDS


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        # The front door's 403s are permission errors to the SDKs (their class follows the status).
        (
            "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            403,
            "permission_error",
        ),
        ("UnrecognizedClientException", 403, "permission_error"),
        ("AccessDeniedException", 403, "permission_error"),
        ("SomethingNewException", 403, "permission_error"),
        ("SomethingNewException", 401, "authentication_error"),
        ("ValidationException", 413, "request_too_large"),
        ("ServiceQuotaExceededException", 400, "invalid_request_error"),
        ("ModelNotReadyException", 429, "rate_limit_error"),
        ("ServiceUnavailableException", 503, "overloaded_error"),
        ("InternalServerException", 529, "overloaded_error"),
        # Statuses outside http.md's table: the name decides.
        ("ModelErrorException", 424, "api_error"),
        ("ModelTimeoutException", 408, "timeout_error"),
        ("SomethingNewException", 424, "invalid_request_error"),
        ("SomethingNewException", 599, "api_error"),
    ],
)
def test_exception_kind_with_a_status(name: str, status: int, kind: str) -> None:
    assert exception_kind(name, status) == kind
