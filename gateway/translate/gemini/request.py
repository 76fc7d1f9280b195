"""The request: Anthropic Messages (the hub) -> a Gemini GenerateContentRequest body (the model goes in the
URL, see `GEMINI_PATHS`). The decisions are listed in the package docstring."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway.translate import Untranslatable
from gateway.translate.gemini.names import gemini_name, signature_from_tool_id
from gateway.translate.gemini.schema import clean_schema
from gateway.translate.hub import (
    MID_SYSTEM_NOTE,
    content_blocks,
    is_custom_tool,
    search_result_text,
    system_blocks,
)
from gateway.translate.server_tools import is_web_fetch, is_web_search

JSON = dict[str, Any]

# What Google's thought-signature guide says to send for function calls Gemini did not make.
SKIP_SIGNATURE = "skip_thought_signature_validator"
_MAX_STOP_SEQUENCES = 5
_MAX_THINKING_BUDGET = 24576
_EFFORT_BUDGETS = {"low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576, "max": 24576}

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
    server = _server_tools(body.get("tools"))
    if declarations or server:
        out["tools"] = ([{"functionDeclarations": declarations}] if declarations else []) + server
    if declarations:
        tool_config = _tool_config(body.get("tool_choice"), [d["name"] for d in declarations])
        if tool_config is not None:
            out["toolConfig"] = tool_config

    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    return out


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
                    calls[tool_id] = _Call(gemini_name(name), signature_from_tool_id(tool_id))
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
    calls = [part for part in parts if "functionCall" in part]
    if calls and not any("thoughtSignature" in part for part in calls):
        # Calls another provider made (a fallback or a model switch inside a tool loop) have no
        # signature, and Gemini 3 refuses unsigned calls in the current turn: Google's documented
        # placeholder for history from other models. A step Gemini made keeps its own signatures (its
        # parallel calls carry one on the first call only, so the others are left as they came).
        for part in calls:
            part["thoughtSignature"] = SKIP_SIGNATURE
    return parts


def _function_call_part(block: JSON, path: str) -> JSON:
    name, tool_id, args = block.get("name"), block.get("id"), block.get("input", {})
    if not isinstance(name, str) or not name:
        raise Untranslatable(f"{path}.name: a tool_use needs a name", f"{path}.name")
    if not isinstance(args, dict):
        raise Untranslatable(f"{path}.input: must be an object", f"{path}.input")
    part: JSON = {"functionCall": {"name": gemini_name(name), "args": args}}
    signature = signature_from_tool_id(tool_id) if isinstance(tool_id, str) else None
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
        declaration: JSON = {"name": gemini_name(name)}
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


def _server_tools(tools: Any) -> list[JSON]:
    """Anthropic's web_search as Gemini's `google_search` grounding, web_fetch as `url_context` (Gemini
    reads the URLs the prompt names). Gemini's search takes no domain filter: asking for one is refused
    rather than searching everywhere. `max_uses` and `user_location` have no equivalent (a hint and a
    cap, not a restriction of what is searched) and are dropped."""
    out: list[JSON] = []
    for i, tool in enumerate(tools if isinstance(tools, list) else ()):
        if not isinstance(tool, dict):
            continue
        if is_web_search(tool) and not any("google_search" in t for t in out):
            if tool.get("allowed_domains") or tool.get("blocked_domains"):
                raise Untranslatable(
                    "Gemini's Google Search grounding cannot restrict domains", f"tools.{i}.allowed_domains"
                )
            out.append({"google_search": {}})
        elif is_web_fetch(tool) and not any("url_context" in t for t in out):
            out.append({"url_context": {}})
    return out


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
        gemini = gemini_name(name) if isinstance(name, str) else None
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
