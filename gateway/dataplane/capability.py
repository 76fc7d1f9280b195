"""Can this target take this call? Checked once per candidate target, before any upstream call.

What a call needs of its target, read once from the parsed body:
- the file ids its messages reference (an Anthropic document/image/container_upload block with a
  `file` source, a Chat Completions `file` part, a Responses `input_file`/`input_image`): a file id lives
  in the storage of the provider (and key) that created it, so it is forwarded intact, same format, to
  a provider of the type that owns such ids, and only to its owner when the gateway saw it created;
- the server tools it declares (`providers/server_tools.py`, the one table of who runs what).
A candidate that cannot take the call is skipped (a fallback chain goes on; the record shows it as a
`skipped` attempt with the reason); when none can, the client gets a 400 naming the reason and the
target. A call without file ids or server tools (the chat hot path) costs a substring test of the body
and a look at its tools' types.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.dataplane.request import Call, Request
from gateway.observe.record import Attempt, ms
from gateway.providers import server_tools
from gateway.providers.base import ProviderType
from gateway.providers.registry import type_of
from gateway.providers.server_tools import Reach, ServerTool
from gateway.routing.table import Leaf, Provider, RoutingTable

Candidate = tuple[str | None, Leaf, tuple[str, ...] | None]  # as attempts.py: (route, target, `on`)

# The provider types whose APIs keep files a message may reference by id, per client format. A file id
# cannot be translated: the call goes to such a provider in the client's own format, byte-exact.
FILE_OWNERS: Mapping[Format, frozenset[str]] = {
    Format.ANTHROPIC: frozenset({"anthropic"}),
    Format.OPENAI: frozenset({"openai", "azure-openai"}),
    Format.RESPONSES: frozenset({"openai", "azure-openai"}),
}
_FILES_API = {Format.ANTHROPIC: "Anthropic", Format.OPENAI: "OpenAI", Format.RESPONSES: "OpenAI"}


class FileOwner(Protocol):
    """Who created a file id the gateway saw created: a provider name and the key label it used
    (`key:<name>`, `request`, ...)."""

    @property
    def provider(self) -> str: ...

    @property
    def key(self) -> str | None: ...


# (table, file id) -> its owner, when the gateway saw the file created.
Owners = Callable[[RoutingTable, str], Awaitable[FileOwner | None]]


@dataclass(frozen=True, slots=True)
class FileRef:
    file_id: str
    where: str  # the request field that holds it, in the client's notation


@dataclass(frozen=True, slots=True)
class Needs:
    """What a call asks of every target beyond a model: its file ids and its server tools."""

    files: tuple[FileRef, ...]
    tools: tuple[ServerTool, ...]


def wire_for(client: Format, provider: Provider, ptype: ProviderType, model: str) -> Format:
    """The format a call from a `client` speaks to `provider`'s `model`."""
    if client is Format.RESPONSES and ptype.serves(provider, Format.RESPONSES):
        return Format.RESPONSES  # a server of OpenAI's Responses API: same format, byte-exact
    return ptype.wire_format(provider, model)


def needs(client: Format, call: Call) -> Needs | None:
    """What `call` needs of a target; None (the usual case) when any target that serves the model can
    take it."""
    # The key's bytes in the body, before any walk (as body.py's duplicate-key prefilter): a chat call
    # without file ids never walks its messages.
    files = tuple(file_refs(client, call.obj)) if b'"file_id"' in call.body else ()
    tools = tuple(server_tools.declared(client, call.obj))
    return Needs(files, tools) if files or tools else None


def refusal(
    client: Format,
    need: Needs,
    leaf: Leaf,
    reach: Reach,
    owners: Mapping[str, FileOwner | None],
) -> tuple[str, str] | None:
    """Why `leaf` cannot take a call with `need` (the message and the field), or None when it can."""
    target = f"{leaf.target} (provider {leaf.provider!r}, type {reach.ptype})"
    for ref in need.files:
        owner = owners.get(ref.file_id)
        if owner is not None:
            if leaf.provider == owner.provider and _key_fits(leaf, owner) and reach.wire is client:
                continue
            belongs = f"provider {owner.provider!r}"
            if owner.key and owner.key.startswith("key:"):
                belongs += f" (key {owner.key[4:]!r})"
        else:
            if reach.wire is client and reach.ptype in FILE_OWNERS[client]:
                continue
            belongs = f"the {_FILES_API[client]} Files API"
        return (
            f"{ref.where}: file_id {ref.file_id!r} belongs to {belongs}; it cannot be served by {target}: "
            "a file id is valid only where the file was uploaded. Route this request to that provider, "
            "or send the file's content inline",
            ref.where,
        )
    for tool in need.tools:
        if not server_tools.supported(tool, reach):
            return (
                f"{tool.where}: the {tool.type!r} server tool cannot run on {target}. Remove the tool, "
                "or route this request to a provider that runs it",
                f"{tool.where}.type" if tool.where.startswith("tools[") else tool.where,
            )
    return None


