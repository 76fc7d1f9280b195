"""A hub request's `messages` -> Converse messages (the rules are in the package docstring)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.translate import Untranslatable
from gateway.translate.converse.blocks import as_object, cache_point, has_text, is_cache_control, texts_of
from gateway.translate.converse.names import converse_name, converse_tool_id
from gateway.translate.hub import MID_SYSTEM_NOTE, claude_signature, content_blocks, search_result_text

JSON = dict[str, Any]

_EMPTY_TOOL_RESULT = "(empty)"
_DOCUMENT_COMPANION_TEXT = "."

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

_MAX_DOCUMENT_NAME = 200
_NOT_DOCUMENT_NAME = re.compile(r"[^A-Za-z0-9\s()\[\]-]")


def _results_out_of_place(content: list[JSON]) -> bool:
    seen_other = False
    for block in content:
        if "toolResult" in block:
            if seen_other:
                return True
        elif "cachePoint" not in block:
            seen_other = True
    return False


class MessageConverter:
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
            message = as_object(message, path)
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
            if any("document" in b for b in content) and not any(has_text(b.get("text")) for b in content):
                # "A text block must be included when using documents."
                content.append({"text": _DOCUMENT_COMPANION_TEXT})
        return turns, leading_system

    def _system_message(self, content: Any, path: str, *, in_place: bool) -> list[JSON]:
        out: list[JSON] = []
        for j, block in enumerate(content_blocks(content, path)):
            block = as_object(block, f"{path}.{j}")
            text = block.get("text")
            if not isinstance(text, str):
                raise Untranslatable(f"{path}.{j}: a system message may only contain text", f"{path}.{j}")
            if has_text(text):
                out.append({"text": MID_SYSTEM_NOTE + text if in_place else text})
                if is_cache_control(block.get("cache_control")):
                    out.append(cache_point(block["cache_control"]))
        return out

    def _user(self, content: Any, path: str) -> list[JSON]:
        out: list[JSON] = []
        for j, block in enumerate(content_blocks(content, path)):
            block = as_object(block, f"{path}.{j}")
            converted = self._user_block(block, f"{path}.{j}")
            out.extend(converted)
            if converted and is_cache_control(block.get("cache_control")):
                out.append(cache_point(block["cache_control"]))
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
            return [{"text": text}] if has_text(text) else []
        if kind == "image":
            return [image_block(block, path)]
        if kind == "document":
            return self._document(block, path)
        if kind == "search_result":
            text = search_result_text(block)
            return [{"text": text}] if has_text(text) else []
        if kind in ("compaction", "mid_conv_system"):
            # Both carry text the model must still see: a server-side summary, an in-place instruction.
            text = texts_of(block.get("text", block.get("content")))
            if not has_text(text):
                return []
            return [{"text": (MID_SYSTEM_NOTE if kind == "mid_conv_system" else "") + text}]
        # thinking in a user turn, server tool blocks, container uploads, unknown future types: dropped.
        return []

    def _assistant(self, content: Any, path: str) -> list[JSON]:
        out: list[JSON] = []
        for j, block in enumerate(content_blocks(content, path)):
            block_path = f"{path}.{j}"
            block = as_object(block, block_path)
            kind = block.get("type")
            converted: list[JSON] = []
            if kind == "text":
                text = block.get("text")
                converted = [{"text": text}] if has_text(text) else []
            elif kind == "tool_use":
                converted = [self._tool_use(block, block_path)]
            elif kind == "thinking":
                thinking, signature = block.get("thinking"), block.get("signature")
                if claude_signature(signature) and isinstance(thinking, str):
                    reasoning = {"reasoningText": {"text": thinking, "signature": signature}}
                    converted = [{"reasoningContent": reasoning}]
            elif kind == "redacted_thinking":
                data = block.get("data")
                if isinstance(data, str) and data:
                    converted = [{"reasoningContent": {"redactedContent": data}}]
            elif kind == "compaction":
                # A server-side summary of the earlier conversation: the model must still see it.
                text = texts_of(block.get("text", block.get("content")))
                converted = [{"text": text}] if has_text(text) else []
            # server_tool_use, *_tool_result, images, unknown types: nothing Converse can replay.
            out.extend(converted)
            if converted and is_cache_control(block.get("cache_control")):
                out.append(cache_point(block["cache_control"]))
        return out

    def _tool_use(self, block: JSON, path: str) -> JSON:
        name, args = block.get("name"), block.get("input", {})
        if not isinstance(name, str) or not name:
            raise Untranslatable(f"{path}.name: a tool_use needs a name", f"{path}.name")
        if not isinstance(args, dict):
            raise Untranslatable(f"{path}.input: must be an object", f"{path}.input")
        tool_id = converse_tool_id(block.get("id"), f"{path}.id")
        if self.tools_as_text:
            return {"text": f"[Tool call {tool_id}: {name} {orjson.dumps(args).decode()}]"}
        return {"toolUse": {"toolUseId": tool_id, "name": converse_name(name), "input": args}}

    def _tool_result(self, block: JSON, path: str) -> list[JSON]:
        tool_id = converse_tool_id(block.get("tool_use_id"), f"{path}.tool_use_id")
        content = block.get("content")
        items: list[JSON] = []
        if isinstance(content, str):
            if has_text(content):
                items.append({"text": content})
        elif isinstance(content, list):
            for k, item in enumerate(content):
                items.extend(self._content(as_object(item, f"{path}.content.{k}"), f"{path}.content.{k}"))
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
            return [{"text": text}] if has_text(text) else []
        if kind == "content":
            inner = source.get("content")
            out: list[JSON] = []
            for k, item in enumerate(content_blocks(inner, f"{path}.source.content")):
                item_path = f"{path}.source.content.{k}"
                out.extend(self._content(as_object(item, item_path), item_path))
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


def image_block(block: JSON, path: str) -> JSON:
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
