"""Requests, OpenAI Responses -> Anthropic Messages (the hub).

Rules (beyond the package's contract):
- `instructions`, then the leading system/developer messages of `input`, are the system prompt; a
  system/developer message later in the conversation travels as user text marked as a system message.
- Items: messages (input_text, input_image by URL or data URL, input_file with inline PDF or text data,
  output_text/refusal in assistant history), `function_call`/`custom_tool_call` (tool_use blocks; the
  call_id is the tool_use id), their outputs (tool_result blocks), `reasoning` (only the gateway's own
  carrier for the target's family becomes a thinking block, see reasoning.py; anything else is dropped).
  `file_id`s and `item_reference`s point at OpenAI's storage, which a translated target cannot read: 400.
- Tools: function tools keep their schema and `strict`; a custom tool becomes a tool taking one string
  (`{"input": "..."}`), its grammar (lark or regex), which no hub target can enforce, written into its
  description; namespace tools are flattened (items.py). `web_search` becomes Anthropic's web_search
  server tool when the target runs it (`web_search=True`: Anthropic's own API) and the client allows live
  searches (not `external_web_access: false`, which Codex sends by default), and is otherwise dropped:
  Codex always declares it, and a Codex session must still work on a target without web search.
- Dropped (they steer OpenAI-side features only): store, previous_response_id (the data plane expands it
  first), include, prompt_cache_key, prompt_cache_retention, client_metadata, truncation, service_tier,
  safety_identifier, user, stream_options, text.verbosity, max_tool_calls, context_management,
  moderation, image. A 400 naming the field: background, conversation, prompt, top_logprobs, audio.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.translate import Untranslatable
from gateway.translate.hub import add_turn, tool_results_first, trim_prefill
from gateway.translate.openai_chat.common import EMPTY_SCHEMA, arguments_object, sanitize_id
from gateway.translate.openai_chat.request_from_openai import (
    _SAMPLING_MODEL,
    DEFAULT_MAX_TOKENS,
    _file_block,
    _image_block,
    _openai_thinking,
)
from gateway.translate.responses import reasoning
from gateway.translate.responses.items import hub_tool_name

JSON = dict[str, Any]

_JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}")
# Parameters that change the answer and that no hub target can express.
_INEXPRESSIBLE = {
    "background": "background responses are not available for this model",
    "conversation": "conversations are not available for this model; send the history in input",
    "prompt": "prompt templates are not available for this model",
}
_WEB_SEARCH_TYPES = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26"})
_STRING_INPUT_SCHEMA: JSON = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
    "additionalProperties": False,
}
SYSTEM_NOTE = "<system_message>\n{}\n</system_message>"


def responses_request_to_anthropic(
    obj: JSON,
    upstream_model: str,
    *,
    family: str = "anthropic",
    web_search: bool = False,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
) -> JSON:
    """`family`: the target's wire format, whose carried reasoning may be replayed (reasoning.py);
    `web_search`: the target runs Anthropic's web_search server tool; `default_max_tokens`: the cap
    when the client set no `max_output_tokens` (the data plane knows the model's own)."""
    _reject_inexpressible(obj)
    system: list[JSON] = []
    instructions = obj.get("instructions")
    if isinstance(instructions, str) and instructions.strip():
        system.append({"type": "text", "text": instructions})
    messages = _input_messages(obj.get("input"), system, family)

    out: JSON = {"model": upstream_model}
    max_tokens = obj.get("max_output_tokens")
    out["max_tokens"] = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else default_max_tokens

    output_config: JSON = {}
    text = obj.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind == "json_schema":
            schema = fmt.get("schema")
            if not isinstance(schema, dict):
                raise Untranslatable("text.format.schema must be an object", "text.format.schema")
            output_config["format"] = {"type": "json_schema", "schema": schema}
        elif kind == "json_object":
            system.append({"type": "text", "text": _JSON_OBJECT_INSTRUCTION})
        elif kind not in (None, "text"):
            raise Untranslatable(f"text.format type {kind!r} is not supported", "text.format.type")
    if system:
        out["system"] = system
    out["messages"] = messages

    tools = _tools(obj.get("tools"), web_search)
    if tools:
        out["tools"] = tools
    choice = _tool_choice(obj, tools)
    if choice is not None and tools:
        out["tool_choice"] = choice

    effort = _effort(obj.get("reasoning"))
    thinking_on = False
    if effort is not None:
        thinking = _openai_thinking({"reasoning_effort": effort}, upstream_model, out, messages)
        if thinking is not None:
            out["thinking"] = thinking
            if thinking["type"] == "adaptive":
                output_config["effort"] = effort
            thinking_on = thinking["type"] != "disabled"

    temperature, top_p = obj.get("temperature"), obj.get("top_p")
    sampling = "claude" not in upstream_model or bool(_SAMPLING_MODEL.search(upstream_model))
    if isinstance(temperature, int | float) and sampling and not thinking_on:
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    # With thinking on Anthropic takes only top_p >= 0.95, and newer models reject temperature+top_p.
    top_p_ok = isinstance(top_p, int | float) and (not thinking_on or top_p >= 0.95)
    if isinstance(top_p, int | float) and top_p_ok and sampling and "temperature" not in out:
        out["top_p"] = float(top_p)

    if output_config:
        out["output_config"] = output_config
    metadata = obj.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    # Anthropic takes only an opaque user id (and rejects personal data); other metadata stays here.
    if isinstance(user, str) and user and not _EMAIL.search(user):
        out["metadata"] = {"user_id": user}
    if obj.get("stream") is True:
        out["stream"] = True
    return out


def _reject_inexpressible(obj: JSON) -> None:
    for key, message in _INEXPRESSIBLE.items():
        if obj.get(key) not in (None, False):
            raise Untranslatable(message, key)
    top = obj.get("top_logprobs")
    if isinstance(top, int) and top > 0:
        raise Untranslatable("logprobs are not available for this model", "top_logprobs")
    include = obj.get("include")
    if isinstance(include, list) and "message.output_text.logprobs" in include:
        raise Untranslatable("logprobs are not available for this model", "include")


def _effort(spec: Any) -> str | None:
    if not isinstance(spec, dict):
        return None
    effort = spec.get("effort")
    if isinstance(effort, str):
        return effort
    # A summary asked for without an effort: OpenAI's reasoning models then reason at medium effort.
    if spec.get("summary") is not None or spec.get("generate_summary") is not None:
        return "medium"
    return None


# -- input items ---------------------------------------------------------------------------------------


def _input_messages(raw: Any, system: list[JSON], family: str) -> list[JSON]:
    if isinstance(raw, str):
        return [{"role": "user", "content": [{"type": "text", "text": raw}]}] if raw else []
    if raw is None:
        raise Untranslatable("input is required", "input")
    if not isinstance(raw, list):
        raise Untranslatable("input must be a string or an array of items", "input")
    turns: list[JSON] = []
    leading = True
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise Untranslatable("each input item must be an object", where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                blocks = _text_only(item.get("content"), where)
                if leading:
                    system.extend(blocks)
                elif blocks:
                    joined = "\n\n".join(b["text"] for b in blocks)
                    add_turn(turns, "user", [{"type": "text", "text": SYSTEM_NOTE.format(joined)}])
                continue
            leading = False
            if role == "user":
                add_turn(turns, "user", _user_content(item.get("content"), where))
            elif role == "assistant":
                add_turn(turns, "assistant", _assistant_content(item.get("content"), where))
            else:
                raise Untranslatable(f"unsupported message role {role!r}", f"{where}.role")
            continue
        leading = False
        if kind == "function_call":
            use = {
                "type": "tool_use",
                "id": sanitize_id(item.get("call_id"), where),
                "name": hub_tool_name(str(item.get("name") or ""), _namespace(item)),
                "input": arguments_object(item.get("arguments"), f"{where}.arguments"),
            }
            add_turn(turns, "assistant", [use])
        elif kind == "custom_tool_call":
            text = item.get("input")
            use = {
                "type": "tool_use",
                "id": sanitize_id(item.get("call_id"), where),
                "name": hub_tool_name(str(item.get("name") or ""), _namespace(item)),
                "input": {"input": text if isinstance(text, str) else ""},
            }
            add_turn(turns, "assistant", [use])
        elif kind in ("function_call_output", "custom_tool_call_output"):
            result: JSON = {"type": "tool_result", "tool_use_id": sanitize_id(item.get("call_id"), where)}
            content = _tool_output(item.get("output"), f"{where}.output")
            if content:
                result["content"] = content
            add_turn(turns, "user", [result])
        elif kind == "reasoning":
            block = reasoning.decode(item.get("encrypted_content"), family)
            if block is not None:
                add_turn(turns, "assistant", [block])
        elif kind == "web_search_call":
            continue  # a search the provider ran earlier: its findings are in the answer text after it
        elif kind == "item_reference":
            raise Untranslatable(
                "item references need the items stored upstream; send the items themselves", where
            )
        else:
            raise Untranslatable(f"input item type {kind!r} is not supported for this model", f"{where}.type")
    _order_turns(turns)
    return turns


def _namespace(item: JSON) -> str | None:
    ns = item.get("namespace")
    return ns if isinstance(ns, str) and ns else None


def _order_turns(turns: list[JSON]) -> None:
    for turn in turns:
        content = turn["content"]
        if turn["role"] == "user":
            tool_results_first(turn)
        else:
            # Thinking must open the assistant turn it belongs to (a reasoning item may follow a message).
            thinking = [b for b in content if b.get("type") in ("thinking", "redacted_thinking")]
            if thinking and len(thinking) != len(content) and content[0] not in thinking:
                turn["content"] = thinking + [b for b in content if b not in thinking]
    trim_prefill(turns)


def _parts(content: Any, where: str) -> list[tuple[JSON, str]]:
    if not isinstance(content, list):
        raise Untranslatable("content must be a string or an array of parts", f"{where}.content")
    out = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise Untranslatable("each content part must be an object", f"{where}.content[{j}]")
        out.append((part, f"{where}.content[{j}]"))
    return out


def _text_only(content: Any, where: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks = []
    for part, at in _parts(content, where):
        if part.get("type") not in ("input_text", "output_text", "text"):
            raise Untranslatable("system and developer messages take text parts only", at)
        text = part.get("text")
        if isinstance(text, str) and text.strip():
            blocks.append({"type": "text", "text": text})
    return blocks


def _user_content(content: Any, where: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    return [b for part, at in _parts(content, where) if (b := _input_part(part, at)) is not None]


def _input_part(part: JSON, where: str) -> JSON | None:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        text = part.get("text")
        return {"type": "text", "text": text} if isinstance(text, str) and text.strip() else None
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            if part.get("file_id") is not None:
                raise Untranslatable(
                    "images by file_id are not available for this model; send image_url", where
                )
            raise Untranslatable("input_image needs an image_url", where)
        return _image_block(url, where)
    if kind == "input_file":
        if isinstance(part.get("file_data"), str):
            return _file_block({"file_data": part["file_data"], "filename": part.get("filename")}, where)
        raise Untranslatable(
            "files must be sent inline as file_data for this model (no file_id or file_url)", where
        )
    if kind == "input_audio":
        raise Untranslatable("audio input is not available for this model", where)
    raise Untranslatable(f"content part type {kind!r} is not supported for this model", where)


def _assistant_content(content: Any, where: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks: list[JSON] = []
    for part, at in _parts(content, where):
        kind = part.get("type")
        if kind not in ("output_text", "input_text", "refusal", "text"):
            raise Untranslatable("assistant content parts must be output_text or refusal", at)
        text = part.get("refusal" if kind == "refusal" else "text")
        # Anthropic rejects whitespace-only text blocks; they carry nothing.
        if isinstance(text, str) and text.strip():
            blocks.append({"type": "text", "text": text})
    return blocks


def _tool_output(output: Any, where: str) -> str | list[JSON]:
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return [b for part, at in _parts(output, where) if (b := _input_part(part, at)) is not None]
    raise Untranslatable("output must be a string or an array of parts", where)


# -- tools ---------------------------------------------------------------------------------------------


def _tools(raw: Any, web_search: bool) -> list[JSON]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Untranslatable("tools must be an array", "tools")
    out: list[JSON] = []
    for i, tool in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise Untranslatable("each tool must be an object", where)
        kind = tool.get("type")
        if kind in ("function", "custom"):
            out.append(_tool(tool, None, where))
        elif kind == "namespace":
            inner = tool.get("tools")
            if not isinstance(inner, list) or not isinstance(tool.get("name"), str):
                raise Untranslatable("a namespace tool needs a name and tools", where)
            for j, fn in enumerate(inner):
                if not isinstance(fn, dict) or fn.get("type") not in ("function", "custom"):
                    raise Untranslatable(
                        "namespace tools hold function and custom tools", f"{where}.tools[{j}]"
                    )
                out.append(_tool(fn, tool["name"], f"{where}.tools[{j}]", tool.get("description")))
        elif kind in _WEB_SEARCH_TYPES:
            # `external_web_access: false` asks for cached results only; Anthropic's tool searches the live
            # web (and bills each search), so it is not what the client allowed: dropped like elsewhere.
            if web_search and tool.get("external_web_access") is not False:
                out.append(_web_search(tool))
        else:
            raise Untranslatable(f"tool type {kind!r} is not available for this model", f"{where}.type")
    return out


def _tool(tool: JSON, namespace: str | None, where: str, ns_description: Any = None) -> JSON:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise Untranslatable("tools need a name", f"{where}.name")
    out: JSON = {"name": hub_tool_name(name, namespace)}
    description = tool.get("description") if isinstance(tool.get("description"), str) else ""
    if namespace and isinstance(ns_description, str) and ns_description:
        description = f"[{namespace}: {ns_description}]\n{description}".rstrip()
    if tool.get("type") == "custom":
        fmt = tool.get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "grammar":
            # No hub target constrains a tool's input by a grammar: the model is told it instead.
            description = (
                f"{description}\n\nThe input must follow this {fmt.get('syntax', '')} grammar:\n"
                f"{fmt.get('definition', '')}"
            ).lstrip()
        out["description"] = description or "Takes one string input."
        out["input_schema"] = dict(_STRING_INPUT_SCHEMA)
        return out
    if description:
        out["description"] = description
    schema = tool.get("parameters")
    if not isinstance(schema, dict) or not schema:
        schema = dict(EMPTY_SCHEMA)
    elif "type" not in schema:
        schema = {"type": "object", **schema}
    out["input_schema"] = schema
    if isinstance(tool.get("strict"), bool):
        out["strict"] = tool["strict"]
    return out


def _web_search(tool: JSON) -> JSON:
    server: JSON = {"type": "web_search_20250305", "name": "web_search"}
    filters = tool.get("filters")
    domains = filters.get("allowed_domains") if isinstance(filters, dict) else None
    if isinstance(domains, list) and domains:
        server["allowed_domains"] = [d for d in domains if isinstance(d, str)]
    location = tool.get("user_location")
    if isinstance(location, dict):
        fields = {k: v for k, v in location.items() if k in ("city", "region", "country", "timezone") and v}
        if fields:
            server["user_location"] = {"type": "approximate", **fields}
    return server


def _tool_choice(obj: JSON, tools: list[JSON]) -> JSON | None:
    raw = obj.get("tool_choice")
    choice: JSON | None
    if raw is None or raw == "auto":
        choice = None if raw is None else {"type": "auto"}
    elif raw == "none":
        return {"type": "none"}
    elif raw == "required":
        choice = {"type": "any"}
    elif isinstance(raw, dict) and raw.get("type") in ("function", "custom"):
        name = raw.get("name")
        hub = hub_tool_name(name, _namespace(raw)) if isinstance(name, str) else None
        if hub is None or not any(t.get("name") == hub for t in tools):
            raise Untranslatable("tool_choice names a tool that is not in tools", "tool_choice")
        choice = {"type": "tool", "name": hub}
    elif isinstance(raw, dict) and raw.get("type") == "allowed_tools":
        allowed = {
            hub_tool_name(t["name"], _namespace(t))
            for t in raw.get("tools") or ()
            if isinstance(t, dict) and isinstance(t.get("name"), str)
        }
        if any(isinstance(t, dict) and t.get("type") in _WEB_SEARCH_TYPES for t in raw.get("tools") or ()):
            allowed.add("web_search")
        # Anthropic has no allow-list: the tools outside it are left out of the request instead.
        tools[:] = [t for t in tools if t.get("name") in allowed]
        choice = {"type": "any" if raw.get("mode") == "required" else "auto"}
    elif isinstance(raw, dict) and raw.get("type") in _WEB_SEARCH_TYPES:
        choice = (
            {"type": "tool", "name": "web_search"}
            if any(t.get("name") == "web_search" for t in tools)
            else None
        )
    else:
        raise Untranslatable("unsupported tool_choice", "tool_choice")
    if obj.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        choice["disable_parallel_tool_use"] = True
    return choice
