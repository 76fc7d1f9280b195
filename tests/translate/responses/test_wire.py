"""The Responses SSE encoding, the mid-stream error event, ids and the reasoning carrier."""

from __future__ import annotations

import orjson

from gateway.core.formats import Format
from gateway.translate.responses import GATEWAY_RESPONSE_PREFIX, new_item_id, new_response_id
from gateway.translate.responses.reasoning import decode, encode
from gateway.translate.sse import SSEDecoder, encode_responses, stream_error
from tests.translate.responses.support import EVENTS


def test_encode_names_the_event_and_has_no_done() -> None:
    event = {"type": "response.output_text.delta", "sequence_number": 3, "delta": "hi"}
    wire = encode_responses(event)
    data = b'{"type":"response.output_text.delta","sequence_number":3,"delta":"hi"}'
    assert wire == b"event: response.output_text.delta\ndata: " + data + b"\n\n"
    [decoded] = SSEDecoder().feed(wire)
    assert decoded.event == "response.output_text.delta" and orjson.loads(decoded.data) == event


def test_stream_error_is_the_responses_error_event() -> None:
    wire = stream_error(Format.RESPONSES, "overloaded_error", "Overloaded", "req_1")
    [decoded] = SSEDecoder().feed(wire)
    assert decoded.event == "error"
    data = orjson.loads(decoded.data)
    assert "error" not in data  # a top-level `error` would make the SDK drop the event shape
    event = EVENTS.validate_python(data)
    assert event.type == "error" and event.message == "Overloaded" and event.code


def test_ids() -> None:
    ids = {new_response_id() for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith(GATEWAY_RESPONSE_PREFIX) for i in ids)
    assert new_item_id("fc").startswith("fc_") and new_item_id("fc") != new_item_id("fc")


def test_carrier_round_trip_and_refusals() -> None:
    block = {"type": "thinking", "thinking": "Hmm. ü", "signature": "EqQBCkgIARABGAIiQ+/=="}
    carried = encode(block, "anthropic")
    assert carried is not None and carried.startswith("gwr1:anthropic:")
    assert decode(carried, "anthropic") == block
    assert decode(carried, "gemini") is None  # another family's signature is never sent
    assert decode("gAAAAB-openai", "anthropic") is None  # OpenAI's own
    assert decode(carried[:-4] + "!!!!", "anthropic") is None  # damaged
    assert decode(None, "anthropic") is None
    assert encode({"type": "thinking", "thinking": "x", "signature": ""}, "anthropic") is None
