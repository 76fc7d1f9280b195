"""Relays of translated calls: a provider's answer (whole or streamed) back in the client's format,
usage read on the side, errors in the client's envelope; the headers a translated call sends."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.errors import NotJSON, render
from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.providers import anthropic as anthropic_adapter
from gateway.routing.table import Provider
from gateway.translate import StreamFailure, gemini, openai_chat, responses
from gateway.translate.pipeline import ANTHROPIC_VERSION, JSON, SSE, Translated
from gateway.translate.sse import (
    OPENAI_DONE,
    SSEDecoder,
    encode_anthropic,
    encode_openai,
    encode_responses,
    stream_error,
)
from gateway.translate.tokens import estimate_input_tokens


class TranslationRelay:
    """Provider answer -> hub -> client answer, for plain responses, streams and errors."""

    def __init__(
        self,
        client: Format,
        provider: Format,
        client_model: str,
        request_id: str,
        translated: Translated,
        include_usage: bool,
    ) -> None:
        self.client = client
        self.provider = provider
        self.client_model = client_model
        self.request_id = request_id
        self.translated = translated
        self.include_usage = include_usage
        # A Responses client: the id the gateway gives its answer, the request the answer echoes (its
        # history already expanded by the data plane), its tools' names, and the final Response object
        # once answered (whole answers here, streams on their TranslatedStream).
        self.response_id = responses.new_response_id()
        self.client_request: dict[str, Any] = translated.client_request or {}
        self.final_response: dict[str, Any] | None = None
        self._names: responses.ToolNames | None = None

    @property
    def names(self) -> responses.ToolNames:
        if self._names is None:
            self._names = responses.ToolNames.of(self.client_request)
        return self._names

    def content_type(self, streaming: bool) -> bytes | None:
        return SSE if streaming else JSON

    def response(self, status: int, data: bytes, usage: Usage) -> bytes:
        if status >= 400:
            return self._error(status, data)
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise NotJSON from None  # cut short: a 502 in the client's envelope, not a 200
        if self.provider is Format.OPENAI:
            hub = openai_chat.openai_response_to_anthropic(
                answer, self.client_model, self.translated.tool_names, searched=self.translated.searched
            )
        elif self.provider is Format.GEMINI:
            hub = gemini.gemini_response_to_anthropic(answer, self.client_model, self.translated.tool_names)
        elif self.provider is Format.RESPONSES:
            hub = responses.responses_response_to_anthropic(
                answer, self.client_model, self.translated.tool_names
            )
        else:
            hub = {**answer, "model": self.client_model}
        anthropic_adapter.read_usage(usage, hub)
        if self.client is Format.OPENAI:
            return orjson.dumps(openai_chat.anthropic_response_to_openai(hub, self.client_model))
        if self.client is Format.RESPONSES:
            self.final_response = responses.anthropic_response_to_responses(
                hub,
                self.client_request,
                self.response_id,
                self.client_model,
                self.names,
                family=self.provider.value,
            )
            return orjson.dumps(self.final_response)
        return orjson.dumps(hub)

    def _error(self, status: int, data: bytes) -> bytes:
        if self.provider is Format.OPENAI or self.provider is Format.RESPONSES:  # one error envelope
            hub = openai_chat.openai_error_to_anthropic(status, data)
        elif self.provider is Format.GEMINI:
            hub = gemini.gemini_error_to_anthropic(status, data)
        else:
            hub = data
        if self.client is Format.OPENAI or self.client is Format.RESPONSES:  # one envelope for both
            return openai_chat.anthropic_error_to_openai(status, hub)
        return hub

    def stream(self) -> TranslatedStream:
        return TranslatedStream(self)


class TranslatedStream:
    """Decodes the provider's SSE, converts each event to the hub and then to the client's dialect."""

    def __init__(self, relay: TranslationRelay) -> None:
        self.relay = relay
        self.usage = Usage()
        self.error: str | None = None
        self._decoder = SSEDecoder()
        self._unsent = b""  # output of a chunk that failed part way, sent with the error event
        estimate = estimate_input_tokens(relay.translated.hub)
        self._to_hub: (
            openai_chat.OpenAIStreamToAnthropic
            | gemini.GeminiStreamToAnthropic
            | responses.ResponsesStreamToAnthropic
            | None
        )
        if relay.provider is Format.OPENAI:
            self._to_hub = openai_chat.OpenAIStreamToAnthropic(
                relay.client_model, estimate, relay.translated.tool_names, searched=relay.translated.searched
            )
        elif relay.provider is Format.GEMINI:
            self._to_hub = gemini.GeminiStreamToAnthropic(
                relay.client_model, estimate, relay.translated.tool_names
            )
        elif relay.provider is Format.RESPONSES:
            self._to_hub = responses.ResponsesStreamToAnthropic(
                relay.client_model, estimate, relay.translated.tool_names
            )
        else:
            self._to_hub = None
        self._to_client: openai_chat.AnthropicStreamToOpenAI | None = (
            openai_chat.AnthropicStreamToOpenAI(relay.client_model, relay.include_usage)
            if relay.client is Format.OPENAI
            else None
        )
        self._to_responses: responses.AnthropicStreamToResponses | None = (
            responses.AnthropicStreamToResponses(
                relay.client_request,
                relay.response_id,
                relay.client_model,
                relay.names,
                family=relay.provider.value,
            )
            if relay.client is Format.RESPONSES
            else None
        )

    @property
    def response(self) -> dict[str, Any] | None:
        """A Responses client's final Response object, once the stream ended (completed, incomplete or
        failed)."""
        return self._to_responses.response if self._to_responses is not None else None

    def feed(self, chunk: bytes) -> bytes:
        """Raises StreamFailure (the converters' one error type) when the stream cannot go on."""
        out: list[bytes] = []
        try:
            for event in self._decoder.feed(chunk):
                data = event.data.strip()
                if not data or data == "[DONE]":
                    continue
                try:
                    obj = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise StreamFailure("api_error", "the provider sent a malformed stream event") from None
                self._emit(self._hub_events(obj), out)
        except StreamFailure:
            # What this chunk's earlier events made is still the client's (a Responses stream's
            # `response.created` above all): it goes out before the error event.
            self._unsent = b"".join(out)
            raise
        return b"".join(out)

    def close(self) -> bytes:
        """Raises StreamFailure (StreamIncomplete when the provider's stream stopped short)."""
        out: list[bytes] = []
        if self._to_hub is not None:
            self._emit(self._to_hub.finish(), out)
        if self._to_client is not None:
            for c in self._to_client.finish():
                out.append(encode_openai(c))
            out.append(OPENAI_DONE)
        if self._to_responses is not None:
            out.extend(encode_responses(e) for e in self._to_responses.finish())
            self.relay.final_response = self._to_responses.response
        return b"".join(out)

    def error_event(self, kind: str, message: str) -> bytes:
        unsent, self._unsent = self._unsent, b""
        if self._to_responses is not None:
            # `response.failed` (the Response so far) then `error`, numbered after what was sent.
            events = self._to_responses.failed(kind, message)
            self.relay.final_response = self._to_responses.response
            return unsent + b"\n\n" + b"".join(encode_responses(e) for e in events)
        return unsent + stream_error(self.relay.client, kind, message, self.relay.request_id)

    def _hub_events(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        if self._to_hub is not None:
            return self._to_hub.feed(obj)
        if obj.get("type") == "error":  # an Anthropic upstream's own error event, for a non-Anthropic client
            err = obj.get("error") or {}
            raise StreamFailure(str(err.get("type", "api_error")), str(err.get("message", "upstream error")))
        if obj.get("type") == "message_start":
            obj["message"]["model"] = self.relay.client_model
        return [obj]

    def _emit(self, events: list[dict[str, Any]], out: list[bytes]) -> None:
        for event in events:
            anthropic_adapter.read_usage(self.usage, event)
            if self._to_client is not None:
                out.extend(encode_openai(c) for c in self._to_client.feed(event))
            elif self._to_responses is not None:
                out.extend(encode_responses(e) for e in self._to_responses.feed(event))
            else:
                out.append(encode_anthropic(event))


def upstream_headers(fmt: Format, provider: Provider, auth: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers for a translated call: the client's own headers belong to another API, so none are sent."""
    headers = {"content-type": "application/json"}
    if fmt is Format.ANTHROPIC:
        headers["anthropic-version"] = ANTHROPIC_VERSION
    headers.update(provider.headers)
    headers.update((k.decode("latin-1"), v.decode("latin-1")) for k, v in auth)
    return headers


class CountTokensRelay:
    """Gemini countTokens -> Anthropic's {"input_tokens": N}."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id

    def content_type(self, streaming: bool) -> bytes | None:
        return JSON

    def response(self, status: int, data: bytes, usage: Usage) -> bytes:
        if status >= 400:
            return gemini.gemini_error_to_anthropic(status, data)
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise NotJSON from None
        try:
            return orjson.dumps(gemini.count_tokens_response(answer))
        except (TypeError, KeyError):
            return render(
                Format.ANTHROPIC,
                "api_error",
                "the provider's token count was not understood",
                self.request_id,
            )

    def stream(self) -> TranslatedStream:
        raise StreamFailure("api_error", "countTokens does not stream")
