"""Azure OpenAI: OpenAI Chat Completions at {base_url}/openai/deployments/{deployment}/chat/completions.

The URL names the deployment and carries `?api-version=`; the key travels in `api-key`, not
Authorization, unless the provider has `auth: entra-id`: then a Microsoft Entra ID token from the
gateway's Azure identity goes as `Authorization: Bearer` (`credentials.py`). A client's own Entra ID
token (a JWT) is passed as a bearer token too. Bodies, streams, usage and errors are OpenAI's (Azure
ignores the body's `model`).

The Responses API is served by Azure's v1 API at {base_url}/openai/v1/responses, with no api-version and
no deployment in the URL: the body's `model` names the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from gateway.core.formats import Format
from gateway.providers.base import Call, Headers, Prepared
from gateway.providers.openai import OpenAIType
from gateway.routing.table import Provider

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
# The Responses API's calls: create, input_tokens, and the id endpoints (`response_id`).
RESPONSES_OPERATIONS = frozenset({"responses", "input_tokens", "response_id"})


def entra_id(provider: Provider) -> bool:
    return provider.settings.auth == "entra-id"


def deployment(provider: Provider, model: str) -> str:
    """`deployments[model]`, else the model name itself (deployments are often named after models)."""
    return provider.settings.deployments.get(model) or model


class AzureOpenAIType(OpenAIType):
    name = "azure-openai"
    display = "Azure OpenAI"
    client_key_hint = "the api-key header (or Authorization: Bearer)"
    default_base_url = ""  # each resource has its own
    pricing_id = "azure"
    tracing_system = "az.ai.openai"
    extra = "azure"  # azure-identity, for auth: entra-id only
    settings = ("api_version", "deployments", "auth", "responses_models")

    def check(self, spec: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
        if not spec.get("api_version"):  # the schema says so too
            return [(("api_version",), "'api_version' is required for an azure-openai provider")]
        return []

    def serves(self, provider: Provider, client: Format) -> bool:
        return client is Format.OPENAI or client is Format.RESPONSES

    def body_model(self, provider: Provider, model: str, operation: str) -> str:
        return deployment(provider, model) if operation in RESPONSES_OPERATIONS else model

    def prepare(self, provider: Provider, call: Call) -> Prepared:
        """The URL names the deployment and the api-version; the client's query is not kept.
        Responses API calls go to the v1 API, which names the deployment in the body instead."""
        if call.operation in RESPONSES_OPERATIONS:
            query = "?" + call.query if call.query and call.operation == "response_id" else ""
            return Prepared(f"{provider.base_url}/openai/v1{call.path}{query}", call.body)
        if call.path.startswith("/responses"):
            # A translated call (the client's operation is chat or messages): its body names the model.
            name = deployment(provider, call.model)
            body = (
                call.body if name == call.model else orjson.dumps({**orjson.loads(call.body), "model": name})
            )
            return Prepared(f"{provider.base_url}/openai/v1{call.path}", body)
        version = provider.settings.api_version
        url = (
            f"{provider.base_url}/openai/deployments/{quote(deployment(provider, call.model), safe='')}"
            f"{self.paths.get(call.operation, self.paths['chat'])}?api-version={quote(version, safe='')}"
        )
        return Prepared(url, call.body)

    def auth_headers(self, secret: str) -> Headers:
        return [(b"api-key", secret.encode())]

    def client_auth_headers(self, header: bytes, value: bytes) -> Headers:
        """An Entra ID token (a JWT) stays a bearer token; a key, whichever header it came in, is api-key."""
        if value.startswith(b"eyJ") and value.count(b".") == 2:
            return [(b"authorization", b"Bearer " + value)]
        return [(b"api-key", value)]

    def minted(self, provider: Provider) -> bool:
        return entra_id(provider)

    def extra_needed(self, provider: Provider) -> tuple[str, str] | None:
        return ("azure", "auth: entra-id") if entra_id(provider) else None


TYPE = AzureOpenAIType()
