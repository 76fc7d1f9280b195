"""The stream: Gemini's streamGenerateContent?alt=sse `data:` objects -> Anthropic stream events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.translate import StreamIncomplete
from gateway.translate.gemini.errors import GeminiStreamError, stream_error
from gateway.translate.gemini.response import (
    block_reason,
    first_candidate,
    gemini_refusal,
    gemini_usage,
    grounding,
    grounding_blocks,
    grounding_searches,
    grounding_spans,
    message_id,
    parts,
    stop_reason,
    tool_use,
)
from gateway.translate.hub import with_searches
from gateway.translate.hub_stream import AnthropicStreamWriter, start_usage

JSON = dict[str, Any]


class GeminiStreamToAnthropic:
    """Turns each parsed `data:` object of streamGenerateContent?alt=sse into Anthropic stream events.

    `input_tokens_estimate` goes into message_start (Claude Code reads per-turn input there and Gemini
    only reports usage at the end); message_delta then carries the real numbers.
    """

    def __init__(
        self, model: str, input_tokens_estimate: int, tool_names: Mapping[str, str] | None = None
    ) -> None:
        self._writer = AnthropicStreamWriter(model)
        self._estimate = max(input_tokens_estimate, 0)
        self._names = tool_names or {}
        self._finished = False
        self._has_calls = False
        self._finish_reason: str | None = None
        self._usage_meta: Any = None
        self._grounding: JSON | None = None  # the last groundingMetadata (it comes with the last chunks)
        self._text: list[str] = []  # the answer's text, which grounding offsets count in

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(chunk, dict):
            raise GeminiStreamError("Gemini sent a stream event that is not a JSON object")
        error = chunk.get("error")
        if error is not None:
            raise stream_error(error)
        if self._finished:
            return []
        events: list[JSON] = []
        if not self._writer.started:
            events.append(self._message_start(chunk.get("responseId")))
        if isinstance(chunk.get("usageMetadata"), dict):
            # A running total: the last one is the whole message's usage.
            self._usage_meta = chunk["usageMetadata"]
        candidate = first_candidate(chunk)
        if candidate is None:
            blocked = block_reason(chunk)
            if blocked:
                self._finish_reason = blocked
            return events
        for part in parts(candidate):
            if isinstance(part, dict):
                events.extend(self._part(part))
        self._grounding = grounding(candidate) or self._grounding
        finish_reason = candidate.get("finishReason")
        if isinstance(finish_reason, str) and finish_reason:
            self._finish_reason = finish_reason
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The closing events; raises StreamIncomplete when no chunk carried a finishReason."""
        if self._finished:
            return []
        if self._finish_reason is None:
            raise StreamIncomplete("the Gemini stream ended without a finishReason")
        self._finished = True
        events: list[JSON] = []
        if not self._writer.started:
            events.append(self._message_start(None))
        stop = stop_reason(self._finish_reason, self._has_calls)
        details = gemini_refusal(self._finish_reason) if stop == "refusal" else None
        if self._usage_meta is not None:
            usage = gemini_usage(self._usage_meta)
        else:
            usage = start_usage(self._estimate)
        if self._grounding is not None:
            events.extend(self._grounded(self._grounding))
        usage = with_searches(usage, grounding_searches(self._grounding))
        events.extend(self._writer.end(stop, usage, stop_details=details))
        return events

    def _grounded(self, meta: JSON) -> list[JSON]:
        """Grounding comes after the text it supports: its citations go on the text block when it is
        still open (one closed by a later block cannot take them), then the searches as server tool
        blocks, after the text (a stream cannot go back)."""
        writer = self._writer
        events: list[JSON] = []
        if writer.open_type == "text":
            for _, _, citations in grounding_spans(meta, "".join(self._text)):
                events.extend(writer.delta({"type": "citations_delta", "citation": c}) for c in citations)
        for block in grounding_blocks(meta):
            if block["type"] == "server_tool_use":
                events.extend(writer.open({**block, "input": {}}))
                events.append(writer.input_json(orjson.dumps(block["input"]).decode()))
            else:
                events.extend(writer.open(block))
        events.extend(writer.close())
        return events

    def _message_start(self, response_id: Any) -> JSON:
        return self._writer.start(message_id(response_id), start_usage(self._estimate))

    def _part(self, part: JSON) -> list[JSON]:
        writer = self._writer
        call = part.get("functionCall")
        if isinstance(call, dict):
            # A functionCall arrives whole: start, the complete arguments in one delta, stop.
            self._has_calls = True
            block = tool_use(call, part.get("thoughtSignature"), self._names)
            events = writer.open_tool_use(block["id"], block["name"])
            events.append(writer.input_json(orjson.dumps(block["input"]).decode()))
            events.extend(writer.close())
            return events
        text = part.get("text")
        if not isinstance(text, str) or not text:
            return []  # never emit empty deltas; strict clients crash on them
        events = []
        if part.get("thought") is True:
            if writer.open_type != "thinking":
                events = writer.open_thinking()
            events.append(writer.thinking(text))
        else:
            self._text.append(text)
            if writer.open_type != "text":
                events = writer.open_text()
            events.append(writer.text(text))
        return events
