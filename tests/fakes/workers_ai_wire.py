"""Cloudflare Workers AI's OpenAI-compatible API:
POST /client/v4/accounts/{account_id}/ai/v1/chat/completions.

Checked as Cloudflare checks them, before the model runs: the account in the path (another account:
404 with Cloudflare's v4 envelope, code 7003), the API token as `Authorization: Bearer` (missing or not
the account's token: 401, code 10000), and the model (a name that is not a catalogue id such as
`@cf/meta/llama-3.3-70b-instruct-fp8-fast`: 400, code 5007). Then it answers as the OpenAI fake does
(JSON, or SSE with stream: true), `model` echoed with its `@` and `/`.

The fake's base_url (`FakeUpstream.base_url`) is Cloudflare's API root, `{url}/client/v4`, as a
`workers-ai` provider's `base_url` is; the gateway adds `/accounts/<account_id>/ai/v1`.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from . import openai_wire
from .common import Rejection, Wire, json_response, model_endpoint
from .script import Script
from .state import STATE_KEY

KIND = "workers-ai"
ACCOUNT_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
API_TOKEN = "cf-workers-ai-token-canary-5520"
# Catalogue names: `@cf/<author>/<model>` (and the older `@hf/...`).
_MODEL = re.compile(r"^@(cf|hf)/[\w.-]+/[\w.:-]+$")


class WorkersAISettings:
    """Per-test facts of the fake account: its id and the one API token it accepts."""

    def __init__(self) -> None:
        self.account_id = ACCOUNT_ID
        self.token = API_TOKEN


def _settings(request: web.Request) -> WorkersAISettings:
    settings = request.app[STATE_KEY].settings
    assert isinstance(settings, WorkersAISettings)
    return settings


def error_response(rejection: Rejection) -> web.Response:
    """Cloudflare's v4 envelope for its own errors (route, auth, model); the model's request validation
    errors (the OpenAI fake's) keep OpenAI's envelope, as Workers AI's compatibility layer does."""
    if rejection.code in ("7003", "10000", "5007"):
        body: dict[str, Any] = {
            "success": False,
            "errors": [{"code": int(rejection.code), "message": rejection.message}],
            "messages": [],
            "result": None,
        }
        return json_response(body, status=rejection.status)
    return openai_wire.error_response(rejection)


async def _front_door(request: web.Request) -> None:
    settings = _settings(request)
    if request.match_info["account_id"] != settings.account_id:
        raise Rejection(
            404,
            f"Could not route to {request.path}, perhaps your object identifier is invalid?",
            code="7003",
        )
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or header[len("Bearer ") :].strip() != settings.token:
        raise Rejection(401, "Authentication error", code="10000")


@model_endpoint(error_response, front_door=_front_door)
async def chat_completions(request: web.Request, script: Script) -> web.StreamResponse:
    payload = await openai_wire.read_payload(request)
    model = payload.get("model")
    if not isinstance(model, str) or not _MODEL.fullmatch(model):
        raise Rejection(400, f"AiError: No such model {model} or task", code="5007")
    return await openai_wire.answer(request, script, payload)


def routes() -> list[web.RouteDef]:
    return [web.post("/client/v4/accounts/{account_id}/ai/v1/chat/completions", chat_completions)]


WIRE = Wire(
    kind=KIND, base_path="/client/v4", routes=routes, error=error_response, settings=WorkersAISettings
)
