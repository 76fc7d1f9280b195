"""The relay of a translated Responses call, driven with real provider bytes: the Response it keeps for
conversation state, and a stream that fails part way through a chunk."""

from __future__ import annotations

import orjson
import pytest

from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.dataplane.translated import TranslationRelay
from gateway.translate import StreamFailure, pipeline
from gateway.translate.sse import SSEDecoder

REQUEST = {"model": "gemini-2.5-flash", "input": "Hi", "stream": True, "store": False}


def relay(request: dict[str, object]) -> TranslationRelay:
    translated = pipeline.build_request(Format.RESPONSES, Format.GEMINI, request, "gemini-2.5-flash")
    return TranslationRelay(Format.RESPONSES, Format.GEMINI, "my-model", "req_1", translated, False)


def gemini_chunk(text: str, finish: str | None = None) -> bytes:
    candidate: dict[str, object] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    usage = {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}
    return b"data: " + orjson.dumps({"candidates": [candidate], "usageMetadata": usage}) + b"\r\n\r\n"


def events(wire: bytes) -> list[dict[str, object]]:
    return [orjson.loads(e.data) for e in SSEDecoder().feed(wire)]


def test_the_final_response_is_kept() -> None:
    r = relay(REQUEST)
    stream = r.stream()
    out = stream.feed(gemini_chunk("Hel") + gemini_chunk("lo", "STOP")) + stream.close()
    kinds = [e["type"] for e in events(out)]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert stream.response is not None and r.final_response is stream.response
    assert stream.response["id"] == r.response_id and r.response_id.startswith("resp_gw")
    assert stream.response["output"][0]["content"][0]["text"] == "Hello"
    assert stream.response["store"] is False

    whole = relay({**REQUEST, "stream": False})
    answer = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP"}]
    }
    body = orjson.loads(whole.response(200, orjson.dumps(answer), Usage()))
    assert body == whole.final_response and body["status"] == "completed"


def test_a_chunk_that_fails_part_way_still_sends_what_came_before() -> None:
    """The first events of the chunk (response.created above all) go out before response.failed."""
    stream = relay(REQUEST).stream()
    with pytest.raises(StreamFailure) as caught:
        stream.feed(gemini_chunk("Hel") + b"data: {not json\r\n\r\n")
    wire = stream.error_event(caught.value.kind, caught.value.message)
    kinds = [e["type"] for e in events(wire)]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-2:] == ["response.failed", "error"]
    numbers = [e["sequence_number"] for e in events(wire)]
    assert numbers == list(range(len(numbers)))
