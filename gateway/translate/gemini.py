"""Anthropic Messages (the hub) <-> Google Gemini generateContent / streamGenerateContent?alt=sse.

Request: `anthropic_request_to_gemini` (the model goes in the URL: `GEMINI_PATHS`). Answers:
`gemini_response_to_anthropic`, `GeminiStreamToAnthropic` (one parsed `data:` object at a time),
`gemini_error_to_anthropic`. Token counting: `count_tokens_request` / `count_tokens_response`.

Decisions (protocols.md §7 unless noted):
- `system`: Claude Code's first block `x-anthropic-billing-header: ...` changes on every request and would
  bust Gemini's implicit prefix cache, so it is dropped (§3.3). The rest -> `systemInstruction`, a part
  per block. `role:"system"` messages *before* any user/assistant turn are appended to it too; later ones
  become a user text part with a short operator note, in place: hoisting them would rewrite the cached
  prefix and move the instruction away from the point the client chose (§6.1, LiteLLM's rewrite).
- Tool call ids: Gemini has none on the wire we target, so none are sent. `functionResponse.name` is
  recovered from the `tool_use` with the same id anywhere in the conversation; an unknown id -> 400.
- Thought signatures: Gemini 3 rejects a replayed `functionCall` without its `thoughtSignature`, so a
  signature on a functionCall part is carried inside the minted `tool_use.id` (`toolu_<24 hex>_gsig_<sig
  in base64url>`) and restored on the way back. Signatures on text/thought parts are optional for Gemini
  and are not kept: the only place for them would be a thinking block's `signature`, where Anthropic
  would later reject it as forged. Thinking blocks therefore carry `signature: ""` and are dropped from
  requests (Gemini cannot take Anthropic-signed thinking).
- Tool names: Gemini allows `[A-Za-z_][A-Za-z0-9_.:-]{0,63}`; other names (long MCP names) become a
  55-char prefix + `_` + 8 hex of sha256. `gemini_tool_names(body)` gives the map back; pass it to the
  response/stream converters so the client sees its own names.
- Thinking: `enabled` -> `thinkingBudget = budget_tokens` (capped at 24576, the largest budget every
  2.5/3 model accepts) + `includeThoughts`; `adaptive` -> budget from `output_config.effort` (low 1024,
  medium 8192, high/xhigh/max 24576) or -1 (dynamic) + `includeThoughts` (false for `display:
  "omitted"`); effort alone -> the budget without `includeThoughts`; `disabled` -> no thinkingConfig,
  because budget 0 is a 400 on models that cannot stop thinking (2.5 Pro, 3 Pro). `thinkingBudget`
  rather than `thinkingLevel` because the model is not known here and Gemini 3 still accepts budgets.
- `max_tokens: 0` (cache warm-up) -> `maxOutputTokens: 1`, the smallest Gemini generation.
- Dropped: `cache_control`, `metadata`, `service_tier`, `container`, `inference_geo`, `context_management`,
  `mcp_servers`, `disable_parallel_tool_use` (no equivalents), server tools and their blocks, citations.
- finishReason: STOP (or none) -> `end_turn`, or `tool_use` when a functionCall was produced (Gemini
  says STOP for calls); MAX_TOKENS -> `max_tokens`; the safety family -> `refusal` (+ `stop_details`);
  anything else (OTHER, MALFORMED_FUNCTION_CALL, ...) -> `end_turn`, or `tool_use` if calls exist.
- Usage: input = promptTokenCount + toolUsePromptTokenCount - cachedContentTokenCount (Anthropic's
  input is exclusive of cache reads), cache_read = cached, cache_creation = 0, output = candidates +
  thoughts (Gemini's candidates count excludes thoughts; Anthropic's output includes thinking).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import secrets
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from gateway.core.errors import kind_for_status
from gateway.translate import StreamIncomplete, Untranslatable
from gateway.translate.hub import (
    MID_SYSTEM_NOTE,
    content_blocks,
    is_custom_tool,
    message_start,
    renamed_tools,
    search_result_text,
    start_usage,
    system_blocks,
)

JSON = dict[str, Any]

GEMINI_PATHS: Final = {
    "generate": "/models/{model}:generateContent",
    "stream": "/models/{model}:streamGenerateContent?alt=sse",
    "count": "/models/{model}:countTokens",
}

_MAX_STOP_SEQUENCES = 5
_MAX_THINKING_BUDGET = 24576
_EFFORT_BUDGETS = {"low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576, "max": 24576}

_REFUSAL_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "LANGUAGE",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_MESSAGE_ID_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_GEMINI_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_SIGNED_TOOL_ID = re.compile(r"^toolu_[0-9a-f]{24}_gsig_(?P<sig>[A-Za-z0-9_-]+)$")
_STANDARD_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")

# Extension -> MIME type for URL sources: a fixed table first because the system mime.types database
# differs between hosts (webp/heic are missing on some), then the stdlib guess.
_URL_MIME_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
    "txt": "text/plain",
}


# ---------------------------------------------------------------------------------------------------
# Request: Anthropic -> Gemini
# ---------------------------------------------------------------------------------------------------


def anthropic_request_to_gemini(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request body -> a Gemini GenerateContentRequest body (model not included).

    Raises Untranslatable for what Gemini cannot take (file ids, unknown tool_result ids, ...).
    """
    system_texts = _system_texts(body.get("system"))
    contents, leading_system = _contents(body.get("messages"))
    system_texts.extend(leading_system)
    if not contents:
        raise Untranslatable("messages: Gemini needs at least one message with content", "messages")

    out: JSON = {"contents": contents}
    if system_texts:
        out["systemInstruction"] = {"parts": [{"text": text} for text in system_texts]}

    declarations = _function_declarations(body.get("tools"))
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        tool_config = _tool_config(body.get("tool_choice"), [d["name"] for d in declarations])
        if tool_config is not None:
            out["toolConfig"] = tool_config

    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    return out


