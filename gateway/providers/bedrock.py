"""AWS Bedrock (bedrock-runtime): Claude through InvokeModel, other models through Converse.

The rest of the gateway sees an Anthropic Messages provider. For Claude (a model id naming
`anthropic.`, e.g. `anthropic.claude-sonnet-4-5-20250929-v1:0` or the inference profile
`us.anthropic.claude-...`) the body is Anthropic's without `model` and `stream`, plus
`anthropic_version: bedrock-2023-05-31` and the `anthropic-beta` header as `anthropic_beta`, as the
official `AnthropicBedrock` client sends it; the answer is Anthropic's, and a stream arrives in AWS
event-stream framing, decoded here (with botocore) back into Anthropic's SSE. Any other model goes
through Converse / ConverseStream, translated from and back to the Anthropic shape.

Auth: SigV4 (see `credentials.py`) with a stored key's access key or the AWS credential chain, or a
Bedrock API key as `Authorization: Bearer` (a stored key's `secret`, or the client's own key).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import orjson

from gateway.core.errors import NotJSON, render
from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.providers import anthropic
from gateway.providers.base import Call as ModelCall
from gateway.providers.base import NativeRead, Prepared, ProviderType
from gateway.routing.table import Provider
from gateway.translate import StreamFailure, StreamIncomplete, converse, shapes
from gateway.translate.sse import encode_anthropic
from gateway.translate.tokens import estimate_input_tokens

if TYPE_CHECKING:  # botocore is imported on first use (see credentials.py)
    from botocore.eventstream import EventStreamMessage

FORMAT = Format.ANTHROPIC
SERVICE = "bedrock"
VERSION = "bedrock-2023-05-31"
EVENT_STREAM = "application/vnd.amazon.eventstream"
JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"
# Keys of an Anthropic request that are not part of a Bedrock InvokeModel body.
_NOT_IN_BODY = frozenset({"model", "stream"})


def is_claude(model: str) -> bool:
    return "anthropic." in model or "claude" in model


def model_path(model: str) -> str:
    # As AnthropicBedrock quotes it: `:` stays (`...-v1:0`), `/` of an ARN is encoded.
    return "/model/" + quote(model, safe=":")


@dataclass(frozen=True, slots=True)
class Call:
    """A Bedrock call prepared from an Anthropic Messages body."""

    url: str
    body: bytes
    claude: bool  # InvokeModel with Anthropic's body; else Converse
    stream: bool
    count: bool  # CountTokens for that body, answered as Anthropic's {"input_tokens": N}
    estimate: int  # input tokens, for a Converse stream's message_start (it reports usage last)
    tool_names: dict[str, str] | None  # Converse's (shortened) tool name -> the client's


def request(provider: Provider, model: str, operation: str, body: bytes, betas: str | None) -> Call:
    """Raises Untranslatable for a Converse model that cannot take the request."""
    hub = orjson.loads(body)
    count = operation == "count_tokens"
    stream = hub.get("stream") is True and not count
    base = provider.base_url + model_path(model)
    if is_claude(model):
        out: dict[str, Any] = {k: v for k, v in hub.items() if k not in _NOT_IN_BODY}
        out.setdefault("anthropic_version", VERSION)
        if betas:
            out.setdefault("anthropic_beta", [b.strip() for b in betas.split(",") if b.strip()])
        if count:  # the body InvokeModel would get, which needs max_tokens
            out.setdefault("max_tokens", 1)
            wrapped = {"input": {"invokeModel": {"body": base64.b64encode(orjson.dumps(out)).decode()}}}
            return Call(f"{base}/count-tokens", orjson.dumps(wrapped), True, False, True, 0, None)
        action = "invoke-with-response-stream" if stream else "invoke"
        return Call(f"{base}/{action}", orjson.dumps(out), True, stream, False, 0, None)
    # Betas are Claude features: like every translation, a call to another model goes without them.
    shapes.check_request(Format.ANTHROPIC, hub, operation)
    converted = converse.bedrock_converse_body(hub, model)
    names = converse.converse_tool_names(hub)
    if count:
        return Call(
            f"{base}/count-tokens",
            orjson.dumps({"input": {"converse": converse.count_tokens_input(converted)}}),
            False,
            False,
            True,
            0,
            names,
        )
    estimate = estimate_input_tokens(hub) if stream else 0
    url = f"{base}/{'converse-stream' if stream else 'converse'}"
    return Call(url, orjson.dumps(converted), False, stream, False, estimate, names)


_NATIVE = re.compile(r"^/model/([^/]+)/(invoke|invoke-with-response-stream|converse|converse-stream)$")


def native_call(path: str) -> tuple[str, Call] | None:
    """A native call's model (from its URL, `/model/<id>/<action>`) and how to read its answer."""
    found = _NATIVE.match(path)
    if found is None:
        return None
    model, action = unquote(found.group(1)), found.group(2)
    claude = action.startswith("invoke")
    return model, Call("", b"", claude, action.endswith("stream"), False, 0, None)


