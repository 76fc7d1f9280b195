"""Streams, OpenAI Responses API events -> Anthropic events (driving the hub's stream writer).

The Responses API streams its output items one after another (`response.output_item.added` ... `.done`
per `output_index`), so each item maps to at most one Anthropic block, opened when its first content
arrives and closed when the item is done:
- reasoning: summary text deltas -> thinking deltas (summary parts joined by a blank line); at the item's
  end its `encrypted_content` -> a signature delta carrying the reasoning item (see
  `request_to_responses.REASONING_PREFIX`); an item with neither opens no block.
- message: `output_text` and `refusal` deltas -> text deltas.
- function_call: the block opens with the item (id and name are in `output_item.added`), argument
  deltas -> input_json deltas; arguments that came only whole (in `.done`) are sent then.
- custom_tool_call: its input text -> one input_json delta `{"input": <text>}` at the end.
- web_search_call: when done, a server_tool_use block and its web_search_tool_result (as in answers);
  `response.output_text.annotation.added` (a url_citation) -> a citations_delta on the open text block.
`response.completed` / `response.incomplete` end the message with the answer's usage and stop reason;
`response.failed` and `error` events raise StreamFailure; a stream that ends without either terminal
event raises StreamIncomplete in `finish()`.
"""

from __future__ import annotations

import math
from typing import Any

from gateway.translate import StreamIncomplete
from gateway.translate.hub import with_searches
from gateway.translate.hub_stream import AnthropicStreamWriter, start_usage
from gateway.translate.openai_chat.common import dumps, message_id, sanitize_id
from gateway.translate.openai_chat.errors import stream_error
from gateway.translate.openai_chat.response import url_citation_spans
from gateway.translate.responses.response_from_responses import (
    stop_reason_of,
    thinking_block,
    usage_to_anthropic,
    web_search_blocks,
)

JSON = dict[str, Any]