def gemini_tool_names(body: Mapping[str, Any]) -> dict[str, str]:
    """Gemini function name -> the client's tool name, for the tools whose name had to be rewritten."""
    return renamed_tools(body, _gemini_name)


def _gemini_name(name: str) -> str:
    if _GEMINI_NAME.match(name):
        return name
    # A digest of the original keeps two long names with a shared prefix apart, deterministically, so
    # the same tool gets the same Gemini name in every request of a conversation.
    safe = re.sub(r"[^A-Za-z0-9_.:-]", "_", name)
    if not re.match(r"[A-Za-z_]", safe):
        safe = "_" + safe
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{safe[:55]}_{digest}"


def _system_texts(system: Any) -> list[str]:
    return [str(block["text"]) for block in system_blocks(system)]


def _text_only(content: Any, path: str) -> list[str]:
    """The texts of a system message's content (a string or text blocks)."""
    if isinstance(content, str):
        return [content] if content.strip() else []
    if not isinstance(content, list):
        raise Untranslatable(f"{path}: must be a string or a list of text blocks", path)
    texts = []
    for i, block in enumerate(content):
        text = block.get("text") if isinstance(block, dict) else None
        if not isinstance(text, str):
            raise Untranslatable(f"{path}.{i}: a system message may only contain text", f"{path}.{i}")
        if text.strip():
            texts.append(text)
    return texts


class _Call:
    __slots__ = ("name", "signature")

    def __init__(self, name: str, signature: str | None) -> None:
        self.name = name
        self.signature = signature


def _calls_by_id(messages: list[Any]) -> dict[str, _Call]:
    """Every tool_use id in the conversation -> its Gemini function name and thought signature."""
    calls: dict[str, _Call] = {}
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                tool_id, name = block.get("id"), block.get("name")
                if isinstance(tool_id, str) and isinstance(name, str):
                    calls[tool_id] = _Call(_gemini_name(name), _signature_from_tool_id(tool_id))
    return calls


def _contents(messages: Any) -> tuple[list[JSON], list[str]]:
    """Gemini contents (same-role runs merged) and the texts of leading system messages."""
    if not isinstance(messages, list):
        raise Untranslatable("messages: must be a list", "messages")
    calls = _calls_by_id(messages)
    contents: list[JSON] = []
    leading_system: list[str] = []
    seen_turn = False
    for i, message in enumerate(messages):
        path = f"messages.{i}"
        if not isinstance(message, dict):
            raise Untranslatable(f"{path}: must be an object", path)
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            texts = _text_only(content, f"{path}.content")
            if not seen_turn:
                leading_system.extend(texts)
                continue
            gemini_role, parts = "user", [{"text": MID_SYSTEM_NOTE + text} for text in texts]
        elif role == "user":
            seen_turn = True
            gemini_role, parts = "user", _user_parts(content, f"{path}.content", calls)
        elif role == "assistant":
            seen_turn = True
            gemini_role, parts = "model", _model_parts(content, f"{path}.content")
        else:
            raise Untranslatable(f"{path}.role: unsupported role {role!r}", f"{path}.role")
        if not parts:
            # A turn that only held thinking or server-tool blocks has nothing Gemini can take.
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return contents, leading_system


