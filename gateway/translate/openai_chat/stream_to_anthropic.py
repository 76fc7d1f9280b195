"""Streams, OpenAI chat.completion.chunk objects -> Anthropic events (driving the hub's stream writer)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gateway.translate import StreamIncomplete
from gateway.translate.hub import with_searches
from gateway.translate.hub_stream import AnthropicStreamWriter, start_usage
from gateway.translate.openai_chat.common import (
    FINISH_TO_STOP,
    loads_object,
    message_id,
    reasoning_text,
    sanitize_id,
)
from gateway.translate.openai_chat.errors import stream_error
from gateway.translate.openai_chat.response import url_citation_spans
from gateway.translate.openai_chat.usage import usage_to_anthropic

JSON = dict[str, Any]


@dataclass(slots=True)
class _Segment:
    """One Anthropic content block in the making. Fragments are kept until the block can be emitted:
    blocks must not interleave, but OpenAI-compatible servers may interleave parallel tool calls."""

    kind: str  # "text" | "thinking" | "tool_use"
    raw_id: str = ""
    tool_id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)
    sent: int = 0
    index: int = -1
    closed: bool = False
    signature: str = ""
    checked: int = -1
    complete: bool = False


class OpenAIStreamToAnthropic:
    """Chat-completion chunks in, Anthropic stream events out (protocols.md §2.2-2.4, §6.5).

    `message_start` goes out with the first chunk and carries `input_tokens_estimate` (Claude Code reads
    the input size there; the real numbers follow in `message_delta`). Blocks get indices 0,1,2… and each
    stops before the next starts. A tool call whose arguments are still streaming holds back whatever
    comes after it (another tool call, text) until its arguments form a complete JSON object; the held
    fragments are then sent as one delta. The data plane stops feeding at `[DONE]` and calls `finish()`.
    """

    def __init__(
        self,
        model: str,
        input_tokens_estimate: int,
        tool_names: dict[str, str] | None = None,
        *,
        searched: bool = False,
    ) -> None:
        # `searched`: see openai_response_to_anthropic.
        self._searched = searched
        self._content: list[str] = []  # the answer's text so far, which annotation indices point into
        self._writer = AnthropicStreamWriter(model)
        self._estimate = input_tokens_estimate
        self._names = tool_names or {}
        self._id = ""
        self._segments: list[_Segment] = []
        self._head = 0
        self._tools: dict[int, _Segment] = {}
        self._finish_reason: str | None = None
        self._refused = False
        self._usage: JSON | None = None
        self._chars = 0

    def feed(self, chunk: JSON) -> list[JSON]:
        error = chunk.get("error")
        if error:
            raise stream_error(error)
        out: list[JSON] = []
        if not self._writer.started:
            self._id = message_id(chunk.get("id"))
            out.append(self._writer.start(self._id, start_usage(self._estimate, output_tokens=1)))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        choices = chunk.get("choices")
        choice = (
            choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        )
        if choice is None or choice.get("index", 0) != 0:
            return out
        delta = choice.get("delta")
        if isinstance(delta, dict):
            self._delta(delta, out)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            self._finish_reason = finish
            self._flush(out)
        return out

    def finish(self) -> list[JSON]:
        if self._finish_reason is None:
            raise StreamIncomplete("the upstream stream ended without a finish_reason")
        out: list[JSON] = []
        self._flush(out)
        stop_reason = FINISH_TO_STOP.get(self._finish_reason, "end_turn")
        if any(s.kind == "tool_use" for s in self._segments):
            stop_reason = "tool_use"
        elif self._refused:
            stop_reason = "refusal"
        if self._usage is not None:
            usage = usage_to_anthropic(self._usage)
        else:
            # No usage chunk (a server that ignores stream_options): keep the estimate and count about four
            # characters per output token, so the accumulated message still has plausible numbers.
            usage = start_usage(self._estimate, output_tokens=math.ceil(self._chars / 4))
        out.extend(self._writer.end(stop_reason, with_searches(usage, 1 if self._searched else 0)))
        return out

    def _delta(self, delta: JSON, out: list[JSON]) -> None:
        # A chunk may carry several kinds at once; split them in the order a message has them.
        reasoning = reasoning_text(delta)
        if reasoning:
            self._append_text("thinking", reasoning, out)
        for item in delta.get("thinking_blocks") or ():
            # A proxy in front of Claude may pass Anthropic signatures through; they close the block.
            if isinstance(item, dict) and isinstance(item.get("signature"), str) and item["signature"]:
                last = self._segments[-1] if self._segments else None
                if last is not None and last.kind == "thinking" and not last.closed:
                    last.signature = item["signature"]
        text = delta.get("content")
        if isinstance(text, str) and text:
            self._content.append(text)
            self._append_text("text", text, out)
        if isinstance(delta.get("annotations"), list):
            self._annotations(delta["annotations"], out)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refused = True
            self._append_text("text", refusal, out)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if isinstance(call, dict):
                    index = call.get("index")
                    self._tool_delta(index if isinstance(index, int) else position, call, out)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            self._tool_delta(-1, {"function": legacy}, out)

    def _annotations(self, annotations: list[Any], out: list[JSON]) -> None:
        """A search model's url_citation annotations (they come after the text they cite) as
        citations_delta events on the text block still open; one already closed cannot take them."""
        head = self._segments[self._head] if self._head < len(self._segments) else None
        if head is None or head.kind != "text" or head.index < 0 or head.closed:
            return
        self._send(head, out)
        text = "".join(self._content)
        for _, _, citations in url_citation_spans(text, annotations):
            out.extend(self._writer.delta({"type": "citations_delta", "citation": c}) for c in citations)

    def _append_text(self, kind: str, text: str, out: list[JSON]) -> None:
        self._chars += len(text)
        last = self._segments[-1] if self._segments else None
        if last is None or last.kind != kind or last.closed:
            last = _Segment(kind=kind)
            self._segments.append(last)
        last.parts.append(text)
        self._pump(out)

    def _tool_delta(self, index: int, call: JSON, out: list[JSON]) -> None:
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        raw_id = call["id"] if isinstance(call.get("id"), str) else ""
        segment = self._tools.get(index)
        # A new id under a known index is a new call: some servers never advance the index.
        if segment is None or (raw_id and segment.raw_id and raw_id != segment.raw_id):
            segment = _Segment(kind="tool_use", raw_id=raw_id)
            segment.tool_id = sanitize_id(raw_id, f"{self._id}:{len(self._segments)}")
            self._tools[index] = segment
            self._segments.append(segment)
        name = fn.get("name")
        if isinstance(name, str) and name and not segment.name:
            segment.name = self._names.get(name, name)
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            if segment.closed:
                # The block already closed on a complete JSON object; anything after it can only be
                # whitespace in valid arguments.
                return
            self._chars += len(args)
            segment.parts.append(args)
        self._pump(out)

    def _pump(self, out: list[JSON]) -> None:
        """Emit what the head segment has, then close it and move on while it is finished."""
        while self._head < len(self._segments):
            segment = self._segments[self._head]
            if segment.index < 0:
                if segment.kind == "tool_use" and not segment.name:
                    return
                self._open(segment, out)
            self._send(segment, out)
            is_last = self._head == len(self._segments) - 1
            if is_last or (segment.kind == "tool_use" and not self._args_complete(segment)):
                return
            self._close(segment, out)
            self._head += 1

    def _flush(self, out: list[JSON]) -> None:
        while self._head < len(self._segments):
            segment = self._segments[self._head]
            if segment.index < 0:
                self._open(segment, out)
            self._send(segment, out)
            self._close(segment, out)
            self._head += 1

    def _open(self, segment: _Segment, out: list[JSON]) -> None:
        if segment.kind == "text":
            out.extend(self._writer.open_text())
        elif segment.kind == "thinking":
            out.extend(self._writer.open_thinking())
        else:
            out.extend(self._writer.open_tool_use(segment.tool_id, segment.name))
        segment.index = self._writer.index

    def _send(self, segment: _Segment, out: list[JSON]) -> None:
        # Only the head segment is sent, and it is the writer's open block.
        if segment.sent == len(segment.parts):
            return
        payload = "".join(segment.parts[segment.sent :])
        segment.sent = len(segment.parts)
        if segment.kind == "text":
            out.append(self._writer.text(payload))
        elif segment.kind == "thinking":
            out.append(self._writer.thinking(payload))
        else:
            out.append(self._writer.input_json(payload))

    def _close(self, segment: _Segment, out: list[JSON]) -> None:
        if segment.signature:
            out.append(self._writer.signature(segment.signature))
        segment.closed = True
        out.extend(self._writer.close())

    @staticmethod
    def _args_complete(segment: _Segment) -> bool:
        # Parsed again only when new fragments arrived since the last check.
        if segment.checked != len(segment.parts):
            segment.checked = len(segment.parts)
            segment.complete = loads_object("".join(segment.parts)) is not None
        return segment.complete