def _key_fits(leaf: Leaf, owner: FileOwner) -> bool:
    named = owner.key[4:] if owner.key and owner.key.startswith("key:") else None
    return named is None or leaf.key in (None, named)


def _pinned(leaf: Leaf, need: Needs, owners: Mapping[str, FileOwner | None]) -> Leaf:
    """The leaf with the stored key that created the call's files, when the gateway saw that."""
    for ref in need.files:
        owner = owners.get(ref.file_id)
        if owner is not None and owner.key and owner.key.startswith("key:"):
            return dataclasses.replace(leaf, key=owner.key[4:])
    return leaf


async def admissible(
    req: Request, call: Call, candidates: list[Candidate], owners: Owners | None = None
) -> list[Candidate]:
    """The candidates that can take `call`, in order; the others are recorded as skipped attempts.
    Raises a 400 (the client's envelope, by the handler) when none can."""
    need = needs(req.format, call)
    if need is None or not candidates:
        return candidates
    found: dict[str, FileOwner | None] = {}
    if owners is not None:
        for ref in need.files:
            if ref.file_id not in found:
                found[ref.file_id] = await owners(req.table, ref.file_id)
    kept: list[Candidate] = []
    reasons: list[tuple[str, str]] = []
    now = time.perf_counter()
    for route, leaf, on in candidates:
        provider = req.table.providers[leaf.provider]
        ptype = type_of(provider)
        reach = Reach(ptype.name, wire_for(req.format, provider, ptype, leaf.model), leaf.model)
        why = refusal(req.format, need, leaf, reach, found)
        if why is None:
            kept.append((route, _pinned(leaf, need, found), on))
            continue
        reasons.append(why)
        req.skipped += 1
        req.attempts.append(
            Attempt(leaf.target, 400, why[0], start_ms=ms(now - req.started), duration_ms=0.0, skipped=True)
        )
    if kept:
        return kept
    req.route, req.target = candidates[0][0], candidates[0][1].target
    message, param = reasons[0]
    if len(reasons) > 1:
        message = "no target can take this request: " + " | ".join(r[0] for r in reasons)
    raise GatewayError("invalid_request_error", message, param=param)


# -- file ids in each format's messages ---------------------------------------------------------------


def file_refs(client: Format, obj: Mapping[str, Any]) -> list[FileRef]:
    """The file ids a request's messages reference, in order."""
    out: list[FileRef] = []
    if client is Format.ANTHROPIC:
        for i, message in _items(obj.get("messages")):
            for j, block in _items(message.get("content")):
                _anthropic_block(block, f"messages.{i}.content.{j}", out)
    elif client is Format.OPENAI:
        for i, message in _items(obj.get("messages")):
            for j, part in _items(message.get("content")):
                spec = part.get("file") if part.get("type") == "file" else None
                if isinstance(spec, dict) and isinstance(spec.get("file_id"), str):
                    out.append(FileRef(spec["file_id"], f"messages[{i}].content[{j}].file.file_id"))
    elif client is Format.RESPONSES:
        for i, item in _items(obj.get("input")):
            # A message's content parts, or a tool output given as parts.
            parts = item.get("content") if "content" in item else item.get("output")
            for j, part in _items(parts):
                if part.get("type") in ("input_file", "input_image") and isinstance(part.get("file_id"), str):
                    field = "content" if "content" in item else "output"
                    out.append(FileRef(part["file_id"], f"input[{i}].{field}[{j}].file_id"))
    return out


def _anthropic_block(block: dict[str, Any], where: str, out: list[FileRef]) -> None:
    kind = block.get("type")
    if kind in ("document", "image"):
        source = block.get("source")
        file_id = source.get("file_id") if isinstance(source, dict) and source.get("type") == "file" else None
        if isinstance(file_id, str):
            out.append(FileRef(file_id, f"{where}.source.file_id"))
    elif kind == "container_upload" and isinstance(block.get("file_id"), str):
        out.append(FileRef(block["file_id"], f"{where}.file_id"))
    elif kind == "tool_result":
        for k, inner in _items(block.get("content")):
            _anthropic_block(inner, f"{where}.content.{k}", out)


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """A JSON list's objects with their indexes (anything else: none; the translator or the upstream
    answers for a malformed body)."""
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]
