"""Amazon Bedrock Runtime wire format (REST, rest-json), as bedrock-runtime.<region>.amazonaws.com speaks it.

- ``POST /model/{modelId}/invoke`` and ``/invoke-with-response-stream`` for Anthropic models: the body is
  an Anthropic Messages body with ``anthropic_version`` and without ``model``/``stream``; the answer is the
  Anthropic Message (JSON) or, streamed, one event-stream ``chunk`` per Anthropic event (base64 in
  ``bytes``), ``message_stop`` carrying ``amazon-bedrock-invocationMetrics``.
- ``POST /model/{modelId}/converse`` and ``/converse-stream`` for any model: the Converse API, streamed as
  event-stream messages messageStart, contentBlockStart (toolUse), contentBlockDelta, contentBlockStop,
  messageStop, metadata.
- ``POST /model/{modelId}/count-tokens``: the CountTokens API (``input.invokeModel`` or ``input.converse``).

Auth is checked like AWS: SigV4 (service ``bedrock``, the fake's region) verified with botocore, or a
Bedrock API key (``Authorization: Bearer``). Both come from ``BedrockSettings`` (``fake.settings``),
rebuilt with the defaults below by ``reset()``. A request refused at the front door (auth, model id)
consumes no script. Errors are ``{"message": ...}`` with ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
import struct
import time
from typing import Any

import orjson
from aiohttp import web

from . import anthropic_wire, eventstream, sigv4
from . import embeddings as embedding_fakes
from .common import (
    Rejection,
    Wire,
    count_words,
    estimate_tokens,
    json_response,
    model_endpoint,
    new_id,
    read_json_object,
    split_fragments,
    split_text,
    usage_value,
)
from .script import Script
from .sse import send_events
from .state import STATE_KEY

KIND = "bedrock"
SERVICE = "bedrock"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCESS_KEY = "AKIAFAKEBEDROCK"
DEFAULT_SECRET_KEY = "fakeBedrockSecretKey/0123456789abcdefABCDEF"
DEFAULT_API_KEY = "ABSKfakebedrockapikey"
# What Bedrock documents for the Messages body...
ANTHROPIC_VERSION = "bedrock-2023-05-31"
# ...and what the installed anthropic SDK (2.x, AnthropicBedrock) actually puts there.
SDK_ANTHROPIC_VERSION = "2026-10-21"
EVENTSTREAM_TYPE = "application/vnd.amazon.eventstream"

_CORAL = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_BEDROCK = "http://internal.amazon.com/coral/com.amazon.bedrock/"
# Front-door auth errors come from the AWS service framework, not from Bedrock itself.
_AUTH_ERRORS = frozenset(
    {
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "UnrecognizedClientException",
    }
)
# These bodies spell the key "Message" on the real service.
_CAPITALISED = frozenset({"AccessDeniedException"})
_ERROR_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_INTERNAL = "The system encountered an unexpected error during processing. Try your request again."
_DEFAULT_MESSAGES = {
    "ValidationException": "Malformed input request, please reformat your input and try again.",
    "UnrecognizedClientException": sigv4.INVALID_TOKEN,
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ResourceNotFoundException": "Not Found",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ModelErrorException": "The model returned an error. Try your request again.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "InternalServerException": _INTERNAL,
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "modelStreamErrorException": "The model stream was interrupted. Retry your request.",
    "throttlingException": "Too many requests, please wait before trying again.",
    "internalServerException": _INTERNAL,
    "serviceUnavailableException": "Bedrock is unable to process your request.",
    "validationException": "Malformed input request, please reformat your input and try again.",
    "modelTimeoutException": "Model has timed out in processing the request. Try your request again.",
}
_MODEL_ID = re.compile(
    r"^(?:(?:us|eu|apac|global|jp|au|ca|us-gov)\.)?"
    r"(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|writer|openai|qwen|twelvelabs|stability|luma)"
    r"\.[A-Za-z0-9._:-]+$"
)
_MALFORMED = "Malformed input request: {}, please reformat your input and try again."
_PADDING = string.ascii_letters + string.digits


class BedrockSettings:
    """Per-test state of the fake AWS account: region, credentials, API keys, accepted values.

    Mutate it through ``fake.settings`` inside a test; ``fake.reset()`` restores the defaults.
    """

    def __init__(self) -> None:
        self.region = DEFAULT_REGION
        self.credentials: dict[str, sigv4.Credential] = {
            DEFAULT_ACCESS_KEY: sigv4.Credential(DEFAULT_SECRET_KEY)
        }
        self.api_keys: set[str] = {DEFAULT_API_KEY}
        self.anthropic_versions: set[str] = {ANTHROPIC_VERSION, SDK_ANTHROPIC_VERSION}
        # None: every well-formed model id exists; a set: only those (others are "invalid").
        self.models: set[str] | None = None

    def add_credentials(self, access_key_id: str, secret_key: str, session_token: str | None = None) -> None:
        """Register an access key (with the session token that must accompany it, for STS credentials)."""
        self.credentials[access_key_id] = sigv4.Credential(secret_key, session_token)

    def add_api_key(self, key: str) -> None:
        """Register a Bedrock API key, accepted as ``Authorization: Bearer <key>``."""
        self.api_keys.add(key)


def _settings(request: web.Request) -> BedrockSettings:
    settings = request.app[STATE_KEY].settings
    assert isinstance(settings, BedrockSettings)
    return settings


def error_response(rejection: Rejection) -> web.Response:
    status = rejection.status
    error_type = rejection.code or _ERROR_TYPES.get(
        status, "InternalServerException" if status >= 500 else "ValidationException"
    )
    message = rejection.message or _DEFAULT_MESSAGES.get(error_type, "Bad request")
    namespace = _CORAL if error_type in _AUTH_ERRORS else _BEDROCK
    headers = {"x-amzn-RequestId": _request_id(), "x-amzn-ErrorType": f"{error_type}:{namespace}"}
    key = "Message" if error_type in _CAPITALISED else "message"
    return json_response({key: message}, status=status, headers=headers)


def _request_id() -> str:
    raw = new_id("").ljust(32, "0")
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"


def _reject(error_type: str, message: str, status: int) -> Rejection:
    return Rejection(status, message, code=error_type)


# -- front door: authentication and the model id ------------------------------------------------------


async def _front_door(request: web.Request) -> None:
    settings = _settings(request)
    authorization = request.headers.get("Authorization")
    if not authorization:
        raise _reject("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    if authorization.startswith("Bearer "):
        if authorization[len("Bearer ") :].strip() not in settings.api_keys:
            raise _reject(
                "AccessDeniedException", "Authentication failed: Please make sure your API Key is valid.", 403
            )
    else:
        try:
            sigv4.verify(
                method=request.method,
                raw_path=request.raw_path,
                headers=request.headers,
                body=await request.read(),
                lookup=settings.credentials.get,
                region=settings.region,
                service=SERVICE,
            )
        except sigv4.AuthFailure as failure:
            raise _reject(failure.error_type, failure.message, failure.status) from None
    model_id = request.match_info["model_id"]
    known = settings.models is None or model_id in settings.models
    if not known or not (_MODEL_ID.match(model_id) or model_id.startswith("arn:aws")):
        raise _reject("ValidationException", "The provided model identifier is invalid.", 400)


def _is_anthropic(model_id: str) -> bool:
    return "anthropic." in model_id


def anthropic_model_name(model_id: str) -> str:
    """The name Bedrock reports in an Anthropic reply: ``us.anthropic.claude-x-v1:0`` -> ``claude-x``."""
    name = model_id.rpartition("/")[2]
    name = name.partition("anthropic.")[2] or name
    return re.sub(r"-v\d+(:\d+)?$", "", name)


def _padding(index: int) -> str:
    # Bedrock pads every event with a "p" field of varying length so sizes leak nothing.
    return _PADDING[: 4 + (index * 7) % 50]


def _latency_ms(started: float) -> int:
    return max(1, int((time.monotonic() - started) * 1000))


def _stream_error(script: Script) -> bytes:
    kind = script.error_event_type or "modelStreamErrorException"
    message = script.error_message or _DEFAULT_MESSAGES.get(kind, "The model stream was interrupted.")
    return eventstream.exception(kind, {"message": message})


async def _send_stream(
    request: web.Request, script: Script, frames: list[bytes], extra: dict[str, str] | None = None
) -> web.StreamResponse:
    headers = {"Content-Type": EVENTSTREAM_TYPE, "x-amzn-RequestId": _request_id(), **(extra or {})}
    return await send_events(
        request,
        frames,
        script,
        headers=headers,
        error_frame=_stream_error(script),
        cut_mid_frame=True,
        # A frame whose prelude checksum is wrong: what a corrupted event-stream looks like.
        malformed_frame=struct.pack(">III", 16, 0, 0) + b"\x00\x00\x00\x00",
    )


# -- InvokeModel (Anthropic Messages bodies) -----------------------------------------------------------


def _check_invoke_body(payload: dict[str, Any], versions: set[str]) -> None:
    for key in ("model", "stream"):
        if key in payload:
            raise Rejection(400, _MALFORMED.format(f"#: extraneous key [{key}] is not permitted"))
    for key in ("anthropic_version", "max_tokens", "messages"):
        if key not in payload:
            raise Rejection(400, _MALFORMED.format(f"#: required key [{key}] not found"))
    version = payload["anthropic_version"]
    if version not in versions:
        raise Rejection(
            400,
            _MALFORMED.format(f"#/anthropic_version: {orjson.dumps(version).decode()} is not a valid value"),
        )
    betas = payload.get("anthropic_beta")
    if betas is not None and not (isinstance(betas, list) and all(isinstance(b, str) for b in betas)):
        raise Rejection(400, _MALFORMED.format("#/anthropic_beta: expected type: JSONArray"))
    anthropic_wire.check_request(payload)
    anthropic_wire.check_generation(payload)


async def _invoke(request: web.Request, script: Script, *, stream: bool) -> web.StreamResponse:
    started = time.monotonic()
    model_id = request.match_info["model_id"]
    if not stream and embedding_fakes.is_bedrock_embedding(model_id):
        payload = await read_json_object(request, _MALFORMED.format("#: expected type: JSONObject"))
        return embedding_fakes.bedrock_embed(payload, model_id, _request_id())
    if not _is_anthropic(model_id):
        raise Rejection(
            400,
            f"The fake Bedrock serves InvokeModel for Anthropic models only; use Converse for {model_id}.",
        )
    payload = await read_json_object(request, _MALFORMED.format("#: expected type: JSONObject"))
    _check_invoke_body(payload, _settings(request).anthropic_versions)
    reply = anthropic_wire.plan_reply(
        payload, script, model=anthropic_model_name(model_id), id_prefix="msg_bdrk_", kind=KIND
    )
    usage = reply.usage
    if not stream:
        headers = {
            "x-amzn-RequestId": _request_id(),
            "X-Amzn-Bedrock-Input-Token-Count": str(usage["input_tokens"]),
            "X-Amzn-Bedrock-Output-Token-Count": str(usage["output_tokens"]),
            "X-Amzn-Bedrock-Invocation-Latency": str(_latency_ms(started)),
        }
        return json_response(anthropic_wire.message(reply), status=script.status or 200, headers=headers)
    events = anthropic_wire.stream_events(reply, script, pings=False)
    latency = _latency_ms(started)
    events[-1]["amazon-bedrock-invocationMetrics"] = {
        "inputTokenCount": usage["input_tokens"],
        "outputTokenCount": usage["output_tokens"],
        "invocationLatency": latency,
        "firstByteLatency": latency,
    }
    frames = [
        eventstream.event("chunk", {"bytes": base64.b64encode(orjson.dumps(e)).decode(), "p": _padding(i)})
        for i, e in enumerate(events)
    ]
    return await _send_stream(request, script, frames, {"X-Amzn-Bedrock-Content-Type": "application/json"})


@model_endpoint(error_response, front_door=_front_door)
async def invoke(request: web.Request, script: Script) -> web.StreamResponse:
    return await _invoke(request, script, stream=False)


@model_endpoint(error_response, front_door=_front_door)
async def invoke_stream(request: web.Request, script: Script) -> web.StreamResponse:
    return await _invoke(request, script, stream=True)


# -- Converse -------------------------------------------------------------------------------------------

_CONVERSE_KEYS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
    }
)
_CONTENT_MEMBERS = (
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
)
_SYSTEM_MEMBERS = ("text", "guardContent", "cachePoint")
_TOOL_RESULT_MEMBERS = ("json", "text", "image", "document", "video", "searchResult")
_INFERENCE_KEYS = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PROMPT_FIELDS = ("system", "messages", "toolConfig")
_START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts with a "
    "user message."
)
_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates "
    "between user and assistant roles and try again."
)


def converse_input_tokens(payload: dict[str, Any]) -> int:
    """The fake's inputTokens for a Converse body; tests can call it to predict usage."""
    return estimate_tokens(payload, _PROMPT_FIELDS)