def _user_parts(content: Any, path: str, calls: dict[str, _Call]) -> list[JSON]:
    # Gemini pairs function responses with the previous turn's calls, so they go first, then any media
    # returned by the tools, then the user's own content (Anthropic already puts tool_results first).
    responses: list[JSON] = []
    tool_media: list[JSON] = []
    rest: list[JSON] = []
    for j, block in enumerate(content_blocks(content, path)):
        block_path = f"{path}.{j}"
        if not isinstance(block, dict):
            raise Untranslatable(f"{block_path}: must be an object", block_path)
        if block.get("type") == "tool_result":
            response, media = _function_response(block, block_path, calls)
            responses.append(response)
            tool_media.extend(media)
        else:
            rest.extend(_content_parts(block, block_path))
    return responses + tool_media + rest


def _content_parts(block: JSON, path: str) -> list[JSON]:
    """A user-side content block (not tool_result) -> Gemini parts."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return [{"text": text}] if isinstance(text, str) and text else []
    if kind == "image":
        return [_image_part(block, path)]
    if kind == "document":
        return _document_parts(block, path)
    if kind == "search_result":
        text = search_result_text(block)
        return [{"text": text}] if text else []
    if kind in ("compaction", "mid_conv_system"):
        # Both carry text the model must still see: a server-side summary, an in-place instruction.
        text = _loose_text(block)
        if not text:
            return []
        prefix = MID_SYSTEM_NOTE if kind == "mid_conv_system" else ""
        return [{"text": prefix + text}]
    # thinking, redacted_thinking, server tool blocks, container uploads, unknown future types: dropped.
    return []


def _loose_text(block: JSON) -> str:
    for key in ("text", "content"):
        value = block.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return "\n".join(
                b["text"] for b in value if isinstance(b, dict) and isinstance(b.get("text"), str)
            )
    return ""


def _model_parts(content: Any, path: str) -> list[JSON]:
    parts: list[JSON] = []
    for j, block in enumerate(content_blocks(content, path)):
        if not isinstance(block, dict):
            raise Untranslatable(f"{path}.{j}: must be an object", f"{path}.{j}")
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if isinstance(text, str) and text:
                parts.append({"text": text})
        elif kind == "tool_use":
            parts.append(_function_call_part(block, f"{path}.{j}"))
        # thinking/redacted_thinking (Anthropic-signed), server tools and their results: dropped.
    return parts


def _function_call_part(block: JSON, path: str) -> JSON:
    name, tool_id, args = block.get("name"), block.get("id"), block.get("input", {})
    if not isinstance(name, str) or not name:
        raise Untranslatable(f"{path}.name: a tool_use needs a name", f"{path}.name")
    if not isinstance(args, dict):
        raise Untranslatable(f"{path}.input: must be an object", f"{path}.input")
    part: JSON = {"functionCall": {"name": _gemini_name(name), "args": args}}
    signature = _signature_from_tool_id(tool_id) if isinstance(tool_id, str) else None
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def _function_response(block: JSON, path: str, calls: dict[str, _Call]) -> tuple[JSON, list[JSON]]:
    tool_use_id = block.get("tool_use_id")
    call = calls.get(tool_use_id) if isinstance(tool_use_id, str) else None
    if call is None:
        raise Untranslatable(
            f"{path}.tool_use_id: no tool_use with id {tool_use_id!r} in the conversation; Gemini needs the "
            "function name of every tool result",
            f"{path}.tool_use_id",
        )
    texts: list[str] = []
    media: list[JSON] = []
    content = block.get("content")
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, item in enumerate(content):
            item_path = f"{path}.content.{k}"
            if not isinstance(item, dict):
                raise Untranslatable(f"{item_path}: must be an object", item_path)
            # Text stays in the response object; images and PDFs cannot live inside it on Gemini 2.5,
            # so they follow the function responses as parts of the same user turn.
            for part in _content_parts(item, item_path):
                if "text" in part:
                    texts.append(part["text"])
                else:
                    media.append(part)
    key = "error" if block.get("is_error") else "content"
    response = {"functionResponse": {"name": call.name, "response": {key: "\n".join(texts)}}}
    return response, media


def _image_part(block: JSON, path: str) -> JSON:
    source = block.get("source")
    if not isinstance(source, dict):
        raise Untranslatable(f"{path}.source: an image needs a source", f"{path}.source")
    kind = source.get("type")
    if kind == "base64":
        return _inline_part(source, f"{path}.source")
    if kind == "url":
        url = source.get("url")
        mime = _url_mime_type(url) if isinstance(url, str) else None
        if mime is None or not mime.startswith("image/"):
            raise Untranslatable(
                f"{path}.source.url: Gemini needs the image's MIME type, which cannot be told from {url!r}; "
                "send the image as base64",
                f"{path}.source.url",
            )
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise Untranslatable(
        f"{path}.source.type: image source {kind!r} cannot be sent to Gemini", f"{path}.source.type"
    )


def _inline_part(source: JSON, path: str) -> JSON:
    media_type, data = source.get("media_type"), source.get("data")
    if not isinstance(media_type, str) or not isinstance(data, str):
        raise Untranslatable(f"{path}: base64 sources need media_type and data", path)
    return {"inlineData": {"mimeType": media_type, "data": data}}


def _document_parts(block: JSON, path: str) -> list[JSON]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise Untranslatable(f"{path}.source: a document needs a source", f"{path}.source")
    kind = source.get("type")
    title = block.get("title")
    if kind == "base64":
        return [_inline_part(source, f"{path}.source")]
    if kind == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise Untranslatable(f"{path}.source.data: must be a string", f"{path}.source.data")
        # The title is the only way the model can tell which document a later question refers to.
        text = f"{title}\n\n{data}" if isinstance(title, str) and title else data
        return [{"text": text}] if text else []
    if kind == "url":
        url = source.get("url")
        mime = _url_mime_type(url) if isinstance(url, str) else None
        if mime is None:
            raise Untranslatable(
                f"{path}.source.url: Gemini needs the document's MIME type, which cannot be told from "
                f"{url!r}; send it as base64",
                f"{path}.source.url",
            )
        return [{"fileData": {"mimeType": mime, "fileUri": url}}]
    if kind == "content":
        inner = source.get("content")
        parts: list[JSON] = []
        for k, item in enumerate(content_blocks(inner, f"{path}.source.content")):
            if isinstance(item, dict):
                parts.extend(_content_parts(item, f"{path}.source.content.{k}"))
        return parts
    raise Untranslatable(
        f"{path}.source.type: document source {kind!r} cannot be sent to Gemini", f"{path}.source.type"
    )


def _url_mime_type(url: str) -> str | None:
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    known = _URL_MIME_TYPES.get(name.rsplit(".", 1)[1].lower())
    return known or mimetypes.guess_type(name)[0]


def _function_declarations(tools: Any) -> list[JSON]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise Untranslatable("tools: must be a list", "tools")
    declarations: list[JSON] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise Untranslatable(f"tools.{i}: must be an object", f"tools.{i}")
        if not is_custom_tool(tool):
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise Untranslatable(f"tools.{i}.name: required", f"tools.{i}.name")
        declaration: JSON = {"name": _gemini_name(name)}
        description = tool.get("description")
        if isinstance(description, str) and description:
            declaration["description"] = description
        schema = tool.get("input_schema")
        if isinstance(schema, dict):
            parameters = clean_schema(schema)
            # Gemini rejects an OBJECT with empty properties; a function without arguments omits
            # `parameters` altogether.
            if parameters.get("properties"):
                declaration["parameters"] = parameters
        declarations.append(declaration)
    return declarations


def _tool_config(choice: Any, declared: list[str]) -> JSON | None:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "auto":
        return {"functionCallingConfig": {"mode": "AUTO"}}
    if kind == "any":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if kind == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if kind == "tool":
        name = choice.get("name")
        gemini = _gemini_name(name) if isinstance(name, str) else None
        if gemini not in declared:
            raise Untranslatable(f"tool_choice.name: no tool named {name!r} in tools", "tool_choice.name")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [gemini]}}
    raise Untranslatable(f"tool_choice.type: unsupported value {kind!r}", "tool_choice.type")


def _generation_config(body: Mapping[str, Any]) -> JSON:
    config: JSON = {}
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        config["maxOutputTokens"] = max(max_tokens, 1)
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        value = body.get(source)
        if isinstance(value, int | float) and not isinstance(value, bool):
            config[target] = value
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        if len(stops) > _MAX_STOP_SEQUENCES:
            raise Untranslatable(
                f"stop_sequences: Gemini accepts at most {_MAX_STOP_SEQUENCES} stop sequences",
                "stop_sequences",
            )
        config["stopSequences"] = stops
    thinking = _thinking_config(body)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    output_format = _output_format(body)
    if output_format is not None:
        schema = output_format.get("schema")
        config["responseMimeType"] = "application/json"
        if isinstance(schema, dict):
            config["responseSchema"] = clean_schema(schema)
    return config


def _thinking_config(body: Mapping[str, Any]) -> JSON | None:
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    effort_budget = _EFFORT_BUDGETS.get(effort) if isinstance(effort, str) else None
    # display "omitted" asks for the reasoning to happen but not be returned: Gemini's includeThoughts.
    show = not (isinstance(thinking, dict) and thinking.get("display") == "omitted")
    if kind == "enabled":
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
            return {"thinkingBudget": min(budget, _MAX_THINKING_BUDGET), "includeThoughts": show}
        return {"thinkingBudget": -1, "includeThoughts": show}
    if kind == "adaptive":
        return {"thinkingBudget": effort_budget if effort_budget is not None else -1, "includeThoughts": show}
    if kind is None and effort_budget is not None:
        # Effort without thinking asks how hard to work, not to see the reasoning.
        return {"thinkingBudget": effort_budget}
    return None


def _output_format(body: Mapping[str, Any]) -> JSON | None:
    output_config = body.get("output_config")
    candidates = [output_config.get("format") if isinstance(output_config, dict) else None]
    candidates.append(body.get("output_format"))  # the beta predecessor, same inner shape
    for fmt in candidates:
        if isinstance(fmt, dict):
            if fmt.get("type") != "json_schema":
                raise Untranslatable(
                    f"output_config.format.type: unsupported {fmt.get('type')!r}", "output_config"
                )
            return fmt
    return None


# ---------------------------------------------------------------------------------------------------
# JSON Schema -> Gemini Schema (an OpenAPI 3.0 subset)
# ---------------------------------------------------------------------------------------------------

# Copied unchanged when present. Everything else is dropped, notably: $schema, $id, $comment, $defs,
# definitions (inlined through $ref), additionalProperties, propertyNames, patternProperties,
# unevaluatedProperties, dependentRequired, dependentSchemas, if/then/else, not, uniqueItems, multipleOf,
# contains, prefixItems, examples, readOnly, writeOnly, deprecated, contentEncoding, contentMediaType.
# Rewritten: $ref (inlined), allOf (merged), oneOf (-> anyOf), const (-> enum), type lists and
# {"type":"null"} branches (-> nullable), integer exclusiveMinimum/Maximum (-> minimum/maximum),
# format (kept only where the Gemini API accepts it).
_COPIED_KEYS = (
    "title",
    "description",
    "default",
    "example",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
# The Gemini Developer API fails requests with any other format.
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}


def clean_schema(schema: JSON) -> JSON:
    """A JSON Schema -> the Gemini Schema subset (see the comment above for exactly what changes)."""
    definitions: JSON = {}
    for key in ("definitions", "$defs"):
        found = schema.get(key)
        if isinstance(found, dict):
            definitions.update(found)
    return _clean(schema, definitions, frozenset())


def _resolve(node: JSON, definitions: JSON, stack: frozenset[str]) -> tuple[JSON, frozenset[str]]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node, stack
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    name = ref.removeprefix("#/$defs/").removeprefix("#/definitions/")
    target = definitions.get(name)
    if not isinstance(target, dict):
        return siblings, stack  # external or unknown reference: keep what the node says about itself
    if name in stack:
        # Recursive type: Gemini has no references, so cut the cycle at a bare node of the same type.
        cut = {k: target[k] for k in ("type", "description") if k in target}
        return {**cut, **siblings}, stack
    return _resolve({**target, **siblings}, definitions, stack | {name})


def _merge_all_of(node: JSON) -> JSON:
    merged = {k: v for k, v in node.items() if k != "allOf"}
    for sub in node["allOf"] if isinstance(node["allOf"], list) else []:
        if not isinstance(sub, dict):
            continue
        for key, value in sub.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**value, **merged.get("properties", {})}
            elif key == "required" and isinstance(value, list):
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            else:
                merged.setdefault(key, value)
    return merged


def _clean(node: Any, definitions: JSON, stack: frozenset[str]) -> JSON:
    if not isinstance(node, dict):
        return {}  # boolean schemas: `true` accepts anything; `false` has no Gemini form
    node, stack = _resolve(node, definitions, stack)
    if "allOf" in node:
        node = _merge_all_of(node)
    out: JSON = {}
    nullable = node.get("nullable") is True

    raw_type = node.get("type")
    types = [raw_type] if isinstance(raw_type, str) else raw_type if isinstance(raw_type, list) else []
    if "null" in types:
        nullable = True
    types = [t for t in types if t in _TYPES]

    branches: list[Any] = []
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            branches.extend(node[key])
    cleaned_branches: list[JSON] = []
    for branch in branches:
        if isinstance(branch, dict) and branch.get("type") == "null":
            nullable = True
            continue
        cleaned_branches.append(_clean(branch, definitions, stack))
    if len(cleaned_branches) == 1 and not types:
        # `anyOf: [X, null]` is how optional fields are usually written; it is just a nullable X.
        out.update(cleaned_branches[0])
    elif cleaned_branches:
        out["anyOf"] = cleaned_branches

    if len(types) == 1:
        out["type"] = types[0].upper()
    elif len(types) > 1 and "anyOf" not in out:
        out["anyOf"] = [{"type": t.upper()} for t in types]

    for key in _COPIED_KEYS:
        if key in node:
            out[key] = node[key]

    enum = _enum(node)
    if enum is not None and out.get("type", "STRING") == "STRING":
        if None in enum:
            nullable = True
        values = [v for v in enum if v is not None]
        # Gemini enums are strings only; a numeric enum would be coerced to strings in the call's args.
        if values and all(isinstance(v, str) for v in values):
            out["enum"] = values
            out.setdefault("type", "STRING")

    if out.get("type") == "INTEGER":
        low, high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        if isinstance(low, int) and not isinstance(low, bool):
            out.setdefault("minimum", low + 1)
        if isinstance(high, int) and not isinstance(high, bool):
            out.setdefault("maximum", high - 1)

    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(out.get("type", ""), frozenset()):
        out["format"] = fmt

    properties = node.get("properties")
    if isinstance(properties, dict) and properties:
        out["properties"] = {name: _clean(sub, definitions, stack) for name, sub in properties.items()}
        required = node.get("required")
        if isinstance(required, list):
            kept = [name for name in required if name in out["properties"]]
            if kept:
                out["required"] = kept
        ordering = node.get("propertyOrdering")
        if isinstance(ordering, list):
            out["propertyOrdering"] = [name for name in ordering if name in out["properties"]]
        if "type" not in out and "anyOf" not in out:
            out["type"] = "OBJECT"

    items = node.get("items")
    if isinstance(items, dict):
        out["items"] = _clean(items, definitions, stack)
    elif isinstance(items, list) and items:
        # Draft-4 tuple form: Gemini has one item schema, so accept any of the positions' schemas.
        variants = [_clean(item, definitions, stack) for item in items]
        out["items"] = variants[0] if len(variants) == 1 else {"anyOf": variants}
    if "items" in out and "type" not in out and "anyOf" not in out:
        out["type"] = "ARRAY"

    if nullable:
        out["nullable"] = True
    return out


def _enum(node: JSON) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    enum = node.get("enum")
    return enum if isinstance(enum, list) and enum else None


# ---------------------------------------------------------------------------------------------------
# Response: Gemini -> Anthropic
# ---------------------------------------------------------------------------------------------------


def _new_tool_id(signature: Any) -> str:
    base = "toolu_" + secrets.token_hex(12)
    # Gemini signatures are protobuf bytes, i.e. standard padded base64; anything else is not carried.
    if isinstance(signature, str) and len(signature) % 4 == 0 and _STANDARD_BASE64.match(signature):
        return f"{base}_gsig_{signature.rstrip('=').replace('+', '-').replace('/', '_')}"
    return base


def _signature_from_tool_id(tool_id: str) -> str | None:
    match = _SIGNED_TOOL_ID.match(tool_id)
    if match is None:
        return None
    sig = match["sig"].replace("-", "+").replace("_", "/")
    return sig + "=" * (-len(sig) % 4)


def _message_id(response_id: Any) -> str:
    if isinstance(response_id, str) and _MESSAGE_ID_SAFE.match(response_id):
        return "msg_" + response_id
    return "msg_" + secrets.token_hex(12)


def _tool_use(call: JSON, signature: Any, names: Mapping[str, str]) -> JSON:
    name = call.get("name")
    name = names.get(name, name) if isinstance(name, str) else ""
    args = call.get("args")
    return {
        "type": "tool_use",
        "id": _new_tool_id(signature),
        "name": name,
        "input": args if isinstance(args, dict) else {},
    }


def _int(meta: Mapping[str, Any], key: str) -> int:
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(meta: Any) -> JSON:
    meta = meta if isinstance(meta, dict) else {}
    cached = _int(meta, "cachedContentTokenCount")
    prompt = _int(meta, "promptTokenCount") + _int(meta, "toolUsePromptTokenCount")
    return {
        "input_tokens": max(prompt - cached, 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": _int(meta, "candidatesTokenCount") + _int(meta, "thoughtsTokenCount"),
    }


def _stop_reason(finish_reason: Any, has_calls: bool) -> str:
    if finish_reason == "MAX_TOKENS":
        return "max_tokens"
    if finish_reason in _REFUSAL_REASONS:
        return "refusal"
    return "tool_use" if has_calls else "end_turn"


def _refusal_details(reason: str) -> JSON:
    return {"type": "refusal", "category": None, "explanation": f"Gemini blocked the response ({reason})"}


def _parts(candidate: Any) -> list[Any]:
    content = candidate.get("content") if isinstance(candidate, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    return parts if isinstance(parts, list) else []


def _first_candidate(resp: Mapping[str, Any]) -> JSON | None:
    candidates = resp.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return None


def _block_reason(resp: Mapping[str, Any]) -> str | None:
    feedback = resp.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return reason if isinstance(reason, str) and reason else None


def gemini_response_to_anthropic(
    resp: dict[str, Any], model: str, tool_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A GenerateContentResponse -> a full Anthropic Message. `tool_names`: see `gemini_tool_names`."""
    names = tool_names or {}
    candidate = _first_candidate(resp)
    content: list[JSON] = []
    stop_details: JSON | None = None
    if candidate is None:
        # A blocked prompt has no candidates at all, only promptFeedback.blockReason.
        block_reason = _block_reason(resp)
        stop_reason = "refusal" if block_reason else "end_turn"
        if block_reason:
            stop_details = _refusal_details(block_reason)
    else:
        for part in _parts(candidate):
            if not isinstance(part, dict):
                continue
            call = part.get("functionCall")
            if isinstance(call, dict):
                content.append(_tool_use(call, part.get("thoughtSignature"), names))
                continue
            text = part.get("text")
            if not isinstance(text, str) or not text:
                continue  # empty text, inlineData, executable code: nothing an Anthropic client can take
            kind = "thinking" if part.get("thought") is True else "text"
            if content and content[-1]["type"] == kind:
                content[-1][kind] += text
            elif kind == "thinking":
                content.append({"type": "thinking", "thinking": text, "signature": ""})
            else:
                content.append({"type": "text", "text": text})
        finish_reason = candidate.get("finishReason")
        has_calls = any(block["type"] == "tool_use" for block in content)
        stop_reason = _stop_reason(finish_reason, has_calls)
        if stop_reason == "refusal":
            stop_details = _refusal_details(str(finish_reason))
    message: JSON = {
        "id": _message_id(resp.get("responseId")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(resp.get("usageMetadata")),
    }
    if stop_details is not None:
        message["stop_details"] = stop_details
    return message


# ---------------------------------------------------------------------------------------------------
# Stream: Gemini SSE data objects -> Anthropic stream events
# ---------------------------------------------------------------------------------------------------


class GeminiStreamError(Exception):
    """Gemini sent `{"error": {...}}` inside a 200 stream."""

    def __init__(self, message: str, code: int | None = None, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    @property
    def error_type(self) -> str:
        """The Anthropic error type for an `event: error` (api_error when Gemini gave no code)."""
        return kind_for_status(self.code) if self.code is not None else "api_error"


class GeminiStreamToAnthropic:
    """Turns each parsed `data:` object of streamGenerateContent?alt=sse into Anthropic stream events.

    `input_tokens_estimate` goes into message_start (Claude Code reads per-turn input there and Gemini
    only reports usage at the end); message_delta then carries the real numbers.
    """

    def __init__(
        self, model: str, input_tokens_estimate: int, tool_names: Mapping[str, str] | None = None
    ) -> None:
        self._model = model
        self._estimate = max(input_tokens_estimate, 0)
        self._names = tool_names or {}
        self._started = False
        self._finished = False
        self._index = -1  # index of the last block started
        self._open: str | None = None  # type of the open block, if any
        self._has_calls = False
        self._finish_reason: str | None = None
        self._usage_meta: Any = None

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(chunk, dict):
            raise GeminiStreamError("Gemini sent a stream event that is not a JSON object")
        error = chunk.get("error")
        if error is not None:
            raise _stream_error(error)
        if self._finished:
            return []
        events: list[JSON] = []
        if not self._started:
            events.append(self._message_start(chunk.get("responseId")))
        if isinstance(chunk.get("usageMetadata"), dict):
            # A running total: the last one is the whole message's usage.
            self._usage_meta = chunk["usageMetadata"]
        candidate = _first_candidate(chunk)
        if candidate is None:
            block_reason = _block_reason(chunk)
            if block_reason:
                self._finish_reason = block_reason
            return events
        for part in _parts(candidate):
            if isinstance(part, dict):
                events.extend(self._part(part))
        finish_reason = candidate.get("finishReason")
        if isinstance(finish_reason, str) and finish_reason:
            self._finish_reason = finish_reason
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The closing events; raises StreamIncomplete when no chunk carried a finishReason."""
        if self._finished:
            return []
        if self._finish_reason is None:
            raise StreamIncomplete("the Gemini stream ended without a finishReason")
        self._finished = True
        events: list[JSON] = []
        if not self._started:
            events.append(self._message_start(None))
        events.extend(self._close())
        stop_reason = _stop_reason(self._finish_reason, self._has_calls)
        delta: JSON = {"stop_reason": stop_reason, "stop_sequence": None}
        if stop_reason == "refusal":
            delta["stop_details"] = _refusal_details(self._finish_reason)
        if self._usage_meta is not None:
            usage = _usage(self._usage_meta)
        else:
            usage = {**self._start_usage(), "output_tokens": 0}
        events.append({"type": "message_delta", "delta": delta, "usage": usage})
        events.append({"type": "message_stop"})
        return events

    def _start_usage(self) -> JSON:
        return start_usage(self._estimate)

    def _message_start(self, response_id: Any) -> JSON:
        self._started = True
        return message_start(_message_id(response_id), self._model, self._start_usage())

    def _close(self) -> list[JSON]:
        if self._open is None:
            return []
        self._open = None
        return [{"type": "content_block_stop", "index": self._index}]

    def _start(self, block: JSON) -> list[JSON]:
        events = self._close()
        self._index += 1
        self._open = block["type"]
        events.append({"type": "content_block_start", "index": self._index, "content_block": block})
        return events

    def _part(self, part: JSON) -> list[JSON]:
        call = part.get("functionCall")
        if isinstance(call, dict):
            # A functionCall arrives whole: start, the complete arguments in one delta, stop.
            self._has_calls = True
            block = _tool_use(call, part.get("thoughtSignature"), self._names)
            arguments = orjson.dumps(block["input"]).decode()
            events = self._start({**block, "input": {}})
            events.append(
                {
                    "type": "content_block_delta",
                    "index": self._index,
                    "delta": {"type": "input_json_delta", "partial_json": arguments},
                }
            )
            events.extend(self._close())
            return events
        text = part.get("text")
        if not isinstance(text, str) or not text:
            return []  # never emit empty deltas; strict clients crash on them
        events = []
        if part.get("thought") is True:
            if self._open != "thinking":
                events = self._start({"type": "thinking", "thinking": "", "signature": ""})
            delta = {"type": "thinking_delta", "thinking": text}
        else:
            if self._open != "text":
                events = self._start({"type": "text", "text": ""})
            delta = {"type": "text_delta", "text": text}
        events.append({"type": "content_block_delta", "index": self._index, "delta": delta})
        return events


def _stream_error(error: Any) -> GeminiStreamError:
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code")
        status = error.get("status")
        return GeminiStreamError(
            message if isinstance(message, str) and message else "Gemini reported an error mid-stream",
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            status if isinstance(status, str) else None,
        )
    return GeminiStreamError(str(error) or "Gemini reported an error mid-stream")


# ---------------------------------------------------------------------------------------------------
# Errors and token counting
# ---------------------------------------------------------------------------------------------------


_MAX_RAW_ERROR = 2000


def _error_message(body: bytes) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]  # streamGenerateContent without alt=sse wraps its error in an array
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
    return body.decode("utf-8", "replace").strip()[:_MAX_RAW_ERROR]


def gemini_error_to_anthropic(status: int, body: bytes) -> bytes:
    """A Gemini error response -> Anthropic's error body; the type follows the HTTP status (§3.1)."""
    message = _error_message(body) or f"the Gemini upstream answered HTTP {status}"
    return orjson.dumps({"type": "error", "error": {"type": kind_for_status(status), "message": message}})


_COUNTED_FIELDS = ("contents", "systemInstruction", "tools")


def count_tokens_request(gemini_body: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """A translated GenerateContentRequest -> a countTokens body.

    With `model`, the whole request is wrapped as `generateContentRequest` (system and tools counted
    exactly; the real API needs `model` inside it). Without, only bare `contents` is allowed, so the
    system instruction and tool declarations are folded in as a leading user text part: an
    approximation that errs high, as Claude Code's compaction needs (protocols.md §4).
    """
    if model is not None:
        inner: JSON = {"model": model if model.startswith("models/") else f"models/{model}"}
        inner.update({key: gemini_body[key] for key in _COUNTED_FIELDS if key in gemini_body})
        return {"generateContentRequest": inner}
    contents = [dict(content) for content in gemini_body.get("contents", [])]
    preamble: list[JSON] = []
    system = gemini_body.get("systemInstruction")
    if isinstance(system, dict):
        preamble.extend(p for p in system.get("parts", []) if isinstance(p, dict) and "text" in p)
    if gemini_body.get("tools"):
        preamble.append({"text": orjson.dumps(gemini_body["tools"]).decode()})
    if preamble:
        if contents and contents[0].get("role") == "user":
            contents[0] = {**contents[0], "parts": [*preamble, *contents[0].get("parts", [])]}
        else:
            contents.insert(0, {"role": "user", "parts": preamble})
    return {"contents": contents}


def count_tokens_response(resp: dict[str, Any]) -> dict[str, Any]:
    """Gemini countTokens `{"totalTokens": N}` -> Anthropic `{"input_tokens": N}`."""
    total = resp.get("totalTokens", 0)
    if not isinstance(total, int) or isinstance(total, bool):
        raise TypeError("countTokens answered without an integer totalTokens")
    return {"input_tokens": total}
