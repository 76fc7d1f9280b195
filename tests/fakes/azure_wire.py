"""Azure OpenAI wire format: OpenAI Chat Completions at /openai/deployments/{deployment}/chat/completions.

Checked as Azure checks them: the `api-version` query (missing: 404 "Resource not found"; unknown:
400), the `api-key` header, or instead a Microsoft Entra ID token as `Authorization: Bearer` that this
fake issued (401 without either, or with a token it did not issue or that expired), and the deployment
(404 DeploymentNotFound). Then it answers exactly as the OpenAI fake does.

The Responses API too, where Azure serves it: `POST /openai/v1/responses` (the v1 API: no api-version)
and `POST /openai/responses?api-version=...` (the preview API), the deployment named by the body's
`model`; the id endpoints and input_tokens under /openai/v1/responses; answered as the OpenAI fake's
responses_wire does.

Entra ID tokens come from `GET /msi/token`, the App Service managed identity endpoint azure-identity
calls when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set (header `X-IDENTITY-HEADER`,
`?api-version=2019-08-01&resource=https://cognitiveservices.azure.com`); see `AzureSettings`.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time

import orjson
from aiohttp import web

from . import embeddings as embedding_fakes
from . import files_wire, openai_wire, responses_wire
from .common import Rejection, Wire, json_response, model_endpoint, new_id
from .script import Script
from .state import STATE_KEY

KIND = "azure"
API_VERSIONS = frozenset(
    {"2024-06-01", "2024-10-21", "2025-01-01-preview", "2025-03-01-preview", "2025-04-01-preview"}
)
# Deployments the fake resource has; anything else is DeploymentNotFound.
DEPLOYMENTS = frozenset({"my-gpt-deployment", "gpt-5", "gpt-5-mini", "gpt-4o", "text-embedding-3-small"})
_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_MESSAGES = {
    401: ("401", _DENIED),
    404: ("404", "Resource not found"),
    429: (
        "429",
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
        "exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second.",
    ),
}


IDENTITY_PATH = "/msi/token"
IDENTITY_HEADER = "fake-identity-header-secret"
ENTRA_RESOURCE = "https://cognitiveservices.azure.com"
_ENTRA_DENIED = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)


class AzureSettings:
    """Per-test state of the fake managed identity: the tokens it issued, and their lifetime."""

    def __init__(self) -> None:
        self.token_lifetime = 3600  # seconds
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry (Unix time)
        self._token_requests = 0

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    def issue(self) -> tuple[str, float]:
        claims = {
            "aud": ENTRA_RESOURCE,
            "iss": "https://sts.windows.net/fake-tenant/",
            "nonce": secrets.token_hex(8),
        }
        payload = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
        token = f"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{payload}.{secrets.token_urlsafe(16)}"
        expires = time.time() + self.token_lifetime
        with self._lock:
            self._token_requests += 1
            self._tokens[token] = expires
        return token, expires

    def valid(self, token: str) -> bool:
        with self._lock:
            return self._tokens.get(token, 0.0) > time.time()


def _settings(request: web.Request) -> AzureSettings:
    settings = request.app[STATE_KEY].settings
    assert isinstance(settings, AzureSettings)
    return settings


async def identity_token(request: web.Request) -> web.Response:
    """App Service's managed identity endpoint (api-version 2019-08-01)."""
    if request.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
        return json_response({"statusCode": 401, "message": "Unauthorized"}, status=401)
    if request.query.get("resource", "").rstrip("/") != ENTRA_RESOURCE:
        return json_response({"statusCode": 400, "message": "Invalid resource"}, status=400)
    settings = _settings(request)
    token, expires = settings.issue()
    return json_response(
        {
            "access_token": token,
            "expires_on": str(int(expires)),
            "resource": ENTRA_RESOURCE,
            "token_type": "Bearer",
            "client_id": "00000000-0000-0000-0000-fakeidentity",
        }
    )


def error_response(rejection: Rejection) -> web.Response:
    """Azure's own envelope ({code, message}) for its front-door errors (401, 404, 429, a bad
    api-version); the model's own validation errors are OpenAI's."""
    status = rejection.status
    if status not in _AZURE_MESSAGES and rejection.code != "BadRequest":
        return openai_wire.error_response(rejection)
    code, message = _AZURE_MESSAGES.get(status, (str(status), "Bad request"))
    error = {"code": rejection.code or code, "message": rejection.message or message}
    headers = {"apim-request-id": new_id("apim-fake-")}
    if status == 429:
        headers["retry-after"] = "1"
    return json_response({"error": error}, status=status, headers=headers)


def _check_front_door(request: web.Request) -> None:
    _check_version_and_key(request, versioned=True)
    _check_deployment(request.match_info["deployment"])


def _check_version_and_key(request: web.Request, *, versioned: bool) -> None:
    version = request.query.get("api-version")
    if versioned and not version:
        raise Rejection(404, "Resource not found", code="404")
    if version is not None and version not in API_VERSIONS:
        raise Rejection(400, "API version not supported", code="BadRequest")
    _check_key(request)


def _check_key(request: web.Request) -> None:
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer ") and not request.headers.get("api-key"):
        if not _settings(request).valid(bearer[7:].strip()):
            raise Rejection(401, _ENTRA_DENIED, code="401")
    elif not request.headers.get("api-key", "").strip():
        raise Rejection(401, _DENIED, code="401")


def _check_deployment(deployment: str) -> None:
    if deployment not in DEPLOYMENTS:
        raise Rejection(
            404,
            "The API deployment for this resource does not exist. If you created the deployment within "
            "the last 5 minutes, please wait a moment and try again.",
            code="DeploymentNotFound",
        )


@model_endpoint(error_response)
async def chat_completions(request: web.Request, script: Script) -> web.StreamResponse:
    _check_front_door(request)
    return await openai_wire.answer(request, script, await openai_wire.read_payload(request))


@model_endpoint(error_response)
async def responses(request: web.Request, script: Script) -> web.StreamResponse:
    # The v1 API takes no api-version; the preview path needs one.
    _check_version_and_key(request, versioned=not request.path.startswith("/openai/v1/"))
    payload = await responses_wire.read_payload(request)
    _check_deployment(payload["model"])
    return await responses_wire.answer(request, script, payload)


@model_endpoint(error_response)
async def embeddings(request: web.Request, script: Script) -> web.StreamResponse:
    _check_front_door(request)
    payload = await openai_wire.read_embedding_payload(request)
    # Azure serves the deployment's model whatever the body names.
    return embedding_fakes.openai_answer(payload, request.match_info["deployment"])


def _responses_auth(request: web.Request) -> None:
    _check_version_and_key(request, versioned=False)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/openai/v1/responses", responses),
        web.post("/openai/responses", responses),
        *responses_wire.routes("/openai/v1", _responses_auth, create_route=False),
        web.post("/openai/deployments/{deployment}/chat/completions", chat_completions),
        web.post("/openai/deployments/{deployment}/embeddings", embeddings),
        web.get(IDENTITY_PATH, identity_token),
        *files_wire.azure_routes(_responses_auth, error_response),
    ]


WIRE = Wire(kind=KIND, base_path="", routes=routes, error=error_response, settings=AzureSettings)
