"""OpenAI's Responses API on the data plane: which provider owns a response id, the responses the gateway
answered itself (conversation state), and the id endpoints (`GET`/`DELETE /v1/responses/{id}`,
`POST .../cancel`, `GET .../input_items`).

Two kinds of ids, told apart by their prefix (`GATEWAY_RESPONSE_PREFIX`, minted by the translated
relay, `translate/responses/items.py`):
- an upstream id (`resp_...` from OpenAI, Azure, a preset) came in a same-format answer the gateway
  relayed: the gateway remembers which provider and key answered it, so the id endpoints and a later
  `previous_response_id` go there (and only there: another provider does not know the id);
- a gateway id (`resp_gw...`) names a response the gateway answered through translation and kept
  (input items with the expanded history, output items, the Response object) for `previous_response_id`.

Both live in the state store (`Store.value_*`, shared by workers and replicas) for
`server.responses_ttl`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.http import Message, Send, send_response
from gateway.core.usage import StreamSniffer, Usage
from gateway.dataplane import exchange as proxy
from gateway.dataplane.request import Call, Request
from gateway.policy.admission import Admission
from gateway.policy.state import Store, StoreUnavailable
from gateway.providers.base import ProviderType
from gateway.routing.table import Leaf, RoutingTable
from gateway.translate.responses import GATEWAY_RESPONSE_PREFIX, reasoning
from gateway.translate.tokens import (
    BLOCK_OVERHEAD,
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    TOOLS_OVERHEAD,
    text_tokens,
)

log = logging.getLogger("gateway.responses")

OWNER = "responses:owner:"  # upstream id -> the provider, key and model that answered it
KEPT = "responses:kept:"  # gateway id -> the response the gateway answered and kept
ID_PATH = "/v1/responses/"
_CREATED = b"response.created"
CARRIER = b'"' + reasoning.PREFIX.encode()  # an `encrypted_content` value the gateway made
_SCAN_LIMIT = 1 << 16  # bytes of a stream's start searched for its response.created event


# What a response id may be in a URL path: no `/`, no `..`, no control or other special characters.
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")


def is_gateway_response_id(value: str) -> bool:
    """A response the gateway answered itself; OpenAI's ids are `resp_` and hex, never `resp_gw`."""
    return value.startswith(GATEWAY_RESPONSE_PREFIX)


def valid_response_id(value: str) -> bool:
    return _VALID_ID.fullmatch(value) is not None and ".." not in value


@dataclass(frozen=True, slots=True)
class Owner:
    provider: str
    key: str | None  # upstream_auth's label: `key:<name>`, `request`, ...
    model: str


