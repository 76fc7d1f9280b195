"""The request shapes the translators read, as JSON Schema, and the one check at the door of translation.

A translated call is read field by field by the converters; a field of the wrong type (`tools: "x"`,
`messages: [1]`) must be a 400 that names it, not a TypeError deep inside a converter. The schemas hold
only types and the few required fields the APIs themselves require: what the real API accepts passes
(unknown fields included; the converters drop what the target does not have). `null` is accepted where
the schema says so: OpenAI's nullable fields, and Anthropic's optional top-level fields (an explicit
null there reads as absent). The check follows the schemas exactly, so the document tells the truth.

The same schemas are the request bodies of `GET /openapi.json` (gateway/admin/openapi.py), so the fuzzer
and the gateway agree on what a valid body is.
"""

from __future__ import annotations

from typing import Any

from gateway.core.formats import Format
from gateway.translate import Untranslatable

Schema = dict[str, Any]

# orjson refuses to write deeper than 254 levels and a translation adds a few (Gemini wraps tool
# arguments in parts and contents): a translated body stays well under that.
MAX_DEPTH = 200


def _t(*types: str, **rest: Any) -> Schema:
    return {"type": list(types) if len(types) > 1 else types[0], **rest}


_STR, _INT, _NUM, _BOOL, _OBJ = _t("string"), _t("integer"), _t("number"), _t("boolean"), _t("object")
_STR_N, _INT_N, _NUM_N, _BOOL_N, _OBJ_N = (
    _t("string", "null"),
    _t("integer", "null"),
    _t("number", "null"),
    _t("boolean", "null"),
    _t("object", "null"),
)

# -- Anthropic Messages (the hub) --------------------------------------------------------------------

# Inner blocks of a tool_result or search_result (text, image, document, search_result).
_INNER_BLOCK: Schema = _t(
    "object",
    required=["type"],
    properties={"type": _STR, "text": _STR, "source": _OBJ, "title": _STR_N, "cache_control": _OBJ_N},
)
# Every content block kind in one schema: a field has the same type in every kind that has it.
ANTHROPIC_BLOCK: Schema = _t(
    "object",
    required=["type"],
    properties={
        "type": _STR,
        "text": _STR,
        "source": _OBJ,
        "id": _STR,
        "name": _STR,
        "input": _OBJ,
        "tool_use_id": _STR,
        "content": _t("string", "array", items=_INNER_BLOCK),
        "is_error": _BOOL_N,
        "thinking": _STR,
        "signature": _STR,
        "data": _STR,
        "title": _STR_N,
        "context": _STR_N,
        "cache_control": _OBJ_N,
    },
)
ANTHROPIC_MESSAGE: Schema = _t(
    "object",
    required=["role", "content"],
    properties={
        "role": {"type": "string", "enum": ["user", "assistant", "system"]},  # Claude Code sends system turns
        "content": _t("string", "array", items=ANTHROPIC_BLOCK),
    },
)
ANTHROPIC_TOOL: Schema = _t(
    "object",
    required=["name"],
    properties={
        "type": _STR_N,
        "name": _STR,
        "description": _STR,
        "input_schema": _OBJ,
        "cache_control": _OBJ_N,
    },
)
_ANTHROPIC_FIELDS: dict[str, Schema] = {
    "model": _STR,
    "messages": _t("array", minItems=1, items=ANTHROPIC_MESSAGE),
    "max_tokens": _INT,
    "system": _t("string", "array", "null", items=ANTHROPIC_BLOCK),
    "tools": _t("array", "null", items=ANTHROPIC_TOOL),
    "tool_choice": _t(
        "object",
        "null",
        required=["type"],
        properties={
            "type": {"type": "string", "enum": ["auto", "any", "tool", "none"]},
            "name": _STR,
            "disable_parallel_tool_use": _BOOL_N,
        },
    ),
    "temperature": _NUM_N,
    "top_p": _NUM_N,
    "top_k": _INT_N,
    "stop_sequences": _t("array", "null", items=_STR),
    "stream": _BOOL_N,
    "metadata": _t("object", "null", properties={"user_id": _STR_N}),
    "thinking": _t("object", "null", required=["type"], properties={"type": _STR, "budget_tokens": _INT}),
    "service_tier": _STR_N,
}
ANTHROPIC_REQUEST: Schema = _t(
    "object", required=["model", "messages", "max_tokens"], properties=_ANTHROPIC_FIELDS
)
ANTHROPIC_COUNT_TOKENS: Schema = _t(
    "object",
    required=["model", "messages"],
    properties={k: v for k, v in _ANTHROPIC_FIELDS.items() if k not in ("max_tokens", "stream")},
)

