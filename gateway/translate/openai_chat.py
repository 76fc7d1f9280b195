"""OpenAI Chat Completions <-> Anthropic Messages: requests, responses, streams and errors, both ways.

All inputs and outputs are parsed JSON bodies (dicts). Rules follow protocols.md §6; where it leaves a
choice, the choice is stated next to the code that makes it. The decisions that change what a client sees:

Requests, OpenAI -> Anthropic (`openai_request_to_anthropic`):
- Leading system/developer messages become the top-level `system`. Later ones stay where they are, as a
  user-turn text wrapped in `<system_message>` tags: hoisting them would rewrite the cached prefix, and
  Anthropic's own `role: "system"` message is rejected by older models and by the other upstreams the hub
  feeds (protocols.md §1.3, §6.1).
- `temperature` is clamped to 1 (OpenAI's scale runs to 2, Anthropic's to 1; rescaling would turn the
  common 0.7 into 0.35). With both `temperature` and `top_p`, `top_p` is dropped (newer models reject
  the pair). Claude models after 4.6 reject sampling parameters altogether, so they get neither.
- `reasoning_effort`: `none`/`minimal` -> `thinking: {type: disabled}`; `low`..`max` -> adaptive thinking
  plus `output_config.effort` of the same name; for models without adaptive thinking (Claude 3.x and
  4.0-4.5) -> `thinking: {type: enabled}` with a budget of 1024/2048/4096/8192/16384 tokens, kept below
  `max_tokens`. Thinking is left off when the request forces a tool (Anthropic rejects forced tool use
  with thinking) and when the last assistant turn of a tool loop has no signed thinking to replay
  (Anthropic requires it to start with its original thinking block).
- `response_format: json_object` becomes a system instruction (Anthropic's structured output needs a
  schema that closes every object, so there is no "any JSON object" schema).
- Unsigned reasoning in assistant history is dropped; LiteLLM-style `thinking_blocks` that carry an
  Anthropic signature are replayed verbatim. Signatures are never invented.
- `n > 1`, `logprobs`, audio input or output, and `file` parts by id are `Untranslatable`.

Requests, Anthropic -> OpenAI (`anthropic_request_to_openai`):
- Claude Code's `x-anthropic-billing-header:` system line is dropped: it changes on every request and
  would defeat the upstream's prefix cache (protocols.md §3.3).
- Images and PDFs inside a `tool_result` move to a user message right after the tool messages (OpenAI
  tool messages carry text only); the tool message says where they went. Claude Code's Read tool returns
  screenshots this way, so refusing them would break it.
- Server tools (versioned `type`) are dropped: they run only at Anthropic. Tool names OpenAI rejects are
  shortened deterministically; `tool_name_map()` gives the way back for responses.
- `thinking` enabled/adaptive -> `reasoning_effort`: `output_config.effort` when given (`xhigh` and
  `max` become `high`, which every reasoning model accepts), else from `budget_tokens` (<1024 minimal,
  <2048 low, <4096 medium, else high), else `medium`. Thinking disabled or absent -> no
  `reasoning_effort`, and only then are `temperature`/`top_p` sent (reasoning models reject them).
- `metadata.user_id` -> `user`; one longer than 64 characters (Claude Code's JSON of device, account and
  session ids) is sent as its sha256 hex, stable and opaque.

Responses:
- Upstream reasoning text (`reasoning_content`/`reasoning`) becomes a thinking block with an empty
  signature, both streamed and not: Claude Code shows it, the SDKs accept it, and the empty signature
  marks it as unverifiable. Translations to OpenAI drop thinking anyway; a conversation that later goes
  to Anthropic itself must lose these blocks first (Anthropic rejects them), which
  `drop_unsigned_thinking()` does.
- Tool-call arguments that do not parse as a JSON object become `{}` (a call cut off by `length`
  has truncated arguments; the client's own schema check then tells the model what is missing).
- `stop` -> `end_turn`, never `stop_sequence`: OpenAI strips the matched sequence and does not say which
  one matched. Tool calls in the answer make it `tool_use` whatever the upstream said.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.core.errors import KINDS, STATUS_KINDS, kind_for_status
from gateway.translate import StreamIncomplete, Untranslatable
from gateway.translate.hub import BILLING_HEADER_PREFIX, message_start, start_usage

JSON = dict[str, Any]

# Anthropic requires max_tokens; OpenAI clients usually omit it. 4096 is accepted by every Claude model
# (the oldest cap output there) and is LiteLLM's default too.
DEFAULT_MAX_TOKENS = 4096

EMPTY_SCHEMA: JSON = {"type": "object", "properties": {}}


# OpenAI function names: 1-64 of these characters.
_OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NAME_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_ID_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
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
# Every OpenAI reasoning model takes low/medium/high; xhigh and max only the newest ones.
_OPENAI_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}

_JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."

_FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "compaction": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# OpenAI's context overflow message; Claude Code compacts and retries only on Anthropic's wording.
_OPENAI_CONTEXT = re.compile(r"maximum context length is (\d+) tokens.*?resulted in (\d+) tokens", re.DOTALL)
_ANTHROPIC_CONTEXT = "prompt is too long"


class StreamError(Exception):
    """An error reported inside an upstream stream (after the 200). `kind` is an Anthropic error.type;
    the data plane renders it in the client's dialect with `anthropic_event()` or `openai_chunk()`."""

    def __init__(self, message: str, kind: str = "api_error") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind

    def anthropic_event(self) -> JSON:
        return {"type": "error", "error": {"type": self.kind, "message": self.message}}

    def openai_chunk(self) -> JSON:
        code = KINDS.get(self.kind, KINDS["api_error"])[1]
        return {"error": {"message": self.message, "type": self.kind, "param": None, "code": code}}


