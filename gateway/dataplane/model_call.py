"""A model call (`/v1/messages`, `/v1/chat/completions`, `/v1/responses`, `/v1/embeddings`, count_tokens,
input_tokens):
parse once, admit (rate limits, budgets), answer from the cache or plan the route's targets and try
them, keep the answer."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from gateway.config.units import parse_duration
from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.http import Message, Send
from gateway.dataplane import capability, embeddings, guardrails
from gateway.dataplane.attempts import Attempts
from gateway.dataplane.body import json_object, repeated_top_level_key
from gateway.dataplane.caching import Caching
from gateway.dataplane.request import Call, Request
from gateway.dataplane.responses import ResponsesState, conversation_safe, is_gateway_response_id
from gateway.policy import cache
from gateway.policy.admission import Admission, Ask, Ticket
from gateway.routing import plan as routing

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ModelCalls:
    def __init__(
        self,
        admission: Admission,
        caching: Caching,
        attempts: Attempts,
        responses: ResponsesState,
        file_owners: capability.Owners | None = None,
    ) -> None:
        self.admission = admission
        self.caching = caching
        self.attempts = attempts
        self.responses = responses
        self.file_owners = file_owners  # who created a file id a message names, when the gateway saw it
        self.webhooks = guardrails.Webhooks()

    async def __call__(self, req: Request, operation: str, body: bytes, send: Send) -> None:
        call = parse(req, operation, body)
        if operation == "embeddings":
            embeddings.checked(call.obj)  # a bad input is a 400 before anything else
        ticket = req.ticket = Ticket()
        owner = None
        if req.format is Format.RESPONSES:
            # previous_response_id: a gateway id's history goes into `input` (404 when unknown); an
            # upstream id keeps the call on the provider and key that own it.
            call, owner = await self.responses.prepare(req, call)
        if req.gateway.guardrails:  # nothing to do, and no cost, on a gateway without guardrails
            call = await guardrails.check_input(req, call, self.webhooks)
        ask = ask_for(req, call, owner.provider if owner is not None else None)
        await self.admission.gateway_limits(ticket, ask)
        policy = (
            cache.policy(req.gateway, req.headers, operation, call.obj)
            if operation not in COUNTS and _cacheable(req, call)
            else None
        )
        answered, send, recorder = await self.caching.answer(req, policy, send)
        if answered:
            return
        found = await self.admission.plan(ticket, ask, self.attempts.rand)
        if ticket.report.requests or ticket.report.tokens:
            send = with_rate_headers(send, ticket)
        candidates = [(c.route, c.leaf, c.on) for c in found]
        if owner is not None:
            candidates = conversation_safe(candidates, owner)
        # Targets that cannot take the call (a file id of another provider, a server tool they cannot
        # run, a chat model for an embeddings call) are skipped before any upstream call; none left:
        # a 400 naming why.
        candidates = await capability.admissible(req, call, candidates, self.file_owners)
        await self.attempts.run(req, call, candidates, send)
        await self.caching.keep(req, recorder, policy)


# Operations that count tokens: never cached, never priced.
COUNTS = frozenset({"count_tokens", "input_tokens"})


def _cacheable(req: Request, call: Call) -> bool:
    """A Responses call that continues an upstream id depends on what that upstream keeps (it may be
    deleted, or expire): not cached. One that continues a gateway id is: the id names a fixed history.
    A background response is answered later, elsewhere: not cached either."""
    if req.format is not Format.RESPONSES:
        return True
    if call.obj.get("background") is True:
        return False
    previous = call.obj.get("previous_response_id")
    return not (isinstance(previous, str) and previous and not is_gateway_response_id(previous))


def parse(req: Request, operation: str, body: bytes) -> Call:
    """The body as a model call: a JSON object naming its model; the request's overrides read too."""
    obj = json_object(body)
    for key in ("model", "stream"):  # what the gateway itself reads from the body
        if repeated_top_level_key(body, key):
            raise GatewayError("invalid_request_error", f"{key}: given more than once", param=key)
    model = obj.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(
            "invalid_request_error",
            "model: a model name is required (a string)",
            code="missing_required_parameter",
            param="model",
        )
    if _CONTROL.search(model):
        # The name travels on in x-gateway-model (a glob keeps it): a CR, LF or other control character
        # there is a header the server cannot send, so the client would get no answer at all.
        raise GatewayError(
            "invalid_request_error", "model: must not contain control characters", param="model"
        )
    stream = obj.get("stream")
    if stream is not None and not isinstance(stream, bool):
        # The gateway reads it (stream or not, how to log it): "yes" must not mean one thing here and
        # another upstream.
        raise GatewayError("invalid_request_error", "stream: must be a boolean", param="stream")
    req.client_model = model
    req.stream = stream is True
    req.timeout, req.max_attempts = _overrides(req.headers)
    return Call(operation, obj, body, model)


def ask_for(req: Request, call: Call, pinned: str | None = None) -> Ask:
    """What admission and routing are asked about this call; the routing facts are built lazily.
    `pinned`: the provider that owns the response a Responses call continues."""
    made: list[routing.Facts] = []

    def facts() -> routing.Facts:
        """Built once, and only if a route, limit or budget needs them."""
        if not made:
            made.append(
                routing.make_facts(
                    req.table,
                    req.gateway.name,
                    call.model,
                    headers={k.decode("latin-1"): v.decode("latin-1") for k, v in req.headers.items()},
                    token=req.token_name,
                    stream=req.stream,
                    has_tools=bool(call.obj.get("tools")),
                    has_images=b"image" in call.body and _has_images(call.obj),
                    input_tokens=len(call.body) // 3,  # tokens.py's estimate for text, without a walk
                )
            )
            if pinned is not None:
                made[0] = dataclasses.replace(made[0], pinned=pinned)
        return made[0]

    priced = call.operation not in COUNTS
    return Ask(req.table, req.gateway, req.token_name, req.format, call.model, call.obj, facts, priced)


def with_rate_headers(send: Send, ticket: Ticket) -> Send:
    """The gateway's x-ratelimit-* headers replace any the upstream sent (they describe its own key)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", ()) if not k.startswith(b"x-ratelimit-")]
            message = {**message, "headers": kept + ticket.report.headers()}
        await send(message)

    return sending


def _overrides(headers: dict[bytes, bytes]) -> tuple[float | None, int | None]:
    """x-gateway-timeout (`30s`, or seconds) and x-gateway-max-attempts; both only tighten config."""
    timeout = max_attempts = None
    raw = headers.get(b"x-gateway-timeout")
    if raw:
        text = raw.decode("latin-1").strip()
        try:
            timeout = float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text)
        except ValueError:
            timeout = None
        if timeout is None or timeout <= 0:
            raise GatewayError(
                "invalid_request_error",
                f"x-gateway-timeout: {text!r} is not a duration "
                "(use e.g. 30s, 1500ms or a number of seconds)",
            )
    raw = headers.get(b"x-gateway-max-attempts")
    if raw:
        text = raw.decode("latin-1").strip()
        if not text.isdigit() or int(text) < 1:
            raise GatewayError(
                "invalid_request_error", f"x-gateway-max-attempts: {text!r} must be an integer >= 1"
            )
        max_attempts = int(text)
    return timeout, max_attempts


def _has_images(obj: dict[str, Any]) -> bool:
    # Messages of both Anthropic and Chat Completions; a Responses request's input items.
    items = obj.get("messages") or (obj["input"] if isinstance(obj.get("input"), list) else ())
    for message in items:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") in ("image", "image_url", "input_image"):
                    return True
    return False
