"""Which server tools (tools the provider runs, or whose schema only its models know) each target can
take: the one table of it. Entry point: `supported(tool, target)`.

A server tool is named by the API it was written for (the client's format) and its `type`, reduced to a
family (`web_search_20250305` -> `web_search`). A target is a provider type and the wire format the
call speaks there. Three answers:
- NATIVE: the target speaks the tool's own API (same format): the tool passes untouched. A platform
  known not to run a family (Bedrock has no code execution) is refused; a family this table does not
  know passes, and the upstream judges it.
- MAPPED: the translators turn it into the target's own equivalent (a Responses `web_search` into
  Anthropic's web_search tool).
- DROPPED: the translators leave it out on purpose (see `_DROPPED`); anything else is refused, with a
  400 naming the tool and the target, before any upstream call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from gateway.core.formats import Format
from gateway.translate.server_tools import openai_search_model


@dataclass(frozen=True, slots=True)
class ServerTool:
    """One server tool a request declares: the API it was written for, its `type` as sent, and where."""

    api: Format
    type: str
    where: str  # the request field: `tools[2]`, `web_search_options`, `mcp_servers`

    @property
    def family(self) -> str:
        return family(self.api, self.type)


@dataclass(frozen=True, slots=True)
class Reach:
    """A target as this table sees it: its provider type's name and the call's wire format there.
    `converted`: the provider type rewrites the body into another API itself (Bedrock's Converse, for
    its models other than Claude), so nothing passes natively. `model`: the upstream model (not part
    of the target's identity: only `_MODELS` looks at it)."""

    ptype: str
    wire: Format
    converted: bool = field(default=False, compare=False)
    model: str = field(default="", compare=False)


class Support(Enum):
    NATIVE = "native"
    MAPPED = "mapped"
    DROPPED = "dropped"
    REFUSED = "refused"


# Anthropic's versioned tool types, by prefix (read from the anthropic SDK's types): the family of each.
_ANTHROPIC_PREFIXES = (
    ("web_search_", "web_search"),
    ("web_fetch_", "web_fetch"),
    ("code_execution_", "code_execution"),
    ("computer_", "computer"),  # computer_20250124, computer_toolset_20260801
    ("bash_", "bash"),
    ("text_editor_", "text_editor"),
    ("memory_", "memory"),
    ("tool_search_tool_", "tool_search"),
    ("mcp_toolset", "mcp"),
    ("advisor_", "advisor"),
    ("browser_toolset_", "browser"),
)
# The Responses API's built-in tools (openai SDK's ToolParam union), by type.
_RESPONSES_TYPES = {
    "web_search": "web_search",
    "web_search_2025_08_26": "web_search",
    "web_search_preview": "web_search",
    "web_search_preview_2025_03_11": "web_search",
    "file_search": "file_search",
    "code_interpreter": "code_interpreter",
    "computer": "computer",
    "computer_use_preview": "computer",
    "image_generation": "image_generation",
    "mcp": "mcp",
    "local_shell": "local_shell",
    "shell": "shell",
    "apply_patch": "apply_patch",
    "tool_search": "tool_search",
    "programmatic_tool_calling": "programmatic_tool_calling",
}

# Families an Anthropic-format platform other than Anthropic's own API does not run (its docs list them
# as Claude API only). Anthropic's API runs every family; a family not named here passes to the others.
_NOT_ON: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "bedrock": frozenset({"web_search", "web_fetch", "code_execution", "mcp", "advisor", "browser"}),
        "vertex": frozenset({"web_fetch", "code_execution", "mcp", "advisor", "browser"}),
    }
)

# Where each web tool can run, translated (the translators in gateway/translate write these):
# - web search: Anthropic's web_search tool on Claude (Anthropic's API, Vertex), Chat Completions'
#   `web_search_options` on OpenAI's search models only (see `_MODELS`), the Responses API's
#   `web_search` tool, Gemini's `google_search` grounding (AI Studio and Vertex);
# - web fetch: Gemini's `url_context` (it reads the URLs the prompt names); OpenAI has none.
_CLAUDE_SEARCH = frozenset({Reach("anthropic", Format.ANTHROPIC), Reach("vertex", Format.ANTHROPIC)})
_CHAT_SEARCH = frozenset({Reach("openai", Format.OPENAI)})
_RESPONSES_SEARCH = frozenset({Reach("openai", Format.RESPONSES)})
_GEMINI = frozenset({Reach("gemini", Format.GEMINI), Reach("vertex", Format.GEMINI)})

