"""The prompt endpoints (`/v1/prompts`): a template from config rendered into an ordinary request body.

`POST /v1/prompts/<name>/messages` and `/chat/completions` render the prompt into a `/v1/messages` or
`/v1/chat/completions` body and hand it to the model call like any client's (budgets, limits, routes,
cache, fallbacks and guardrails see nothing different); `/render` answers with those bodies and calls
nothing; `GET /v1/prompts` lists the gateway's prompts with their variables.

The request body is `{"variables": {...}}` plus optional overrides: `model` (any model the gateway
allows: the model call checks `allow` as for any request), `stream`, `max_tokens`, `temperature`,
`top_p` and `metadata` (the named API's own `metadata` field; gateway metadata stays in the
`x-gateway-metadata` header). Any other field is a 400: a misspelt override must not pass silently;
`messages` may only be `[]` (the OpenAI SDK's `chat.completions.create` requires the argument, and with
`base_url=<gateway>/v1/prompts/<name>` it posts to this prompt's `/chat/completions`).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.config.prompts import Prompt, RenderError
from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.dataplane.body import json_object
from gateway.routing import resolve
from gateway.routing.table import Gateway, RoutingTable
from gateway.translate.pipeline import ANTHROPIC_VERSION

PREFIX = "/v1/prompts"
# action -> (client format, model-call operation)
CALLS = {"messages": (Format.ANTHROPIC, "messages"), "chat/completions": (Format.OPENAI, "chat")}
OVERRIDES = ("model", "stream", "max_tokens", "temperature", "top_p", "metadata")
# Anthropic's Messages API requires max_tokens; a prompt whose params leave it out gets this.
DEFAULT_MAX_TOKENS = 4096


def match(path: str) -> tuple[str | None, str] | None:
    """(prompt name or None, action) for a path under /v1/prompts; None for any other path.
    Actions: list, render, messages, chat/completions, or unknown."""
    if path == PREFIX or path == PREFIX + "/":
        return None, "list"
    if not path.startswith(PREFIX + "/"):
        return None
    name, _, action = path[len(PREFIX) + 1 :].partition("/")
    if action in CALLS or action == "render":
        return name, action
    return name, "unknown"


def find(table: RoutingTable, gateway: Gateway, name: str | None) -> Prompt:
    """The prompt the gateway serves under `name`: 404 when config has none or the gateway does not list it
    (the same answer for both, so a caller cannot learn other gateways' prompts)."""
    prompt = table.prompts.get(name) if name and name in gateway.prompts else None
    if prompt is None:
        served = ", ".join(gateway.prompts) or "none"
        raise GatewayError(
            "not_found_error",
            f"no prompt {name!r} on gateway {gateway.name!r} (it serves: {served})",
            code="prompt_not_found",
        )
    assert isinstance(prompt, Prompt)
    return prompt


def read(body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(variables, overrides) from a prompt call's body; an empty body is no variables."""
    if not body.strip():
        return {}, {}
    obj = json_object(body)
    # The OpenAI SDK's chat.completions.create requires `messages`: `[]` is accepted as "the prompt's".
    if "messages" in obj and obj.pop("messages") != []:
        raise GatewayError(
            "invalid_request_error",
            "messages: a prompt's messages come from its template; send none (or [] where an SDK needs "
            "the argument) and give the template's variables",
            param="messages",
        )
    unknown = sorted(k for k in obj if k != "variables" and k not in OVERRIDES)
    if unknown:
        raise GatewayError(
            "invalid_request_error",
            f"unknown fields: {', '.join(unknown)} (a prompt call takes variables and the overrides "
            f"{', '.join(OVERRIDES)})",
            param=unknown[0],
        )
    variables = obj.get("variables", {})
    if not isinstance(variables, dict):
        raise GatewayError("invalid_request_error", "variables: must be a JSON object", param="variables")
    for key, (ok, what) in _OVERRIDE_TYPES.items():
        if key in obj and not ok(obj[key]):
            raise GatewayError("invalid_request_error", f"{key}: must be {what}", param=key)
    return variables, {k: obj[k] for k in OVERRIDES if k in obj}


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# The overrides' types, checked here: the body the gateway builds is its own, and a wrong type must be the
# client's 400 naming the field, not an upstream's answer about a request the client never wrote.
_OVERRIDE_TYPES: dict[str, tuple[Any, str]] = {
    "model": (lambda v: isinstance(v, str) and bool(v), "a model name (a string)"),
    "stream": (lambda v: isinstance(v, bool), "true or false"),
    "max_tokens": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "temperature": (_number, "a number"),
    "top_p": (_number, "a number"),
    "metadata": (lambda v: isinstance(v, dict), "a JSON object"),
}


def build(
    table: RoutingTable, prompt: Prompt, operation: str, variables: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """The request body the prompt renders to, in the shape of `operation` (messages or chat)."""
    try:
        system, messages = prompt.render(variables, table.server.max_body)
    except RenderError as exc:
        raise GatewayError("invalid_request_error", str(exc), param="variables") from None
    out: dict[str, Any] = {"model": prompt.model}
    if operation == "messages":
        out["max_tokens"] = DEFAULT_MAX_TOKENS
        out.update(prompt.params)
        if system is not None:
            out["system"] = system
        out["messages"] = messages
    else:
        out.update(prompt.params)
        out["messages"] = ([{"role": "system", "content": system}] if system is not None else []) + messages
    out.update(overrides)
    return out


def call_headers(raw: list[tuple[bytes, bytes]], fmt: Format) -> list[tuple[bytes, bytes]]:
    """The client's headers for the rendered call (they travel with it as with any same-format call). The
    body is the gateway's own JSON, whatever content-type the client's had (curl -d says a form), and a
    Messages call carries anthropic-version when the client sent none: Anthropic requires it, and a
    prompt call is not an Anthropic request the client wrote."""
    out = [(k, v) for k, v in raw if k != b"content-type"]
    out.append((b"content-type", b"application/json"))
    if fmt is Format.ANTHROPIC and not any(k == b"anthropic-version" for k, _ in raw):
        out.append((b"anthropic-version", ANTHROPIC_VERSION.encode()))
    return out


def render_answer(
    table: RoutingTable,
    gateway: Gateway,
    prompt: Prompt,
    variables: dict[str, Any],
    overrides: dict[str, Any],
) -> bytes:
    """`/render`: both request bodies the prompt would send. The model is resolved and checked against
    the gateway's `allow` (no network): a body the gateway would refuse is not "what it would send"."""
    requests = {
        path: build(table, prompt, operation, variables, overrides)
        for path, operation in (("/v1/messages", "messages"), ("/v1/chat/completions", "chat"))
    }
    model = str(requests["/v1/messages"]["model"])
    resolve.check_allowed(gateway, model)
    resolve.lookup(table, model)
    return orjson.dumps(
        {"prompt": prompt.name, "config_version": table.version, "model": model, "requests": requests}
    )


def listing(table: RoutingTable, gateway: Gateway) -> bytes:
    """`GET /v1/prompts`: the gateway's prompts, their default model, variables and params."""
    data = []
    for name in gateway.prompts:
        p = table.prompts[name]
        data.append(
            {
                "name": name,
                "model": p.model,
                "variables": {n: v.describe() for n, v in p.variables.items()},
                "params": dict(p.params),
            }
        )
    return orjson.dumps({"object": "list", "data": data, "config_version": table.version})