def _validation(path: str, constraint: str) -> Rejection:
    return Rejection(
        400, f"1 validation error detected: Value at '{path}' failed to satisfy constraint: {constraint}"
    )


def _check_tool_use_id(value: Any, path: str) -> None:
    # ToolUseBlock and ToolResultBlock: 1 to 64 characters of [a-zA-Z0-9_-] (AWS API reference).
    if not isinstance(value, str) or not _TOOL_USE_ID.match(value):
        raise _validation(
            path,
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9_-]+$ and have length less than or "
            "equal to 64",
        )


def _union_member(value: Any, members: tuple[str, ...], path: str) -> str:
    """The one member a union value sets, or a 400 like Bedrock's."""
    if not isinstance(value, dict):
        raise _validation(path, "Member must be a structure")
    unknown = [key for key in value if key not in members]
    if unknown:
        raise Rejection(400, _MALFORMED.format(f"{path}: extraneous key [{unknown[0]}] is not permitted"))
    if len(value) != 1:
        raise _validation(
            path, f"Member must have exactly one of the following fields set: [{', '.join(members)}]"
        )
    return str(next(iter(value)))


def _check_converse(payload: dict[str, Any]) -> None:
    for key in payload:
        if key not in _CONVERSE_KEYS:
            raise Rejection(400, _MALFORMED.format(f"#: extraneous key [{key}] is not permitted"))
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Rejection(400, _START_WITH_USER)
    uses_tools = False
    previous_tool_ids: list[str] = []
    for index, message in enumerate(messages):
        path = f"messages.{index + 1}.member"
        if not isinstance(message, dict):
            raise _validation(path, "Member must be a structure")
        for key in message:
            if key not in ("role", "content"):
                raise Rejection(400, _MALFORMED.format(f"{path}: extraneous key [{key}] is not permitted"))
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise _validation(f"{path}.role", "Member must satisfy enum value set: [user, assistant]")
        if index == 0 and role != "user":
            raise Rejection(400, _START_WITH_USER)
        if index and messages[index - 1].get("role") == role:
            raise Rejection(400, _ALTERNATE)
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise _validation(
                f"{path}.content", "Member must not be null and have length greater than or equal to 1"
            )
        tool_ids, result_ids = _check_blocks(content, index)
        uses_tools = uses_tools or bool(tool_ids or result_ids)
        if role == "user":
            missing = [tool_id for tool_id in previous_tool_ids if tool_id not in result_ids]
            if len(result_ids) > len(previous_tool_ids) or any(
                r not in previous_tool_ids for r in result_ids
            ):
                raise Rejection(
                    400,
                    f"The number of toolResult blocks at messages.{index}.content exceeds the number of "
                    "toolUse blocks of previous turn.",
                )
            if missing:
                raise Rejection(
                    400,
                    f"Expected toolResult blocks at messages.{index}.content for the following Ids: "
                    + ", ".join(missing),
                )
        previous_tool_ids = tool_ids
    if uses_tools and "toolConfig" not in payload:
        raise Rejection(
            400, "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    if "system" in payload:
        _check_system(payload["system"])
    if "inferenceConfig" in payload:
        _check_inference(payload["inferenceConfig"])
    if "toolConfig" in payload:
        _check_tool_config(payload["toolConfig"])
    extra = payload.get("additionalModelRequestFields")
    if extra is not None and not isinstance(extra, dict):
        raise _validation("additionalModelRequestFields", "Member must be a JSON object")


def _check_blocks(content: list[Any], index: int) -> tuple[list[str], list[str]]:
    """Validate one message's blocks; returns its toolUse ids and toolResult ids."""
    tool_ids: list[str] = []
    result_ids: list[str] = []
    for position, block in enumerate(content):
        path = f"messages.{index + 1}.member.content.{position + 1}.member"
        member = _union_member(block, _CONTENT_MEMBERS, path)
        value = block[member]
        if member == "text":
            if not isinstance(value, str):
                raise _validation(f"{path}.text", "Member must be a string")
            if not value.strip():
                raise Rejection(
                    400,
                    f"The text field in the ContentBlock object at messages.{index}.content.{position} is "
                    "blank. Add text to the text field, and try again.",
                )
        elif member == "toolUse":
            if not isinstance(value, dict) or not {"toolUseId", "name", "input"} <= value.keys():
                raise _validation(f"{path}.toolUse", "Member must have toolUseId, name and input")
            if not _TOOL_NAME.match(str(value["name"])):
                raise _validation(
                    f"{path}.toolUse.name", "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
                )
            _check_tool_use_id(value["toolUseId"], f"{path}.toolUse.toolUseId")
            tool_ids.append(value["toolUseId"])
        elif member == "toolResult":
            if (
                not isinstance(value, dict)
                or "toolUseId" not in value
                or not isinstance(value.get("content"), list)
            ):
                raise _validation(f"{path}.toolResult", "Member must have toolUseId and content")
            if value.get("status", "success") not in ("success", "error"):
                raise _validation(
                    f"{path}.toolResult.status", "Member must satisfy enum value set: [success, error]"
                )
            for inner, part in enumerate(value["content"]):
                _union_member(part, _TOOL_RESULT_MEMBERS, f"{path}.toolResult.content.{inner + 1}.member")
            _check_tool_use_id(value["toolUseId"], f"{path}.toolResult.toolUseId")
            result_ids.append(value["toolUseId"])
        elif member == "image":
            if not isinstance(value, dict) or not {"format", "source"} <= value.keys():
                raise _validation(f"{path}.image", "Member must have format and source")
        elif member == "cachePoint":
            if not isinstance(value, dict) or "type" not in value:
                raise _validation(f"{path}.cachePoint.type", "Member must not be null")
        elif not isinstance(value, dict):
            raise _validation(f"{path}.{member}", "Member must be a structure")
    return tool_ids, result_ids


def _check_system(system: Any) -> None:
    if not isinstance(system, list):
        raise _validation("system", "Member must be a list")
    for index, block in enumerate(system):
        path = f"system.{index + 1}.member"
        if _union_member(block, _SYSTEM_MEMBERS, path) == "text" and not (
            isinstance(block["text"], str) and block["text"]
        ):
            raise _validation(f"{path}.text", "Member must have length greater than or equal to 1")


def _check_inference(config: Any) -> None:
    if not isinstance(config, dict):
        raise _validation("inferenceConfig", "Member must be a structure")
    for key in config:
        if key not in _INFERENCE_KEYS:
            raise Rejection(
                400, _MALFORMED.format(f"inferenceConfig: extraneous key [{key}] is not permitted")
            )
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise _validation("inferenceConfig.maxTokens", "Member must have value greater than or equal to 1")
    for key in ("temperature", "topP"):
        value = config.get(key)
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1
        ):
            raise _validation(f"inferenceConfig.{key}", "Member must have value between 0 and 1")
    stops = config.get("stopSequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) and s for s in stops)):
        raise _validation("inferenceConfig.stopSequences", "Member must be a list of non-empty strings")


def _check_tool_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise _validation("toolConfig", "Member must be a structure")
    for key in config:
        if key not in ("tools", "toolChoice"):
            raise Rejection(400, _MALFORMED.format(f"toolConfig: extraneous key [{key}] is not permitted"))
    tools = config.get("tools")
    if not isinstance(tools, list) or not tools:
        raise _validation("toolConfig.tools", "Member must have length greater than or equal to 1")
    for index, tool in enumerate(tools):
        path = f"toolConfig.tools.{index + 1}.member"
        if _union_member(tool, ("toolSpec", "systemTool", "cachePoint"), path) != "toolSpec":
            continue
        spec = tool["toolSpec"]
        if not isinstance(spec, dict) or not _TOOL_NAME.match(str(spec.get("name", ""))):
            raise _validation(
                f"{path}.toolSpec.name", "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
            )
        schema = spec.get("inputSchema")
        if not isinstance(schema, dict) or not isinstance(schema.get("json"), dict):
            raise _validation(f"{path}.toolSpec.inputSchema", "Member must not be null")
    if "toolChoice" in config:
        choice = config["toolChoice"]
        if _union_member(
            choice, ("auto", "any", "tool"), "toolConfig.toolChoice"
        ) == "tool" and not isinstance(choice["tool"], dict):
            raise _validation("toolConfig.toolChoice.tool.name", "Member must not be null")


def _converse_reply(payload: dict[str, Any], script: Script) -> dict[str, Any]:
    """The Converse answer minus metrics: output content, stopReason, usage."""
    blocks: list[dict[str, Any]] = []
    if script.thinking is not None:
        signature = "sig-" + hashlib.sha256(script.thinking.encode()).hexdigest()[:32]
        blocks.append(
            {"reasoningContent": {"reasoningText": {"text": script.thinking, "signature": signature}}}
        )
    text = script.reply_text(KIND)
    if text:
        blocks.append({"text": text})
    for call in script.tool_calls:
        tool_id = call.get("id") or new_id("tooluse_")
        blocks.append(
            {"toolUse": {"toolUseId": tool_id, "name": call["name"], "input": call.get("input", {})}}
        )
    tool_json = " ".join(orjson.dumps(call.get("input", {})).decode() for call in script.tool_calls)
    usage = script.usage
    totals = {
        "inputTokens": usage_value(usage, "inputTokens", converse_input_tokens(payload)),
        "outputTokens": usage_value(
            usage, "outputTokens", max(1, count_words(text, script.thinking, tool_json))
        ),
    }
    for key in ("cacheReadInputTokens", "cacheWriteInputTokens"):
        if key in usage:
            totals[key] = int(usage[key])
    totals["totalTokens"] = sum(totals.values())
    return {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": script.stop_reason or ("tool_use" if script.tool_calls else "end_turn"),
        "usage": totals,
    }


def _converse_events(reply: dict[str, Any], script: Script, latency: int) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(reply["output"]["message"]["content"]):
        deltas: list[dict[str, Any]]
        if "reasoningContent" in block:
            reasoning = block["reasoningContent"]["reasoningText"]
            pieces = split_text(reasoning["text"], script.text_chunks)
            deltas = [{"reasoningContent": {"text": piece}} for piece in pieces]
            deltas.append({"reasoningContent": {"signature": reasoning["signature"]}})
        elif "text" in block:
            deltas = [{"text": piece} for piece in split_text(block["text"], script.text_chunks)]
        else:
            tool = block["toolUse"]
            start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
            events.append(("contentBlockStart", {"start": start, "contentBlockIndex": index}))
            pieces = split_fragments(orjson.dumps(tool["input"]).decode())
            deltas = [{"toolUse": {"input": piece}} for piece in pieces]
        events.extend(("contentBlockDelta", {"delta": delta, "contentBlockIndex": index}) for delta in deltas)
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    events.append(("messageStop", {"stopReason": reply["stopReason"]}))
    events.append(("metadata", {"usage": reply["usage"], "metrics": {"latencyMs": latency}}))
    return events


async def _converse(request: web.Request, script: Script, *, stream: bool) -> web.StreamResponse:
    started = time.monotonic()
    payload = await read_json_object(request, _MALFORMED.format("#: expected type: JSONObject"))
    _check_converse(payload)
    reply = _converse_reply(payload, script)
    if not stream:
        body = {**reply, "metrics": {"latencyMs": _latency_ms(started)}}
        return json_response(body, status=script.status or 200, headers={"x-amzn-RequestId": _request_id()})
    events = _converse_events(reply, script, _latency_ms(started))
    frames = [eventstream.event(name, {**body, "p": _padding(i)}) for i, (name, body) in enumerate(events)]
    return await _send_stream(request, script, frames)


@model_endpoint(error_response, front_door=_front_door)
async def converse(request: web.Request, script: Script) -> web.StreamResponse:
    return await _converse(request, script, stream=False)


@model_endpoint(error_response, front_door=_front_door)
async def converse_stream(request: web.Request, script: Script) -> web.StreamResponse:
    return await _converse(request, script, stream=True)


# -- CountTokens ----------------------------------------------------------------------------------------


@model_endpoint(error_response, front_door=_front_door)
async def count_tokens(request: web.Request, script: Script) -> web.StreamResponse:
    payload = await read_json_object(request, _MALFORMED.format("#: expected type: JSONObject"))
    member = _union_member(payload.get("input"), ("invokeModel", "converse"), "input")
    value = payload["input"][member]
    if member == "converse":
        if not isinstance(value, dict):
            raise _validation("input.converse", "Member must be a structure")
        _check_converse(value)
        tokens = converse_input_tokens(value)
    else:
        if not _is_anthropic(request.match_info["model_id"]):
            raise Rejection(400, "The fake Bedrock counts InvokeModel bodies for Anthropic models only.")
        try:
            body = orjson.loads(base64.b64decode(value["body"], validate=True))
        except (KeyError, TypeError, ValueError):
            raise _validation(
                "input.invokeModel.body", "Member must be a base64-encoded JSON document"
            ) from None
        if not isinstance(body, dict):
            raise Rejection(400, _MALFORMED.format("#: expected type: JSONObject"))
        _check_invoke_body(body, _settings(request).anthropic_versions)
        tokens = anthropic_wire.input_tokens_estimate(body)
    return json_response(
        {"inputTokens": tokens}, status=script.status or 200, headers={"x-amzn-RequestId": _request_id()}
    )


def routes() -> list[web.RouteDef]:
    # ``.+`` so inference-profile ARNs (``.../inference-profile/us.anthropic...``, %2F on the wire) match.
    return [
        web.post("/model/{model_id:.+}/invoke", invoke),
        web.post("/model/{model_id:.+}/invoke-with-response-stream", invoke_stream),
        web.post("/model/{model_id:.+}/converse", converse),
        web.post("/model/{model_id:.+}/converse-stream", converse_stream),
        web.post("/model/{model_id:.+}/count-tokens", count_tokens),
    ]


WIRE = Wire(kind=KIND, base_path="", routes=routes, error=error_response, settings=BedrockSettings)
