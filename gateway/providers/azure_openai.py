"""Azure OpenAI: OpenAI Chat Completions at {base_url}/openai/deployments/{deployment}/chat/completions.

The URL names the deployment and carries `?api-version=`; the key travels in `api-key`, not
Authorization. Bodies, streams, usage and errors are OpenAI's (Azure ignores the body's `model`).
"""

from __future__ import annotations

from urllib.parse import quote

from gateway.providers.openai import read_usage as read_usage  # usage is OpenAI's
from gateway.table import Format, Provider

FORMAT = Format.OPENAI
PATHS = {"chat": "/chat/completions"}  # below /openai/deployments/<deployment>
DISPLAY = "Azure OpenAI"
CLIENT_KEY_HINT = "the api-key header (or Authorization: Bearer)"


def auth_headers(secret: str) -> list[tuple[bytes, bytes]]:
    return [(b"api-key", secret.encode())]


def client_auth_headers(header: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    """Whichever header the client's own key came in, Azure wants it as api-key."""
    return [(b"api-key", value)]


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
