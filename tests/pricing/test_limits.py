"""Model output limits: every provider's spelling of a Claude id, Gemini's families, unknown models."""

from __future__ import annotations

import pytest

from gateway.pricing.limits import FALLBACK, NON_STREAMED_CAP, default_output_tokens, max_output_tokens


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("claude-sonnet-4-5", 64_000),
        ("claude-sonnet-4-5-20250929", 64_000),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 64_000),  # Bedrock inference profile
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", 64_000),
        ("claude-sonnet-4-5@20250929", 64_000),  # Vertex
        ("claude-opus-4-20250514", 32_000),  # the date is not a minor version
        ("claude-opus-4-0", 32_000),
        ("claude-opus-4-1-20250805", 32_000),
        ("claude-4-opus-20250514", 32_000),
        ("claude-opus-4-6", 128_000),
        ("claude-opus-4-8", 128_000),
        ("claude-sonnet-4-6", 64_000),
        ("claude-haiku-4-5-20251001", 64_000),
        ("claude-3-7-sonnet-latest", 64_000),
        ("claude-3-5-haiku-20241022", 8192),
        ("claude-3-haiku-20240307", 4096),
        ("gemini-2.5-flash", 65_536),
        ("gemini-3-pro-preview", 65_536),
        ("gemini-2.0-flash", 8192),
        ("gemini-1.5-pro-002", 8192),
        ("claude-opus-9-1", None),  # a Claude the table does not know yet
        ("claude-x", None),
        ("gpt-5.2", None),
        ("meta.llama3-3-70b-instruct-v1:0", None),
    ],
)
def test_max_output_tokens(model: str, limit: int | None) -> None:
    assert max_output_tokens(model) == limit


def test_default_output_tokens() -> None:
    assert default_output_tokens("claude-sonnet-4-5", stream=True) == 64_000
    # Unstreamed: what Anthropic's SDKs still send without streaming (their 10-minute rule).
    assert NON_STREAMED_CAP == 21_333
    assert default_output_tokens("claude-sonnet-4-5", stream=False) == NON_STREAMED_CAP
    assert default_output_tokens("claude-3-5-haiku-20241022", stream=False) == 8192
    assert default_output_tokens("claude-x", stream=True) == FALLBACK == 4096
    assert default_output_tokens("claude-x", stream=False) == FALLBACK
