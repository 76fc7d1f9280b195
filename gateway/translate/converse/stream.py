"""The stream: ConverseStream events (decoded from AWS event-stream frames) -> Anthropic stream events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.translate import StreamIncomplete
from gateway.translate.converse.errors import stream_error
from gateway.translate.converse.names import anthropic_tool_id
from gateway.translate.converse.response import (
    anthropic_stop_reason,
    converse_refusal,
    converse_usage,
    matched_stop_sequence,
)
from gateway.translate.hub import int_or_none, new_message_id
from gateway.translate.hub_stream import AnthropicStreamWriter, start_usage

JSON = dict[str, Any]


class ConverseStreamToAnthropic:
    """Turns each ConverseStream event into Anthropic stream events.

    Converse sends contentBlockStart only for toolUse: text and reasoning blocks open on their first
    delta for a new contentBlockIndex. Usage arrives in `metadata`, after `messageStop`, so message_delta
    and message_stop wait for it (finish() emits them with what is known if it never comes).
    `input_estimate` goes into message_start (Claude Code reads per-turn input there).
    """

    def __init__(self, model: str, input_estimate: int, tool_names: Mapping[str, str] | None = None) -> None:
        self._writer = AnthropicStreamWriter(model)
        self._estimate = max(input_estimate, 0) if isinstance(input_estimate, int) else 0
        self._names = tool_names or {}
        self._finished = False
        # The open block as Converse sees it: its Anthropic type (redacted_thinking has no Anthropic
        # block until it closes) and its contentBlockIndex.
        self._open: str | None = None
        self._source: int | None = None
        self._redacted: list[str] = []  # redacted reasoning of the open block, sent whole on close
        self._has_calls = False
        self._stop: str | None = None  # Converse stopReason, once messageStop arrived
        self._stop_sequence: str | None = None
        self._usage: JSON | None = None

    def feed(self, event_type: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """One ConverseStream event (`:event-type` and its JSON payload) -> Anthropic stream events."""
        if isinstance(event_type, str) and event_type.lower().endswith("exception"):
            raise stream_error(event_type, payload)
        if self._finished:
            return []
        payload = payload if isinstance(payload, dict) else {}
        events: list[JSON] = []
        if not self._writer.started:
            events.append(self._message_start())
        if event_type == "contentBlockStart":
            events.extend(self._block_start(payload))
        elif event_type == "contentBlockDelta":
            events.extend(self._delta(payload))
        elif event_type == "contentBlockStop":
            source = int_or_none(payload.get("contentBlockIndex"))
            if self._open is not None and source in (self._source, None):
                events.extend(self._close())
        elif event_type == "messageStop":
            events.extend(self._close())
            reason = payload.get("stopReason")
            self._stop = reason if isinstance(reason, str) and reason else "end_turn"
            self._stop_sequence = matched_stop_sequence(payload.get("additionalModelResponseFields"))
            if self._usage is not None:
                events.extend(self._end())
        elif event_type == "metadata":
            if isinstance(payload.get("usage"), dict):
                self._usage = converse_usage(payload["usage"])
            if self._stop is not None:
                events.extend(self._end())
        # messageStart (already answered by message_start) and unknown events: nothing more.
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The closing events; raises StreamIncomplete if no messageStop was seen."""
        if self._finished:
            return []
        if self._stop is None:
            raise StreamIncomplete("the ConverseStream ended without a messageStop event")
        events: list[JSON] = []
        if not self._writer.started:
            events.append(self._message_start())
        events.extend(self._end())
        return events

    def _message_start(self) -> JSON:
        return self._writer.start(new_message_id(), start_usage(self._estimate))

    def _end(self) -> list[JSON]:
        self._finished = True
        events = self._close()
        stop = anthropic_stop_reason(self._stop, self._has_calls)
        events.extend(
            self._writer.end(
                stop,
                self._usage if self._usage is not None else start_usage(self._estimate),
                stop_sequence=self._stop_sequence if stop == "stop_sequence" else None,
                stop_details=converse_refusal(self._stop) if stop == "refusal" else None,
            )
        )
        return events

    def _close(self) -> list[JSON]:
        kind, self._open, self._source = self._open, None, None
        if kind != "redacted_thinking":
            return self._writer.close()
        # Anthropic sends redacted thinking whole in its content_block_start, with no deltas.
        data, self._redacted = "".join(self._redacted), []
        if not data:
            return []
        events = self._writer.open({"type": "redacted_thinking", "data": data})
        events.extend(self._writer.close())
        return events

    def _ensure(self, source: int | None, kind: str) -> list[JSON]:
        """The block `kind` for `source`, opened unless it is the open one."""
        if self._open == kind and self._source == source:
            return []
        return self._switch(source, kind)

    def _switch(self, source: int | None, kind: str) -> list[JSON]:
        """Closes the open block and opens `kind` for `source` (tool_use is opened by the caller, which
        has its id and name; redacted thinking opens only when it closes)."""
        events = self._close()
        self._open, self._source = kind, source
        if kind == "text":
            events.extend(self._writer.open_text())
        elif kind == "thinking":
            events.extend(self._writer.open_thinking())
        return events

    def _block_start(self, payload: JSON) -> list[JSON]:
        start = payload.get("start")
        tool = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(tool, dict):
            return []  # toolResult / image starts: nothing an Anthropic client takes
        self._has_calls = True
        name = tool.get("name")
        events = self._switch(int_or_none(payload.get("contentBlockIndex")), "tool_use")
        events.extend(
            self._writer.open_tool_use(
                anthropic_tool_id(tool.get("toolUseId")),
                self._names.get(name, name) if isinstance(name, str) else "",
            )
        )
        return events

    def _delta(self, payload: JSON) -> list[JSON]:
        source = int_or_none(payload.get("contentBlockIndex"))
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return []
        text = delta.get("text")
        if isinstance(text, str):
            if not text:
                return []  # never emit empty deltas; strict clients crash on them
            events = self._ensure(source, "text")
            events.append(self._writer.text(text))
            return events
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            return self._reasoning(source, reasoning)
        tool = delta.get("toolUse")
        if isinstance(tool, dict):
            fragment = tool.get("input")
            if self._open != "tool_use" or source not in (self._source, None):
                return []  # input for a call that never started: nothing to attach it to
            if not isinstance(fragment, str) or not fragment:
                return []
            return [self._writer.input_json(fragment)]
        return []  # citation, image, toolResult deltas

    def _reasoning(self, source: int | None, reasoning: JSON) -> list[JSON]:
        redacted = reasoning.get("redactedContent")
        if isinstance(redacted, str) and redacted:
            events = self._ensure(source, "redacted_thinking")
            self._redacted.append(redacted)
            return events
        events = []
        text = reasoning.get("text")
        if isinstance(text, str) and text:
            events.extend(self._ensure(source, "thinking"))
            events.append(self._writer.thinking(text))
        signature = reasoning.get("signature")
        if isinstance(signature, str) and signature:
            events.extend(self._ensure(source, "thinking"))
            events.append(self._writer.signature(signature))
        return events
