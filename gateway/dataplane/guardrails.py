"""Guardrails on a model call's input (config.md `guardrails:`): read every text the model would read
from the parsed call, in the client's format, and block, redact or flag before routing.

Texts are: system / instructions, every turn's text (user, assistant, tool results), an earlier tool
call's arguments, and the tools' descriptions (their parameter descriptions too). Ids, signatures, tool
names and the structure are never touched, so a redacted request stays valid. Thinking and reasoning
blocks are not read: they carry a signature (or are encrypted) over their exact text, and the upstream
would refuse the request if a byte changed.

The matched text is never stored, logged or echoed: a hit is recorded as {name, on, action} only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.dataplane.http1 import Client, UpstreamError
from gateway.dataplane.request import Call, Request
from gateway.policy.guardrails import Guardrail, Webhook
from gateway.policy.guardrails.model import probe_of
from gateway.routing import plan as routing
from gateway.translate import pipeline
from gateway.translate.tokens import estimate_input_tokens

log = logging.getLogger("gateway.guardrails")

# One place a text lives in a mutable JSON value: container[key] is a str.
Slot = tuple[Any, Any]
# A JSON string inside the JSON (a tool call's `arguments`): (container, key, parsed value) — its own
# strings are slots of the parsed value, written back as JSON when one of them changes.
Nested = tuple[Any, Any, Any]

WEBHOOK_MAX_ANSWER = 64 * 1024
_METADATA_HEADERS = tuple(h.encode() for h in routing.METADATA_HEADERS)


def blocked(name: str) -> GatewayError:
    return GatewayError(
        "invalid_request_error",
        f"the request was blocked by guardrail {name!r}",
        code="guardrail_blocked",
    )


def record_hit(req: Request, rail: Guardrail, on: str, action: str | None = None) -> None:
    hit = {"name": rail.name, "on": on, "action": action or rail.action}
    if req.guardrails is None:
        req.guardrails = [hit]
    elif hit not in req.guardrails:
        req.guardrails.append(hit)


class Webhooks:
    """Calls guardrail webhooks over the gateway's own HTTP client (async: the loop never waits)."""

    def __init__(self) -> None:
        self.client = Client(64, 5.0)

    async def verdict(self, hook: Webhook, payload: dict[str, Any]) -> tuple[str, str | None]:
        """("allow" | "block", None) or ("error", why); never raises."""
        headers = {"content-type": "application/json", **dict(hook.headers)}
        response = None
        try:
            async with asyncio.timeout(hook.timeout):
                response = await self.client.request("POST", hook.url, headers, orjson.dumps(payload))
                body = await response.read()
        except TimeoutError:
            return "error", f"no answer within {hook.timeout:g}s"
        except (UpstreamError, OSError) as exc:
            return "error", f"unreachable: {type(exc).__name__}"
        finally:
            if response is not None:
                response.release()  # the connection back to the pool (or closed, if cut short)
        if response.status != 200:
            return "error", f"status {response.status}"
        try:
            answer = orjson.loads(body[:WEBHOOK_MAX_ANSWER])
        except orjson.JSONDecodeError:
            return "error", "the answer is not JSON"
        verdict = answer.get("verdict") if isinstance(answer, dict) else None
        if verdict not in ("allow", "block"):
            return "error", "the answer has no verdict allow or block"
        return verdict, None

    def close(self) -> None:
        self.client.close()


async def check_input(req: Request, call: Call, webhooks: Webhooks) -> Call:
    """The call as it may go on: unchanged, or with its texts redacted (a new body; the cache key and the
    byte-exact path use it). Raises the 400 `guardrail_blocked` on a block."""
    rails = [g for g in req.gateway.guardrails if g.input]
    if not rails:
        return call
    slots, nested = collect(req.format, call.operation, call.obj)
    # One pass of every pattern at once over each text: nothing found, no pattern needs asking (the
    # usual request) and no copy is made.
    probe = probe_of([g for g in rails if g.matcher is not None])
    quiet = probe is not None and not any(probe.found(c[k]) for c, k in slots)
    obj = call.obj
    if not quiet and any(g.action == "redact" and g.matcher is not None for g in rails):
        # A copy to rewrite (Call.obj is never mutated: attempts and the cache read it).
        obj = orjson.loads(orjson.dumps(call.obj))
        slots, nested = collect(req.format, call.operation, obj)
    matched: list[Guardrail] = []  # rails whose patterns matched: their text is kept out of a logged body
    try:
        changed = await _check(req, call, rails, obj, slots, matched, webhooks, quiet)
    finally:  # on a block too, whichever check blocked
        _scrub_logged_body(req, call, matched)
    if not changed:
        return call
    _encode_nested(nested)
    return dataclasses.replace(call, obj=obj, body=orjson.dumps(obj))


