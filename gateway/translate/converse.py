"""Anthropic Messages (the hub) <-> AWS Bedrock Converse / ConverseStream (the JSON REST form).

Request: `anthropic_request_to_converse` (the model goes in the URL: `POST /model/{modelId}/converse`
or `/converse-stream`). Answers: `converse_response_to_anthropic`, `ConverseStreamToAnthropic` (one
decoded event-stream event at a time), `exception_kind` for Bedrock's exception names. Shapes follow the
botocore service model `bedrock-runtime/2023-09-30/service-2.json`; blobs (image/document bytes,
redacted reasoning) are base64 strings on the JSON wire.

Decisions:
- `system`: Claude Code's first block `x-anthropic-billing-header: ...` changes on every request and
  would bust Bedrock's prompt cache, so it is dropped (protocols.md §3.3). Other blocks -> `{"text"}`.
  `role:"system"` messages before any user/assistant turn are appended to `system`; later ones become a
  user text block with a short operator note, in place (as gemini.py; Converse's `system` message role
  is not accepted by every model).
- `cache_control` on a system block, message block or tool -> a following `{"cachePoint": {"type":
  "default"}}` (with its `ttl` when it is `5m`/`1h`). Top-level `cache_control` (automatic caching) ->
  a cachePoint at the end of the last message.
- Messages: Converse needs user/assistant alternation, a user turn first, no empty content and no
  blank text. Blank text blocks are dropped, turns left empty are dropped (e.g. an assistant turn that
  only held unsigned thinking or server-tool blocks), same-role runs are merged (tool results first in
  a merged user turn); a conversation that still starts with an assistant turn is Untranslatable (a
  synthetic user turn would put words in the user's mouth). `compaction`, `mid_conv_system` and
  `search_result` blocks become text (the model must still see them).
- Thinking: signed `thinking` -> `reasoningContent.reasoningText {text, signature}`, `redacted_thinking`
  -> `reasoningContent.redactedContent` (the data is already base64, the blob's wire form); unsigned
  thinking (e.g. minted by another provider's translation) is dropped.
- Images: base64 png/jpeg/gif/webp -> `image.source.bytes` (the base64 string as given); URL images are
  Untranslatable (Converse takes bytes or S3 only).
- Documents: base64 PDF (and the other Converse formats by media type) -> `document` named by its title,
  reduced to the characters Converse allows (alphanumerics, single spaces, `-()[]`), else
  `document-N`; names are made unique across the request (Bedrock rejects duplicates). Plain-text
  documents become a text block (title, blank line, text): that works on every Converse model, including
  those without document support, and avoids the 5-document limit and the name rules; the title keeps
  the document identifiable (as gemini.py). Content-source documents are inlined. Bedrock rejects a
  message holding a document without a text block, so such a user turn gets a `"."` text block.
  `citations` and `context` are not forwarded (citations would come back as citationsContent, which
  the response side flattens to text anyway).
- Tools: custom tools -> `toolSpec` (`strict` kept). Tool names outside Converse's
  `[a-zA-Z0-9_-]{1,64}` become a 55-char prefix + `_` + 8 hex of sha256 (`converse_tool_names(hub)`
  gives the map back; pass it as `tool_names` to the answer converters). Tool-use ids outside
  `[a-zA-Z0-9_.:-]{1,64}` are replaced, deterministically, on both the call and its result. Anthropic
  server tools (a versioned `type`) are Untranslatable. `tool_choice`: auto/any/tool map to Converse's
  union; `none` has no Converse form: tools are withheld, except when the history holds tool calls or
  results, which Converse only accepts with `toolConfig` present: then tools are kept (the model may
  still call one). History with tool blocks but no tools declared at all is turned into text
  (`[Tool call ...]` / `[Tool result ...]`) rather than rejected: the caller asked for a tool-less
  answer and the history keeps its meaning. `disable_parallel_tool_use` has no Converse form: dropped.
  An empty tool result gets the text `(empty)` (Converse rejects empty content and blank text).
- Inference: `max_tokens` -> `maxTokens` (0, a cache warm-up, -> 1), `temperature`, `top_p`,
  `stop_sequences` -> `inferenceConfig`; with stop sequences the request also asks for
  `additionalModelResponseFieldPaths: ["/stop_sequence"]`, which Claude answers with the matched
  sequence and other models ignore. `top_k` and `thinking` -> `additionalModelRequestFields` (the
  shape Claude on Bedrock takes). `output_config.effort` -> `outputConfig.effort`;
  `output_config.format` / `output_format` (json_schema) -> `outputConfig.textFormat` (schema as a JSON
  string, as the service model requires).
- `model=` (optional): Bedrock rejects, rather than ignores, cachePoints on models without prompt
  caching and Claude's `thinking` / `top_k` on models that validate their native body; given the model
  id, those are left out where they would fail (`_fit_to_model`). Without it the body is model-neutral.
- Dropped: `metadata` (user_id), `service_tier` (Converse's tiers are priority/default/flex, not
  Anthropic's), `container`, `mcp_servers`, `context_management`, `inference_geo`, betas-only fields,
  server-tool blocks in history, `search_result`'s citations (its text is kept).
- Response: text -> text, toolUse -> tool_use (id = toolUseId made Anthropic-safe), reasoningText ->
  thinking (signature or ""), redactedContent -> redacted_thinking, citationsContent -> text. stopReason
  end_turn/tool_use/max_tokens/stop_sequence/model_context_window_exceeded keep their name (Anthropic has
  all five, protocols.md §1.6); guardrail_intervened/content_filtered -> refusal (+ stop_details);
  malformed_* or unknown -> end_turn. end_turn (or unknown) with tool calls -> tool_use, tool_use without
  any -> end_turn (Claude Code runs tools only on tool_use). `stop_sequence` is filled only when the
  model returned `additionalModelResponseFields.stop_sequence`.
- Usage: Converse's `inputTokens` already excludes cache reads and writes, which it reports separately in
  `cacheReadInputTokens` / `cacheWriteInputTokens` (AWS Bedrock User Guide, "Prompt caching for faster
  model inference": tokens read from or written to the cache are billed apart from the remaining input
  tokens; LiteLLM's `AmazonConverseConfig._transform_usage` adds both to `inputTokens` to get an
  inclusive prompt count). That is Anthropic's meaning, so `input_tokens = inputTokens` unchanged.
  `cacheDetails` (writes by TTL) -> `cache_creation.ephemeral_{5m,1h}_input_tokens`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

import orjson

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

_EMPTY_TOOL_RESULT = "(empty)"
_DOCUMENT_COMPANION_TEXT = "."
_DEFAULT_SCHEMA: JSON = {"type": "object", "properties": {}}

_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_CACHE_TTLS = frozenset({"5m", "1h"})
_THINKING_KEYS = ("type", "budget_tokens", "display")
_MAX_DOCUMENT_NAME = 200

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
_NOT_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_NOT_ANTHROPIC_ID = re.compile(r"[^a-zA-Z0-9_-]")
_NOT_DOCUMENT_NAME = re.compile(r"[^A-Za-z0-9\s()\[\]-]")

_STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "model_context_window_exceeded": "model_context_window_exceeded",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
}

# Bedrock exception name (lowercased, without the `:<namespace>` suffix) -> Anthropic error type.
_EXCEPTION_KINDS = {
    "throttlingexception": "rate_limit_error",
    "servicequotaexceededexception": "rate_limit_error",
    "serviceunavailableexception": "overloaded_error",
    "modelnotreadyexception": "overloaded_error",
    "validationexception": "invalid_request_error",
    "accessdeniedexception": "permission_error",
    "resourcenotfoundexception": "not_found_error",
    "modeltimeoutexception": "timeout_error",  # gateway.errors.KINDS has timeout_error (504)
}


# ---------------------------------------------------------------------------------------------------
# Request: Anthropic -> Converse
# ---------------------------------------------------------------------------------------------------


def anthropic_request_to_converse(hub: dict[str, Any], *, model: str | None = None) -> dict[str, Any]:
    """Anthropic Messages request (hub) -> Converse request body (no modelId in it; `model` and `stream`
    of the hub are not part of the body). Raises Untranslatable for what Converse cannot take.

    `model` (optional, the Bedrock model id): when given, what only some models take is left out for
    the others, because Bedrock rejects it rather than ignoring it (`_fit_to_model`).
    """
    if not isinstance(hub, dict):
        raise Untranslatable("the request body must be a JSON object")
    tools = _tools(hub.get("tools"))
    declared = [entry["toolSpec"]["name"] for entry in tools if "toolSpec" in entry]
    choice = hub.get("tool_choice")
    choice_type = choice.get("type") if isinstance(choice, dict) else None
    has_tool_history = _has_tool_blocks(hub.get("messages"))
    if choice_type == "none" and not has_tool_history:
        tools, declared = [], []

    builder = _Messages(tools_as_text=has_tool_history and not declared)
    system = _system(hub.get("system"))
    messages, leading_system = builder.convert(hub.get("messages"))
    system.extend(leading_system)
    if _is_cache_control(hub.get("cache_control")) and messages:
        last = messages[-1]["content"]
        if "cachePoint" not in last[-1]:
            last.append(_cache_point(hub["cache_control"]))

    out: JSON = {"messages": messages}
    if system:
        out["system"] = system
    inference = _inference_config(hub)
    if inference:
        out["inferenceConfig"] = inference
        if "stopSequences" in inference:
            out["additionalModelResponseFieldPaths"] = ["/stop_sequence"]
    tool_choice = _tool_choice(choice, declared)
    if declared:
        out["toolConfig"] = {"tools": tools, **({"toolChoice": tool_choice} if tool_choice else {})}
    additional = _additional_fields(hub)
    if additional:
        out["additionalModelRequestFields"] = additional
    output_config = _output_config(hub)
    if output_config:
        out["outputConfig"] = output_config
    if model is not None:
        _fit_to_model(out, model)
    return out


def _fit_to_model(out: JSON, model: str) -> None:
    """Leaves out of a translated body what `model` would reject (not ignore):
    - cachePoints on a model without prompt caching (Claude and Nova have it): Bedrock answers 403
      "You invoked an unsupported model or your request did not allow prompt caching";
    - outside Claude, cachePoints in `toolConfig.tools` and a `ttl` (Nova caches system and messages,
      and the 1h TTL is Claude's);
    - outside Claude, `additionalModelRequestFields` (`thinking`, `top_k` are Claude's; other models
      validate their native body: "extraneous key [...] is not permitted") and `outputConfig.effort`.
    A model id that names neither family (an application inference profile ARN) gets neither.
    """
    name = model.lower()
    claude = "anthropic." in name or "claude" in name
    if claude:
        return
    caching = "amazon.nova" in name

    def points(blocks: list[JSON]) -> list[JSON]:
        if not caching:
            return [block for block in blocks if "cachePoint" not in block]
        return [{"cachePoint": {"type": "default"}} if "cachePoint" in block else block for block in blocks]

    if "system" in out:
        out["system"] = points(out["system"])
    for message in out["messages"]:
        message["content"] = points(message["content"])
    if "toolConfig" in out:
        out["toolConfig"]["tools"] = [tool for tool in out["toolConfig"]["tools"] if "cachePoint" not in tool]
    out.pop("additionalModelRequestFields", None)
    if "outputConfig" in out:
        out["outputConfig"].pop("effort", None)
        if not out["outputConfig"]:
            del out["outputConfig"]


def converse_tool_names(hub: Mapping[str, Any]) -> dict[str, str]:
    """Converse tool name -> the client's tool name, for the tools whose name had to be shortened."""
    return renamed_tools(hub, _converse_name)


def _converse_name(name: str) -> str:
    if _TOOL_NAME.fullmatch(name):
        return name
    # A digest of the original keeps two long names with a shared prefix apart, deterministically, so
    # the same tool gets the same Converse name in every request of a conversation.
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{_NOT_TOOL_NAME.sub('_', name)[:55]}_{digest}"


def _converse_tool_id(tool_id: Any, path: str) -> str:
    if not isinstance(tool_id, str) or not tool_id:
        raise Untranslatable(f"{path}: a tool id is required", path)
    if _TOOL_USE_ID.fullmatch(tool_id):
        return tool_id
    return "toolu_" + hashlib.sha256(tool_id.encode()).hexdigest()[:32]


def _is_cache_control(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "ephemeral"


def _cache_point(cache_control: Any) -> JSON:
    point: JSON = {"type": "default"}
    ttl = cache_control.get("ttl") if isinstance(cache_control, dict) else None
    if ttl in _CACHE_TTLS:
        point["ttl"] = ttl
    return {"cachePoint": point}


def _has_text(text: Any) -> bool:
    return isinstance(text, str) and bool(text.strip())


def _has_tool_blocks(messages: Any) -> bool:
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") in ("tool_use", "tool_result"):
                return True
    return False


def _system(system: Any) -> list[JSON]:
    out: list[JSON] = []
    for block in system_blocks(system):
        out.append({"text": block["text"]})
        if _is_cache_control(block.get("cache_control")):
            out.append(_cache_point(block["cache_control"]))
    return out


def _block(block: Any, path: str) -> JSON:
    if not isinstance(block, dict):
        raise Untranslatable(f"{path}: must be an object", path)
    return block


def _texts_of(content: Any) -> str:
    """The texts of a loose `content` (string or text blocks), joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def _results_out_of_place(content: list[JSON]) -> bool:
    seen_other = False
    for block in content:
        if "toolResult" in block:
            if seen_other:
                return True
        elif "cachePoint" not in block:
            seen_other = True
    return False


class _Messages:
    """Converts `messages`; holds what spans the request (document names, tool-history mode)."""

    def __init__(self, tools_as_text: bool) -> None:
        self.tools_as_text = tools_as_text
        self._documents = 0
        self._document_names: set[str] = set()

    def convert(self, messages: Any) -> tuple[list[JSON], list[JSON]]:
        """(Converse messages, system blocks from leading `role:"system"` messages)."""
        if not isinstance(messages, list):
            raise Untranslatable("messages: must be a list", "messages")
        turns: list[JSON] = []
        leading_system: list[JSON] = []
        seen_turn = False
        for i, message in enumerate(messages):
            path = f"messages.{i}"
            message = _block(message, path)
            role = message.get("role")
            content = message.get("content")
            if role == "system":
                blocks = self._system_message(content, f"{path}.content", in_place=seen_turn)
                if not seen_turn:
                    leading_system.extend(blocks)
                    continue
                role = "user"
            elif role == "user":
                seen_turn = True
                blocks = self._user(content, f"{path}.content")
            elif role == "assistant":
                seen_turn = True
                blocks = self._assistant(content, f"{path}.content")
            else:
                raise Untranslatable(f"{path}.role: unsupported role {role!r}", f"{path}.role")
            if not any("cachePoint" not in block for block in blocks):
                continue  # nothing Converse can take (only blank text, unsigned thinking, ...)
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].extend(blocks)
            else:
                turns.append({"role": role, "content": blocks})
        if not turns:
            raise Untranslatable("messages: Converse needs at least one message with content", "messages")
        if turns[0]["role"] != "user":
            raise Untranslatable(
                "messages: Bedrock Converse needs the conversation to start with a user message", "messages"
            )
        for turn in turns:
            content = turn["content"]
            if turn["role"] == "user" and _results_out_of_place(content):
                # Merging (e.g. an in-place system note before tool results) must not put anything ahead
                # of the results answering the previous turn's calls.
                results = [b for b in content if "toolResult" in b]
                content[:] = results + [b for b in content if "toolResult" not in b]
            if any("document" in b for b in content) and not any(_has_text(b.get("text")) for b in content):
                # "A text block must be included when using documents."
                content.append({"text": _DOCUMENT_COMPANION_TEXT})
        return turns, leading_system

    def _system_message(self, content: Any, path: str, *, in_place: bool) -> list[JSON]:
        out: list[JSON] = []
        for j, block in enumerate(content_blocks(content, path)):
            block = _block(block, f"{path}.{j}")
            text = block.get("text")
            if not isinstance(text, str):
                raise Untranslatable(f"{path}.{j}: a system message may only contain text", f"{path}.{j}")
            if _has_text(text):
                out.append({"text": MID_SYSTEM_NOTE + text if in_place else text})
                if _is_cache_control(block.get("cache_control")):
                    out.append(_cache_point(block["cache_control"]))
        return out

    def _user(self, content: Any, path: str) -> list[JSON]:
        out: list[JSON] = []
        for j, block in enumerate(content_blocks(content, path)):
            block = _block(block, f"{path}.{j}")
            converted = self._user_block(block, f"{path}.{j}")
            out.extend(converted)
            if converted and _is_cache_control(block.get("cache_control")):
                out.append(_cache_point(block["cache_control"]))
        return out

    def _user_block(self, block: JSON, path: str) -> list[JSON]:
        kind = block.get("type")
        if kind == "tool_result":
            return self._tool_result(block, path)
        return self._content(block, path)

    def _content(self, block: JSON, path: str) -> list[JSON]:
        """A user-side block (not tool_result) -> Converse content blocks."""
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            return [{"text": text}] if _has_text(text) else []
        if kind == "image":
            return [_image(block, path)]
        if kind == "document":
            return self._document(block, path)
        if kind == "search_result":
            text = search_result_text(block)
            return [{"text": text}] if _has_text(text) else []
        if kind in ("compaction", "mid_conv_system"):
            # Both carry text the model must still see: a server-side summary, an in-place instruction.
            text = _texts_of(block.get("text", block.get("content")))
            if not _has_text(text):
                return []
            return [{"text": (MID_SYSTEM_NOTE if kind == "mid_conv_system" else "") + text}]
        # thinking in a user turn, server tool blocks, container uploads, unknown future types: dropped.
        return []

    def _assistant(self, content: Any, path: str) -> list[JSON]:
        out: list[JSON] = []
        for j, block in enumerate(content_blocks(content, path)):
            block_path = f"{path}.{j}"
            block = _block(block, block_path)
            kind = block.get("type")
            converted: list[JSON] = []
            if kind == "text":
                text = block.get("text")
                converted = [{"text": text}] if _has_text(text) else []
            elif kind == "tool_use":
                converted = [self._tool_use(block, block_path)]
            elif kind == "thinking":
                thinking, signature = block.get("thinking"), block.get("signature")
                if isinstance(signature, str) and signature and isinstance(thinking, str):
                    reasoning = {"reasoningText": {"text": thinking, "signature": signature}}
                    converted = [{"reasoningContent": reasoning}]
            elif kind == "redacted_thinking":
                data = block.get("data")
                if isinstance(data, str) and data:
                    converted = [{"reasoningContent": {"redactedContent": data}}]
            elif kind == "compaction":
                # A server-side summary of the earlier conversation: the model must still see it.
                text = _texts_of(block.get("text", block.get("content")))
                converted = [{"text": text}] if _has_text(text) else []
            # server_tool_use, *_tool_result, images, unknown types: nothing Converse can replay.
            out.extend(converted)
            if converted and _is_cache_control(block.get("cache_control")):
                out.append(_cache_point(block["cache_control"]))
        return out

    def _tool_use(self, block: JSON, path: str) -> JSON:
        name, args = block.get("name"), block.get("input", {})
        if not isinstance(name, str) or not name:
            raise Untranslatable(f"{path}.name: a tool_use needs a name", f"{path}.name")
        if not isinstance(args, dict):
            raise Untranslatable(f"{path}.input: must be an object", f"{path}.input")
        tool_id = _converse_tool_id(block.get("id"), f"{path}.id")
        if self.tools_as_text:
            return {"text": f"[Tool call {tool_id}: {name} {orjson.dumps(args).decode()}]"}
        return {"toolUse": {"toolUseId": tool_id, "name": _converse_name(name), "input": args}}

    def _tool_result(self, block: JSON, path: str) -> list[JSON]:
        tool_id = _converse_tool_id(block.get("tool_use_id"), f"{path}.tool_use_id")
        content = block.get("content")
        items: list[JSON] = []
        if isinstance(content, str):
            if _has_text(content):
                items.append({"text": content})
        elif isinstance(content, list):
            for k, item in enumerate(content):
                items.extend(self._content(_block(item, f"{path}.content.{k}"), f"{path}.content.{k}"))
        elif content is not None:
            raise Untranslatable(f"{path}.content: must be a string or a list of blocks", f"{path}.content")
        is_error = block.get("is_error") is True
        if self.tools_as_text:
            texts = "\n".join(item["text"] for item in items if "text" in item) or _EMPTY_TOOL_RESULT
            label = "Tool error" if is_error else "Tool result"
            return [{"text": f"[{label} for {tool_id}]\n{texts}"}, *(i for i in items if "text" not in i)]
        if not items:
            items = [{"text": _EMPTY_TOOL_RESULT}]
        result: JSON = {"toolUseId": tool_id, "content": items}
        if is_error:
            result["status"] = "error"
        return [{"toolResult": result}]

    def _document(self, block: JSON, path: str) -> list[JSON]:
        source = block.get("source")
        if not isinstance(source, dict):
            raise Untranslatable(f"{path}.source: a document needs a source", f"{path}.source")
        kind = source.get("type")
        title = block.get("title")
        if kind == "base64":
            media_type, data = source.get("media_type"), source.get("data")
            fmt = _DOCUMENT_FORMATS.get(media_type) if isinstance(media_type, str) else None
            if fmt is None:
                raise Untranslatable(
                    f"{path}.source.media_type: Bedrock Converse cannot take {media_type!r} documents",
                    f"{path}.source.media_type",
                )
            if not isinstance(data, str) or not data:
                raise Untranslatable(f"{path}.source.data: must be a base64 string", f"{path}.source.data")
            name = self._document_name(title)
            return [{"document": {"format": fmt, "name": name, "source": {"bytes": data}}}]
        if kind == "text":
            data = source.get("data")
            if not isinstance(data, str):
                raise Untranslatable(f"{path}.source.data: must be a string", f"{path}.source.data")
            text = f"{title}\n\n{data}" if isinstance(title, str) and title.strip() else data
            return [{"text": text}] if _has_text(text) else []
        if kind == "content":
            inner = source.get("content")
            out: list[JSON] = []
            for k, item in enumerate(content_blocks(inner, f"{path}.source.content")):
                item_path = f"{path}.source.content.{k}"
                out.extend(self._content(_block(item, item_path), item_path))
            return out
        if kind == "url":
            raise Untranslatable(
                f"{path}.source.url: Bedrock Converse takes documents only as bytes; send it as base64",
                f"{path}.source.url",
            )
        raise Untranslatable(
            f"{path}.source.type: document source {kind!r} cannot be sent to Bedrock Converse",
            f"{path}.source.type",
        )

    def _document_name(self, title: Any) -> str:
        self._documents += 1
        name = ""
        if isinstance(title, str):
            name = " ".join(_NOT_DOCUMENT_NAME.sub(" ", title).split())[:_MAX_DOCUMENT_NAME].strip()
        if not name:
            name = f"document-{self._documents}"
        base, n = name, 2
        while name.casefold() in self._document_names:
            suffix = f" ({n})"
            name = base[: _MAX_DOCUMENT_NAME - len(suffix)].rstrip() + suffix
            n += 1
        self._document_names.add(name.casefold())
        return name


def _image(block: JSON, path: str) -> JSON:
    source = block.get("source")
    if not isinstance(source, dict):
        raise Untranslatable(f"{path}.source: an image needs a source", f"{path}.source")
    kind = source.get("type")
    if kind == "url":
        raise Untranslatable(
            f"{path}.source.url: Bedrock Converse takes images only as bytes; send the image as base64",
            f"{path}.source.url",
        )
    if kind != "base64":
        raise Untranslatable(
            f"{path}.source.type: image source {kind!r} cannot be sent to Bedrock Converse",
            f"{path}.source.type",
        )
    media_type, data = source.get("media_type"), source.get("data")
    fmt = _IMAGE_FORMATS.get(media_type) if isinstance(media_type, str) else None
    if fmt is None:
        raise Untranslatable(
            f"{path}.source.media_type: Bedrock Converse takes png, jpeg, gif and webp images, not "
            f"{media_type!r}",
            f"{path}.source.media_type",
        )
    if not isinstance(data, str) or not data:
        raise Untranslatable(f"{path}.source.data: must be a base64 string", f"{path}.source.data")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _tools(tools: Any) -> list[JSON]:
    """Converse `toolConfig.tools`: a toolSpec per custom tool, a cachePoint after a cached one."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise Untranslatable("tools: must be a list", "tools")
    out: list[JSON] = []
    for i, tool in enumerate(tools):
        tool = _block(tool, f"tools.{i}")
        name = tool.get("name")
        if not is_custom_tool(tool):
            raise Untranslatable(
                f"tools.{i}: {name or tool.get('type')!r} ({tool.get('type')}) is an Anthropic server tool; "
                "Bedrock Converse cannot run it",
                f"tools.{i}.type",
            )
        if not isinstance(name, str) or not name:
            raise Untranslatable(f"tools.{i}.name: required", f"tools.{i}.name")
        schema = tool.get("input_schema")
        spec: JSON = {
            "name": _converse_name(name),
            "inputSchema": {"json": schema if isinstance(schema, dict) else dict(_DEFAULT_SCHEMA)},
        }
        description = tool.get("description")
        if _has_text(description):
            spec["description"] = description
        if isinstance(tool.get("strict"), bool):
            spec["strict"] = tool["strict"]
        out.append({"toolSpec": spec})
        if _is_cache_control(tool.get("cache_control")):
            out.append(_cache_point(tool["cache_control"]))
    return out


def _tool_choice(choice: Any, declared: list[str]) -> JSON | None:
    if choice is None:
        return None
    if not isinstance(choice, dict):
        raise Untranslatable("tool_choice: must be an object", "tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        return {"auto": {}}
    if kind == "any":
        return {"any": {}}
    if kind == "none":
        return None  # no Converse form; the tools were withheld when the history allowed it
    if kind == "tool":
        name = choice.get("name")
        converse = _converse_name(name) if isinstance(name, str) and name else None
        if converse is None or converse not in declared:
            raise Untranslatable(f"tool_choice.name: no tool named {name!r} in tools", "tool_choice.name")
        return {"tool": {"name": converse}}
    raise Untranslatable(f"tool_choice.type: unsupported value {kind!r}", "tool_choice.type")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _inference_config(hub: Mapping[str, Any]) -> JSON:
    config: JSON = {}
    max_tokens = hub.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        config["maxTokens"] = max(max_tokens, 1)
    for source, target in (("temperature", "temperature"), ("top_p", "topP")):
        if _number(hub.get(source)):
            config[target] = hub[source]
    stops = hub.get("stop_sequences")
    if stops is not None and not isinstance(stops, list):
        raise Untranslatable("stop_sequences: must be a list of strings", "stop_sequences")
    kept = [s for s in stops or [] if isinstance(s, str) and s]
    if kept:
        config["stopSequences"] = kept
    return config


def _additional_fields(hub: Mapping[str, Any]) -> JSON:
    fields: JSON = {}
    top_k = hub.get("top_k")
    if isinstance(top_k, int) and not isinstance(top_k, bool):
        fields["top_k"] = top_k
    thinking = hub.get("thinking")
    if isinstance(thinking, dict) and isinstance(thinking.get("type"), str):
        fields["thinking"] = {key: thinking[key] for key in _THINKING_KEYS if key in thinking}
    return fields


def _output_config(hub: Mapping[str, Any]) -> JSON:
    out: JSON = {}
    output_config = hub.get("output_config")
    if output_config is not None and not isinstance(output_config, dict):
        raise Untranslatable("output_config: must be an object", "output_config")
    config = output_config or {}
    effort = config.get("effort")
    if isinstance(effort, str) and effort:
        out["effort"] = effort
    for fmt, param in (
        (config.get("format"), "output_config.format"),
        (hub.get("output_format"), "output_format"),
    ):
        if fmt is None:
            continue
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(schema, dict):
            kind = fmt.get("type") if isinstance(fmt, dict) else fmt
            raise Untranslatable(
                f"{param}: Bedrock Converse takes only a json_schema format with a schema, not {kind!r}",
                param,
            )
        structure = {"jsonSchema": {"schema": orjson.dumps(schema).decode()}}
        out["textFormat"] = {"type": "json_schema", "structure": structure}
        break
    return out


# ---------------------------------------------------------------------------------------------------
# Response: Converse -> Anthropic
# ---------------------------------------------------------------------------------------------------


def _message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def _anthropic_tool_id(tool_id: Any) -> str:
    # Converse ids may hold `.` and `:`, which Anthropic's `^[a-zA-Z0-9_-]+$` refuses if the
    # conversation later goes to Claude; the id only has to match its result, which the client copies.
    if isinstance(tool_id, str) and tool_id:
        return _NOT_ANTHROPIC_ID.sub("_", tool_id)
    return "toolu_" + secrets.token_hex(12)


def _int(meta: Mapping[str, Any], key: str) -> int:
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _usage(usage: Any) -> JSON:
    usage = usage if isinstance(usage, dict) else {}
    out: JSON = {
        # Exclusive of cache reads and writes already (see the module docstring), as Anthropic's is.
        "input_tokens": _int(usage, "inputTokens"),
        "cache_creation_input_tokens": _int(usage, "cacheWriteInputTokens"),
        "cache_read_input_tokens": _int(usage, "cacheReadInputTokens"),
        "output_tokens": _int(usage, "outputTokens"),
    }
    details = usage.get("cacheDetails")
    if isinstance(details, list):
        by_ttl = {"5m": 0, "1h": 0}
        for detail in details:
            if isinstance(detail, dict) and detail.get("ttl") in by_ttl:
                by_ttl[detail["ttl"]] += _int(detail, "inputTokens")
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": by_ttl["5m"],
            "ephemeral_1h_input_tokens": by_ttl["1h"],
        }
    return out


def _stop_reason(reason: Any, has_calls: bool) -> str:
    mapped = _STOP_REASONS.get(reason) if isinstance(reason, str) else None
    if mapped is None or mapped in ("end_turn", "tool_use"):
        # malformed_model_output / malformed_tool_use / unknown: the turn ended. Claude Code runs tools
        # only on tool_use, and a tool_use stop without a call would stall it.
        return "tool_use" if has_calls else "end_turn"
    return mapped


def _refusal_details(reason: Any) -> JSON:
    return {"type": "refusal", "category": None, "explanation": f"Bedrock stopped the response ({reason})"}


def _stop_sequence(fields: Any) -> str | None:
    value = fields.get("stop_sequence") if isinstance(fields, dict) else None
    return value if isinstance(value, str) and value else None


def _response_blocks(block: Any, names: Mapping[str, str]) -> list[JSON]:
    if not isinstance(block, dict):
        return []
    text = block.get("text")
    if isinstance(text, str):
        return [{"type": "text", "text": text}] if text else []
    tool = block.get("toolUse")
    if isinstance(tool, dict):
        name = tool.get("name")
        args = tool.get("input")
        return [
            {
                "type": "tool_use",
                "id": _anthropic_tool_id(tool.get("toolUseId")),
                "name": names.get(name, name) if isinstance(name, str) else "",
                "input": args if isinstance(args, dict) else {},
            }
        ]
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict):
        redacted = reasoning.get("redactedContent")
        if isinstance(redacted, str) and redacted:
            return [{"type": "redacted_thinking", "data": redacted}]
        inner = reasoning.get("reasoningText")
        if isinstance(inner, dict):
            thinking = inner.get("text") if isinstance(inner.get("text"), str) else ""
            signature = inner.get("signature") if isinstance(inner.get("signature"), str) else ""
            if thinking or signature:
                return [{"type": "thinking", "thinking": thinking, "signature": signature}]
        return []
    cited = block.get("citationsContent")
    if isinstance(cited, dict):
        text = _texts_of(cited.get("content"))
        return [{"type": "text", "text": text}] if text else []
    return []  # image, document, toolResult, guardContent, ...: nothing an Anthropic client takes


def converse_response_to_anthropic(
    obj: dict[str, Any], model: str, tool_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Converse response JSON -> Anthropic Message dict (id msg_..., type message, role assistant,
    model=model, content, stop_reason, stop_sequence, usage). `tool_names`: see `converse_tool_names`."""
    names = tool_names or {}
    obj = obj if isinstance(obj, dict) else {}
    output = obj.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    items = message.get("content") if isinstance(message, dict) else None
    content: list[JSON] = []
    for item in items if isinstance(items, list) else []:
        content.extend(_response_blocks(item, names))
    reason = obj.get("stopReason")
    stop_reason = _stop_reason(reason, any(block["type"] == "tool_use" for block in content))
    stop_sequence = _stop_sequence(obj.get("additionalModelResponseFields"))
    result: JSON = {
        "id": _message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": _usage(obj.get("usage")),
    }
    if stop_reason == "refusal":
        result["stop_details"] = _refusal_details(reason)
    return result


# ---------------------------------------------------------------------------------------------------
# Stream: ConverseStream events -> Anthropic stream events
# ---------------------------------------------------------------------------------------------------


class ConverseStreamError(Exception):
    """Bedrock failed mid-stream (an exception event); `kind` is the Anthropic error type."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def exception_kind(name: str) -> str:
    """A Bedrock exception name as it appears in x-amzn-ErrorType or an event-stream :exception-type
    (e.g. 'ThrottlingException', 'throttlingException', 'ValidationException:http://...') -> Anthropic
    error type. Case-insensitive; anything after ':' is stripped."""
    base = name.partition(":")[0].rpartition("#")[2].strip().lower()
    return _EXCEPTION_KINDS.get(base, "api_error")


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ConverseStreamToAnthropic:
    """Turns each ConverseStream event into Anthropic stream events.

    Converse sends contentBlockStart only for toolUse: text and reasoning blocks open on their first
    delta for a new contentBlockIndex. Usage arrives in `metadata`, after `messageStop`, so message_delta
    and message_stop wait for it (finish() emits them with what is known if it never comes).
    `input_estimate` goes into message_start (Claude Code reads per-turn input there).
    """

    def __init__(self, model: str, input_estimate: int, tool_names: Mapping[str, str] | None = None) -> None:
        self._model = model
        self._estimate = max(input_estimate, 0) if isinstance(input_estimate, int) else 0
        self._names = tool_names or {}
        self._started = False
        self._finished = False
        self._index = -1  # Anthropic index of the last block started
        self._open: str | None = None  # Anthropic type of the open block
        self._source: int | None = None  # Converse contentBlockIndex of the open block
        self._redacted: list[str] = []  # redacted reasoning of the open block, sent whole on close
        self._has_calls = False
        self._stop: str | None = None  # Converse stopReason, once messageStop arrived
        self._stop_sequence: str | None = None
        self._usage: JSON | None = None

    def feed(self, event_type: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """One ConverseStream event (`:event-type` and its JSON payload) -> Anthropic stream events."""
        if isinstance(event_type, str) and event_type.lower().endswith("exception"):
            raise _stream_error(event_type, payload)
        if self._finished:
            return []
        payload = payload if isinstance(payload, dict) else {}
        events: list[JSON] = []
        if not self._started:
            events.append(self._message_start())
        if event_type == "contentBlockStart":
            events.extend(self._block_start(payload))
        elif event_type == "contentBlockDelta":
            events.extend(self._delta(payload))
        elif event_type == "contentBlockStop":
            if self._open is not None and _index(payload.get("contentBlockIndex")) in (self._source, None):
                events.extend(self._close())
        elif event_type == "messageStop":
            events.extend(self._close())
            reason = payload.get("stopReason")
            self._stop = reason if isinstance(reason, str) and reason else "end_turn"
            self._stop_sequence = _stop_sequence(payload.get("additionalModelResponseFields"))
            if self._usage is not None:
                events.extend(self._end())
        elif event_type == "metadata":
            if isinstance(payload.get("usage"), dict):
                self._usage = _usage(payload["usage"])
            if self._stop is not None:
                events.extend(self._end())
        # messageStart (already answered by message_start) and unknown events: nothing more.
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The closing events; raises StreamIncomplete if no messageStop was seen."""
        if self._finished:
            return []
        if self._stop is None:
            raise StreamIncomplete("the ConverseStream ended without a messageStop event")
        events: list[JSON] = []
        if not self._started:
            events.append(self._message_start())
        events.extend(self._end())
        return events

    def _start_usage(self) -> JSON:
        return start_usage(self._estimate)

    def _message_start(self) -> JSON:
        self._started = True
        return message_start(_message_id(), self._model, self._start_usage())

    def _end(self) -> list[JSON]:
        self._finished = True
        events = self._close()
        stop_reason = _stop_reason(self._stop, self._has_calls)
        delta: JSON = {
            "stop_reason": stop_reason,
            "stop_sequence": self._stop_sequence if stop_reason == "stop_sequence" else None,
        }
        if stop_reason == "refusal":
            delta["stop_details"] = _refusal_details(self._stop)
        usage = self._usage if self._usage is not None else self._start_usage()
        events.append({"type": "message_delta", "delta": delta, "usage": usage})
        events.append({"type": "message_stop"})
        return events

    def _close(self) -> list[JSON]:
        kind, self._open, self._source = self._open, None, None
        if kind is None:
            return []
        if kind == "redacted_thinking":
            # Anthropic sends redacted thinking whole in its content_block_start, with no deltas.
            data, self._redacted = "".join(self._redacted), []
            if not data:
                return []
            self._index += 1
            block = {"type": "redacted_thinking", "data": data}
            return [
                {"type": "content_block_start", "index": self._index, "content_block": block},
                {"type": "content_block_stop", "index": self._index},
            ]
        return [{"type": "content_block_stop", "index": self._index}]

    def _open_block(self, source: int | None, block: JSON) -> list[JSON]:
        events = self._close()
        self._open, self._source = block["type"], source
        if block["type"] != "redacted_thinking":
            self._index += 1
            events.append({"type": "content_block_start", "index": self._index, "content_block": block})
        return events

    def _ensure(self, source: int | None, block: JSON) -> list[JSON]:
        if self._open == block["type"] and self._source == source:
            return []
        return self._open_block(source, block)

    def _emit(self, delta: JSON) -> JSON:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}

    def _block_start(self, payload: JSON) -> list[JSON]:
        start = payload.get("start")
        tool = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(tool, dict):
            return []  # toolResult / image starts: nothing an Anthropic client takes
        self._has_calls = True
        name = tool.get("name")
        block = {
            "type": "tool_use",
            "id": _anthropic_tool_id(tool.get("toolUseId")),
            "name": self._names.get(name, name) if isinstance(name, str) else "",
            "input": {},
        }
        return self._open_block(_index(payload.get("contentBlockIndex")), block)

    def _delta(self, payload: JSON) -> list[JSON]:
        source = _index(payload.get("contentBlockIndex"))
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return []
        text = delta.get("text")
        if isinstance(text, str):
            if not text:
                return []  # never emit empty deltas; strict clients crash on them
            events = self._ensure(source, {"type": "text", "text": ""})
            events.append(self._emit({"type": "text_delta", "text": text}))
            return events
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            return self._reasoning(source, reasoning)
        tool = delta.get("toolUse")
        if isinstance(tool, dict):
            fragment = tool.get("input")
            if self._open != "tool_use" or source not in (self._source, None):
                return []  # input for a call that never started: nothing to attach it to
            if not isinstance(fragment, str) or not fragment:
                return []
            return [self._emit({"type": "input_json_delta", "partial_json": fragment})]
        return []  # citation, image, toolResult deltas

    def _reasoning(self, source: int | None, reasoning: JSON) -> list[JSON]:
        events: list[JSON] = []
        redacted = reasoning.get("redactedContent")
        if isinstance(redacted, str) and redacted:
            events.extend(self._ensure(source, {"type": "redacted_thinking"}))
            self._redacted.append(redacted)
            return events
        thinking_block = {"type": "thinking", "thinking": "", "signature": ""}
        text = reasoning.get("text")
        if isinstance(text, str) and text:
            events.extend(self._ensure(source, thinking_block))
            events.append(self._emit({"type": "thinking_delta", "thinking": text}))
        signature = reasoning.get("signature")
        if isinstance(signature, str) and signature:
            events.extend(self._ensure(source, thinking_block))
            events.append(self._emit({"type": "signature_delta", "signature": signature}))
        return events


def _stream_error(event_type: str, payload: Any) -> ConverseStreamError:
    message = None
    if isinstance(payload, dict):
        for key in ("message", "Message", "originalMessage"):
            if isinstance(payload.get(key), str) and payload[key]:
                message = payload[key]
                break
    return ConverseStreamError(
        message or f"Bedrock reported {event_type} mid-stream", exception_kind(event_type)
    )
