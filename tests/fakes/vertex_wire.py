"""Google Vertex AI wire format: an OAuth token endpoint plus the Anthropic and Gemini publisher models.

- ``POST /token``: the JWT-bearer grant google-auth's service-account credentials make at the key
  file's ``token_uri`` (make key files with ``tests.fakes.gcp.make_service_account``).
- ``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict`` and
  ``:streamRawPredict``: Anthropic Messages bodies (``anthropic_version`` required, no ``model``),
  answered as the Anthropic fake answers; ``.../models/count-tokens:rawPredict`` counts tokens.
- ``.../publishers/google/models/{model}:generateContent``, ``:streamGenerateContent`` (``?alt=sse``)
  and ``:countTokens``: answered as the Gemini fake answers.

Every model call needs ``Authorization: Bearer`` with a token this fake issued and that has not
expired, for the configured project and region (``VertexSettings``, ``fake.settings``; ``reset()``
restores the defaults). A request refused at the front door consumes no script. Platform errors use
Google's envelope (a one-element JSON array on streaming methods); Claude's own errors use Anthropic's.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from . import anthropic_wire, gcp, gemini_wire
from . import embeddings as embedding_fakes
from .common import (
    Handler,
    Rejection,
    Wire,
    json_response,
    model_endpoint,
    new_id,
    plain_endpoint,
    read_json_object,
)
from .script import Script
from .state import STATE_KEY

KIND = "vertex"
DEFAULT_PROJECT = "test-project"
DEFAULT_REGION = "us-east5"
DEFAULT_TOKEN_LIFETIME = 3600
TOKEN_PATH = "/token"
# What Vertex documents for the Messages body...
ANTHROPIC_VERSION = "vertex-2023-10-16"
# ...and what the installed anthropic SDK (2.x, AnthropicVertex) actually puts there.
SDK_ANTHROPIC_VERSION = "2026-10-21"
# Set on Rejections that must use Google's envelope even on an Anthropic publisher endpoint.
_GOOGLE = "google"
_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}
_MISSING_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_CLAUDE_QUOTA = (
    "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: "
    "anthropic-claude. Please submit a quota increase request. "
    "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
)


class VertexSettings:
    """Per-test state of the fake Google project: project, region, service accounts and tokens.

    Mutate it through ``fake.settings`` inside a test; ``fake.reset()`` restores the defaults (and
    forgets every issued token and the counters).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.project = DEFAULT_PROJECT
        self.region = DEFAULT_REGION
        # Seconds, returned as expires_in; google-auth refreshes 3m45s before expiry, so anything below
        # ~225 makes every request fetch a new token.
        self.token_lifetime = DEFAULT_TOKEN_LIFETIME
        self.anthropic_versions: set[str] = {ANTHROPIC_VERSION, SDK_ANTHROPIC_VERSION}
        # None: every model exists; a set of model names: only those (others are 404).
        self.models: set[str] | None = None
        self.service_accounts: dict[str, str] = {}
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._token_requests = 0
        self._grants: list[str] = []

    def register_service_account(
        self, account: gcp.ServiceAccount | str, public_key_pem: str | None = None
    ) -> None:
        """Trust a service account: a ``gcp.ServiceAccount``, or its client_email and public key PEM."""
        email = account if isinstance(account, str) else account.client_email
        if not isinstance(account, str):
            public_key_pem = account.public_key_pem
        if public_key_pem is None:
            raise ValueError("public_key_pem is required with a bare client_email")
        with self._lock:
            self.service_accounts[email] = public_key_pem

    @property
    def token_requests(self) -> int:
        """Requests that reached the token endpoint (granted or not)."""
        with self._lock:
            return self._token_requests

    @property
    def tokens_issued(self) -> list[str]:
        """The client_email of every granted token request, in order."""
        with self._lock:
            return list(self._grants)

    def issue_token(
        self, lifetime: float | None = None, scopes: tuple[str, ...] = (gcp.CLOUD_PLATFORM_SCOPE,)
    ) -> str:
        """Mint a valid access token directly (for tests that do not exercise the JWT grant)."""
        token = f"ya29.fake-{secrets.token_urlsafe(24)}"
        expiry = time.time() + (self.token_lifetime if lifetime is None else lifetime)
        with self._lock:
            self._tokens[token] = (expiry, frozenset(scopes))
        return token

    def expire_tokens(self) -> None:
        """Make every token issued so far expired (the next call with one gets a 401)."""
        with self._lock:
            self._tokens = {token: (0.0, scopes) for token, (_, scopes) in self._tokens.items()}

    def _note_token_request(self) -> None:
        with self._lock:
            self._token_requests += 1

    def _grant(self, email: str, scopes: frozenset[str]) -> tuple[str, int]:
        lifetime = int(self.token_lifetime)
        token = self.issue_token(lifetime, tuple(scopes))
        with self._lock:
            self._grants.append(email)
        return token, lifetime

    def _token(self, token: str) -> tuple[float, frozenset[str]] | None:
        with self._lock:
            return self._tokens.get(token)