async def _check(
    req: Request,
    call: Call,
    rails: list[Guardrail],
    obj: Any,
    slots: list[Slot],
    matched: list[Guardrail],
    webhooks: Webhooks,
    quiet: bool,
) -> bool:
    """Each rail in order over the texts (redacting in `obj`'s slots); whether any text changed.
    `quiet`: no pattern matches any text."""
    changed = False
    for rail in rails:
        if rail.matcher is not None and not quiet:
            found = False
            for container, key in slots:
                text = container[key]
                if rail.action != "redact":
                    if rail.matcher.first(text) is not None:
                        found = True
                        break  # block, flag: one hit decides, the rest is never searched for
                    continue
                redacted = rail.matcher.redact(text)
                if redacted is not text:
                    container[key] = redacted
                    found = changed = True
            if found:
                record_hit(req, rail, "input")
                matched.append(rail)
                if rail.action == "block":
                    raise blocked(rail.name)
        if rail.max_input_tokens is not None and _input_tokens(req, call, obj) > rail.max_input_tokens:
            record_hit(req, rail, "input")
            if rail.action == "block":
                raise blocked(rail.name)
        if rail.webhook is not None:
            text = "\n\n".join(c[k] for c, k in slots)
            await _ask_webhook(req, call, rail, rail.webhook, webhooks, text)
    return changed


def _encode_nested(nested: list[Nested]) -> None:
    for container, key, parsed in reversed(nested):  # inner JSON first, then the strings holding it
        container[key] = orjson.dumps(parsed).decode()


def _scrub_logged_body(req: Request, call: Call, rails: list[Guardrail]) -> None:
    """With `logs.bodies`, the body kept for the log is the client's: what any guardrail matched in it
    (blocked, redacted or flagged) is redacted there too, so the matched text is never stored."""
    if req.request_body is None or not rails:
        return
    copy = orjson.loads(orjson.dumps(call.obj))
    slots, nested = collect(req.format, call.operation, copy)
    for container, key in slots:
        for rail in rails:
            container[key] = rail.redact(container[key])
    _encode_nested(nested)
    req.request_body = orjson.dumps(copy)


async def _ask_webhook(
    req: Request, call: Call, rail: Guardrail, hook: Webhook, webhooks: Webhooks, text: str
) -> None:
    # The request's metadata as routing and the log see it: the header's, overridden by the token's.
    header = next((req.headers[h] for h in _METADATA_HEADERS if h in req.headers), None)
    metadata: dict[str, Any] = routing.header_metadata(header)
    if req.caller is not None and req.caller.token is not None:
        metadata.update(req.caller.token.metadata)
    payload = {
        "direction": "input",
        "text": text,
        "model": call.model,
        "gateway": req.gateway.name,
        "metadata": metadata,
    }
    verdict, why = await webhooks.verdict(hook, payload)
    if verdict == "error":
        # The reason names the failure, never the text or the webhook's headers.
        log.warning(
            "guardrail %s: webhook failed (%s): %s (request %s)",
            rail.name,
            why,
            "blocked" if hook.on_error == "block" else "allowed",
            req.id,
        )
        if hook.on_error == "allow":
            return
    elif verdict == "allow":
        return
    record_hit(req, rail, "input")
    if rail.action == "block":
        raise blocked(rail.name)


def _input_tokens(req: Request, call: Call, obj: dict[str, Any]) -> int:
    """The gateway's estimate, as budgets see it (tokens.py over the Anthropic form of the call)."""
    try:
        translated = req.format is Format.OPENAI or req.format is Format.RESPONSES
        hub = pipeline.to_hub(req.format, obj, call.model) if translated else obj
        return estimate_input_tokens(hub)
    except Exception:  # an untranslatable shape: the body's size, the same floor admission uses
        return len(call.body) // 3


# -- where the texts are, per client format ------------------------------------------------------------


def collect(fmt: Format, operation: str, obj: Any) -> tuple[list[Slot], list[Nested]]:
    slots: list[Slot] = []
    nested: list[Nested] = []
    if not isinstance(obj, dict):
        return slots, nested
    walk = _WALKERS.get(fmt)
    if operation == "embeddings":
        _strings_at(obj, "input", slots)
        if isinstance(obj.get("input"), list):
            for i, item in enumerate(obj["input"]):
                if isinstance(item, str):
                    slots.append((obj["input"], i))
    elif walk is not None:
        walk(obj, slots, nested)
    return slots, nested


def _strings_at(container: Any, key: Any, slots: list[Slot]) -> None:
    if isinstance(container, dict) and isinstance(container.get(key), str) and container[key]:
        slots.append((container, key))


def _all_strings(value: Any, slots: list[Slot]) -> None:
    """Every string value inside a JSON value (tool arguments, tool inputs): keys are left alone."""
    for container, key in _children(value):
        child = container[key]
        if isinstance(child, str):
            if child:
                slots.append((container, key))
        else:
            _all_strings(child, slots)


def _children(value: Any) -> Iterator[Slot]:
    if isinstance(value, dict):
        yield from ((value, k) for k in value)
    elif isinstance(value, list):
        yield from ((value, i) for i in range(len(value)))