class Decoder:
    """Bedrock's answer -> Anthropic's: errors into Anthropic's envelope, Converse into a Message, and
    event-stream frames into SSE events."""

    def __init__(self, model: str, request_id: str, call: Call) -> None:
        self.model = model
        self.request_id = request_id
        self.call = call
        self.streamer = (
            converse.ConverseStreamToAnthropic(model, call.estimate, call.tool_names)
            if call.stream and not call.claude
            else None
        )
        from botocore.eventstream import EventStreamBuffer

        self._buffer = EventStreamBuffer()
        self._stopped = False

    def content_type(self, streaming: bool) -> bytes:
        return SSE if streaming else JSON

    def body(self, status: int, headers: Mapping[str, str], data: bytes) -> bytes:
        if status >= 400:
            return error_body(status, headers, data, self.request_id)
        if self.call.claude and not self.call.count:
            return data  # Anthropic's own body: the relay reads it
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise NotJSON from None  # cut short
        if self.call.count:
            try:
                return orjson.dumps({"input_tokens": int(answer["inputTokens"])})
            except (KeyError, TypeError, ValueError):
                return render(
                    FORMAT, "api_error", "Bedrock's token count was not understood", self.request_id
                )
        return orjson.dumps(converse.converse_response_to_anthropic(answer, self.model, self.call.tool_names))

    def feed(self, chunk: bytes) -> bytes:
        from botocore.eventstream import ParserError

        self._buffer.add_data(chunk)
        out: list[bytes] = []
        try:
            for message in self._buffer:
                out.append(self._event(message))
        except ParserError:
            out.append(self._error("api_error", "Bedrock sent a malformed event-stream frame"))
        return b"".join(out)

    def close(self) -> bytes:
        if self._stopped:
            return b""
        if self.streamer is not None:
            try:
                return b"".join(encode_anthropic(e) for e in self.streamer.finish())
            except StreamIncomplete:
                pass
        # A stream cut before its last event must not look finished: the relay sees no message_stop
        # and reports the end as an error.
        return b""

    def _event(self, message: EventStreamMessage) -> bytes:
        headers = message.headers
        kind = headers.get(":message-type")
        if kind != "event":  # an exception (or error) frame: Bedrock's way to fail mid-stream
            name = str(
                headers.get(":exception-type") or headers.get(":error-code") or "InternalServerException"
            )
            text = converse.exception_message(message.payload) or name
            return self._error(converse.exception_kind(name), text)
        event_type = str(headers.get(":event-type", ""))
        try:
            payload = orjson.loads(message.payload) if message.payload else {}
        except orjson.JSONDecodeError:
            return self._error("api_error", "Bedrock sent a stream event that is not JSON")
        if self.streamer is not None:
            try:
                return b"".join(encode_anthropic(e) for e in self.streamer.feed(event_type, payload))
            except StreamFailure as exc:
                return self._error(exc.kind, exc.message)
        if event_type != "chunk":
            return b""
        try:
            raw = base64.b64decode(payload.get("bytes", ""), validate=True)
            event = orjson.loads(raw)
        except (binascii.Error, orjson.JSONDecodeError, TypeError):
            return self._error("api_error", "Bedrock sent a stream chunk that is not an Anthropic event")
        if not isinstance(event, dict):
            return b""
        # Anthropic's own JSON, byte for byte (Bedrock adds its invocation metrics to message_stop).
        return b"event: " + str(event.get("type", "")).encode() + b"\ndata: " + raw + b"\n\n"

    def _error(self, kind: str, message: str) -> bytes:
        self._stopped = True
        return encode_anthropic({"type": "error", "error": {"type": kind, "message": message}})


class ErrorDecoder:
    """InvokeModel of a model answering in its own JSON (embeddings): a 200 as it is, an error in
    Anthropic's envelope like every Bedrock error the rest of the gateway reads."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id

    def content_type(self, streaming: bool) -> bytes:
        return JSON

    def body(self, status: int, headers: Mapping[str, str], data: bytes) -> bytes:
        return error_body(status, headers, data, self.request_id) if status >= 400 else data

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def close(self) -> bytes:
        return b""


def error_body(status: int, headers: Mapping[str, str], data: bytes, request_id: str) -> bytes:
    """Bedrock's `{"message": ...}` with `x-amzn-ErrorType` -> Anthropic's error envelope."""
    name = headers.get("x-amzn-ErrorType") or headers.get("x-amzn-errortype") or ""
    kind = converse.exception_kind(name, status)
    text = converse.exception_message(data) or name.partition(":")[0] or f"Bedrock answered {status}"
    return render(FORMAT, kind, text, request_id)


class BedrockType(ProviderType):
    """An Anthropic Messages provider to the rest of the gateway: Claude through InvokeModel, other
    models through Converse, both signed with SigV4 (a stored `secret` is a Bedrock API key, sent as
    Bearer; access keys are signed with, not sent)."""

    name = "bedrock"
    format = FORMAT
    display = "AWS Bedrock"
    client_key_hint = "Authorization: Bearer (a Bedrock API key)"
    paths = {"messages": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}  # URLs per model
    default_base_url = "https://bedrock-runtime.{region}.amazonaws.com"
    pricing_id = "aws"
    tracing_system = "aws.bedrock"
    extra = "aws"
    settings = ("region",)
    key_fields = ("access_key_id", "secret_access_key", "session_token")

    def prepare(self, provider: Provider, call: ModelCall) -> Prepared:
        """Raises Untranslatable for a Converse model that cannot take the request."""
        if call.operation == "embeddings":  # Titan or Cohere's own body, already built: InvokeModel
            url = provider.base_url + model_path(call.model) + "/invoke"
            return Prepared(url, call.body, ErrorDecoder(call.request_id), json_body=True)
        prepared = request(provider, call.model, call.operation, call.body, call.betas)
        decoder = Decoder(call.model, call.request_id, prepared)
        return Prepared(prepared.url, prepared.body, decoder, json_body=True)

    def native(self, path: str) -> NativeRead | None:
        found = native_call(path)
        if found is None:
            return None
        model, call = found
        return NativeRead(model, FORMAT, lambda request_id: Decoder(model, request_id, call))

    def minted(self, provider: Provider) -> bool:
        return True

    def read_usage(self, usage: Usage, obj: dict[str, Any]) -> None:
        anthropic.read_usage(usage, obj)  # Claude's usage, or Converse's translated


TYPE = BedrockType()
