"""Properties of the Converse request and answer converters."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.translate.converse import (
    converse_response_to_anthropic,
)
from tests.translate.converse.support import (
    BLOCK,
    MODEL,
    USAGES,
    accumulate,
    assert_same_message,
    convert_stream,
    stream_of,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(BLOCK, max_size=6),
    stop=st.sampled_from(["end_turn", "tool_use", "max_tokens", "content_filtered"]),
    usage=USAGES,
    cut=st.integers(1, 7),
)
def test_property_stream_matches_the_whole_response(
    blocks: list[dict[str, Any]], stop: str, usage: dict[str, int], cut: int
) -> None:
    events = convert_stream(stream_of(blocks, stop, usage, cut))
    whole = converse_response_to_anthropic(
        {"output": {"message": {"role": "assistant", "content": blocks}}, "stopReason": stop, "usage": usage},
        MODEL,
    )
    assert_same_message(accumulate(events), whole)
    assert whole["usage"]["input_tokens"] == usage["inputTokens"]
