"""The state of one request on the data plane, and what a model call asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gateway.core.formats import Format
from gateway.core.http import Recorder, Scope
from gateway.core.usage import Usage
from gateway.dataplane.auth import Caller
from gateway.dataplane.exchange import Exchange
from gateway.observe.record import Attempt
from gateway.policy.admission import Ticket
from gateway.routing.table import Gateway, RoutingTable

UNSET: Any = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Call:
    """What a model call asked for, as parsed once: the same for every attempt."""

    operation: str  # messages, count_tokens, chat
    obj: dict[str, Any]  # the parsed body (never mutated: attempts make their own copies)
    body: bytes  # the body as the client sent it
    model: str  # the model name as the client sent it


@dataclass(slots=True)
class Request:
    """Per-request state, filled in as the request goes; becomes the request record."""

    id: str
    scope: Scope
    table: RoutingTable
    gateway: Gateway
    format: Format
    started: float
    headers: dict[bytes, bytes]
    caller: Caller | None = None
    endpoint: str = "passthrough"  # record.endpoint_of(path), set once by the handler
    route: str | None = None
    target: str | None = None
    client_model: str | None = None
    stream: bool = False
    status: int = 0
    error: str | None = None
    key: str | None = None
    ttfb_ms: float | None = None
    usage: Usage | None = None
    exchange: Exchange | None = None  # the upstream exchange, once one has started
    attempts: list[Attempt] = field(default_factory=list)  # every upstream try, in order
    skipped: int = 0  # of `attempts`: targets not tried, as they cannot take the call (capability.py)
    timeout: float | None = None  # x-gateway-timeout: can only shorten the configured total
    max_attempts: int | None = None  # x-gateway-max-attempts: can only lower what config allows
    ticket: Ticket | None = None  # what the request holds in the state store (limits, budgets)
    request_body: bytes | None = None  # kept for the log when the gateway logs bodies
    response: Recorder | None = None  # what the client was sent, likewise
    cache: str | None = None  # HIT, MISS or BYPASS when the cache applies
    final_cost: Any = UNSET  # Decimal | None once computed (see DataPlane.final_cost)
    cost_text: str | None = None  # final_cost as published, when the answer's header already carried it
    response_id: str | None = None  # the Responses API id the request made, asked for or continued
    usage_estimated: bool = False  # usage is the gateway's estimate (Gemini's embeddings report none)
    guardrails: list[dict[str, str]] | None = None  # hits ({name, on, action}), created by the first one
    prompt: str | None = None  # the prompt template's name, for a call through /v1/prompts

    def adopt(self, ex: Exchange) -> None:
        """The client's answer is this exchange's: its status, timing, usage and error."""
        # A stream that started and then failed is logged as the failure, not as its 200 start.
        self.status, self.error = ex.failed or ex.status, ex.error
        self.ttfb_ms, self.usage = ex.ttfb_ms, ex.usage

    @property
    def caller_or_anonymous(self) -> Caller:
        return self.caller or Caller(None, None)

    @property
    def token_name(self) -> str | None:
        return self.caller.token.name if self.caller and self.caller.token else None

    def response_headers(self, in_flight: bool = True) -> list[tuple[bytes, bytes]]:
        """Gateway headers; `in_flight`: an upstream attempt not yet recorded is being answered."""
        out = [
            (b"x-gateway-request-id", self.id.encode()),
            (b"x-gateway-config-version", self.table.version.encode()),
        ]
        if self.target:
            target = self.target
            if not target.isprintable():
                # A model name from a URL path (passthrough) may carry control characters; a header
                # value with CR or LF cannot be sent (model calls refuse such names at parse).
                target = _CONTROL.sub("?", target)
            provider = target.partition("/")[0]
            out.append((b"x-gateway-provider", provider.encode()))
            out.append((b"x-gateway-model", target.encode()))
            count = len(self.attempts) - self.skipped + (1 if in_flight else 0)
            if count:
                out.append((b"x-gateway-attempts", str(count).encode()))
        if self.route:
            out.append((b"x-gateway-route", self.route.encode()))
        if self.cache:
            out.append((b"x-gateway-cache", self.cache.encode()))
        if self.ticket is not None and self.ticket.warnings:
            out.append((b"x-gateway-budget-warning", "; ".join(self.ticket.warnings).encode()))
        return out
