"""Streams, Anthropic events -> OpenAI chat.completion.chunk objects."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from gateway.translate import StreamIncomplete
from gateway.translate.hub import read_int
from gateway.translate.openai_chat.common import STOP_TO_FINISH, dumps
from gateway.translate.openai_chat.errors import StreamError
from gateway.translate.openai_chat.response import url_annotations
from gateway.translate.openai_chat.usage import usage_to_openai

JSON = dict[str, Any]


@dataclass(slots=True)
class _Block:
    kind: str
    tool_index: int = -1
    fragments: bool = False
    start_input: Any = None
    text_start: int = 0  # characters of content sent before this block
    citations: list[Any] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # a text block's text, where its citations point


class AnthropicStreamToOpenAI:
    """Anthropic stream events in, chat.completion.chunk dicts out (protocols.md §5.3, §6.5).

    `role` is sent once, in the first chunk; each tool call's `id`, `type` and `name` once, in its first
    delta, with a running tool index 0,1,2… (not the Anthropic block index); argument fragments carry only
    the index. Thinking text goes out as the non-standard `reasoning_content`; signatures cannot (a list
    field without `index` breaks the SDK's delta merging). The usage chunk comes from `finish()` when
    `include_usage`; the data plane then writes `OPENAI_DONE`.
    """

    def __init__(self, model: str, include_usage: bool = False) -> None:
        self._model = model
        self._include_usage = include_usage
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._created = int(time.time())
        self._started = False
        self._blocks: dict[int, _Block] = {}
        self._tools = 0
        self._usage: JSON = {}
        self._finished = False
        self._stopped = False
        self._chars = 0  # characters of content sent, which annotation indices count

    def feed(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        if kind == "error":
            error = event.get("error")
            error = error if isinstance(error, dict) else {}
            raise StreamError(
                str(error.get("message") or "upstream error"), str(error.get("type") or "api_error")
            )
        if kind == "message_start":
            if self._started:
                return []
            self._started = True
            message = event.get("message")
            message = message if isinstance(message, dict) else {}
            if message.get("id"):
                self._id = f"chatcmpl-{message['id']}"
            self._merge_usage(message.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if not self._started:
            return []
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "content_block_stop":
            return self._block_stop(event)
        if kind == "message_delta":
            self._merge_usage(event.get("usage"))
            delta = event.get("delta")
            stop = delta.get("stop_reason") if isinstance(delta, dict) else None
            if self._finished:
                return []
            self._finished = True
            finish = STOP_TO_FINISH.get(stop, "stop") if isinstance(stop, str) else "stop"
            return [self._chunk({}, finish)]
        if kind == "message_stop":
            self._stopped = True
        # ping and unknown events carry nothing for an OpenAI client.
        return []

    def finish(self) -> list[JSON]:
        if not self._stopped:
            raise StreamIncomplete("the upstream stream ended without message_stop")
        if not self._include_usage:
            return []
        return [
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [],
                "usage": usage_to_openai(self._usage),
            }
        ]

    def _merge_usage(self, usage: Any) -> None:
        # message_delta usage is cumulative: non-null fields replace, never add (protocols.md §2.3).
        if isinstance(usage, dict):
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _chunk(self, delta: JSON, finish_reason: str | None = None) -> JSON:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    def _block_start(self, event: JSON) -> list[JSON]:
        index = event.get("index")
        block = event.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            return []
        kind = str(block.get("type"))
        state = _Block(kind=kind, text_start=self._chars)
        self._blocks[index] = state
        if kind == "text" and block.get("text"):
            self._chars += len(block["text"])
            state.text.append(block["text"])
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": block["thinking"]})]
        if kind == "tool_use":
            state.tool_index = self._tools
            state.start_input = block.get("input")
            self._tools += 1
            call = {
                "index": state.tool_index,
                "id": str(block.get("id") or ""),
                "type": "function",
                "function": {"name": str(block.get("name") or ""), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _block_delta(self, event: JSON) -> list[JSON]:
        state = self._blocks.get(read_int(event.get("index"), -1))
        delta = event.get("delta")
        if state is None or not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and state.kind == "text" and delta.get("text"):
            self._chars += len(delta["text"])
            state.text.append(delta["text"])
            return [self._chunk({"content": delta["text"]})]
        if kind == "citations_delta" and state.kind == "text":
            # Anthropic sends a block's citations before its text, the translated streams after it: they
            # go out when the block stops, over their cited_text in it (else the whole block).
            state.citations.append(delta.get("citation"))
        if kind == "thinking_delta" and state.kind == "thinking" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and state.kind == "tool_use" and delta.get("partial_json"):
            state.fragments = True
            call = {"index": state.tool_index, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _block_stop(self, event: JSON) -> list[JSON]:
        state = self._blocks.get(read_int(event.get("index"), -1))
        if state is not None and state.citations:
            found = url_annotations({"citations": state.citations}, "".join(state.text), state.text_start)
            return [self._chunk({"annotations": found})] if found else []
        if state is None or state.kind != "tool_use" or state.fragments:
            return []
        # A tool call with no argument fragments: send its start input, `{}` at least, so the client
        # parses a JSON object rather than an empty string.
        arguments = dumps(state.start_input if isinstance(state.start_input, dict) else {})
        call = {"index": state.tool_index, "function": {"arguments": arguments}}
        return [self._chunk({"tool_calls": [call]})]