def not_found(response_id: str, previous: bool = False) -> GatewayError:
    """OpenAI's 404 for an id it does not know."""
    if previous:
        return GatewayError(
            "invalid_request_error",
            f"Previous response with id '{response_id}' not found.",
            status=404,
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return GatewayError("invalid_request_error", f"Response with id '{response_id}' not found.", status=404)


class ResponsesState:
    """Ids' owners and the gateway's own responses, in the state store of the request's table."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    def store(self, table: RoutingTable) -> Store:
        return self.admission.store(table)

    # -- owners of upstream ids ------------------------------------------------------------------------

    async def remember(self, table: RoutingTable, response_id: str, owner: Owner) -> None:
        value = orjson.dumps({"provider": owner.provider, "key": owner.key, "model": owner.model})
        with contextlib.suppress(StoreUnavailable):  # the answer still goes; the id stays unresolvable
            await self.store(table).value_put(OWNER + response_id, value, table.server.responses_ttl)

    async def owner(self, table: RoutingTable, response_id: str) -> Owner | None:
        data = await self.store(table).value_get(OWNER + response_id)
        if data is None:
            return None
        try:
            obj = orjson.loads(data)
            return Owner(str(obj["provider"]), obj.get("key"), str(obj["model"]))
        except (ValueError, KeyError, TypeError):
            return None

    # -- the gateway's own responses -------------------------------------------------------------------

    async def keep(self, table: RoutingTable, response: dict[str, Any], items: list[Any]) -> None:
        """Keep a response the gateway answered (`items`: its input, the history expanded)."""
        value = orjson.dumps({"response": response, "input": items})
        await self.store(table).value_put(KEPT + str(response["id"]), value, table.server.responses_ttl)

    async def kept(self, table: RoutingTable, response_id: str) -> dict[str, Any] | None:
        data = await self.store(table).value_get(KEPT + response_id)
        if data is None:
            return None
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        return obj if isinstance(obj, dict) else None

    # -- a create call ---------------------------------------------------------------------------------

    async def prepare(self, req: Request, call: Call) -> tuple[Call, Owner | None]:
        """A create (or input_tokens) call with `previous_response_id`: a gateway id's history is
        prepended to `input` (unknown or expired: 404, before any upstream call); an upstream id's owner
        is returned, for conversation-safe routing."""
        previous = call.obj.get("previous_response_id")
        if not isinstance(previous, str) or not previous:
            return call, None
        req.response_id = previous
        try:
            if not is_gateway_response_id(previous):
                return call, await self.owner(req.table, previous)
            kept = await self.kept(req.table, previous)
        except StoreUnavailable as exc:
            raise GatewayError(
                "overloaded_error",
                f"the state store that keeps responses is unreachable ({exc}); retry shortly",
                status=503,
            ) from None
        if kept is None:
            raise not_found(previous, previous=True)
        obj = {k: v for k, v in call.obj.items() if k != "previous_response_id"}
        obj["input"] = history(kept) + as_items(call.obj.get("input"))
        body = orjson.dumps(obj)
        return Call(call.operation, obj, body, call.model), None

    def owned_relay(self, req: Request, call: Call, ptype: ProviderType, target: Any) -> Owned:
        """The relay of a same-format create call, remembering the answer's id as this target's before
        the client is sent it (a client may ask for it at once, from another replica)."""
        stored = call.obj.get("store") is not False  # store: false keeps nothing upstream to resolve
        owner = Owner(target.leaf.provider, req.key, target.leaf.model)
        pending: list[asyncio.Future[None]] = []

        def found(response_id: str) -> None:
            req.response_id = response_id  # for the record, kept or not
            if stored:
                pending.append(asyncio.ensure_future(self.remember(req.table, response_id, owner)))

        send = target.send

        async def sending(message: Message) -> None:
            while pending:
                await pending.pop()
            await send(message)

        relay = OwningRelay(ptype, req.format, req.id, found)
        return Owned(relay, dataclasses.replace(target, send=sending))

    def keeping(self, req: Request, relay: Any, obj: dict[str, Any], send: Send) -> Send:
        """A send that keeps the translated relay's final Response (with its input, the history
        expanded) before the message that carries it leaves: the client's next turn may name it at
        once, on another worker or replica. A store that cannot keep it: the answer still goes, logged."""
        kept = False

        async def sending(message: Message) -> None:
            nonlocal kept
            final = relay.final_response
            if not kept and isinstance(final, dict) and final.get("id"):
                kept = True
                try:
                    await self.keep(req.table, final, as_items(obj.get("input")))
                except StoreUnavailable as exc:
                    log.warning("response %s not kept (the state store is unreachable): %s", final["id"], exc)
            await send(message)

        return sending


@dataclass(frozen=True, slots=True)
class Owned:
    relay: proxy.Relay
    target: Any  # upstream_call.Target, with a send that waits for the id to be remembered


class OwningRelay(proxy.PassthroughRelay):
    """A same-format Responses answer, byte for byte; its id is handed to `found` once seen (the whole
    answer's `id`, a stream's response.created event)."""

    __slots__ = ("found",)

    def __init__(
        self, ptype: ProviderType, client_format: Format, request_id: str, found: Callable[[str], None]
    ) -> None:
        super().__init__(ptype, client_format, request_id)
        self.found = found

    def response(self, status: int, data: bytes, usage: Usage) -> bytes:
        if status != 200:
            return super().response(status, data, usage)
        try:
            obj = orjson.loads(data)  # parsed once, for its usage and its id
        except orjson.JSONDecodeError:
            raise proxy.NotJSON from None
        if isinstance(obj, dict):
            self.ptype.read_usage(usage, obj)
            response_id = obj.get("id")
            if isinstance(response_id, str) and response_id:
                self.found(response_id)
        return data

    def stream(self) -> proxy.StreamRelay:
        return _OwningStream(super().stream(), self.found)


class _OwningStream:
    """Relays a stream as it is; reads the response.created event's id on the side."""

    __slots__ = ("found", "inner", "seen")

    def __init__(self, inner: proxy.StreamRelay, found: Callable[[str], None] | None) -> None:
        self.inner = inner
        self.found = found  # None once the id is found, or given up on
        self.seen = b""

    @property
    def usage(self) -> Usage:
        return self.inner.usage

    @property
    def error(self) -> str | None:
        return self.inner.error

    def feed(self, chunk: bytes) -> bytes:
        out = self.inner.feed(chunk)
        if self.found is not None:
            self._scan(chunk)
        return out

    def _scan(self, chunk: bytes) -> None:
        found = self.found
        assert found is not None
        seen = self.seen = self.seen + chunk
        at = seen.find(_CREATED)
        if at < 0:
            if len(seen) > _SCAN_LIMIT:
                self.found, self.seen = None, b""
            return
        seen = seen.replace(b"\r\n", b"\n")
        at = seen.find(_CREATED)
        end = seen.find(b"\n\n", at)
        if end < 0:
            return  # the event is not complete yet
        start = seen.rfind(b"\n\n", 0, at)
        for line in seen[start + 2 if start >= 0 else 0 : end].split(b"\n"):
            if line.startswith(b"data:"):
                try:
                    event = orjson.loads(line[5:].strip())
                except orjson.JSONDecodeError:
                    break
                response = event.get("response") if isinstance(event, dict) else None
                response_id = response.get("id") if isinstance(response, dict) else None
                if isinstance(response_id, str) and response_id:
                    found(response_id)
                break
        self.found, self.seen = None, b""

    def close(self) -> bytes:
        return self.inner.close()

    def error_event(self, kind: str, message: str) -> bytes:
        return self.inner.error_event(kind, message)