# -- OpenAI Chat Completions -------------------------------------------------------------------------

OPENAI_PART: Schema = _t(
    "object",
    required=["type"],
    properties={
        "type": _STR,
        "text": _STR,
        "image_url": _t("object", properties={"url": _STR, "detail": _STR}),
        "input_audio": _OBJ,
        "file": _OBJ,
        "refusal": _STR,
    },
)
OPENAI_TOOL_CALL: Schema = _t(
    "object",
    properties={
        "id": _STR,
        "type": _STR,
        "function": _t("object", properties={"name": _STR, "arguments": _STR}),
    },
)
OPENAI_MESSAGE: Schema = _t(
    "object",
    required=["role"],
    properties={
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool", "function"]},
        "content": _t("string", "array", "null", items=OPENAI_PART),
        "name": _STR_N,
        "tool_calls": _t("array", "null", items=OPENAI_TOOL_CALL),
        "tool_call_id": _STR,
        "function_call": _t("object", "null", properties={"name": _STR, "arguments": _STR}),
        "refusal": _STR_N,
    },
)
OPENAI_TOOL: Schema = _t(
    "object",
    properties={
        "type": _STR,
        "function": _t(
            "object",
            properties={"name": _STR, "description": _STR_N, "parameters": _OBJ, "strict": _BOOL_N},
        ),
    },
)
OPENAI_REQUEST: Schema = _t(
    "object",
    required=["model", "messages"],
    properties={
        "model": _STR,
        "messages": _t("array", minItems=1, items=OPENAI_MESSAGE),
        "tools": _t("array", "null", items=OPENAI_TOOL),
        "tool_choice": _t("string", "object", "null"),
        "parallel_tool_calls": _BOOL_N,
        "max_tokens": _INT_N,
        "max_completion_tokens": _INT_N,
        "temperature": _NUM_N,
        "top_p": _NUM_N,
        "presence_penalty": _NUM_N,
        "frequency_penalty": _NUM_N,
        "n": _INT_N,
        "stop": _t("string", "array", "null", items=_STR),
        "stream": _BOOL_N,
        "stream_options": _t("object", "null", properties={"include_usage": _BOOL_N}),
        "response_format": _t("object", "null", properties={"type": _STR, "json_schema": _OBJ}),
        "seed": _INT_N,
        "user": _STR_N,
        "logit_bias": _OBJ_N,
        "logprobs": _BOOL_N,
        "top_logprobs": _INT_N,
        "reasoning_effort": _STR_N,
        "metadata": _OBJ_N,
        "service_tier": _STR_N,
        "store": _BOOL_N,
    },
)

# -- OpenAI Responses --------------------------------------------------------------------------------

