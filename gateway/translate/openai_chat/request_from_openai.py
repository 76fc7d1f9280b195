"""Requests, OpenAI Chat Completions -> Anthropic Messages (the hub); the rules are in the package
docstring."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from gateway.translate import Untranslatable
from gateway.translate.hub import add_turn, claude_signature, tool_results_first, trim_prefill
from gateway.translate.openai_chat.common import EMPTY_SCHEMA, arguments_object, sanitize_id

JSON = dict[str, Any]

# Anthropic requires max_tokens; OpenAI clients usually omit it, and the real API then allows the model's
# maximum. The data plane passes that maximum in where it knows the model (gateway/pricing/limits.py);
# otherwise 4096, which every Claude model accepts (the oldest cap output there).
DEFAULT_MAX_TOKENS = 4096

_DATA_URL = re.compile(r"^data:([^;,]+)?((?:;[^;,]*)*?);base64,(.*)$", re.DOTALL)
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")

# Claude models without adaptive thinking take a `budget_tokens` instead (3.x and 4.0-4.5, also under
# their Bedrock and Vertex ids). Anything else, including non-Claude models behind the hub, gets
# adaptive thinking and an effort, the richer form.
_BUDGET_THINKING_MODEL = re.compile(
    r"claude-(?:3[-.]|(?:opus|sonnet|haiku)-4(?:-[015])?(?:$|[-@]\d{8}|-v\d))"
)
# Claude models that still take sampling parameters (under anthropic-version 2023-06-01, which translated
# calls send): 3.x and 4.0-4.6. Later ones answer a non-default temperature with a 400, and the SDKs
# since 2.0 no longer have the fields at all, so for them temperature/top_p are dropped. Non-Claude
# models behind the hub keep them.
_SAMPLING_MODEL = re.compile(
    r"claude-(?:3[-.]|(?:opus|sonnet|haiku)-4(?:-[0-6](?!\d))?(?:$|[-@:](?:\d{8}|v\d|latest)))"
)
_EFFORT_BUDGETS = {"low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
_MIN_THINKING_BUDGET = 1024
_ANTHROPIC_EFFORTS = frozenset(_EFFORT_BUDGETS)

_JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."


def _parse_data_url(url: str) -> tuple[str, str] | None:
    match = _DATA_URL.match(url)
    if match is None:
        return None
    return (match.group(1) or "application/octet-stream").lower(), match.group(3)


def openai_request_to_anthropic(
    body: JSON, model: str, *, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> JSON:
    """`default_max_tokens`: the cap when the client set none (the data plane knows the model's own)."""
    _reject_inexpressible(body)
    system, messages = _openai_messages(body.get("messages"))

    out: JSON = {"model": model}
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    out["max_tokens"] = max_tokens if isinstance(max_tokens, int) else default_max_tokens

    response_format = body.get("response_format")
    output_config: JSON = {}
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if not isinstance(schema, dict):
                raise Untranslatable(
                    "response_format.json_schema.schema must be an object", "response_format"
                )
            output_config["format"] = {"type": "json_schema", "schema": schema}
        elif kind == "json_object":
            system.append({"type": "text", "text": _JSON_OBJECT_INSTRUCTION})
        elif kind not in (None, "text"):
            raise Untranslatable(f"response_format type {kind!r} is not supported", "response_format")

    if system:
        out["system"] = system
    out["messages"] = messages

    tools = _openai_tools(body)
    if tools:
        out["tools"] = tools
        choice = _openai_tool_choice(body, tools)
        if choice is not None:
            out["tool_choice"] = choice

    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    # Anthropic rejects whitespace-only stop sequences (protocols.md §1.2).
    stop_sequences = [s for s in stops if isinstance(s, str) and s.strip()]
    if stop_sequences:
        out["stop_sequences"] = stop_sequences

    thinking = _openai_thinking(body, model, out, messages)
    if thinking is not None:
        out["thinking"] = thinking
        if thinking["type"] == "adaptive":
            output_config["effort"] = body["reasoning_effort"]
    thinking_on = thinking is not None and thinking["type"] != "disabled"

    temperature = body.get("temperature")
    top_p = body.get("top_p")
    sampling = "claude" not in model or bool(_SAMPLING_MODEL.search(model))
    if isinstance(temperature, int | float) and sampling and not thinking_on:
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    # With thinking on Anthropic accepts only top_p >= 0.95, and newer models reject temperature+top_p.
    if (
        isinstance(top_p, int | float)
        and sampling
        and "temperature" not in out
        and (not thinking_on or top_p >= 0.95)
    ):
        out["top_p"] = float(top_p)

    if output_config:
        out["output_config"] = output_config

    user = body.get("safety_identifier") or body.get("user")
    # Anthropic asks for an opaque id and rejects personal data; an email or phone number is dropped.
    if isinstance(user, str) and user and not _EMAIL.search(user) and not _PHONE.match(user):
        out["metadata"] = {"user_id": user}

    if body.get("stream"):
        out["stream"] = True
    return out


def _reject_inexpressible(body: JSON) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise Untranslatable("n > 1 is not supported for this model; send one request per choice", "n")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise Untranslatable("logprobs are not available for this model", "logprobs")
    modalities = body.get("modalities")
    if body.get("audio") or (isinstance(modalities, list) and "audio" in modalities):
        raise Untranslatable("audio output is not available for this model", "modalities")


def _openai_messages(raw: Any) -> tuple[list[JSON], list[JSON]]:
    if not isinstance(raw, list):
        raise Untranslatable("messages must be an array", "messages")
    system: list[JSON] = []
    turns: list[JSON] = []
    leading = True
    # Legacy `function_call`s have no ids: each gets one, and the next `function` message with that
    # name answers it.
    legacy_ids: dict[str, list[str]] = {}
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise Untranslatable("each message must be an object", where)
        role = message.get("role")
        if role in ("system", "developer"):
            blocks = _text_blocks(message.get("content"), where)
            if leading:
                system.extend(blocks)
            elif blocks:
                text = "\n\n".join(b["text"] for b in blocks)
                add_turn(
                    turns, "user", [{"type": "text", "text": f"<system_message>\n{text}\n</system_message>"}]
                )
            continue
        leading = False
        if role == "user":
            add_turn(turns, "user", _user_blocks(message.get("content"), where))
        elif role == "assistant":
            add_turn(turns, "assistant", _assistant_blocks(message, where, legacy_ids, i))
        elif role == "tool":
            tool_id = sanitize_id(message.get("tool_call_id"), f"{where}")
            add_turn(turns, "user", [_tool_result(tool_id, message.get("content"), where)])
        elif role == "function":
            name = str(message.get("name") or "")
            pending = legacy_ids.get(name)
            tool_id = pending.pop(0) if pending else sanitize_id(None, f"{where}:{name}")
            add_turn(turns, "user", [_tool_result(tool_id, message.get("content"), where)])
        else:
            raise Untranslatable(f"unsupported message role {role!r}", f"{where}.role")

    for turn in turns:
        if turn["role"] == "user":
            tool_results_first(turn)
    trim_prefill(turns)
    return system, turns


def _text_blocks(content: Any, where: str) -> list[JSON]:
    """System, developer and tool content: a string or text parts only."""
    return _content_blocks(content, where, _text_part)


def _text_part(part: Any, where: str) -> JSON | None:
    if not isinstance(part, dict) or part.get("type") != "text":
        raise Untranslatable("only text parts are allowed here", where)
    text = part.get("text")
    return _text_block(text, part) if isinstance(text, str) and text.strip() else None


def _content_blocks(content: Any, where: str, convert: Callable[[Any, str], JSON | None]) -> list[JSON]:
    """A message's content (a string, or parts each converted by `convert`) as Anthropic blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise Untranslatable("content must be a string or an array of parts", f"{where}.content")
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        block = convert(part, f"{where}.content[{j}]")
        if block is not None:
            blocks.append(block)
    return blocks


def _text_block(text: str, part: JSON) -> JSON:
    block: JSON = {"type": "text", "text": text}
    # Not OpenAI, but clients that know Anthropic (LiteLLM users) mark cache breakpoints this way.
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _user_blocks(content: Any, where: str) -> list[JSON]:
    return _content_blocks(content, where, _user_part)


def _user_part(part: Any, where: str) -> JSON | None:
    if not isinstance(part, dict):
        raise Untranslatable("each content part must be an object", where)
    kind = part.get("type")
    if kind in ("text", "refusal"):
        text = part.get(kind)
        return _text_block(text, part) if isinstance(text, str) and text.strip() else None
    if kind == "image_url":
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, dict) else spec
        if not isinstance(url, str):
            raise Untranslatable("image_url.url must be a string", where)
        block = _image_block(url, where)
        if isinstance(part.get("cache_control"), dict):
            block["cache_control"] = part["cache_control"]
        return block
    if kind == "file":
        return _file_block(part.get("file"), where)
    if kind == "input_audio":
        raise Untranslatable("audio input is not supported for this model", where)
    raise Untranslatable(f"content part type {kind!r} is not supported for this model", where)


def _image_block(url: str, where: str) -> JSON:
    if url.startswith("data:"):
        parsed = _parse_data_url(url)
        if parsed is None:
            raise Untranslatable("image data URLs must be base64-encoded", where)
        media_type, data = parsed
        if media_type not in _IMAGE_TYPES:
            raise Untranslatable(f"image type {media_type} is not supported (jpeg, png, gif, webp)", where)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise Untranslatable("image_url must be an http(s) or data: URL", where)


def _file_block(spec: Any, where: str) -> JSON:
    if not isinstance(spec, dict):
        raise Untranslatable("file must be an object", where)
    data = spec.get("file_data")
    if not isinstance(data, str):
        raise Untranslatable("files must be sent inline as file_data; file ids are not supported here", where)
    filename = spec.get("filename")
    parsed = _parse_data_url(data)
    if parsed is None:
        # Some clients send the bare base64; the filename is then the only hint of the type.
        if not (isinstance(filename, str) and filename.lower().endswith(".pdf")):
            raise Untranslatable("file_data must be a base64 data: URL", where)
        parsed = ("application/pdf", data)
    media_type, payload = parsed
    block: JSON
    if media_type == "application/pdf":
        block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": payload}}
    elif media_type == "text/plain":
        try:
            text = base64.b64decode(payload).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise Untranslatable("file_data is not valid base64 UTF-8 text", where) from exc
        block = {"type": "document", "source": {"type": "text", "media_type": media_type, "data": text}}
    else:
        raise Untranslatable(f"file type {media_type} is not supported (PDF or plain text)", where)
    if isinstance(filename, str) and filename:
        block["title"] = filename
    return block


def _assistant_blocks(
    message: JSON, where: str, legacy_ids: dict[str, list[str]], position: int
) -> list[JSON]:
    blocks: list[JSON] = []
    # Only thinking that carries Anthropic's signature can go back to Anthropic; the signature is what it
    # verifies, and an invented one fails the whole request.
    for item in message.get("thinking_blocks") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "thinking" and isinstance(item.get("signature"), str) and item["signature"]:
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": str(item.get("thinking") or ""),
                    "signature": item["signature"],
                }
            )
        elif item.get("type") == "redacted_thinking" and isinstance(item.get("data"), str) and item["data"]:
            blocks.append({"type": "redacted_thinking", "data": item["data"]})

    content = message.get("content")
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
                raise Untranslatable(
                    "assistant content parts must be text or refusal", f"{where}.content[{j}]"
                )
            text = part.get(part["type"])
            if isinstance(text, str) and text:
                blocks.append({"type": "text", "text": text})
    elif content is None and isinstance(message.get("refusal"), str) and message["refusal"]:
        blocks.append({"type": "text", "text": message["refusal"]})
    # Anthropic rejects whitespace-only text blocks; drop them rather than fail the conversation.
    blocks = [b for b in blocks if b["type"] != "text" or b["text"].strip()]

    for k, call in enumerate(message.get("tool_calls") or ()):
        call_where = f"{where}.tool_calls[{k}]"
        if not isinstance(call, dict) or call.get("type", "function") != "function":
            raise Untranslatable("only function tool calls are supported for this model", call_where)
        fn = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": sanitize_id(call.get("id"), f"{call_where}"),
                "name": str(fn.get("name") or ""),
                "input": arguments_object(fn.get("arguments"), f"{call_where}.function.arguments"),
            }
        )
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        name = str(legacy.get("name") or "")
        tool_id = f"call_legacy_{position}"
        legacy_ids.setdefault(name, []).append(tool_id)
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_id,
                "name": name,
                "input": arguments_object(legacy.get("arguments"), f"{where}.function_call.arguments"),
            }
        )
    return blocks


def _tool_result(tool_id: str, content: Any, where: str) -> JSON:
    result: JSON = {"type": "tool_result", "tool_use_id": tool_id}
    if isinstance(content, str):
        if content:
            result["content"] = content
    elif isinstance(content, list):
        # OpenAI allows only text here, but images from clients that know better map naturally.
        blocks = _user_blocks(content, where)
        if blocks:
            result["content"] = blocks
    elif content is not None:
        raise Untranslatable("tool message content must be a string or an array of parts", f"{where}.content")
    return result


def _openai_tools(body: JSON) -> list[JSON]:
    tools: list[JSON] = []
    for i, tool in enumerate(body.get("tools") or ()):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise Untranslatable("each tool must be an object", where)
        if tool.get("type", "function") != "function":
            raise Untranslatable(
                f"tool type {tool.get('type')!r} is not supported; use function tools", where
            )
        tools.append(_function_tool(tool.get("function"), where))
    for i, fn in enumerate(body.get("functions") or ()):
        tools.append(_function_tool(fn, f"functions[{i}]"))
    search = body.get("web_search_options")
    if isinstance(search, dict):
        server_tool: JSON = {"type": "web_search_20250305", "name": "web_search"}
        location = search.get("user_location")
        approx = location.get("approximate") if isinstance(location, dict) else None
        if isinstance(approx, dict):
            fields = {k: v for k, v in approx.items() if k in ("city", "region", "country", "timezone") and v}
            server_tool["user_location"] = {"type": "approximate", **fields}
        tools.append(server_tool)
    return tools


def _function_tool(fn: Any, where: str) -> JSON:
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise Untranslatable("function tools need a name", where)
    schema = fn.get("parameters")
    if not isinstance(schema, dict) or not schema:
        schema = dict(EMPTY_SCHEMA)
    elif "type" not in schema:
        schema = {"type": "object", **schema}
    tool: JSON = {"name": fn["name"]}
    if isinstance(fn.get("description"), str) and fn["description"]:
        tool["description"] = fn["description"]
    tool["input_schema"] = schema
    if isinstance(fn.get("strict"), bool):
        tool["strict"] = fn["strict"]
    return tool


def _openai_tool_choice(body: JSON, tools: list[JSON]) -> JSON | None:
    raw = body.get("tool_choice")
    if raw is None:
        legacy = body.get("function_call")
        raw = {"type": "function", "function": legacy} if isinstance(legacy, dict) else legacy
    choice: JSON | None
    if raw is None:
        choice = None
    elif raw == "none":
        return {"type": "none"}
    elif raw == "auto":
        choice = {"type": "auto"}
    elif raw == "required":
        choice = {"type": "any"}
    elif isinstance(raw, dict) and raw.get("type") == "function":
        name = (raw.get("function") or {}).get("name")
        if not isinstance(name, str) or not any(t.get("name") == name for t in tools):
            raise Untranslatable("tool_choice names a function that is not in tools", "tool_choice")
        choice = {"type": "tool", "name": name}
    elif isinstance(raw, dict) and raw.get("type") == "allowed_tools":
        spec = raw.get("allowed_tools") or {}
        allowed = {
            (t.get("function") or {}).get("name") for t in spec.get("tools") or () if isinstance(t, dict)
        }
        # Anthropic has no allow-list: the tools outside it are removed from the request instead.
        tools[:] = [t for t in tools if t.get("name") in allowed or "type" in t]
        choice = {"type": "any" if spec.get("mode") == "required" else "auto"}
    else:
        raise Untranslatable("unsupported tool_choice", "tool_choice")
    if body.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        choice["disable_parallel_tool_use"] = True
    return choice


def _openai_thinking(body: JSON, model: str, out: JSON, messages: list[JSON]) -> JSON | None:
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort in ("none", "minimal"):
        return {"type": "disabled"}
    if effort not in _ANTHROPIC_EFFORTS:
        raise Untranslatable(f"unsupported reasoning_effort {effort!r}", "reasoning_effort")
    if out.get("tool_choice", {}).get("type") in ("any", "tool"):
        return None
    if _unreplayable_tool_loop(messages):
        return None
    if not _BUDGET_THINKING_MODEL.search(model):
        return {"type": "adaptive"}
    budget = min(_EFFORT_BUDGETS[effort], out["max_tokens"] - 1)
    if budget < _MIN_THINKING_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def _unreplayable_tool_loop(messages: list[JSON]) -> bool:
    """True when the conversation is inside a tool loop whose assistant turn does not start with
    thinking: Anthropic then rejects enabled thinking, and an OpenAI client rarely keeps the signed
    thinking blocks it would need."""
    if len(messages) < 2 or messages[-1]["role"] != "user":
        return False
    if not any(b.get("type") == "tool_result" for b in messages[-1]["content"]):
        return False
    assistant = messages[-2]
    if assistant["role"] != "assistant" or not any(b.get("type") == "tool_use" for b in assistant["content"]):
        return False
    return assistant["content"][0].get("type") not in ("thinking", "redacted_thinking")


def drop_unsigned_thinking(body: JSON) -> JSON:
    """The Anthropic request without thinking blocks that have no signature (those this module made from
    another provider's reasoning) or carry OpenAI's reasoning (`hub.claude_signature`): Anthropic rejects
    them. Messages left empty are dropped. Returns the body itself when there is nothing to remove."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    kept: list[Any] = []
    changed = False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            kept.append(message)
            continue
        blocks = [
            b
            for b in content
            if not (
                isinstance(b, dict)
                and b.get("type") == "thinking"
                and not claude_signature(b.get("signature"))
            )
        ]
        if len(blocks) == len(content):
            kept.append(message)
            continue
        changed = True
        if blocks:
            kept.append({**message, "content": blocks})
    return {**body, "messages": kept} if changed else body


def thinking_off_for_foreign_loop(body: JSON) -> JSON:
    """The Anthropic request with enabled thinking turned off for this call when the tool loop's last
    assistant turn does not start with a signed thinking block: Anthropic requires the original one
    there, and a turn another provider wrote (a fallback, a split, a model switch) has none to give (its
    reasoning, if any, is unsigned and dropped by `drop_unsigned_thinking`). Claude Code's clear_thinking
    edits go too (they need thinking on). Returns the body itself when nothing changes."""
    thinking = body.get("thinking")
    # Adaptive thinking may skip a turn's thinking, so a turn without it is legitimate there.
    if not (isinstance(thinking, dict) and thinking.get("type") == "enabled"):
        return body
    if not _loop_turn_without_thinking(body.get("messages")):
        return body
    out = {key: value for key, value in body.items() if key != "thinking"}
    management = out.get("context_management")
    edits = management.get("edits") if isinstance(management, dict) else None
    if isinstance(management, dict) and isinstance(edits, list):
        kept = [
            e
            for e in edits
            if not (isinstance(e, dict) and str(e.get("type", "")).startswith("clear_thinking"))
        ]
        if len(kept) != len(edits):
            if kept:
                out["context_management"] = {**management, "edits": kept}
            else:
                del out["context_management"]
    return out


def _loop_turn_without_thinking(messages: Any) -> bool:
    """True when the request answers tool calls (last message: a user turn with tool_result blocks) whose
    assistant turn does not start with a signed thinking or a redacted_thinking block. Raw client JSON:
    any shape."""
    if not isinstance(messages, list) or len(messages) < 2:
        return False
    last, turn = messages[-1], messages[-2]
    if not (isinstance(last, dict) and last.get("role") == "user" and isinstance(last.get("content"), list)):
        return False
    if not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last["content"]):
        return False
    if not (isinstance(turn, dict) and turn.get("role") == "assistant"):
        return False
    content = turn.get("content")
    if not isinstance(content, list) or not content:
        return False
    first = content[0]
    if isinstance(first, dict) and first.get("type") == "redacted_thinking":
        return False
    # Unsigned thinking (another provider's reasoning) does not count: it is dropped before Anthropic.
    return not (
        isinstance(first, dict)
        and first.get("type") == "thinking"
        and claude_signature(first.get("signature"))
    )
