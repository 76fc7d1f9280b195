"""Streams, Anthropic Messages events (the hub) -> OpenAI Responses events, in the real API's order:

    response.created, response.in_progress,
    per item: response.output_item.added,
      message:   content_part.added, output_text.delta..., output_text.done, content_part.done
      reasoning: reasoning_summary_part.added, reasoning_summary_text.delta..., reasoning_summary_text.done,
                 reasoning_summary_part.done (when a summary was asked for)
      function_call: function_call_arguments.delta..., function_call_arguments.done
      custom_tool_call: custom_tool_call_input.delta, custom_tool_call_input.done
    response.output_item.done,
    response.completed (or response.incomplete)

Every event has a `sequence_number` from 0. A run of text blocks is one message item with a part per
block, as in response_to_responses.py; `.response` is the final Response object once the stream ended
(the data plane keeps it for `previous_response_id`). `failed()` gives the `response.failed` and `error`
events a stream that cannot go on ends with. Encoded by `sse.encode_responses` (no `[DONE]`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.translate import StreamIncomplete
from gateway.translate.responses.items import ToolNames, new_item_id
from gateway.translate.responses.response_to_responses import (
    OutputItems,
    message_item,
    output_text,
    response_object,
    stop_status,
    url_annotations,
    usage,
    web_search_item,
)

JSON = dict[str, Any]


class _Open:
    """The output item a hub content block is streaming into."""

    __slots__ = ("block", "buffer", "index", "item", "kind")

    def __init__(self, kind: str, index: int, item: JSON, block: JSON) -> None:
        self.kind = kind  # "text", "reasoning", "call" or "other"
        self.index = index  # output_index
        self.item = item
        self.block = block  # the hub block, completed by its deltas
        self.buffer: list[str] = []


class AnthropicStreamToResponses:
    def __init__(
        self,
        request: JSON,
        response_id: str,
        client_model: str,
        names: ToolNames,
        *,
        family: str = "anthropic",
    ) -> None:
        self.request = request
        self.response_id = response_id
        self.client_model = client_model
        self.items = OutputItems(request, names, family)
        self.created_at = int(time.time())
        self.response: JSON | None = None  # the final Response, once the stream ended
        self._seq = 0
        self._started = False
        self._usage: JSON = {}
        self._stop_reason: Any = None
        self._blocks: dict[int, _Open] = {}  # hub block index -> its open item
        self._message: _Open | None = None  # the message item text blocks go to, while open
        self._content_index = -1

    @property
    def output(self) -> list[JSON]:
        return self.items.output

    def _event(self, kind: str, **fields: Any) -> JSON:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _snapshot(self, status: str, **extra: Any) -> JSON:
        return response_object(
            self.request,
            self.response_id,
            self.client_model,
            self.created_at,
            status,
            list(self.output),
            usage(self._usage),
            **extra,
        )

    def _start(self, out: list[JSON]) -> None:
        if not self._started:
            self._started = True
            out.append(self._event("response.created", response=self._snapshot("in_progress")))
            out.append(self._event("response.in_progress", response=self._snapshot("in_progress")))

    def feed(self, event: JSON) -> list[JSON]:
        out: list[JSON] = []
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._merge_usage(message.get("usage"))
            self._start(out)
        elif kind == "content_block_start":
            self._start(out)
            self._block_start(int(event.get("index", 0)), event.get("content_block") or {}, out)
        elif kind == "content_block_delta":
            self._delta(int(event.get("index", 0)), event.get("delta") or {}, out)
        elif kind == "content_block_stop":
            self._block_stop(int(event.get("index", 0)), out)
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            if delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._merge_usage(event.get("usage"))
        elif kind == "message_stop":
            self._start(out)
            self._end(out)
        return out

    def finish(self) -> list[JSON]:
        """Raises StreamIncomplete when the hub stream ended without message_stop."""
        if self.response is None:
            raise StreamIncomplete("message_stop")
        return []

    def failed(self, kind: str, message: str) -> list[JSON]:
        """The events a stream that cannot go on ends with: `response.failed` (the Response so far, with
        its error) and `error`."""
        if self.response is not None:
            return []  # it had ended: nothing more to say
        out: list[JSON] = []
        self._start(out)
        code = "rate_limit_exceeded" if kind == "rate_limit_error" else "server_error"
        self.response = self._snapshot("failed", error={"code": code, "message": message})
        out.append(self._event("response.failed", response=self.response))
        out.append(self._event("error", code=code, message=message, param=None))
        return out

    def _merge_usage(self, raw: Any) -> None:
        if isinstance(raw, dict):
            self._usage.update({k: v for k, v in raw.items() if v is not None})

    # -- blocks --------------------------------------------------------------------------------------

    def _block_start(self, index: int, block: JSON, out: list[JSON]) -> None:
        kind = block.get("type")
        if kind == "text":
            if self._message is None:
                item = message_item(new_item_id("msg"), "in_progress")
                self._message = self._add(_Open("text", len(self.output), item, block), out)
                self._content_index = -1
            self._content_index += 1
            opened = _Open("text", self._message.index, self._message.item, {"type": "text", "citations": []})
            self._blocks[index] = opened
            out.append(
                self._event(
                    "response.content_part.added",
                    item_id=opened.item["id"],
                    output_index=opened.index,
                    content_index=self._content_index,
                    part=output_text(""),
                )
            )
            if isinstance(block.get("text"), str) and block["text"]:
                self._delta(index, {"type": "text_delta", "text": block["text"]}, out)
            return
        self._close_message(out)
        if kind in ("thinking", "redacted_thinking"):
            item = self.items.reasoning_item(new_item_id("rs"), {"type": kind})
            item.pop("encrypted_content", None)  # known once the block's signature arrived
            opened = self._add(_Open("reasoning", len(self.output), item, dict(block)), out)
            self._blocks[index] = opened
            if kind == "thinking" and self.items.summary:
                opened.buffer.append(str(block.get("thinking") or ""))
                out.append(
                    self._event(
                        "response.reasoning_summary_part.added",
                        item_id=item["id"],
                        output_index=opened.index,
                        summary_index=0,
                        part={"type": "summary_text", "text": ""},
                    )
                )
        elif kind == "tool_use":
            item = self.items.call_item(block, "", "in_progress")
            if item["type"] == "custom_tool_call":
                item["input"] = ""
            opened = self._add(_Open("call", len(self.output), item, dict(block)), out)
            self._blocks[index] = opened
            start = block.get("input")
            if isinstance(start, dict) and start:  # a converter that sends the whole input up front
                opened.buffer.append(orjson.dumps(start).decode())
        elif kind == "server_tool_use" and block.get("name") == "web_search":
            opened = self._add(
                _Open("other", len(self.output), web_search_item(block, "in_progress"), block), out
            )
            self._blocks[index] = opened
        # web_search_tool_result and other server blocks: nothing for the client.

    def _add(self, opened: _Open, out: list[JSON]) -> _Open:
        self.output.append(opened.item)
        added = {**opened.item}
        if added["type"] == "message":
            added["content"] = []
        out.append(self._event("response.output_item.added", output_index=opened.index, item=added))
        return opened

    def _delta(self, index: int, delta: JSON, out: list[JSON]) -> None:
        opened = self._blocks.get(index)
        if opened is None:
            return
        kind = delta.get("type")
        if kind == "text_delta" and opened.kind == "text":
            text = str(delta.get("text") or "")
            opened.buffer.append(text)
            out.append(
                self._event(
                    "response.output_text.delta",
                    item_id=opened.item["id"],
                    output_index=opened.index,
                    content_index=self._content_index,
                    delta=text,
                    logprobs=[],
                )
            )
        elif kind == "citations_delta" and opened.kind == "text":
            # Anthropic sends a block's citations before its text: annotated when the block is done.
            opened.block["citations"].append(delta.get("citation"))
        elif kind == "thinking_delta" and opened.kind == "reasoning":
            text = str(delta.get("thinking") or "")
            opened.block["thinking"] = str(opened.block.get("thinking") or "") + text
            if self.items.summary:
                opened.buffer.append(text)
                out.append(
                    self._event(
                        "response.reasoning_summary_text.delta",
                        item_id=opened.item["id"],
                        output_index=opened.index,
                        summary_index=0,
                        delta=text,
                    )
                )
        elif kind == "signature_delta" and opened.kind == "reasoning":
            opened.block["signature"] = str(opened.block.get("signature") or "") + str(
                delta.get("signature") or ""
            )
        elif kind == "input_json_delta" and opened.kind == "other":
            opened.buffer.append(str(delta.get("partial_json") or ""))  # the search's query
        elif kind == "input_json_delta" and opened.kind == "call":
            part = str(delta.get("partial_json") or "")
            opened.buffer.append(part)
            if opened.item["type"] == "function_call" and part:
                out.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=opened.item["id"],
                        output_index=opened.index,
                        delta=part,
                    )
                )

    def _block_stop(self, index: int, out: list[JSON]) -> None:
        opened = self._blocks.pop(index, None)
        if opened is None:
            return
        item = opened.item
        if opened.kind == "text":
            text = "".join(opened.buffer)
            part = output_text(text)
            part["annotations"] = url_annotations(opened.block, text, 0)
            item["content"].append(part)
            at = {"item_id": item["id"], "output_index": opened.index, "content_index": self._content_index}
            for n, annotation in enumerate(part["annotations"]):
                out.append(
                    self._event(
                        "response.output_text.annotation.added",
                        **at,
                        annotation_index=n,
                        annotation=annotation,
                    )
                )
            out.append(self._event("response.output_text.done", **at, text=text, logprobs=[]))
            out.append(self._event("response.content_part.done", **at, part=part))
            return
        if opened.kind == "reasoning":
            full = self.items.reasoning_item(item["id"], opened.block)
            if self.items.summary and opened.block.get("type") == "thinking":
                text = "".join(opened.buffer)
                at = {"item_id": item["id"], "output_index": opened.index, "summary_index": 0}
                out.append(self._event("response.reasoning_summary_text.done", **at, text=text))
                out.append(
                    self._event(
                        "response.reasoning_summary_part.done",
                        **at,
                        part={"type": "summary_text", "text": text},
                    )
                )
                full["summary"] = [{"type": "summary_text", "text": text}]
            item.clear()
            item.update(full)
        elif opened.kind == "call":
            arguments = "".join(opened.buffer) or "{}"
            done = self.items.call_item(opened.block, arguments, "completed", item["id"])
            at = {"item_id": item["id"], "output_index": opened.index}
            if done["type"] == "function_call":
                if not any(opened.buffer):
                    out.append(self._event("response.function_call_arguments.delta", **at, delta=arguments))
                out.append(self._event("response.function_call_arguments.done", **at, arguments=arguments))
            else:
                text = done["input"]
                out.append(self._event("response.custom_tool_call_input.delta", **at, delta=text))
                out.append(self._event("response.custom_tool_call_input.done", **at, input=text))
            item.clear()
            item.update(done)
        else:
            # A web search: its query streamed in as the block's input.
            try:
                query = orjson.loads("".join(opened.buffer)) if opened.buffer else None
            except orjson.JSONDecodeError:
                query = None
            if isinstance(query, dict):
                item.update(web_search_item({"input": query}, "completed"), id=item["id"])
            item["status"] = "completed"
        out.append(self._event("response.output_item.done", output_index=opened.index, item=item))

    def _close_message(self, out: list[JSON]) -> None:
        opened = self._message
        if opened is None:
            return
        self._message = None
        opened.item["status"] = "completed"
        out.append(self._event("response.output_item.done", output_index=opened.index, item=opened.item))

    def _end(self, out: list[JSON]) -> None:
        for index in sorted(self._blocks):
            if self._blocks[index].kind != "text":
                self._block_stop(index, out)
        for index in list(self._blocks):
            self._block_stop(index, out)
        self._close_message(out)
        status, details = stop_status(self._stop_reason)
        self.response = self._snapshot(status, incomplete_details=details)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=self.response))
