"""The offline input-token estimate: errs high, counts what the upstream sees, stays fast."""

from __future__ import annotations

import base64
import json
from typing import Any

from gateway.translate import tokens
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE

# The fixture's text (system blocks, message texts, tools as JSON) is 17,502 o200k_base tokens, measured
# once with an exact o200k tokenizer.
FIXTURE_O200K = 17_502


def fixture_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(FIXTURE.read_text())["body"]
    return body


def request(content: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": content}], **extra}


def pdf(pages: int) -> str:
    objects = b"".join(b"%d 0 obj <</Type /Page /Parent 2 0 R>> endobj\n" % i for i in range(pages))
    return base64.b64encode(b"%PDF-1.4\n<</Type /Pages /Count 1>>\n" + objects + b"%%EOF").decode()


def test_fixture_estimate_errs_high() -> None:
    estimate = tokens.estimate_input_tokens(fixture_body())
    assert FIXTURE_O200K < estimate < FIXTURE_O200K * 2


def test_character_estimate_is_a_third_of_the_utf8_size() -> None:
    assert tokens.text_tokens("") == 0
    assert tokens.text_tokens("abc") == 1
    assert tokens.text_tokens("abcd") == 2
    assert tokens.text_tokens("日本") == 2  # 6 UTF-8 bytes: CJK is about one token per character


def test_what_is_counted() -> None:
    base = tokens.estimate_input_tokens(request("hi"))
    assert base == tokens.MESSAGE_OVERHEAD + 1
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 100_000}}
    with_image = tokens.estimate_input_tokens(request([{"type": "text", "text": "hi"}, image]))
    # An image costs the fixed amount whatever its byte size.
    assert with_image == base + 2 * tokens.BLOCK_OVERHEAD + tokens.IMAGE_TOKENS
    document = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf(3)},
    }
    assert tokens.estimate_input_tokens(request([document])) >= 3 * tokens.PDF_PAGE_TOKENS
    # Thinking is removed by every non-Anthropic translation, so it is not counted.
    thinking = {"type": "thinking", "thinking": "x" * 30_000, "signature": "s" * 500}
    turns = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [thinking, {"type": "text", "text": "hello"}]},
    ]
    assert tokens.estimate_input_tokens({"messages": turns}) < 100
    # System, tools, tool calls and results all count.
    for extra in (
        {"system": "x" * 3000},
        {"system": [{"type": "text", "text": "x" * 3000}]},
        {"tools": [{"name": "t", "input_schema": {"type": "object", "description": "x" * 3000}}]},
    ):
        assert tokens.estimate_input_tokens(request("hi", **extra)) >= base + 1000
    call = {"type": "tool_use", "id": "t1", "name": "Write", "input": {"content": "x" * 3000}}
    result = {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "y" * 3000}]}
    convo = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result]},
    ]
    assert tokens.estimate_input_tokens({"messages": convo}) >= 2000


def test_pdf_pages_without_page_objects() -> None:
    compressed = base64.b64encode(b"%PDF-1.7\n" + bytes(250_000)).decode()
    source = {"type": "base64", "media_type": "application/pdf", "data": compressed}
    # No visible page objects: one page per 100 KB of file.
    assert tokens._document({"source": source}) == 2 * tokens.PDF_PAGE_TOKENS
    assert tokens._document({"source": {"type": "text", "data": "abcdef"}}) == 2


def test_malformed_input_does_not_raise() -> None:
    odd: dict[str, Any] = {
        "system": 5,
        "messages": [
            None,
            {"role": "user"},
            {"role": "user", "content": [None, "x", {"type": "mystery", "a": 1}]},
        ],
        "tools": "nope",
    }
    assert tokens.estimate_input_tokens(odd) > 0