# (the tool's API, family) -> the targets whose translators map it to their own equivalent.
MAPPED: dict[tuple[Format, str], frozenset[Reach]] = {
    (Format.RESPONSES, "web_search"): _CLAUDE_SEARCH | _CHAT_SEARCH | _GEMINI,
    (Format.OPENAI, "web_search"): _CLAUDE_SEARCH | _RESPONSES_SEARCH | _GEMINI,
    (Format.ANTHROPIC, "web_search"): _CHAT_SEARCH | _RESPONSES_SEARCH | _GEMINI,
    (Format.ANTHROPIC, "web_fetch"): _GEMINI,
}

# (family, target) -> which models of the target take the family; a target not named here, all.
_MODELS: Mapping[tuple[str, Reach], Callable[[str], bool]] = MappingProxyType(
    {("web_search", Reach("openai", Format.OPENAI)): openai_search_model}
)

# (the tool's API, family) the translators leave out on purpose where not mapped. Codex declares a
# Responses `web_search` in every request: a Codex session must still work on a target without search.
_DROPPED: frozenset[tuple[Format, str]] = frozenset({(Format.RESPONSES, "web_search")})


def family(api: Format, kind: str) -> str:
    """A tool type's family (`web_search_20250305` -> `web_search`); an unknown type is its own."""
    if api is Format.ANTHROPIC:
        for prefix, name in _ANTHROPIC_PREFIXES:
            if kind.startswith(prefix):
                return name
        return kind
    if api is Format.RESPONSES:
        return _RESPONSES_TYPES.get(kind, kind)
    return kind


def support(tool: ServerTool, target: Reach) -> Support:
    """How `target` takes `tool` (see the module docstring)."""
    name = tool.family
    if target.wire is tool.api and not target.converted:
        # The upstream speaks the tool's own API: it is sent as is, unless the platform is known not to
        # run it.
        refused = _NOT_ON.get(target.ptype)
        return Support.REFUSED if refused is not None and name in refused else Support.NATIVE
    mapped = target in MAPPED.get((tool.api, name), ()) and not target.converted
    if mapped and _MODELS.get((name, target), _every)(target.model):
        return Support.MAPPED
    if (tool.api, name) in _DROPPED:
        return Support.DROPPED
    return Support.REFUSED


def _every(model: str) -> bool:
    return True


def runs(api: Format, family_name: str, target: Reach) -> bool:
    """Whether `target` runs the `family_name` tool of `api`: natively or mapped (not dropped)."""
    return support(ServerTool(api, family_name, ""), target) in (Support.NATIVE, Support.MAPPED)


def supported(tool: ServerTool, target: Reach) -> bool:
    """Whether `target` can take a request declaring `tool` (natively, mapped, or dropped by design)."""
    return support(tool, target) is not Support.REFUSED


def declared(api: Format, obj: Mapping[str, Any]) -> list[ServerTool]:
    """The server tools a request body of format `api` declares (empty for plain function tools)."""
    out: list[ServerTool] = []
    tools = obj.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                continue  # malformed: the translator or the upstream answers for it
            kind = tool.get("type")
            if api is Format.ANTHROPIC:
                # Custom tools may omit `type` (Claude Code does).
                if kind is None or kind == "custom" or not isinstance(kind, str):
                    continue
            elif api is Format.RESPONSES:
                if kind in ("function", "custom", "namespace") or not isinstance(kind, str):
                    continue
                if family(api, kind) == "web_search" and tool.get("external_web_access") is False:
                    continue  # cached results only: every translator leaves it out (no live search)
            else:
                continue  # Chat Completions tools are functions (and custom); its search is below
            out.append(ServerTool(api, kind, f"tools[{i}]"))
    if api is Format.ANTHROPIC and obj.get("mcp_servers"):
        out.append(ServerTool(api, "mcp_toolset", "mcp_servers"))
    if api is Format.OPENAI and isinstance(obj.get("web_search_options"), dict):
        out.append(ServerTool(api, "web_search", "web_search_options"))
    return out
