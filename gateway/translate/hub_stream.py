"""The one Anthropic stream writer every provider -> Anthropic stream converter drives (Gemini, Converse,
OpenAI Chat): message_start, content blocks opened, delta'd and closed one at a time with indices
0,1,2…, then message_delta (stop reason, usage) and message_stop. What a provider's chunks mean stays in
its own package; what the Anthropic events look like is decided here, once."""

from __future__ import annotations

from typing import Any

from gateway.translate.hub import usage

JSON = dict[str, Any]


def start_usage(input_estimate: int, output_tokens: int = 0) -> JSON:
    """A stream's usage before the provider reports it: the input estimate Claude Code reads in
    message_start."""
    return usage(input_estimate, output_tokens)


def message_start(message_id: str, model: str, start: JSON) -> JSON:
    """A translated stream's first event."""
    message: JSON = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start,
    }
    return {"type": "message_start", "message": message}


class AnthropicStreamWriter:
    """Anthropic stream events for one message. Blocks never interleave: opening one closes the one that
    is open. Each method returns the events it produced, in order."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        self.index = -1  # index of the last block opened
        self.open_type: str | None = None  # type of the open block, if any

    def start(self, message_id: str, start: JSON) -> JSON:
        self.started = True
        return message_start(message_id, self.model, start)

    def open(self, block: JSON) -> list[JSON]:
        events = self.close()
        self.index += 1
        self.open_type = str(block["type"])
        events.append({"type": "content_block_start", "index": self.index, "content_block": block})
        return events

    def open_text(self) -> list[JSON]:
        return self.open({"type": "text", "text": ""})

    def open_thinking(self) -> list[JSON]:
        return self.open({"type": "thinking", "thinking": "", "signature": ""})

    def open_tool_use(self, tool_id: str, name: str) -> list[JSON]:
        return self.open({"type": "tool_use", "id": tool_id, "name": name, "input": {}})

    def delta(self, delta: JSON) -> JSON:
        return {"type": "content_block_delta", "index": self.index, "delta": delta}

    def text(self, text: str) -> JSON:
        return self.delta({"type": "text_delta", "text": text})

    def thinking(self, text: str) -> JSON:
        return self.delta({"type": "thinking_delta", "thinking": text})

    def signature(self, signature: str) -> JSON:
        return self.delta({"type": "signature_delta", "signature": signature})

    def input_json(self, partial: str) -> JSON:
        return self.delta({"type": "input_json_delta", "partial_json": partial})

    def close(self) -> list[JSON]:
        if self.open_type is None:
            return []
        self.open_type = None
        return [{"type": "content_block_stop", "index": self.index}]

    def end(
        self,
        stop_reason: str,
        final_usage: JSON,
        stop_sequence: str | None = None,
        stop_details: JSON | None = None,
    ) -> list[JSON]:
        """Closes the open block, then message_delta and message_stop."""
        events = self.close()
        delta: JSON = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
        if stop_details is not None:
            delta["stop_details"] = stop_details
        events.append({"type": "message_delta", "delta": delta, "usage": final_usage})
        events.append({"type": "message_stop"})
        return events
