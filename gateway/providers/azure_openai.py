"""Azure OpenAI: OpenAI Chat Completions at {base_url}/openai/deployments/{deployment}/chat/completions.

The URL names the deployment and carries `?api-version=`; the key travels in `api-key`, not
Authorization, unless the provider has `auth: entra-id`: then a Microsoft Entra ID token from the
gateway's Azure identity goes as `Authorization: Bearer` (`credentials.py`). A client's own Entra ID
token (a JWT) is passed as a bearer token too. Bodies, streams, usage and errors are OpenAI's (Azure
ignores the body's `model`).
"""

from __future__ import annotations

from urllib.parse import quote

from gateway.core.formats import Format
from gateway.providers.openai import read_usage as read_usage  # usage is OpenAI's
from gateway.routing.table import Provider

FORMAT = Format.OPENAI
PATHS = {"chat": "/chat/completions"}  # below /openai/deployments/<deployment>
DISPLAY = "Azure OpenAI"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
CLIENT_KEY_HINT = "the api-key header (or Authorization: Bearer)"


def auth_headers(secret: str) -> list[tuple[bytes, bytes]]:
    return [(b"api-key", secret.encode())]


def client_auth_headers(header: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    """An Entra ID token (a JWT) stays a bearer token; a key, whichever header it came in, is api-key."""
    if value.startswith(b"eyJ") and value.count(b".") == 2:
        return [(b"authorization", b"Bearer " + value)]
    return [(b"api-key", value)]


def entra_id(provider: Provider) -> bool:
    return provider.options.get("auth") == "entra-id"


def deployment(provider: Provider, model: str) -> str:
    """`deployments[model]`, else the model name itself (deployments are often named after models)."""
    deployments = provider.options.get("deployments") or {}
    name = deployments.get(model)
    return name if isinstance(name, str) and name else model


def chat_url(provider: Provider, model: str) -> str:
    version = str(provider.options.get("api_version", ""))
    return (
        f"{provider.base_url}/openai/deployments/{quote(deployment(provider, model), safe='')}"
        f"{PATHS['chat']}?api-version={quote(version, safe='')}"
    )
