"""The request: Anthropic Messages (the hub) -> a Converse request body (the model goes in the URL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.translate import Untranslatable
from gateway.translate.converse.blocks import as_object, cache_point, has_text, is_cache_control
from gateway.translate.converse.messages import MessageConverter
from gateway.translate.converse.names import converse_name
from gateway.translate.hub import is_custom_tool, system_blocks

JSON = dict[str, Any]

_DEFAULT_SCHEMA: JSON = {"type": "object", "properties": {}}

_THINKING_KEYS = ("type", "budget_tokens", "display")
# What CountTokens takes of a Converse request.
_COUNTED = frozenset({"messages", "system", "toolConfig", "additionalModelRequestFields"})


def bedrock_converse_body(hub: JSON, model: str) -> JSON:
    """The Converse body Bedrock gets for `model` (Converse needs `maxTokens`; a count_tokens request has
    none, so it counts as 1). Raises Untranslatable for what Converse cannot take."""
    return anthropic_request_to_converse({"max_tokens": 1, **hub}, model=model)


def count_tokens_input(converse_body: JSON) -> JSON:
    """What Bedrock's CountTokens takes of a Converse body."""
    return {k: v for k, v in converse_body.items() if k in _COUNTED}


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

    builder = MessageConverter(tools_as_text=has_tool_history and not declared)
    system = _system(hub.get("system"))
    messages, leading_system = builder.convert(hub.get("messages"))
    system.extend(leading_system)
    if is_cache_control(hub.get("cache_control")) and messages:
        last = messages[-1]["content"]
        if "cachePoint" not in last[-1]:
            last.append(cache_point(hub["cache_control"]))

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
        if is_cache_control(block.get("cache_control")):
            out.append(cache_point(block["cache_control"]))
    return out


def _tools(tools: Any) -> list[JSON]:
    """Converse `toolConfig.tools`: a toolSpec per custom tool, a cachePoint after a cached one."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise Untranslatable("tools: must be a list", "tools")
    out: list[JSON] = []
    for i, tool in enumerate(tools):
        tool = as_object(tool, f"tools.{i}")
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
            "name": converse_name(name),
            "inputSchema": {"json": schema if isinstance(schema, dict) else dict(_DEFAULT_SCHEMA)},
        }
        description = tool.get("description")
        if has_text(description):
            spec["description"] = description
        if isinstance(tool.get("strict"), bool):
            spec["strict"] = tool["strict"]
        out.append({"toolSpec": spec})
        if is_cache_control(tool.get("cache_control")):
            out.append(cache_point(tool["cache_control"]))
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
        converse = converse_name(name) if isinstance(name, str) and name else None
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
