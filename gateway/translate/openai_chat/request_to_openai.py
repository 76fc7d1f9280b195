"""Requests, Anthropic Messages (the hub) -> OpenAI Chat Completions; the rules are in the package
docstring."""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.translate import Untranslatable
from gateway.translate.hub import BILLING_HEADER_PREFIX
from gateway.translate.openai_chat.common import EMPTY_SCHEMA, dumps, openai_tool_id, short_tool_name
from gateway.translate.server_tools import is_web_search, openai_search_model

JSON = dict[str, Any]

# Every OpenAI reasoning model takes low/medium/high; xhigh and max only the newest ones.
_OPENAI_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def anthropic_request_to_openai(body: JSON, model: str) -> JSON:
    out: JSON = {"model": model}
    messages: list[JSON] = []
    system = _system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body.get("messages") or ()):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise Untranslatable("each message must be an object", where)
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            text = _plain_text(content)
            if text:
                messages.append({"role": "system", "content": text})
        elif role == "user":
            messages.extend(_anthropic_user(content, where))
        elif role == "assistant":
            assistant = _anthropic_assistant(content)
            if assistant is not None:
                messages.append(assistant)
        else:
            raise Untranslatable(f"unsupported message role {role!r}", f"{where}.role")
    out["messages"] = messages

    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int):
        # max_tokens 0 only warms Anthropic's cache; OpenAI has no such mode and rejects 0.
        out["max_completion_tokens"] = max(max_tokens, 1)

    tools = _anthropic_tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            _anthropic_tool_choice(choice, tools, out)

    search = _web_search_options(body.get("tools"), model)
    if search is not None:
        out["web_search_options"] = search

    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        if len(stops) > 4:
            raise Untranslatable("this model accepts at most 4 stop sequences", "stop_sequences")
        out["stop"] = list(stops)
    effort = _reasoning_effort(body)
    if effort is not None:
        out["reasoning_effort"] = effort
    else:
        # OpenAI's reasoning models accept only the default sampling, as Anthropic does with thinking on.
        for key in ("temperature", "top_p"):
            if isinstance(body.get(key), int | float):
                out[key] = body[key]

    output_config = body.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if fmt is None:
        fmt = body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt.get("schema") or {}, "strict": True},
        }

    if body.get("stream"):
        out["stream"] = True
        # Always: the usage chunk is the only place a stream reports tokens (protocols.md §5.3).
        out["stream_options"] = {"include_usage": True}

    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        # Claude Code's id is a JSON object of device, account and session ids (150+ characters); OpenAI
        # wants a short opaque identifier, so a long one is sent as its sha256, which stays stable per user.
        out["user"] = user_id if len(user_id) <= 64 else hashlib.sha256(user_id.encode()).hexdigest()
    return out


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        if system.startswith(BILLING_HEADER_PREFIX):
            return system.partition("\n")[2]
        return system
    if not isinstance(system, list):
        return ""
    blocks = [b for b in system if isinstance(b, dict) and b.get("type") == "text" and b.get("text")]
    if blocks and str(blocks[0]["text"]).startswith(BILLING_HEADER_PREFIX):
        blocks = blocks[1:]
    return "\n\n".join(str(b["text"]) for b in blocks)


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n\n".join(
            str(b["text"])
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and b.get("text")
        )
    return ""


def _anthropic_user(content: Any, where: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise Untranslatable("content must be a string or an array of blocks", f"{where}.content")
    tool_messages: list[JSON] = []
    moved: list[JSON] = []
    parts: list[JSON] = []
    for j, block in enumerate(content):
        block_where = f"{where}.content[{j}]"
        if not isinstance(block, dict):
            raise Untranslatable("each content block must be an object", block_where)
        if block.get("type") == "tool_result":
            message, attachments = _anthropic_tool_result(block, block_where)
            tool_messages.append(message)
            if attachments:
                moved.append(
                    {"type": "text", "text": f"Attachments returned by tool call {message['tool_call_id']}:"}
                )
                moved.extend(attachments)
        else:
            parts.extend(_anthropic_part(block, block_where))
    messages = tool_messages
    parts = moved + parts
    if parts:
        if len(parts) == 1 and parts[0]["type"] == "text":
            messages.append({"role": "user", "content": parts[0]["text"]})
        else:
            messages.append({"role": "user", "content": parts})
    return messages


def _anthropic_part(block: JSON, where: str) -> list[JSON]:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return [{"type": "text", "text": text}] if isinstance(text, str) and text else []
    if kind == "image":
        return [_openai_image(block.get("source"), where)]
    if kind == "document":
        return _openai_document(block, where)
    if kind == "search_result":
        texts = [str(block.get("title") or ""), str(block.get("source") or "")]
        texts += [str(b.get("text") or "") for b in block.get("content") or () if isinstance(b, dict)]
        text = "\n".join(t for t in texts if t)
        return [{"type": "text", "text": text}] if text else []
    # Thinking, server-tool blocks and anything newer: OpenAI has nothing to carry them.
    return []


def _openai_image(source: Any, where: str) -> JSON:
    if isinstance(source, dict):
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type')};base64,{source.get('data')}"
            return {"type": "image_url", "image_url": {"url": url}}
        if source.get("type") == "url" and isinstance(source.get("url"), str):
            return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise Untranslatable("only base64 and URL images can be sent to this model", where)


def _openai_document(block: JSON, where: str) -> list[JSON]:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict) and source.get("media_type") == "application/pdf":
        title = block.get("title")
        filename = title if isinstance(title, str) and title else "document.pdf"
        data_url = f"data:application/pdf;base64,{source.get('data')}"
        return [{"type": "file", "file": {"filename": filename, "file_data": data_url}}]
    if kind == "text" and isinstance(source, dict):
        text = str(source.get("data") or "")
        return [{"type": "text", "text": text}] if text else []
    if kind == "content" and isinstance(source, dict):
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"type": "text", "text": inner}] if inner else []
        parts: list[JSON] = []
        for j, item in enumerate(inner if isinstance(inner, list) else ()):
            if isinstance(item, dict):
                parts.extend(_anthropic_part(item, f"{where}.source.content[{j}]"))
        return parts
    raise Untranslatable("only inline PDF and text documents can be sent to this model", where)


