"""Azure OpenAI wire format: OpenAI Chat Completions at /openai/deployments/{deployment}/chat/completions.

Checked as Azure checks them: the `api-version` query (missing: 404 "Resource not found"; unknown:
400), the `api-key` header (401 without it; Authorization: Bearer is not Azure's key header) and the
deployment (404 DeploymentNotFound). Then it answers exactly as the OpenAI fake does.
"""

from __future__ import annotations

from aiohttp import web

from . import openai_wire
from .common import Rejection, Wire, json_response, model_endpoint, new_id
from .script import Script

KIND = "azure"
API_VERSIONS = frozenset({"2024-06-01", "2024-10-21", "2025-01-01-preview", "2025-04-01-preview"})
# Deployments the fake resource has; anything else is DeploymentNotFound.
DEPLOYMENTS = frozenset({"my-gpt-deployment", "gpt-5", "gpt-5-mini", "gpt-4o"})
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
    version = request.query.get("api-version")
    if not version:
        raise Rejection(404, "Resource not found", code="404")
    if version not in API_VERSIONS:
        raise Rejection(400, "API version not supported", code="BadRequest")
    if not request.headers.get("api-key", "").strip():
        raise Rejection(401, _DENIED, code="401")
    if request.match_info["deployment"] not in DEPLOYMENTS:
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


def routes() -> list[web.RouteDef]:
    return [web.post("/openai/deployments/{deployment}/chat/completions", chat_completions)]


WIRE = Wire(kind=KIND, base_path="", routes=routes, error=error_response)