RESPONSES_PART: Schema = _t(
    "object",
    required=["type"],
    properties={
        "type": _STR,
        "text": _STR,
        "image_url": _STR_N,
        "file_id": _STR_N,
        "file_data": _STR,
        "filename": _STR,
        "detail": _STR_N,
        "refusal": _STR,
    },
)
RESPONSES_ITEM: Schema = _t(
    "object",
    properties={
        "type": _STR,
        "id": _STR_N,
        "role": {"type": "string", "enum": ["user", "assistant", "system", "developer"]},
        "content": _t("string", "array", "null", items=RESPONSES_PART),
        "call_id": _STR,
        "name": _STR,
        "namespace": _STR_N,
        "arguments": _STR,
        "input": _STR,
        "output": _t("string", "array", items=RESPONSES_PART),
        "summary": _t("array", "null", items=_OBJ),
        "encrypted_content": _STR_N,
    },
)
_RESPONSES_FUNCTION: Schema = _t(
    "object",
    required=["type"],
    properties={
        "type": _STR,
        "name": _STR,
        "description": _STR_N,
        "parameters": _OBJ_N,
        "strict": _BOOL_N,
        "format": _OBJ,
    },
)
RESPONSES_TOOL: Schema = _t(
    "object",
    required=["type"],
    properties={**_RESPONSES_FUNCTION["properties"], "tools": _t("array", items=_RESPONSES_FUNCTION)},
)
RESPONSES_REQUEST: Schema = _t(
    "object",
    required=["model"],
    properties={
        "model": _STR,
        "input": _t("string", "array", items=RESPONSES_ITEM),
        "instructions": _STR_N,
        "tools": _t("array", "null", items=RESPONSES_TOOL),
        "tool_choice": _t("string", "object", "null"),
        "parallel_tool_calls": _BOOL_N,
        "max_output_tokens": _INT_N,
        "temperature": _NUM_N,
        "top_p": _NUM_N,
        "top_logprobs": _INT_N,
        "stream": _BOOL_N,
        "reasoning": _t("object", "null", properties={"effort": _STR_N, "summary": _STR_N}),
        "text": _t(
            "object",
            "null",
            properties={"format": _t("object", properties={"type": _STR, "name": _STR, "schema": _OBJ})},
        ),
        "metadata": _OBJ_N,
        "include": _t("array", "null", items=_STR),
        "store": _BOOL_N,
        "background": _BOOL_N,
        "previous_response_id": _STR_N,
        "truncation": _STR_N,
        "user": _STR_N,
        "safety_identifier": _STR_N,
        "prompt_cache_key": _STR_N,
        "service_tier": _STR_N,
    },
)

# -- The check ---------------------------------------------------------------------------------------

_WORDS = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _type_of(value: Any) -> str:
    # bool before int: a JSON true is not the integer 1.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


class _Problem(Exception):
    def __init__(self, path: list[str | int], message: str, missing: bool = False) -> None:
        self.path, self.message, self.missing = path, message, missing


def _check(schema: Schema, value: Any, path: list[str | int]) -> None:
    allowed = schema.get("type")
    if allowed is not None:
        kinds = allowed if isinstance(allowed, list) else [allowed]
        actual = _type_of(value)
        if actual not in kinds and not (actual == "integer" and "number" in kinds):
            words = [_WORDS[k] for k in kinds]
            expected = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
            raise _Problem(path, f"must be {expected}, not {_WORDS.get(actual, actual)}")
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        raise _Problem(path, f"must be one of {', '.join(repr(e) for e in enum)}")
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                raise _Problem([*path, name], "Field required", missing=True)
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                _check(sub, value[name], [*path, name])
    elif isinstance(value, list):
        least = schema.get("minItems")
        if least is not None and len(value) < least:
            raise _Problem(path, f"must hold at least {least} item(s)")
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(value):
                _check(items, item, [*path, i])


def depth_over(value: Any, limit: int) -> bool:
    """True when `value` nests deeper than `limit` levels (iterative: a deep body must not recurse)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item if isinstance(v, (dict, list)))
    return False


def check_request(client: Format, obj: dict[str, Any], operation: str = "messages") -> None:
    """Raises Untranslatable (a 400 naming the field) when `obj` is not a request the client's API
    would take, in the types the translators read; or when it nests too deep to be translated."""
    if client is Format.OPENAI:
        schema = OPENAI_REQUEST
    elif client is Format.RESPONSES:
        schema = RESPONSES_REQUEST
    else:
        schema = ANTHROPIC_COUNT_TOKENS if operation == "count_tokens" else ANTHROPIC_REQUEST
    try:
        _check(schema, obj, [])
    except _Problem as problem:
        raise _untranslatable(client, problem) from None
    if depth_over(obj, MAX_DEPTH):
        raise Untranslatable(
            f"request body nests more than {MAX_DEPTH} levels deep; a translated call cannot carry it"
        )


def _untranslatable(client: Format, problem: _Problem) -> Untranslatable:
    if client is Format.OPENAI or client is Format.RESPONSES:
        param = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(problem.path)
        )
        if problem.missing:
            return Untranslatable(f"Missing required parameter: '{param}'.", param)
        return Untranslatable(f"Invalid value for '{param}': {problem.message}.", param)
    dotted = ".".join(str(p) for p in problem.path)
    return Untranslatable(f"{dotted}: {problem.message}", dotted)
