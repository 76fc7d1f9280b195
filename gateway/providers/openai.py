"""OpenAI Chat Completions, and any OpenAI-compatible server: {base_url}/chat/completions; OpenAI's
Responses API at {base_url}/responses where the server serves it (setting `responses`, default true)."""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import Any

from gateway.core.formats import Format
from gateway.core.usage import Usage, as_int
from gateway.providers.base import ProviderType
from gateway.routing.table import Provider
from gateway.translate.server_tools import openai_search_model

# OpenAI's models that the Responses API alone serves (its docs and the SDK's ResponsesModel list), dated
# snapshots included: the default of a provider's `responses_models` (globs). A call to one of them speaks
# `Format.RESPONSES` upstream, so a Chat Completions or Anthropic client's call is translated to
# {base_url}/responses (`translate/responses/`).
RESPONSES_ONLY_MODELS = (
    "o1-pro*",
    "o3-pro*",
    "o3-deep-research*",
    "o4-mini-deep-research*",
    "codex-mini-latest",
    "gpt-5-codex*",
    "gpt-5.*-codex*",
    "gpt-5-pro*",
    "gpt-5.*-pro*",
    "computer-use-preview*",
)


@lru_cache(maxsize=64)
def _globs(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for a provider's globs (compiled once per distinct list); None: an empty list."""
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))


def responses_only(provider: Provider, model: str) -> bool:
    """Whether `model` on `provider` is served only by the Responses API."""
    globs = provider.settings.responses_models
    pattern = _globs(RESPONSES_ONLY_MODELS if globs is None else globs)
    return pattern is not None and pattern.match(model) is not None


def read_usage(usage: Usage, obj: dict[str, Any]) -> None:
    """From a chat.completion or the final usage chunk; prompt_tokens includes cached tokens. Also from
    a Responses API answer (a Response, or a stream's response.completed / incomplete / failed event)."""
    u = obj.get("usage")
    if not isinstance(u, dict):
        inner = obj.get("response")  # a Responses stream event carries the Response object
        if isinstance(inner, dict) and isinstance(inner.get("usage"), dict):
            _read_responses_usage(usage, inner["usage"])
            _count_searches(usage, inner.get("output"))
        return
    if "input_tokens" in u and "prompt_tokens" not in u:
        _read_responses_usage(usage, u)
        _count_searches(usage, obj.get("output"))
        return
    model = obj.get("model")
    if isinstance(model, str) and openai_search_model(model):
        # A Chat search model searches once per call and reports no count: that call is billed.
        usage.web_search_requests = 1
    prompt = as_int(u.get("prompt_tokens"))
    details = u.get("prompt_tokens_details") or {}
    cached = as_int(details.get("cached_tokens")) or 0
    written = as_int(details.get("cache_write_tokens")) or 0
    if prompt is not None:
        usage.input_tokens = max(prompt - cached - written, 0)
        usage.cache_read_tokens = cached
        usage.cache_write_tokens = written
    completion = as_int(u.get("completion_tokens"))
    if completion is not None:
        usage.output_tokens = completion
    elif prompt is not None and "total_tokens" in u:
        usage.output_tokens = 0  # an embeddings answer: input only


def _count_searches(usage: Usage, output: Any) -> None:
    """A Response's web_search_call items: each is a billed web search call."""
    if isinstance(output, list):
        usage.web_search_requests = sum(
            1 for item in output if isinstance(item, dict) and item.get("type") == "web_search_call"
        )


def _read_responses_usage(usage: Usage, u: dict[str, Any]) -> None:
    """The Responses API's usage: input_tokens includes the cached ones; output_tokens includes the
    reasoning tokens (billed as output), so it is the output count as it is."""
    prompt = as_int(u.get("input_tokens"))
    details = u.get("input_tokens_details")
    cached = (as_int(details.get("cached_tokens")) if isinstance(details, dict) else None) or 0
    if prompt is not None:
        usage.input_tokens = max(prompt - cached, 0)
        usage.cache_read_tokens = cached
        usage.cache_write_tokens = 0
    output = as_int(u.get("output_tokens"))
    if output is not None:
        usage.output_tokens = output


class OpenAIType(ProviderType):
    """OpenAI's API, and the base of every OpenAI-compatible type (Azure, the presets)."""

    name = "openai"
    format = Format.OPENAI
    display = "OpenAI"
    client_key_hint = "the Authorization: Bearer header"
    paths = {
        "chat": "/chat/completions",
        "responses": "/responses",
        "input_tokens": "/responses/input_tokens",
        "embeddings": "/embeddings",
    }
    default_base_url = "https://api.openai.com/v1"
    pricing_id: str | None = "openai"
    settings: tuple[str, ...] = ("responses", "responses_models")

    def serves(self, provider: Provider, client: Format) -> bool:
        # OpenAI serves the Responses API; an OpenAI-compatible server at `type: openai` (vLLM, SGLang,
        # a proxy) is assumed to as well unless its config says `responses: false`.
        if client is Format.RESPONSES:
            return provider.settings.responses is not False
        return client is Format.OPENAI

    def wire_format(self, provider: Provider, model: str) -> Format:
        return Format.RESPONSES if responses_only(provider, model) else self.format

    def read_usage(self, usage: Usage, obj: dict[str, Any]) -> None:
        read_usage(usage, obj)


TYPE = OpenAIType()
