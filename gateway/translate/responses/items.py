"""What the Responses client side shares: the ids the gateway mints, and the reversible tool names that
flatten a `namespace` tool's functions (and custom tools) into the hub's flat list of tools.

Ids: a response id the gateway mints starts with `GATEWAY_RESPONSE_PREFIX`, so an id a client sends back
(`previous_response_id`, `GET /v1/responses/<id>`) is known to be the gateway's own rather than an
upstream's. Item ids (`msg_`, `fc_`, `rs_`, `ctc_`) are random, like the real API's.

Names: the hub (Anthropic) has one flat list of tools whose names match `^[a-zA-Z0-9_-]{1,64}$`. A
function `f` inside namespace `ns` becomes `ns__f`; a name that breaks the pattern or the length keeps
its valid characters, cut, plus 8 hex of its digest (the same name on every turn of a conversation).
`ToolNames` maps the hub name back to (namespace, name, kind), so output items carry the name and
namespace the client declared, as the real API would.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

GATEWAY_RESPONSE_PREFIX = "resp_gw"

# Anthropic's tool-name pattern; the flattened names must pass it.
_VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID_CHAR = re.compile(r"[^a-zA-Z0-9_-]")
NAMESPACE_SEPARATOR = "__"


def new_response_id() -> str:
    return GATEWAY_RESPONSE_PREFIX + secrets.token_hex(24)


def new_item_id(prefix: str) -> str:
    """An output item id: `msg`, `fc`, `rs` or `ctc`, then random hex (as long as the real API's)."""
    return f"{prefix}_{secrets.token_hex(24)}"


def hub_tool_name(name: str, namespace: str | None = None) -> str:
    """The flat hub name of tool `name` (inside `namespace`, if any); deterministic."""
    full = f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name
    if _VALID.match(full):
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{_INVALID_CHAR.sub('_', full)[:55]}_{digest}"


@dataclass(frozen=True, slots=True)
class ToolName:
    name: str
    namespace: str | None
    kind: str  # "function" or "custom": which call item the model's tool_use becomes


class ToolNames:
    """Hub tool name -> the client's (name, namespace, kind), built from the request's `tools`."""

    def __init__(self) -> None:
        self._by_hub: dict[str, ToolName] = {}

    def add(self, hub_name: str, name: str, namespace: str | None, kind: str) -> None:
        self._by_hub[hub_name] = ToolName(name, namespace, kind)

    def get(self, hub_name: str) -> ToolName:
        # A tool the request did not declare (a model inventing one): a plain function call by that name.
        return self._by_hub.get(hub_name) or ToolName(hub_name, None, "function")

    def __len__(self) -> int:
        return len(self._by_hub)

    @classmethod
    def of(cls, request: dict[str, Any]) -> ToolNames:
        """The names of a Responses request's function, custom and namespace tools."""
        names = cls()
        tools = request.get("tools")
        for tool in tools if isinstance(tools, list) else []:
            if not isinstance(tool, dict):
                continue
            kind = tool.get("type")
            if kind in ("function", "custom") and isinstance(tool.get("name"), str):
                names.add(hub_tool_name(tool["name"]), tool["name"], None, kind)
            elif kind == "namespace" and isinstance(tool.get("name"), str):
                inner = tool.get("tools")
                for fn in inner if isinstance(inner, list) else []:
                    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                        kind_in = "custom" if fn.get("type") == "custom" else "function"
                        names.add(hub_tool_name(fn["name"], tool["name"]), fn["name"], tool["name"], kind_in)
        return names