class UnmeteredRelay(proxy.PassthroughRelay):
    """An id endpoint's answer (a stored Response, a deletion): relayed as it is, and never read for
    usage, since retrieving a response is not generating one."""

    __slots__ = ()

    def response(self, status: int, data: bytes, usage: Usage) -> bytes:
        return data

    def stream(self) -> proxy.StreamRelay:
        stream = super().stream()
        if isinstance(stream, proxy.PassthroughStream):
            stream.sniffer = StreamSniffer(_no_usage)
        return stream


def _no_usage(usage: Usage, obj: dict[str, Any]) -> None:
    return None


# -- conversation history ------------------------------------------------------------------------------


def as_items(value: Any) -> list[Any]:
    """A create call's `input` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list):
        return list(value)
    return []


def history(kept: dict[str, Any]) -> list[Any]:
    """A kept response's whole conversation: its input (earlier turns already expanded) and output.
    Its reasoning items without a carrier are left out: nothing signed to replay, and no upstream
    knows their ids."""
    response = kept.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    items = [*as_items(kept.get("input")), *(output if isinstance(output, list) else [])]
    return [i for i in items if not (_is_reasoning(i) and not i.get("encrypted_content"))]


def _is_reasoning(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "reasoning"


def without_carriers(call: Call) -> Call:
    """A same-format call without the reasoning items whose `encrypted_content` is the gateway's carrier
    of another provider's signed reasoning (a conversation that moved here from a translated target):
    no Responses server can read one, and OpenAI refuses the whole request for it."""
    if CARRIER not in call.body:
        return call
    items = call.obj.get("input")
    if not isinstance(items, list):
        return call
    kept = [
        i
        for i in items
        if not (_is_reasoning(i) and str(i.get("encrypted_content") or "").startswith(reasoning.PREFIX))
    ]
    if len(kept) == len(items):
        return call
    obj = {**call.obj, "input": kept}
    return Call(call.operation, obj, orjson.dumps(obj), call.model)


def conversation_safe(candidates: list[Any], owner: Owner) -> list[Any]:
    """Only the targets that can resolve an upstream id: on the provider, and with the key, that own it
    (a split's other arms, a fallback to another provider are skipped). None such: unchanged, and the
    upstream answers for its id."""
    named = owner.key[4:] if owner.key and owner.key.startswith("key:") else None
    kept = []
    for route, leaf, on in candidates:
        if leaf.provider != owner.provider:
            continue
        if named is not None and leaf.key not in (None, named):
            continue
        kept.append((route, dataclasses.replace(leaf, key=named) if named else leaf, on))
    return kept or candidates


# -- input_tokens for a translated target ---------------------------------------------------------------


def estimate_responses_tokens(obj: dict[str, Any]) -> int:
    """An offline input-token count of a Responses request, erring high as `tokens.py`'s does."""
    total = 0
    instructions = obj.get("instructions")
    if isinstance(instructions, str):
        total += text_tokens(instructions)
    for item in as_items(obj.get("input")):
        if not isinstance(item, dict):
            continue
        total += MESSAGE_OVERHEAD
        content = item.get("content")
        if isinstance(content, str):
            total += text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                total += BLOCK_OVERHEAD + _part_tokens(part)
        for key in ("arguments", "output", "input", "name"):  # tool calls and their results
            value = item.get(key)
            if isinstance(value, str):
                total += text_tokens(value)
            elif isinstance(value, list):
                total += sum(_part_tokens(part) for part in value)
        summary = item.get("summary")
        if isinstance(summary, list):
            total += sum(_part_tokens(part) for part in summary)
    tools = obj.get("tools")
    if isinstance(tools, list) and tools:
        total += TOOLS_OVERHEAD + text_tokens(orjson.dumps(tools).decode())
    return total


def _part_tokens(part: Any) -> int:
    if not isinstance(part, dict):
        return 0
    kind = part.get("type")
    if kind in ("input_image", "input_file"):
        return IMAGE_TOKENS
    text = part.get("text")
    return text_tokens(text) if isinstance(text, str) else 0


# -- the id endpoints ------------------------------------------------------------------------------------

# (sub-path) -> the methods it takes
_ID_METHODS = {"": ("GET", "DELETE"), "cancel": ("POST",), "input_items": ("GET",)}


def parse_id_path(path: str, method: str) -> tuple[str, str]:
    """(response id, sub-path) of `/v1/responses/{id}[/cancel|/input_items]`, matched exactly."""
    rest = path[len(ID_PATH) :]
    response_id, _, sub = rest.partition("/")
    if sub not in _ID_METHODS or not valid_response_id(response_id):
        raise GatewayError("not_found_error", f"no endpoint at {path}", status=404, code="not_found")
    if method not in _ID_METHODS[sub]:
        allowed = " or ".join(_ID_METHODS[sub])
        raise GatewayError("invalid_request_error", f"{path} takes {allowed}", status=405)
    return response_id, sub


async def answer_kept(state: ResponsesState, req: Request, response_id: str, sub: str, send: Send) -> None:
    """An id endpoint for a response the gateway answered itself, from its own store."""
    method = req.scope["method"]
    table = req.table
    try:
        if method == "DELETE":
            if not await state.store(table).value_delete(KEPT + response_id):
                raise not_found(response_id)
            answer: Any = {"id": response_id, "object": "response.deleted", "deleted": True}
        else:
            kept = await state.kept(table, response_id)
            if kept is None:
                raise not_found(response_id)
            if sub == "cancel":  # as OpenAI answers for a response that was not run in the background
                raise GatewayError(
                    "invalid_request_error",
                    "Cannot cancel a response that was not created with background=true.",
                    status=400,
                )
            answer = kept["response"] if sub == "" else _input_items(kept, req)
    except StoreUnavailable as exc:
        raise GatewayError(
            "overloaded_error", f"the state store that keeps responses is unreachable ({exc})", status=503
        ) from None
    req.status = 200
    await send_response(send, 200, orjson.dumps(answer), req.response_headers())


def _input_items(kept: dict[str, Any], req: Request) -> dict[str, Any]:
    """OpenAI's list of a response's input items (newest first unless `order=asc`), paged by `limit`
    and `after`; items without an id get one from their position."""
    query = parse_qs(req.scope.get("query_string", b"").decode("latin-1"))
    items = []
    for index, item in enumerate(as_items(kept.get("input"))):
        if not isinstance(item, dict):
            continue
        listed = dict(item)
        if isinstance(listed.get("content"), str):
            kind = "output_text" if listed.get("role") == "assistant" else "input_text"
            listed["content"] = [{"type": kind, "text": listed["content"]}]
        listed.setdefault("type", "message")
        listed.setdefault("id", f"item_gw{index:06d}")
        if listed["type"] == "message":
            listed.setdefault("status", "completed")
        items.append(listed)
    if query.get("order", ["desc"])[0] != "asc":
        items.reverse()
    after = query.get("after", [None])[0]
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    try:
        limit = max(1, min(100, int(query.get("limit", ["20"])[0])))
    except ValueError:
        raise GatewayError("invalid_request_error", "limit: must be an integer", param="limit") from None
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }


def owner_leaf(owner: Owner) -> Leaf:
    named = owner.key[4:] if owner.key and owner.key.startswith("key:") else None
    return Leaf(owner.provider, owner.model, key=named)