class ResponsesStreamToAnthropic:
    """Responses stream events in (parsed `data` objects), Anthropic stream events out."""

    def __init__(
        self, model: str, input_tokens_estimate: int, tool_names: dict[str, str] | None = None
    ) -> None:
        self._writer = AnthropicStreamWriter(model)
        self._estimate = input_tokens_estimate
        self._names = tool_names or {}
        self._id = ""
        # The output item whose block is open (its output_index), and whether it has sent anything.
        self._open_item: int | None = None
        self._sent = False
        self._summary_index = -1
        self._has_tool_use = False
        self._refused = False
        self._chars = 0
        self._ended = False
        self._searches = 0
        # The open message item's text per content part, which annotation offsets count in.
        self._parts: dict[int, list[str]] = {}

    def feed(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        if kind == "error":
            # The Responses API's error event is flat ({code, message, param}); some servers nest it.
            nested = event.get("error")
            raise stream_error(nested if isinstance(nested, dict) else event)
        if kind == "response.failed":
            response = event.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            raise stream_error(error or {"message": "the provider's response failed"})
        out: list[JSON] = []
        if not self._writer.started:
            response = event.get("response")
            upstream_id = response.get("id") if isinstance(response, dict) else None
            self._id = message_id(upstream_id)
            out.append(self._writer.start(self._id, start_usage(self._estimate, output_tokens=1)))
        if self._ended:
            return out
        index = event.get("output_index")
        if kind == "response.output_item.added":
            self._item_added(event.get("item"), index, out)
        elif kind == "response.reasoning_summary_text.delta":
            self._thinking(event, index, out)
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            self._refused = self._refused or kind == "response.refusal.delta"
            self._text(event.get("delta"), index, out)
            part = event.get("content_index")
            if isinstance(event.get("delta"), str) and isinstance(part, int):
                self._parts.setdefault(part, []).append(event["delta"])
        elif kind == "response.output_text.annotation.added":
            self._annotation(event, index, out)
        elif kind == "response.function_call_arguments.delta":
            delta = event.get("delta")
            if isinstance(delta, str) and delta and self._open_item == index:
                self._chars += len(delta)
                self._sent = True
                out.append(self._writer.input_json(delta))
        elif kind == "response.output_item.done":
            self._item_done(event.get("item"), index, out)
        elif kind in ("response.completed", "response.incomplete"):
            self._end(event.get("response"), out)
        return out

    def finish(self) -> list[JSON]:
        if not self._ended:
            raise StreamIncomplete("the upstream stream ended without response.completed")
        return []

    # -- items -------------------------------------------------------------------------------------

    def _item_added(self, item: Any, index: Any, out: list[JSON]) -> None:
        if not isinstance(item, dict):
            return
        if item.get("type") in ("function_call", "custom_tool_call"):
            name = str(item.get("name") or "")
            tool_id = sanitize_id(item.get("call_id"), f"{self._id}:{index}")
            out.extend(self._writer.open_tool_use(tool_id, self._names.get(name, name)))
            self._open_item, self._sent = index, False
            self._has_tool_use = True
        self._summary_index = -1

    def _thinking(self, event: JSON, index: Any, out: list[JSON]) -> None:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return
        if self._open_item != index:
            out.extend(self._writer.open_thinking())
            self._open_item, self._sent = index, False
        summary = event.get("summary_index")
        if self._sent and summary != self._summary_index:
            out.append(self._writer.thinking("\n\n"))  # the next summary part
        self._summary_index = summary if isinstance(summary, int) else self._summary_index
        self._chars += len(delta)
        self._sent = True
        out.append(self._writer.thinking(delta))

    def _text(self, delta: Any, index: Any, out: list[JSON]) -> None:
        if not isinstance(delta, str) or not delta:
            return
        if self._open_item != index:
            out.extend(self._writer.open_text())
            self._open_item, self._sent = index, False
        self._chars += len(delta)
        self._sent = True
        out.append(self._writer.text(delta))

    def _annotation(self, event: JSON, index: Any, out: list[JSON]) -> None:
        if self._open_item != index or self._writer.open_type != "text":
            return  # a citation of a block already closed cannot be sent
        part = event.get("content_index")
        text = "".join(self._parts.get(part, ())) if isinstance(part, int) else ""
        for _, _, citations in url_citation_spans(text, [event.get("annotation")]):
            out.extend(self._writer.delta({"type": "citations_delta", "citation": c}) for c in citations)

    def _item_done(self, item: Any, index: Any, out: list[JSON]) -> None:
        if not isinstance(item, dict):
            return
        kind = item.get("type")
        if kind == "web_search_call":
            self._searches += 1
            call, result = web_search_blocks(item, f"{self._id}:{index}")
            out.extend(self._writer.open({**call, "input": {}}))
            out.append(self._writer.input_json(dumps(call["input"])))
            out.extend(self._writer.open(result))
            out.extend(self._writer.close())
            self._open_item = None
            return
        if kind == "message":
            self._parts = {}
        if kind == "reasoning":
            block = thinking_block(item)
            if block is not None and block["signature"]:
                if self._open_item != index:
                    # Reasoning shown nowhere (no summary asked for), but carried for the next turn.
                    out.extend(self._writer.open_thinking())
                    self._open_item = index
                out.append(self._writer.signature(block["signature"]))
        elif kind == "function_call" and self._open_item == index and not self._sent:
            arguments = item.get("arguments")
            if isinstance(arguments, str) and arguments:
                out.append(self._writer.input_json(arguments))
        elif kind == "custom_tool_call" and self._open_item == index:
            text = str(item.get("input") or "")
            self._chars += len(text)
            out.append(self._writer.input_json(dumps({"input": text})))
        if self._open_item == index:
            out.extend(self._writer.close())
            self._open_item = None

    def _end(self, response: Any, out: list[JSON]) -> None:
        response = response if isinstance(response, dict) else {}
        self._ended = True
        stop_reason = stop_reason_of(response, self._has_tool_use, self._refused)
        if isinstance(response.get("usage"), dict):
            usage = usage_to_anthropic(response["usage"])
        else:
            # No usage: keep the estimate and count about four characters per output token.
            usage = start_usage(self._estimate, output_tokens=math.ceil(self._chars / 4))
        out.extend(self._writer.end(stop_reason, with_searches(usage, self._searches)))