def _settings(request: web.Request) -> VertexSettings:
    settings = request.app[STATE_KEY].settings
    assert isinstance(settings, VertexSettings)
    return settings


# -- error envelopes ------------------------------------------------------------------------------------


def google_error(rejection: Rejection, *, as_array: bool = False) -> web.Response:
    """Google's ``{"error": {code, message, status}}``; streaming methods wrap it in a JSON array."""
    status = rejection.status
    error: dict[str, Any] = {
        "code": status,
        "message": rejection.message
        or _DEFAULT_MESSAGES.get(status, "Request contains an invalid argument."),
        "status": gemini_wire.google_status(status),
    }
    if rejection.param:
        # ErrorInfo reason (ACCESS_TOKEN_EXPIRED, CREDENTIALS_MISSING...), as Google details auth errors.
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": rejection.param,
                "domain": "googleapis.com",
                "metadata": {
                    "service": "aiplatform.googleapis.com",
                    "method": "google.cloud.aiplatform.v1.PredictionService",
                },
            }
        ]
    body: Any = [{"error": error}] if as_array else {"error": error}
    return json_response(body, status=status, headers={"Content-Type": "application/json; charset=UTF-8"})


def _claude_error(rejection: Rejection, *, as_array: bool) -> web.Response:
    # Auth, permission, routing and quota errors come from the Google platform; the rest from Claude.
    if rejection.code == _GOOGLE or rejection.status in (401, 403, 429):
        if rejection.status == 429 and rejection.message is None:
            rejection = Rejection(429, _CLAUDE_QUOTA)
        return google_error(rejection, as_array=as_array)
    return anthropic_wire.error_response(rejection, request_prefix="req_vrtx_")


def claude_error(rejection: Rejection) -> web.Response:
    return _claude_error(rejection, as_array=False)


def claude_stream_error(rejection: Rejection) -> web.Response:
    return _claude_error(rejection, as_array=True)


def gemini_error(rejection: Rejection) -> web.Response:
    return google_error(rejection)


def gemini_stream_error(rejection: Rejection) -> web.Response:
    return google_error(rejection, as_array=True)


def _google(status: int, message: str, reason: str | None = None) -> Rejection:
    return Rejection(status, message, param=reason, code=_GOOGLE)


# -- the token endpoint ---------------------------------------------------------------------------------


async def token(request: web.Request) -> web.StreamResponse:
    settings = _settings(request)
    settings._note_token_request()
    form = {
        name: values[-1] for name, values in parse_qs((await request.read()).decode(errors="replace")).items()
    }
    grant_type = form.get("grant_type")
    try:
        if grant_type != gcp.JWT_GRANT_TYPE:
            raise gcp.GrantError("unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")
        assertion = form.get("assertion")
        if not assertion:
            raise gcp.GrantError("invalid_request", "Missing required parameter: assertion")
        audiences = {*gcp.GOOGLE_TOKEN_AUDIENCES, f"http://{request.host}{TOKEN_PATH}"}
        claims = gcp.verify_assertion(assertion, dict(settings.service_accounts), audiences)
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            raise gcp.GrantError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    except gcp.GrantError as failure:
        return json_response({"error": failure.error, "error_description": failure.description}, status=400)
    access_token, lifetime = settings._grant(str(claims["iss"]), scopes)
    return json_response({"access_token": access_token, "expires_in": lifetime, "token_type": "Bearer"})


# -- the front door: bearer token, project, region ------------------------------------------------------


def _resource(request: web.Request, model: str) -> str:
    info = request.match_info
    location = f"projects/{info['project']}/locations/{info['location']}"
    return f"{location}/publishers/{info['publisher']}/models/{model}"


async def _front_door(request: web.Request) -> None:
    settings = _settings(request)
    authorization = request.headers.get("Authorization", "")
    if not authorization.startswith("Bearer ") or not authorization[len("Bearer ") :].strip():
        raise _google(401, _MISSING_CREDENTIALS, "CREDENTIALS_MISSING")
    issued = settings._token(authorization[len("Bearer ") :].strip())
    if issued is None:
        raise _google(401, _DEFAULT_MESSAGES[401], "ACCESS_TOKEN_TYPE_UNSUPPORTED")
    expiry, scopes = issued
    if expiry <= time.time():
        raise _google(401, _DEFAULT_MESSAGES[401], "ACCESS_TOKEN_EXPIRED")
    model = _split(request)[0]
    resource = _resource(request, model)
    if request.match_info["project"] != settings.project:
        raise _google(
            403,
            "Permission 'aiplatform.endpoints.predict' denied on resource "
            f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
            "IAM_PERMISSION_DENIED",
        )
    if request.match_info["location"] != settings.region:
        raise _google(404, f"Publisher Model `{resource}` not found.")
    if gcp.CLOUD_PLATFORM_SCOPE not in scopes:
        raise _google(
            403, "Request had insufficient authentication scopes.", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
        )
    if settings.models is not None and model not in settings.models and model != "count-tokens":
        raise _google(
            404,
            f"Publisher Model `{resource}` was not found or your project does not have access to it. Please "
            "ensure you are using a valid model version. For more information, see: "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versioning",
        )