def _json_string(container: Any, key: Any, slots: list[Slot], nested: list[Nested]) -> None:
    """A JSON document in a string (`arguments`): its string values, re-encoded when one changes; a
    string that is not JSON is read as text."""
    text = container.get(key) if isinstance(container, dict) else None
    if not isinstance(text, str) or not text:
        return
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        slots.append((container, key))
        return
    if isinstance(parsed, str):
        slots.append((container, key))
        return
    nested.append((container, key, parsed))
    _all_strings(parsed, slots)


def _descriptions(schema: Any, slots: list[Slot]) -> None:
    """`description` strings anywhere in a JSON Schema (the model reads them)."""
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k == "description" and isinstance(v, str) and v:
                slots.append((schema, k))
            elif isinstance(v, dict | list):
                _descriptions(v, slots)
    elif isinstance(schema, list):
        for item in schema:
            _descriptions(item, slots)


def _anthropic_blocks(blocks: Any, slots: list[Slot], nested: list[Nested]) -> None:
    if not isinstance(blocks, list):
        return
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            _strings_at(block, "text", slots)
        elif kind == "tool_use" or kind == "server_tool_use":
            _all_strings(block.get("input"), slots)
        elif kind == "tool_result" or kind == "search_result":
            content = block.get("content")
            if isinstance(content, str):
                _strings_at(block, "content", slots)
            else:
                _anthropic_blocks(content, slots, nested)
            _strings_at(block, "title", slots)
        elif kind == "document":
            source = block.get("source")
            if isinstance(source, dict) and source.get("type") == "text":
                _strings_at(source, "data", slots)
            elif isinstance(source, dict) and source.get("type") == "content":
                _anthropic_blocks(source.get("content"), slots, nested)
            _strings_at(block, "context", slots)
        # thinking / redacted_thinking (signed), images, web search results (encrypted): left alone


def _anthropic(obj: dict[str, Any], slots: list[Slot], nested: list[Nested]) -> None:
    if isinstance(obj.get("system"), str):
        _strings_at(obj, "system", slots)
    else:
        _anthropic_blocks(obj.get("system"), slots, nested)
    for message in obj.get("messages") or ():
        if isinstance(message, dict):
            if isinstance(message.get("content"), str):
                _strings_at(message, "content", slots)
            else:
                _anthropic_blocks(message.get("content"), slots, nested)
    for tool in obj.get("tools") or ():
        if isinstance(tool, dict):
            _strings_at(tool, "description", slots)
            _descriptions(tool.get("input_schema"), slots)


CHAT_TEXT = frozenset({"text"})
RESPONSES_TEXT = frozenset({"input_text", "output_text", "text"})


def _text_parts(item: dict[str, Any], key: str, slots: list[Slot], types: frozenset[str]) -> None:
    """A content field that is a string or a list of parts, of which `types` are text."""
    content = item.get(key)
    if isinstance(content, str):
        _strings_at(item, key, slots)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") in types:
                _strings_at(part, "text", slots)


def _chat(obj: dict[str, Any], slots: list[Slot], nested: list[Nested]) -> None:
    for message in obj.get("messages") or ():
        if not isinstance(message, dict):
            continue
        _text_parts(message, "content", slots, CHAT_TEXT)
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                _json_string(call["function"], "arguments", slots, nested)
        if isinstance(message.get("function_call"), dict):
            _json_string(message["function_call"], "arguments", slots, nested)
    functions = [t.get("function") for t in obj.get("tools") or () if isinstance(t, dict)]
    for function in [*functions, *(obj.get("functions") or ())]:  # `functions`: the deprecated form
        if isinstance(function, dict):
            _strings_at(function, "description", slots)
            _descriptions(function.get("parameters"), slots)


def _responses(obj: dict[str, Any], slots: list[Slot], nested: list[Nested]) -> None:
    _strings_at(obj, "instructions", slots)
    items = obj.get("input")
    if isinstance(items, str):
        _strings_at(obj, "input", slots)
    elif isinstance(items, list):
        for item in items:
            if not isinstance(item, dict):
                continue
            kind = item.get("type", "message")
            if kind == "message":
                _text_parts(item, "content", slots, RESPONSES_TEXT)
            elif kind == "function_call":
                _json_string(item, "arguments", slots, nested)
            elif kind in ("function_call_output", "custom_tool_call_output"):
                _text_parts(item, "output", slots, RESPONSES_TEXT)
            elif kind == "custom_tool_call":
                _strings_at(item, "input", slots)
            # reasoning (encrypted or signed summaries) and the other item types: left alone
    for tool in obj.get("tools") or ():
        if isinstance(tool, dict):
            _strings_at(tool, "description", slots)
            _descriptions(tool.get("parameters"), slots)


_WALKERS: dict[Format, Callable[[dict[str, Any], list[Slot], list[Nested]], None]] = {
    Format.ANTHROPIC: _anthropic,
    Format.OPENAI: _chat,
    Format.RESPONSES: _responses,
}
