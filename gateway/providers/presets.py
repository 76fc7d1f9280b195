"""OpenAI-compatible presets: data for one provider type each, the OpenAI type with a default
base_url, whether a key is needed, and the request fields its API rejects.

Read by the compiler (default base_url, wire format) and the data plane (fields dropped before the
request goes upstream, the no-key rule for local servers). Only documented rejections are listed:

- groq: https://console.groq.com/docs/openai ("Currently Unsupported OpenAI Features": `logprobs`,
  `logit_bias`, `top_logprobs` and `messages[].name` "will result in a 400 error"; "If N is supplied,
  it must be equal to 1").

Other presets drop nothing: no rejection is documented in the project's reference material.

`responses`: the servers whose documentation says they serve OpenAI's Responses API at
{base_url}/responses, so a Responses client is forwarded to them byte-exact: groq
(console.groq.com/docs/responses-api, beta, stateless), xai (docs.x.ai: "the preferred way"), fireworks
(docs.fireworks.ai/guides/response-api), openrouter (its SDKs' `responses.send`), ollama (v0.13.3+,
stateless), vllm and lmstudio (their OpenAI-compatible servers). The others (mistral, deepseek,
together, cerebras, llamacpp) document none: a Responses client's calls to them are translated.

workers-ai: Cloudflare Workers AI's OpenAI-compatible endpoints (developers.cloudflare.com/workers-ai/
configuration/open-ai-compatibility: /chat/completions and /embeddings under
https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1, an API token as Bearer). Its URL names
the account, so `account_id` is required and `base_url` is Cloudflare's API root. Model names keep
Cloudflare's spelling (`@cf/meta/llama-3.3-70b-instruct-fp8-fast`). Prices: genai-prices' `cloudflare`
provider, which carries the per-model token prices of developers.cloudflare.com/workers-ai/platform/
pricing/ (billed in neurons at $0.011 per 1,000; e.g. llama-3.3-70b-instruct-fp8-fast $0.293 / $2.253
per M input / output tokens); a model it lacks is unpriced. No Responses API is documented for these
models: Responses clients are translated.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from gateway.core.formats import Format
from gateway.providers.openai import OpenAIType
from gateway.routing.table import Provider

log = logging.getLogger("gateway.presets")


CLOUDFLARE_API = "https://api.cloudflare.com/client/v4"


@dataclass(frozen=True, slots=True)
class Preset:
    base_url: str
    needs_key: bool  # False: a local server; without a key the request goes without Authorization
    unsupported: tuple[str, ...] = ()  # top-level request fields the API rejects
    n_must_be_one: bool = False  # `n` other than 1 is rejected
    message_name: bool = True  # False: `messages[].name` is rejected
    responses: bool = False  # the server serves OpenAI's Responses API at {base_url}/responses


PRESETS: dict[str, Preset] = {
    "groq": Preset(
        "https://api.groq.com/openai/v1",
        True,
        unsupported=("logprobs", "logit_bias", "top_logprobs"),
        n_must_be_one=True,
        message_name=False,
        responses=True,
    ),
    "mistral": Preset("https://api.mistral.ai/v1", True),
    "deepseek": Preset("https://api.deepseek.com/v1", True),
    "xai": Preset("https://api.x.ai/v1", True, responses=True),
    "together": Preset("https://api.together.xyz/v1", True),
    "fireworks": Preset("https://api.fireworks.ai/inference/v1", True, responses=True),
    "openrouter": Preset("https://openrouter.ai/api/v1", True, responses=True),
    "cerebras": Preset("https://api.cerebras.ai/v1", True),
    "ollama": Preset("http://127.0.0.1:11434/v1", False, responses=True),
    "vllm": Preset("http://127.0.0.1:8000/v1", False, responses=True),
    "lmstudio": Preset("http://127.0.0.1:1234/v1", False, responses=True),
    "llamacpp": Preset("http://127.0.0.1:8080/v1", False),
    # The API root: WorkersAIType adds the account's path.
    "workers-ai": Preset(CLOUDFLARE_API, True),
}


def _has_quirks(preset: Preset) -> bool:
    return bool(preset.unsupported) or preset.n_must_be_one or not preset.message_name


# genai-prices' provider id per hosted preset (local servers have no prices).
_PRICING_IDS = {"xai": "x-ai", "workers-ai": "cloudflare"}


class PresetType(OpenAIType):
    """An OpenAI-compatible service or local server: OpenAI's type with its preset's facts."""

    settings: tuple[str, ...] = ()

    def __init__(self, name: str, preset: Preset) -> None:
        self.name = name
        self.preset = preset
        self.quirks = _has_quirks(preset)
        self.default_base_url = preset.base_url
        self.needs_key = preset.needs_key
        self.pricing_id = _PRICING_IDS.get(name, name) if preset.needs_key else None

    def serves(self, provider: Provider, client: Format) -> bool:
        return client is Format.OPENAI or (client is Format.RESPONSES and self.preset.responses)

    def unsupported_in(self, obj: Mapping[str, Any]) -> list[str]:
        """The fields of an OpenAI chat request that this API rejects (empty: send it as is)."""
        if not self.quirks:
            return []
        preset = self.preset
        found = [name for name in preset.unsupported if name in obj]
        if preset.n_must_be_one and "n" in obj and obj["n"] != 1:
            found.append("n")
        messages = obj.get("messages")
        if (
            not preset.message_name
            and isinstance(messages, list)
            and any(isinstance(m, dict) and "name" in m for m in messages)
        ):
            found.append("messages[].name")
        return found

    def drop_unsupported(self, obj: dict[str, Any]) -> dict[str, Any]:
        """`obj` without the fields this API rejects; `obj` itself when there are none."""
        found = self.unsupported_in(obj)
        if not found:
            return obj
        log.debug("dropped request fields unsupported by %s: %s", self.name, ", ".join(found))
        cleaned = {k: v for k, v in obj.items() if k not in found}
        if "messages[].name" in found:
            cleaned["messages"] = [
                {k: v for k, v in m.items() if k != "name"} if isinstance(m, dict) else m
                for m in obj["messages"]
            ]
        return cleaned

    def clean(self, body: bytes, obj: Mapping[str, Any] | None = None) -> bytes:
        """A serialized request without the fields this API rejects; `body` itself when none (`obj`,
        the request already parsed, spares a parse when nothing is to go)."""
        if not self.quirks or (obj is not None and not self.unsupported_in(obj)):
            return body
        parsed = orjson.loads(body)
        if not isinstance(parsed, dict):
            return body
        cleaned = self.drop_unsupported(parsed)
        return body if cleaned is parsed else orjson.dumps(cleaned)

    def wire_format(self, provider: Provider, model: str) -> Format:
        # OpenAI's Responses-only models are OpenAI's (and Azure's): a preset serves Chat Completions.
        return self.format


class WorkersAIType(PresetType):
    """Workers AI: the preset whose URL names an account."""

    settings = ("account_id",)

    def base_url(self, spec: Mapping[str, Any]) -> str:
        root = str(spec.get("base_url") or self.default_base_url).rstrip("/")
        return f"{root}/accounts/{quote(str(spec.get('account_id', '')), safe='')}/ai/v1"

    def check(self, spec: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
        if not spec.get("account_id"):  # the schema says so too
            return [(("account_id",), "'account_id' is required for a workers-ai provider")]
        return []


TYPES = {
    name: (WorkersAIType if name == "workers-ai" else PresetType)(name, preset)
    for name, preset in PRESETS.items()
}