def _anthropic_tool_result(block: JSON, where: str) -> tuple[JSON, list[JSON]]:
    tool_id = openai_tool_id(block.get("tool_use_id"))
    content = block.get("content")
    texts: list[str] = []
    attachments: list[JSON] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for j, item in enumerate(content):
            if not isinstance(item, dict):
                continue
            for part in _anthropic_part(item, f"{where}.content[{j}]"):
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    attachments.append(part)
    text = "\n".join(texts)
    if attachments:
        note = "(attachments are in the next user message)"
        text = f"{text}\n{note}" if text else note
    if block.get("is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": tool_id, "content": text}, attachments


def _anthropic_assistant(content: Any) -> JSON | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content} if content else None
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    calls: list[JSON] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            texts.append(str(block["text"]))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": openai_tool_id(block.get("id")),
                    "type": "function",
                    "function": {
                        "name": short_tool_name(str(block.get("name") or "")),
                        "arguments": dumps(block.get("input") or {}),
                    },
                }
            )
        # thinking/redacted_thinking and server-tool blocks are dropped: OpenAI cannot take them.
    if not texts and not calls:
        return None
    # Adjacent text blocks are one text split by citations, so they join without a separator.
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _anthropic_tools(tools: Any) -> list[JSON]:
    out: list[JSON] = []
    for tool in tools or ():
        # Custom tools may omit `type` (Claude Code does); every other type is a server tool that only
        # Anthropic runs.
        if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
            continue
        fn: JSON = {"name": short_tool_name(str(tool.get("name") or ""))}
        if isinstance(tool.get("description"), str) and tool["description"]:
            fn["description"] = tool["description"]
        schema = tool.get("input_schema")
        fn["parameters"] = schema if isinstance(schema, dict) and schema else dict(EMPTY_SCHEMA)
        if isinstance(tool.get("strict"), bool):
            fn["strict"] = tool["strict"]
        out.append({"type": "function", "function": fn})
    return out


def _web_search_options(tools: Any, model: str) -> JSON | None:
    """Anthropic's web_search tool as Chat Completions' `web_search_options`, for a search model (no
    other model searches in Chat; server_tools.py). `max_uses` has no equivalent (a search model runs
    its own searches) and `search_context_size` no source, so it stays the default; a domain filter
    cannot be expressed and is refused rather than searching the whole web."""
    found = next(
        (t for t in tools or () if isinstance(t, dict) and is_web_search(t)),
        None,
    )
    if found is None or not openai_search_model(model):
        return None
    if found.get("allowed_domains") or found.get("blocked_domains"):
        raise Untranslatable(
            "this model's web search cannot restrict domains (allowed_domains, blocked_domains)", "tools"
        )
    options: JSON = {}
    location = found.get("user_location")
    if isinstance(location, dict):
        fields = {k: v for k, v in location.items() if k in ("city", "region", "country", "timezone") and v}
        if fields:
            options["user_location"] = {"type": "approximate", "approximate": fields}
    return options


def _anthropic_tool_choice(choice: JSON, tools: list[JSON], out: JSON) -> None:
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        name = short_tool_name(str(choice.get("name") or ""))
        if not any(t["function"]["name"] == name for t in tools):
            raise Untranslatable("tool_choice names a tool this model cannot run", "tool_choice")
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False


def _reasoning_effort(body: JSON) -> str | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    if isinstance(effort, str) and effort in _OPENAI_EFFORT:
        return _OPENAI_EFFORT[effort]
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "enabled" and isinstance(budget, int):
        if budget < 1024:
            return "minimal"
        if budget < 2048:
            return "low"
        if budget < 4096:
            return "medium"
        return "high"
    return "medium"


def fit_tool_ids(body: JSON) -> JSON:
    """An OpenAI request whose tool call ids all fit OpenAI's 40 characters: the ids of assistant
    `tool_calls` and of `tool` messages that do not are shortened with `openai_tool_id`, the same way on
    both sides. A client's history may hold ids another provider minted (a Gemini turn before a
    fallback). Returns the body itself when every id fits."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    changed = False
    out: list[Any] = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "tool":
            tool_id = message.get("tool_call_id")
            if isinstance(tool_id, str) and openai_tool_id(tool_id) != tool_id:
                message = {**message, "tool_call_id": openai_tool_id(tool_id)}
                changed = True
        elif isinstance(message, dict) and isinstance(message.get("tool_calls"), list):
            calls = [
                {**call, "id": openai_tool_id(call["id"])}
                if isinstance(call, dict)
                and isinstance(call.get("id"), str)
                and openai_tool_id(call["id"]) != call["id"]
                else call
                for call in message["tool_calls"]
            ]
            if any(new is not old for new, old in zip(calls, message["tool_calls"], strict=True)):
                message = {**message, "tool_calls": calls}
                changed = True
        out.append(message)
    return {**body, "messages": out} if changed else body