# ---------------------------------------------------------------------------------------------------
# Shared helpers


def _sanitize_id(raw: Any, fallback_seed: str) -> str:
    """Anthropic tool ids must match ^[a-zA-Z0-9_-]+$; other servers send ids like `functions.Bash:0`.
    The mapping is a pure function of the id, so a call and its result map to the same value."""
    text = raw if isinstance(raw, str) else ""
    clean = _ID_BAD_CHARS.sub("_", text)
    if clean:
        return clean
    return "toolu_" + hashlib.sha256(fallback_seed.encode()).hexdigest()[:24]


def short_tool_name(name: str) -> str:
    """An OpenAI-valid function name for `name`: unchanged when valid, else a 55-character sanitized
    prefix, `_` and 8 hex digits of the name's sha256 (so distinct long names stay distinct)."""
    if _OPENAI_NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{_NAME_BAD_CHARS.sub('_', name)[:55]}_{digest}"


def tool_name_map(body: JSON) -> dict[str, str]:
    """For an Anthropic request: {shortened name: original name} for every name that
    `anthropic_request_to_openai` shortens, to map tool calls in the response back."""
    names: set[str] = set()
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            names.add(tool["name"])
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for block in content:
                if (
                    isinstance(block, dict)
                    and block.get("type") == "tool_use"
                    and isinstance(block.get("name"), str)
                ):
                    names.add(block["name"])
    return {short: name for name in names if (short := short_tool_name(name)) != name}


def _parse_data_url(url: str) -> tuple[str, str] | None:
    match = _DATA_URL.match(url)
    if match is None:
        return None
    return (match.group(1) or "application/octet-stream").lower(), match.group(3)


def _loads_object(text: str) -> JSON | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# ---------------------------------------------------------------------------------------------------
# Requests: OpenAI -> Anthropic


def openai_request_to_anthropic(body: JSON, model: str) -> JSON:
    _reject_inexpressible(body)
    system, messages = _openai_messages(body.get("messages"))

    out: JSON = {"model": model}
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    out["max_tokens"] = max_tokens if isinstance(max_tokens, int) else DEFAULT_MAX_TOKENS

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
                _add_turn(
                    turns, "user", [{"type": "text", "text": f"<system_message>\n{text}\n</system_message>"}]
                )
            continue
        leading = False
        if role == "user":
            _add_turn(turns, "user", _user_blocks(message.get("content"), where))
        elif role == "assistant":
            _add_turn(turns, "assistant", _assistant_blocks(message, where, legacy_ids, i))
        elif role == "tool":
            tool_id = _sanitize_id(message.get("tool_call_id"), f"{where}")
            _add_turn(turns, "user", [_tool_result(tool_id, message.get("content"), where)])
        elif role == "function":
            name = str(message.get("name") or "")
            pending = legacy_ids.get(name)
            tool_id = pending.pop(0) if pending else _sanitize_id(None, f"{where}:{name}")
            _add_turn(turns, "user", [_tool_result(tool_id, message.get("content"), where)])
        else:
            raise Untranslatable(f"unsupported message role {role!r}", f"{where}.role")

    for turn in turns:
        if turn["role"] == "user":
            # Anthropic wants the tool results first in the turn that answers a tool call.
            content = turn["content"]
            results = [b for b in content if b.get("type") == "tool_result"]
            if results and len(results) != len(content):
                turn["content"] = results + [b for b in content if b.get("type") != "tool_result"]
    if turns and turns[-1]["role"] == "assistant":
        _trim_prefill(turns)
    return system, turns


