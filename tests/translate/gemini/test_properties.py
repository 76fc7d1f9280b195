"""Properties of the Gemini answer and stream converters."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.translate.gemini import (
    gemini_response_to_anthropic,
)
from tests.translate.gemini.support import (
    PART,
    USAGE,
    convert_stream,
    expected_blocks,
    observed_blocks,
)
from tests.translate.stream_contract import accumulate


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(PART, max_size=8), usage=USAGE, finish=st.sampled_from(["STOP", "MAX_TOKENS", "OTHER"]))
def test_property_response_content_and_usage_survive(
    parts: list[dict[str, Any]], usage: dict[str, int], finish: str
) -> None:
    resp = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}],
        "usageMetadata": usage,
    }
    message = gemini_response_to_anthropic(resp, "m")
    assert observed_blocks(message["content"]) == expected_blocks(parts)
    assert message["usage"] == {
        "input_tokens": usage["promptTokenCount"] - usage["cachedContentTokenCount"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage["cachedContentTokenCount"],
        "output_tokens": usage["candidatesTokenCount"] + usage["thoughtsTokenCount"],
    }
    has_calls = any("functionCall" in p for p in parts)
    assert message["stop_reason"] == (
        "max_tokens" if finish == "MAX_TOKENS" else "tool_use" if has_calls else "end_turn"
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(PART, max_size=8), cuts=st.lists(st.integers(0, 8), max_size=4), usage=USAGE)
def test_property_stream_matches_the_whole_response(
    parts: list[dict[str, Any]], cuts: list[int], usage: dict[str, int]
) -> None:
    bounds = sorted({0, len(parts), *(min(c, len(parts)) for c in cuts)})
    pieces = [parts[a:b] for a, b in itertools.pairwise(bounds)] or [[]]
    chunks: list[dict[str, Any]] = [
        {
            "candidates": [{"content": {"role": "model", "parts": piece}}],
            "usageMetadata": {"promptTokenCount": 1},
        }
        for piece in pieces
    ]
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    chunks[-1]["usageMetadata"] = usage
    snapshot = accumulate(convert_stream(chunks))
    assert observed_blocks(snapshot.content) == expected_blocks(parts)
    whole = gemini_response_to_anthropic(
        {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}], "usageMetadata": usage}, "m"
    )
    assert snapshot.usage.model_dump(exclude_none=True) == whole["usage"]
    assert snapshot.stop_reason == whole["stop_reason"]
