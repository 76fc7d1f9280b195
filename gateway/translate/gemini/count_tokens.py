"""Token counting on Gemini: a translated request -> a countTokens body, its answer -> Anthropic's."""

from __future__ import annotations

from typing import Any

import orjson

JSON = dict[str, Any]

_COUNTED_FIELDS = ("contents", "systemInstruction", "tools")


def count_tokens_request(gemini_body: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """A translated GenerateContentRequest -> a countTokens body.

    With `model`, the whole request is wrapped as `generateContentRequest` (system and tools counted
    exactly; the real API needs `model` inside it). Without, only bare `contents` is allowed, so the
    system instruction and tool declarations are folded in as a leading user text part: an
    approximation that errs high, as Claude Code's compaction needs (protocols.md §4).
    """
    if model is not None:
        inner: JSON = {"model": model if model.startswith("models/") else f"models/{model}"}
        inner.update({key: gemini_body[key] for key in _COUNTED_FIELDS if key in gemini_body})
        return {"generateContentRequest": inner}
    contents = [dict(content) for content in gemini_body.get("contents", [])]
    preamble: list[JSON] = []
    system = gemini_body.get("systemInstruction")
    if isinstance(system, dict):
        preamble.extend(p for p in system.get("parts", []) if isinstance(p, dict) and "text" in p)
    if gemini_body.get("tools"):
        preamble.append({"text": orjson.dumps(gemini_body["tools"]).decode()})
    if preamble:
        if contents and contents[0].get("role") == "user":
            contents[0] = {**contents[0], "parts": [*preamble, *contents[0].get("parts", [])]}
        else:
            contents.insert(0, {"role": "user", "parts": preamble})
    return {"contents": contents}


def count_tokens_response(resp: dict[str, Any]) -> dict[str, Any]:
    """Gemini countTokens `{"totalTokens": N}` -> Anthropic `{"input_tokens": N}`."""
    total = resp.get("totalTokens", 0)
    if not isinstance(total, int) or isinstance(total, bool):
        raise TypeError("countTokens answered without an integer totalTokens")
    return {"input_tokens": total}