def _add_turn(turns: list[JSON], role: str, blocks: list[JSON]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _trim_prefill(turns: list[JSON]) -> None:
    # A final assistant message is a prefill, which Anthropic rejects when it ends in whitespace.
    content = turns[-1]["content"]
    last = content[-1]
    if last.get("type") == "text":
        text = last["text"].rstrip()
        if text:
            last["text"] = text
        else:
            content.pop()
            if not content:
                turns.pop()


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
                "id": _sanitize_id(call.get("id"), f"{call_where}"),
                "name": str(fn.get("name") or ""),
                "input": _arguments(fn.get("arguments"), f"{call_where}.function.arguments"),
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
                "input": _arguments(legacy.get("arguments"), f"{where}.function_call.arguments"),
            }
        )
    return blocks


def _arguments(raw: Any, where: str) -> JSON:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        value = _loads_object(raw)
        if value is not None:
            return value
    raise Untranslatable("tool call arguments must be a JSON object", where)


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
    another provider's reasoning): Anthropic rejects them. Messages left empty are dropped. Returns the
    body itself when there is nothing to remove."""
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
            if not (isinstance(b, dict) and b.get("type") == "thinking" and not b.get("signature"))
        ]
        if len(blocks) == len(content):
            kept.append(message)
            continue
        changed = True
        if blocks:
            kept.append({**message, "content": blocks})
    return {**body, "messages": kept} if changed else body


# ---------------------------------------------------------------------------------------------------
# Requests: Anthropic -> OpenAI


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
    tool_id = str(block.get("tool_use_id") or "")
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
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": short_tool_name(str(block.get("name") or "")),
                        "arguments": _dumps(block.get("input") or {}),
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


# ---------------------------------------------------------------------------------------------------
# Responses (non-streaming)


def _usage_to_anthropic(usage: Any) -> JSON:
    usage = usage if isinstance(usage, dict) else {}
    prompt = _int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    # DeepSeek reports cache hits in its own field instead of prompt_tokens_details.
    cache_read = _int(details.get("cached_tokens")) or _int(usage.get("prompt_cache_hit_tokens"))
    cache_write = _int(details.get("cache_write_tokens")) or _int(details.get("cache_creation_tokens"))
    out: JSON = {
        # OpenAI's prompt_tokens includes the cached part; Anthropic's input_tokens excludes it.
        "input_tokens": max(prompt - cache_read - cache_write, 0),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": _int(usage.get("completion_tokens")),
    }
    completion_details = usage.get("completion_tokens_details")
    if isinstance(completion_details, dict) and isinstance(completion_details.get("reasoning_tokens"), int):
        out["output_tokens_details"] = {"thinking_tokens": completion_details["reasoning_tokens"]}
    return out


def _usage_to_openai(usage: Any) -> JSON:
    usage = usage if isinstance(usage, dict) else {}
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_write = _int(usage.get("cache_creation_input_tokens"))
    prompt = _int(usage.get("input_tokens")) + cache_read + cache_write
    completion = _int(usage.get("output_tokens"))
    out: JSON = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
    }
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int):
        out["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return out


def _message_id(openai_id: Any) -> str:
    clean = _ID_BAD_CHARS.sub("", openai_id) if isinstance(openai_id, str) else ""
    return f"msg_{clean or uuid.uuid4().hex}"


def _reasoning_text(message: JSON) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def openai_response_to_anthropic(resp: JSON, model: str, tool_names: dict[str, str] | None = None) -> JSON:
    names = tool_names or {}
    choices = resp.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[JSON] = []

    signed = [
        b
        for b in message.get("thinking_blocks") or ()
        if isinstance(b, dict)
        and b.get("type") == "thinking"
        and isinstance(b.get("signature"), str)
        and b["signature"]
    ]
    if signed:
        content.extend(
            {"type": "thinking", "thinking": str(b.get("thinking") or ""), "signature": b["signature"]}
            for b in signed
        )
    elif reasoning := _reasoning_text(message):
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})

    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(p.get("text") or "") for p in text if isinstance(p, dict))
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})

    calls = list(message.get("tool_calls") or ())
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"function": legacy})
    for k, call in enumerate(calls):
        if not isinstance(call, dict):
            continue
        fn = call.get("function") or {}
        name = str(fn.get("name") or "")
        args = fn.get("arguments")
        content.append(
            {
                "type": "tool_use",
                "id": _sanitize_id(call.get("id"), f"{resp.get('id')}:{k}"),
                "name": names.get(name, name),
                "input": args if isinstance(args, dict) else _loads_object(args or "{}") or {},
            }
        )

    finish = choice.get("finish_reason")
    stop_reason = _FINISH_TO_STOP.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    if any(b["type"] == "tool_use" for b in content):
        stop_reason = "tool_use"
    elif isinstance(refusal, str) and refusal:
        stop_reason = "refusal"
    return {
        "id": _message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage_to_anthropic(resp.get("usage")),
    }


def anthropic_response_to_openai(resp: JSON, model: str) -> JSON:
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[JSON] = []
    calls: list[JSON] = []
    for block in resp.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking") or ""))
            thinking_blocks.append(
                {
                    "type": "thinking",
                    "thinking": block.get("thinking") or "",
                    "signature": block.get("signature") or "",
                }
            )
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data") or ""})
        elif kind == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name") or ""),
                        "arguments": _dumps(block.get("input") or {}),
                    },
                }
            )
    message: JSON = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        # Non-standard, as vLLM/DeepSeek/LiteLLM send it; the OpenAI SDK keeps unknown fields.
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        # LiteLLM's field: a client that sends the message back unchanged lets the next request replay the
        # signed thinking, which Anthropic requires inside a tool loop.
        message["thinking_blocks"] = thinking_blocks
    stop = resp.get("stop_reason")
    finish = _STOP_TO_FINISH.get(stop, "stop") if isinstance(stop, str) else "stop"
    return {
        "id": f"chatcmpl-{resp.get('id') or uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage_to_openai(resp.get("usage")),
    }


# ---------------------------------------------------------------------------------------------------
# Streams: OpenAI chunks -> Anthropic events


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
        self, model: str, input_tokens_estimate: int, tool_names: dict[str, str] | None = None
    ) -> None:
        self._model = model
        self._estimate = input_tokens_estimate
        self._names = tool_names or {}
        self._started = False
        self._id = ""
        self._segments: list[_Segment] = []
        self._head = 0
        self._next_index = 0
        self._tools: dict[int, _Segment] = {}
        self._finish_reason: str | None = None
        self._refused = False
        self._usage: JSON | None = None
        self._chars = 0

    def feed(self, chunk: JSON) -> list[JSON]:
        error = chunk.get("error")
        if error:
            raise _openai_stream_error(error)
        out: list[JSON] = []
        if not self._started:
            self._started = True
            self._id = _message_id(chunk.get("id"))
            out.append(self._message_start())
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
        stop_reason = _FINISH_TO_STOP.get(self._finish_reason, "end_turn")
        if any(s.kind == "tool_use" for s in self._segments):
            stop_reason = "tool_use"
        elif self._refused:
            stop_reason = "refusal"
        if self._usage is not None:
            usage = _usage_to_anthropic(self._usage)
        else:
            # No usage chunk (a server that ignores stream_options): keep the estimate and count about four
            # characters per output token, so the accumulated message still has plausible numbers.
            usage = {
                "input_tokens": self._estimate,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": math.ceil(self._chars / 4),
            }
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": usage,
            }
        )
        out.append({"type": "message_stop"})
        return out

    def _message_start(self) -> JSON:
        return message_start(self._id, self._model, start_usage(self._estimate, output_tokens=1))

    def _delta(self, delta: JSON, out: list[JSON]) -> None:
        # A chunk may carry several kinds at once; split them in the order a message has them.
        reasoning = _reasoning_text(delta)
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
            self._append_text("text", text, out)
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
            segment.tool_id = _sanitize_id(raw_id, f"{self._id}:{len(self._segments)}")
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
        segment.index = self._next_index
        self._next_index += 1
        block: JSON
        if segment.kind == "text":
            block = {"type": "text", "text": ""}
        elif segment.kind == "thinking":
            block = {"type": "thinking", "thinking": "", "signature": ""}
        else:
            block = {"type": "tool_use", "id": segment.tool_id, "name": segment.name, "input": {}}
        out.append({"type": "content_block_start", "index": segment.index, "content_block": block})

    def _send(self, segment: _Segment, out: list[JSON]) -> None:
        if segment.sent == len(segment.parts):
            return
        payload = "".join(segment.parts[segment.sent :])
        segment.sent = len(segment.parts)
        delta: JSON
        if segment.kind == "text":
            delta = {"type": "text_delta", "text": payload}
        elif segment.kind == "thinking":
            delta = {"type": "thinking_delta", "thinking": payload}
        else:
            delta = {"type": "input_json_delta", "partial_json": payload}
        out.append({"type": "content_block_delta", "index": segment.index, "delta": delta})

    def _close(self, segment: _Segment, out: list[JSON]) -> None:
        if segment.signature:
            out.append(
                {
                    "type": "content_block_delta",
                    "index": segment.index,
                    "delta": {"type": "signature_delta", "signature": segment.signature},
                }
            )
        segment.closed = True
        out.append({"type": "content_block_stop", "index": segment.index})

    @staticmethod
    def _args_complete(segment: _Segment) -> bool:
        # Parsed again only when new fragments arrived since the last check.
        if segment.checked != len(segment.parts):
            segment.checked = len(segment.parts)
            segment.complete = _loads_object("".join(segment.parts)) is not None
        return segment.complete


def _openai_stream_error(error: Any) -> StreamError:
    if not isinstance(error, dict):
        return StreamError(str(error), "api_error")
    message = str(error.get("message") or "upstream error")
    code = error.get("code")
    status = code if isinstance(code, int) else error.get("status")
    if isinstance(status, int) and status in STATUS_KINDS:
        return StreamError(message, STATUS_KINDS[status])
    hint = f"{error.get('type')} {code}".lower()
    for needle, kind in (
        ("context_length", "invalid_request_error"),
        ("rate_limit", "rate_limit_error"),
        ("quota", "rate_limit_error"),
        ("overload", "overloaded_error"),
        ("unavailable", "overloaded_error"),
        ("timeout", "timeout_error"),
        ("api_key", "authentication_error"),
        ("auth", "authentication_error"),
        ("permission", "permission_error"),
        ("not_found", "not_found_error"),
        ("invalid_request", "invalid_request_error"),
    ):
        if needle in hint:
            return StreamError(message, kind)
    return StreamError(message, "api_error")


# ---------------------------------------------------------------------------------------------------
# Streams: Anthropic events -> OpenAI chunks


@dataclass(slots=True)
class _Block:
    kind: str
    tool_index: int = -1
    fragments: bool = False
    start_input: Any = None


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
            finish = _STOP_TO_FINISH.get(stop, "stop") if isinstance(stop, str) else "stop"
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
                "usage": _usage_to_openai(self._usage),
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
        state = _Block(kind=kind)
        self._blocks[index] = state
        if kind == "text" and block.get("text"):
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
        state = self._blocks.get(_int(event.get("index"), -1))
        delta = event.get("delta")
        if state is None or not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and state.kind == "text" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and state.kind == "thinking" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and state.kind == "tool_use" and delta.get("partial_json"):
            state.fragments = True
            call = {"index": state.tool_index, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _block_stop(self, event: JSON) -> list[JSON]:
        state = self._blocks.get(_int(event.get("index"), -1))
        if state is None or state.kind != "tool_use" or state.fragments:
            return []
        # A tool call with no argument fragments: send its start input, `{}` at least, so the client
        # parses a JSON object rather than an empty string.
        arguments = _dumps(state.start_input if isinstance(state.start_input, dict) else {})
        call = {"index": state.tool_index, "function": {"arguments": arguments}}
        return [self._chunk({"tool_calls": [call]})]


# ---------------------------------------------------------------------------------------------------
# Errors


def _error_message(body: bytes, status: int) -> tuple[str, JSON]:
    """The upstream's message and its error object, from whichever envelope it used."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", errors="replace").strip()
        return (text[:2000] or f"upstream returned HTTP {status}"), {}
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            return (str(message) if message else f"upstream returned HTTP {status}"), error
        if isinstance(error, str) and error:
            return error, {}
        for key in ("message", "detail"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                return parsed[key], {}
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        return _error_message(orjson.dumps(parsed[0]), status)
    return f"upstream returned HTTP {status}", {}


def openai_error_to_anthropic(status: int, body: bytes) -> bytes:
    message, error = _error_message(body, status)
    kind = kind_for_status(status)
    if error.get("code") == "context_length_exceeded" or _OPENAI_CONTEXT.search(message):
        # Claude Code recognises an overflow (and compacts) by Anthropic's wording only.
        match = _OPENAI_CONTEXT.search(message)
        if match is not None:
            message = f"{_ANTHROPIC_CONTEXT}: {match.group(2)} tokens > {match.group(1)} maximum"
        elif _ANTHROPIC_CONTEXT not in message.lower():
            message = f"{_ANTHROPIC_CONTEXT}: {message}"
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def anthropic_error_to_openai(status: int, body: bytes) -> bytes:
    message, error = _error_message(body, status)
    kind = error["type"] if isinstance(error.get("type"), str) else kind_for_status(status)
    code = KINDS.get(kind, KINDS["api_error"])[1]
    if kind == "invalid_request_error" and _ANTHROPIC_CONTEXT in message.lower():
        # OpenAI clients (and LiteLLM) detect an overflow by this code.
        code = "context_length_exceeded"
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
