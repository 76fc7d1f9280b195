"""Requests, Anthropic Messages (the hub) -> OpenAI Responses API (`POST /responses`), for models served
only there; the answers come back through `response_from_responses.py` and `stream_from_responses.py`.

- `system` -> `instructions` (text blocks joined by a blank line, Claude Code's billing line dropped).
- Messages -> input items, in order: user text/images/PDFs -> a user `message` with `input_text`,
  `input_image` (data or https URL) and `input_file` (a PDF as a data URL, or its URL) parts;
  `tool_result` -> `function_call_output` (its images and PDFs stay inside the output, which the
  Responses API takes as a list of parts), placed before the rest of the user turn; assistant text ->
  an assistant `message` (its text as a string); `tool_use` -> `function_call`. Tool call ids longer than
  OpenAI's 40 characters are shortened the same way on the call and on its output.
- Thinking: a thinking block whose `signature` carries an OpenAI reasoning item (`REASONING_PREFIX`, made
  by the answer converters) -> that reasoning item again (id, summary, `encrypted_content`), so the model
  gets its own reasoning back in a tool loop; other thinking (Anthropic's, Gemini's) is dropped: OpenAI
  cannot read it.
- Tools: custom tools -> flat `function` tools, `strict` false unless the client set it (the Responses
  API makes a tool strict by default, and Claude Code's schemas are not strict ones); names OpenAI
  rejects (over 64 characters, other characters) shortened as for Chat Completions, mapped back by
  `openai_chat.tool_name_map`. Anthropic's web_search -> the `web_search` tool; other server tools
  run only at Anthropic and are dropped.
- `tool_choice`: auto/any/none/tool -> "auto"/"required"/"none"/{type: function, name};
  `disable_parallel_tool_use` -> `parallel_tool_calls: false`.
- `output_config.format` (json_schema) -> `text.format` json_schema, strict.
- `thinking` enabled/adaptive -> `reasoning: {effort, summary: "auto"}` and
  `include: ["reasoning.encrypted_content"]`; the effort from `output_config.effort` (xhigh and max ->
  high), else from `budget_tokens`, else medium; always high for the GPT-5 pro models (their only one).
- `max_tokens` -> `max_output_tokens` (at least 16, the API's minimum).
- `store: false` always: the gateway keeps no state upstream for a client that did not ask for it.
- Dropped: `temperature`/`top_p`/`top_k` (the models served only through Responses are reasoning models,
  which refuse sampling parameters), `stop_sequences` (the Responses API has none), `cache_control`,
  `metadata` but for `user_id` (-> `safety_identifier`, a long one as its sha256), citations.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from gateway.translate import Untranslatable
from gateway.translate.hub import (
    OPENAI_REASONING_PREFIX,
    content_blocks,
    is_custom_tool,
    search_result_text,
    system_blocks,
)
from gateway.translate.openai_chat import short_tool_name
from gateway.translate.openai_chat.common import EMPTY_SCHEMA, dumps, openai_tool_id
from gateway.translate.server_tools import is_web_search

JSON = dict[str, Any]

# A thinking block's signature that carries an OpenAI reasoning item: prefix, item id, ":", the item's
# encrypted_content. Neither an id nor OpenAI's base64 blob contains ":". (In hub.py: the converters
# bound for Claude treat such a block as unsigned.)
REASONING_PREFIX = OPENAI_REASONING_PREFIX
_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
_MIN_OUTPUT_TOKENS = 16
# The GPT-5 pro models reason at `high` effort only and refuse any other value.
_ONLY_HIGH = re.compile(r"gpt-5(\.\d+)?-pro\b")


def reasoning_signature(item_id: str, encrypted: str) -> str:
    """The thinking block signature that carries one reasoning item (see `REASONING_PREFIX`)."""
    return f"{REASONING_PREFIX}{item_id}:{encrypted}"


def reasoning_from_signature(signature: Any) -> tuple[str, str] | None:
    """(item id, encrypted_content) from a signature `reasoning_signature` made, else None."""
    if not isinstance(signature, str) or not signature.startswith(REASONING_PREFIX):
        return None
    item_id, sep, encrypted = signature[len(REASONING_PREFIX) :].partition(":")
    return (item_id, encrypted) if sep and item_id and encrypted else None


def anthropic_request_to_responses(hub: JSON, upstream_model: str) -> JSON:
    """The hub request as a Responses API request for `upstream_model`; raises Untranslatable."""
    out: JSON = {"model": upstream_model}
    system = "\n\n".join(str(block["text"]) for block in system_blocks(hub.get("system")))
    if system:
        out["instructions"] = system
    items: list[JSON] = []
    for i, message in enumerate(hub.get("messages") or ()):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise Untranslatable(f"{where}: each message must be an object", where)
        role = message.get("role")
        blocks = content_blocks(message.get("content"), f"{where}.content")
        if role == "user":
            items.extend(_user_items(blocks, where))
        elif role == "assistant":
            items.extend(_assistant_items(blocks))
        elif role == "system":
            text = "\n\n".join(str(b.get("text")) for b in blocks if isinstance(b, dict) and b.get("text"))
            if text:
                items.append({"type": "message", "role": "developer", "content": text})
        else:
            raise Untranslatable(f"{where}.role: unsupported message role {role!r}", f"{where}.role")
    out["input"] = items

    tools = _tools(hub.get("tools"))
    if tools:
        out["tools"] = tools
        choice = hub.get("tool_choice")
        if isinstance(choice, dict):
            _tool_choice(choice, tools, out)

    output_config = hub.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if fmt is None:
        fmt = hub.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema") if isinstance(fmt.get("schema"), dict) else {}
        out["text"] = {"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": True}}

    effort = _effort(hub, upstream_model)
    if effort is not None:
        out["reasoning"] = {"effort": effort, "summary": "auto"}
        # Without store, the encrypted reasoning is the only way to give the model its reasoning back.
        out["include"] = ["reasoning.encrypted_content"]

    max_tokens = hub.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        out["max_output_tokens"] = max(max_tokens, _MIN_OUTPUT_TOKENS)

    metadata = hub.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        out["safety_identifier"] = (
            user_id if len(user_id) <= 64 else hashlib.sha256(user_id.encode()).hexdigest()
        )
    out["store"] = False
    if hub.get("stream") is True:
        out["stream"] = True
    return out


def _user_items(blocks: list[Any], where: str) -> list[JSON]:
    outputs: list[JSON] = []
    parts: list[JSON] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content.{j}"
        if not isinstance(block, dict):
            raise Untranslatable(f"{at}: each content block must be an object", at)
        if block.get("type") == "tool_result":
            outputs.append(_tool_output(block, at))
        else:
            parts.extend(_input_parts(block, at))
    items = outputs
    if parts:
        items.append({"type": "message", "role": "user", "content": parts})
    return items


def _input_parts(block: JSON, where: str) -> list[JSON]:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return [{"type": "input_text", "text": text}] if isinstance(text, str) and text else []
    if kind == "image":
        return [_image(block.get("source"), where)]
    if kind == "document":
        return _document(block, where)
    if kind == "search_result":
        text = search_result_text(block)
        return [{"type": "input_text", "text": text}] if text else []
    # Thinking, server-tool blocks and anything newer: the Responses API has nothing to carry them.
    return []


def _image(source: Any, where: str) -> JSON:
    if isinstance(source, dict):
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type')};base64,{source.get('data')}"
            return {"type": "input_image", "image_url": url, "detail": "auto"}
        if source.get("type") == "url" and isinstance(source.get("url"), str):
            return {"type": "input_image", "image_url": source["url"], "detail": "auto"}
    raise Untranslatable(f"{where}: only base64 and URL images can be sent to this model", where)


def _document(block: JSON, where: str) -> list[JSON]:
    source = block.get("source")
    source = source if isinstance(source, dict) else {}
    kind = source.get("type")
    title = block.get("title")
    filename = title if isinstance(title, str) and title else "document.pdf"
    if kind == "base64" and source.get("media_type") == "application/pdf":
        data_url = f"data:application/pdf;base64,{source.get('data')}"
        return [{"type": "input_file", "filename": filename, "file_data": data_url}]
    if kind == "url" and isinstance(source.get("url"), str):
        return [{"type": "input_file", "file_url": source["url"]}]
    if kind == "text":
        text = str(source.get("data") or "")
        return [{"type": "input_text", "text": text}] if text else []
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"type": "input_text", "text": inner}] if inner else []
        parts: list[JSON] = []
        for j, item in enumerate(inner if isinstance(inner, list) else ()):
            if isinstance(item, dict):
                parts.extend(_input_parts(item, f"{where}.source.content.{j}"))
        return parts
    raise Untranslatable(f"{where}: only PDF, URL and text documents can be sent to this model", where)


def _tool_output(block: JSON, where: str) -> JSON:
    call_id = openai_tool_id(block.get("tool_use_id"))
    content = block.get("content")
    prefix = "Error: " if block.get("is_error") else ""
    if content is None or isinstance(content, str):
        return {"type": "function_call_output", "call_id": call_id, "output": prefix + (content or "")}
    parts: list[JSON] = []
    for j, item in enumerate(content if isinstance(content, list) else ()):
        if isinstance(item, dict):
            parts.extend(_input_parts(item, f"{where}.content.{j}"))
    if all(part["type"] == "input_text" for part in parts):
        text = "\n".join(part["text"] for part in parts)
        return {"type": "function_call_output", "call_id": call_id, "output": prefix + text}
    if prefix:
        parts.insert(0, {"type": "input_text", "text": prefix.strip()})
    return {"type": "function_call_output", "call_id": call_id, "output": parts}


def _assistant_items(blocks: list[Any]) -> list[JSON]:
    items: list[JSON] = []
    texts: list[str] = []

    def flush_text() -> None:
        if texts:
            # Adjacent text blocks are one text split by citations, so they join without a separator. A
            # string: the SDK's EasyInputMessage (a list would be output_text parts, which its types only
            # allow on an output message replayed with its id and status).
            items.append({"type": "message", "role": "assistant", "content": "".join(texts)})
            texts.clear()

    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            texts.append(str(block["text"]))
        elif kind == "tool_use":
            flush_text()
            items.append(
                {
                    "type": "function_call",
                    "call_id": openai_tool_id(block.get("id")),
                    "name": short_tool_name(str(block.get("name") or "")),
                    "arguments": dumps(block.get("input") or {}),
                }
            )
        elif kind == "thinking":
            carried = reasoning_from_signature(block.get("signature"))
            if carried is not None:
                flush_text()
                item_id, encrypted = carried
                thinking = block.get("thinking")
                summary = (
                    [{"type": "summary_text", "text": thinking}]
                    if isinstance(thinking, str) and thinking
                    else []
                )
                items.append(
                    {"type": "reasoning", "id": item_id, "summary": summary, "encrypted_content": encrypted}
                )
        # Other providers' thinking, redacted thinking and server-tool blocks: OpenAI cannot take them.
    flush_text()
    return items


def _tools(tools: Any) -> list[JSON]:
    out: list[JSON] = []
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict) and is_web_search(tool) and not any(t["type"] == "web_search" for t in out):
            out.append(_web_search(tool))
            continue
        if not isinstance(tool, dict) or not is_custom_tool(tool):
            continue
        schema = tool.get("input_schema")
        function: JSON = {
            "type": "function",
            "name": short_tool_name(str(tool.get("name") or "")),
            "parameters": schema if isinstance(schema, dict) and schema else dict(EMPTY_SCHEMA),
            "strict": tool.get("strict") is True,
        }
        if isinstance(tool.get("description"), str) and tool["description"]:
            function["description"] = tool["description"]
        out.append(function)
    return out


def _web_search(tool: JSON) -> JSON:
    """Anthropic's web_search as the Responses API's `web_search` tool: allowed_domains -> filters,
    user_location as is. It has no blocked list (refused rather than searching those domains) and no
    cap on searches (`max_uses` is dropped: the model decides, as with Anthropic's default)."""
    if tool.get("blocked_domains"):
        raise Untranslatable("this model's web search cannot block domains (blocked_domains)", "tools")
    out: JSON = {"type": "web_search"}
    domains = tool.get("allowed_domains")
    if isinstance(domains, list) and domains:
        out["filters"] = {"allowed_domains": [d for d in domains if isinstance(d, str)]}
    location = tool.get("user_location")
    if isinstance(location, dict):
        fields = {k: v for k, v in location.items() if k in ("city", "region", "country", "timezone") and v}
        if fields:
            out["user_location"] = {"type": "approximate", **fields}
    return out


def _tool_choice(choice: JSON, tools: list[JSON], out: JSON) -> None:
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        name = short_tool_name(str(choice.get("name") or ""))
        if not any(tool.get("name") == name for tool in tools):
            raise Untranslatable("tool_choice names a tool this model cannot run", "tool_choice")
        out["tool_choice"] = {"type": "function", "name": name}
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False


def _effort(hub: JSON, model: str) -> str | None:
    thinking = hub.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    if _ONLY_HIGH.match(model):
        return "high"
    output_config = hub.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    if isinstance(effort, str) and effort in _EFFORT:
        return _EFFORT[effort]
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "enabled" and isinstance(budget, int):
        # Not `minimal`: not every model takes it, and it turns reasoning summaries off.
        if budget < 2048:
            return "low"
        if budget < 4096:
            return "medium"
        return "high"
    return "medium"