def _split(request: web.Request) -> tuple[str, str]:
    # aiohttp cannot split "{model}:{action}" inside one path segment, so split on the last ":".
    model, _, action = request.match_info["target"].rpartition(":")
    return model, action


# -- Anthropic publisher --------------------------------------------------------------------------------


async def _claude_body(request: web.Request) -> dict[str, Any]:
    payload = await read_json_object(request, "There was an error parsing the body of your request")
    version = payload.get("anthropic_version")
    if version is None:
        raise Rejection(400, "anthropic_version: Field required")
    if version not in _settings(request).anthropic_versions:
        raise Rejection(400, f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'")
    return payload


def claude_model_name(model: str) -> str:
    """The name Vertex reports in a Claude reply: ``claude-x@20250929`` -> ``claude-x-20250929``."""
    return model.replace("@", "-")


async def _claude_predict(
    request: web.Request, script: Script, *, stream_endpoint: bool
) -> web.StreamResponse:
    payload = await _claude_body(request)
    if "model" in payload:
        raise Rejection(400, "model: Extra inputs are not permitted")
    anthropic_wire.check_request(payload)
    stream = anthropic_wire.check_generation(payload)
    if stream_endpoint and not stream:
        raise Rejection(400, 'stream: streamRawPredict requires "stream": true in the request body')
    model = _split(request)[0]
    reply = anthropic_wire.plan_reply(
        payload, script, model=claude_model_name(model), id_prefix="msg_vrtx_", kind=KIND
    )
    return await anthropic_wire.answer(request, script, reply, stream=stream, request_id=new_id("req_vrtx_"))


@model_endpoint(claude_error, front_door=_front_door)
async def raw_predict(request: web.Request, script: Script) -> web.StreamResponse:
    return await _claude_predict(request, script, stream_endpoint=False)


@model_endpoint(claude_stream_error, front_door=_front_door)
async def stream_raw_predict(request: web.Request, script: Script) -> web.StreamResponse:
    return await _claude_predict(request, script, stream_endpoint=True)


@model_endpoint(claude_error, front_door=_front_door)
async def claude_count_tokens(request: web.Request, script: Script) -> web.StreamResponse:
    payload = await _claude_body(request)
    if not isinstance(payload.get("model"), str):
        raise Rejection(400, "model: Field required")
    anthropic_wire.check_request(payload)
    body = {"input_tokens": anthropic_wire.input_tokens_estimate(payload)}
    return json_response(body, status=script.status or 200, headers={"request-id": new_id("req_vrtx_")})


# -- Google publisher (Gemini) --------------------------------------------------------------------------


def _gemini(answer: gemini_wire.Answer) -> Callable[[web.Request, Script], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request, script: Script) -> web.StreamResponse:
        payload = await gemini_wire.read_payload(request)
        return await answer(request, script, payload, _split(request)[0], kind=KIND)

    return handler


_GEMINI_ACTIONS: dict[str, Handler] = {
    "generateContent": model_endpoint(gemini_error, front_door=_front_door)(
        _gemini(gemini_wire.answer_generate_content)
    ),
    "countTokens": model_endpoint(gemini_error, front_door=_front_door)(
        _gemini(gemini_wire.answer_count_tokens)
    ),
}


async def _predict(request: web.Request, script: Script) -> web.StreamResponse:
    payload = await gemini_wire.read_payload(request)
    return embedding_fakes.vertex_predict(payload, _split(request)[0])


_GEMINI_ACTIONS["predict"] = model_endpoint(gemini_error, front_door=_front_door)(_predict)
_GEMINI_STREAM = {
    # Without alt=sse Google streams a JSON array, and errors come as a one-element array too.
    False: model_endpoint(gemini_stream_error, front_door=_front_door)(
        _gemini(gemini_wire.answer_stream_generate_content)
    ),
    True: model_endpoint(gemini_error, front_door=_front_door)(
        _gemini(gemini_wire.answer_stream_generate_content)
    ),
}


@plain_endpoint(gemini_error)
async def model_action(request: web.Request) -> web.StreamResponse:
    model, action = _split(request)
    publisher = request.match_info["publisher"]
    handler: Handler | None = None
    if model and publisher == "anthropic":
        if model == "count-tokens":
            handler = claude_count_tokens if action == "rawPredict" else None
        else:
            handler = {"rawPredict": raw_predict, "streamRawPredict": stream_raw_predict}.get(action)
    elif model and publisher == "google":
        if action == "streamGenerateContent":
            handler = _GEMINI_STREAM[request.query.get("alt") == "sse"]
        else:
            handler = _GEMINI_ACTIONS.get(action)
    if handler is None:
        raise _google(
            404, f"Publisher Model `{_resource(request, model or request.match_info['target'])}` not found."
        )
    return await handler(request)


def routes() -> list[web.RouteDef]:
    path = "/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}"
    return [
        web.post(TOKEN_PATH, token),
        web.post("/v1" + path, model_action),
        web.post("/v1beta1" + path, model_action),
    ]


WIRE = Wire(kind=KIND, base_path="/v1", routes=routes, error=google_error, settings=VertexSettings)
