"""Route execution: which leaf (or ordered fallback list of leaves) serves one request, and why.

Pure: no I/O, no clocks. The data plane calls `decide` with the live table for every request;
`gateway explain` and `POST /api/explain` call `explain`, which runs the same walk and renders it for people.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.errors import GatewayError
from gateway.routing.resolve import check_allowed, lookup, lookup_explained
from gateway.routing.table import (
    EMPTY,
    Fallback,
    Gateway,
    Leaf,
    Limit,
    Matcher,
    Node,
    RouteRef,
    RoutingTable,
    Split,
    Switch,
)

MetadataValue = str | int | float | bool

FIELDS = ("token", "model", "stream", "has_tools", "has_images", "input_tokens")


@dataclass(frozen=True, slots=True)
class Facts:
    """What matchers, `sticky` and `by` can see of one request."""

    metadata: Mapping[str, MetadataValue] = field(default_factory=lambda: EMPTY)
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # lower-case names
    token: str | None = None
    model: str = ""  # as the client sent it
    stream: bool = False
    has_tools: bool = False
    has_images: bool = False
    input_tokens: int = 0  # estimated
    # A Responses call continuing an upstream response id: the provider that owns it. A split takes a
    # branch that reaches it (the others cannot resolve the id) when one does.
    pinned: str | None = None

    def field(self, name: str) -> tuple[bool, Any]:
        """(present, value) for a field name: metadata.<key>, header.<name>, token, model, stream, ..."""
        if name.startswith("metadata."):
            key = name[len("metadata.") :]
            return (True, self.metadata[key]) if key in self.metadata else (False, None)
        if name.startswith("header."):
            value = self.headers.get(name[len("header.") :].lower())
            return (value is not None, value)
        if name == "token":
            return (self.token is not None, self.token)
        if name in FIELDS:
            return True, getattr(self, name)
        return False, None


# Matchers --------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: "5" != 5, true != 1, 1 == 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is None and b is None
    return type(a) is type(b) and bool(a == b)


@functools.lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def matches(matcher: Matcher, present: bool, value: Any) -> bool:
    """One matcher against one field. An absent field fails everything but {exists: false} and {not: ...}."""
    op, expected = matcher.op, matcher.value
    if op == "exists":
        return present is bool(expected)
    if op == "not":
        return not matches(expected, present, value)
    if not present:
        return False
    if op == "eq":
        return json_equal(value, expected)
    if op == "in":
        return any(json_equal(value, x) for x in expected)
    if op in ("gt", "gte", "lt", "lte"):
        if not (_is_number(value) and _is_number(expected)):
            return False
        if op == "gt":
            return bool(value > expected)
        if op == "gte":
            return bool(value >= expected)
        if op == "lt":
            return bool(value < expected)
        return bool(value <= expected)
    if op == "matches":
        if not (isinstance(value, str) and isinstance(expected, str)):
            return False
        return _regex(expected).search(value) is not None
    # A one-key object that is not an operator is a plain value compared for equality.
    return json_equal(value, {op: expected})


def show_value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def show_matcher(name: str, matcher: Matcher) -> str:
    op, value = matcher.op, matcher.value
    if op == "eq":
        return f"{name} = {show_value(value)}"
    if op == "in":
        return f"{name} in {show_value(list(value))}"
    if op == "not":
        return f"not ({show_matcher(name, value)})"
    symbols = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    if op in symbols:
        return f"{name} {symbols[op]} {show_value(value)}"
    if op == "matches":
        return f"{name} matches /{value}/"
    if op == "exists":
        return f"{name} {'exists' if value else 'is absent'}"
    return f"{name} = {show_value({op: value})}"


# Decisions -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    leaf: Leaf
    route: str | None  # the route the leaf was reached through, outermost
    on: tuple[str, ...] | None  # what moves past this candidate to the next one; None for the last


@dataclass(frozen=True, slots=True)
class SplitBranch:
    weight: float
    probability: float
    target: str  # a short description of the branch's node


@dataclass(frozen=True, slots=True)
class SplitChoice:
    """One split on the taken path, for explain."""

    route: str | None
    sticky: str | None
    branches: tuple[SplitBranch, ...]
    chosen: int
    how: str  # "by weight (random)" or 'sticky metadata.user="u1"'


@dataclass(frozen=True, slots=True)
class Decision:
    candidates: tuple[Candidate, ...]  # the ordered attempt list
    steps: tuple[str, ...]  # human-readable trace, one step a line
    splits: tuple[SplitChoice, ...] = ()


class RoutingError(Exception):
    """No candidate for this request; `steps` is the trace up to the point it stopped."""

    def __init__(self, message: str, steps: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.steps = steps


class NoRoute(RoutingError):
    """A switch without `default` where no case matched."""


class LimitReached(RoutingError):
    """A spent limit without `otherwise`: the client gets a 429."""

    def __init__(self, message: str, steps: tuple[str, ...] = (), limit: Limit | None = None) -> None:
        super().__init__(message, steps)
        self.limit = limit


# A limit node's gate: (limit, facts, the route it is in) -> True when the limit is spent.
Gate = Callable[[Limit, "Facts", str | None], bool]


def sticky_point(route: str | None, value: Any) -> float:
    """A stable number in [0, 1) for (route, sticky value): the same across processes and restarts."""
    data = f"{route or ''}\0{show_value(value)}".encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") / 2.0**64


def pick(weights: tuple[float, ...], point: float) -> int:
    """The branch whose share of [0, total) holds point * total."""
    total = sum(weights)
    mark = point * total
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if mark < acc:
            return i
    return len(weights) - 1


def describe_node(node: Node) -> str:
    if isinstance(node, Leaf):
        return node.target
    if isinstance(node, RouteRef):
        return f"dynamic/{node.route}"
    if isinstance(node, Fallback):
        return "fallback [" + ", ".join(describe_node(n) for n in node.nodes) + "]"
    if isinstance(node, Split):
        return "split [" + ", ".join(f"{w:g}: {describe_node(n)}" for w, n in node.branches) + "]"
    if isinstance(node, Switch):
        return f"switch ({len(node.cases)} case(s){', default' if node.default is not None else ''})"
    return f"limit ({describe_limit(node)})"


def describe_limit(limit: Limit) -> str:
    if limit.budget is not None:
        return f"budget {limit.budget}"
    return f"rate {limit.rate.describe()}" if limit.rate is not None else "rate ?"


def _seconds(value: float) -> str:
    return f"{value:g}s"


class _Walk:
    def __init__(
        self, table: RoutingTable, facts: Facts, rand: Callable[[], float], gate: Gate | None
    ) -> None:
        self.table = table
        self.facts = facts
        self.rand = rand
        self.gate = gate
        self.steps: list[str] = []
        self.splits: list[SplitChoice] = []

    def step(self, route: str | None, text: str) -> None:
        self.steps.append(f"route {route}: {text}" if route else text)

    def walk(self, node: Node, outer: str | None, route: str | None) -> list[Candidate]:
        if isinstance(node, Leaf):
            options = []
            if node.timeout is not None:
                options.append(f"timeout {_seconds(node.timeout)}")
            if node.retries:
                options.append(f"retries {node.retries}")
            if node.key:
                options.append(f"key {node.key}")
            if node.params:
                options.append(f"params {show_value(dict(node.params))}")
            if options:
                self.step(route, f"{node.target}: " + ", ".join(options))
            return [Candidate(node, outer, None)]
        if isinstance(node, RouteRef):
            if route is not None:
                self.step(route, f"follows dynamic/{node.route}")
            return self.walk(self.table.routes[node.route].node, outer or node.route, node.route)
        if isinstance(node, Fallback):
            self.step(
                route, f"fallback over {len(node.nodes)} node(s) in order, next one on [{', '.join(node.on)}]"
            )
            out: list[Candidate] = []
            for i, sub in enumerate(node.nodes):
                found = self.walk(sub, outer, route)
                if i < len(node.nodes) - 1:
                    found = [c if c.on is not None else Candidate(c.leaf, c.route, node.on) for c in found]
                out.extend(found)
            return out
        if isinstance(node, Split):
            return self.split(node, outer, route)
        if isinstance(node, Switch):
            return self.switch(node, outer, route)
        return self.limit(node, outer, route)

    def split(self, node: Split, outer: str | None, route: str | None) -> list[Candidate]:
        weights = tuple(w for w, _ in node.branches)
        total = sum(weights)
        present, value = self.facts.field(node.sticky) if node.sticky else (False, None)
        if node.sticky and present:
            chosen = pick(weights, sticky_point(route, value))
            how = f"sticky {node.sticky}={show_value(value)}"
        else:
            chosen = pick(weights, self.rand())
            how = "by weight (random)"
            if node.sticky:
                how += f", sticky field {node.sticky} absent"
        pinned = self.facts.pinned
        if pinned is not None and not self.reaches(node.branches[chosen][1], pinned):
            owners = [i for i, (_, n) in enumerate(node.branches) if self.reaches(n, pinned)]
            if owners:  # weighted among the branches that reach the conversation's provider
                chosen = owners[pick(tuple(weights[i] for i in owners), self.rand())]
                how = f"for provider {pinned}, which owns the previous response"
        branches = tuple(SplitBranch(w, w / total, describe_node(n)) for w, n in node.branches)
        self.splits.append(SplitChoice(route, node.sticky, branches, chosen, how))
        w = weights[chosen]
        self.step(
            route,
            f"split: branch {chosen + 1} of {len(weights)} (weight {w:g}, p={w / total:.2f}) chosen {how}",
        )
        return self.walk(node.branches[chosen][1], outer, route)

    def reaches(self, node: Node, provider: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether some target below `node` is on `provider`."""
        if isinstance(node, Leaf):
            return node.provider == provider
        if isinstance(node, RouteRef):
            if node.route in seen:
                return False
            return self.reaches(self.table.routes[node.route].node, provider, seen | {node.route})
        if isinstance(node, Fallback):
            return any(self.reaches(n, provider, seen) for n in node.nodes)
        if isinstance(node, Split):
            return any(self.reaches(n, provider, seen) for _, n in node.branches)
        if isinstance(node, Switch):
            nodes = [n for _, n in node.cases] + ([node.default] if node.default is not None else [])
            return any(self.reaches(n, provider, seen) for n in nodes)
        others = [node.to] + ([node.otherwise] if node.otherwise is not None else [])
        return any(self.reaches(n, provider, seen) for n in others)

    def switch(self, node: Switch, outer: str | None, route: str | None) -> list[Candidate]:
        for i, (when, to) in enumerate(node.cases):
            shown = ", ".join(show_matcher(f, m) for f, m in when)
            failed = [(f, m) for f, m in when if not matches(m, *self.facts.field(f))]
            if not failed:
                self.step(route, f"switch case {i} ({shown}) matched")
                return self.walk(to, outer, route)
            f, _ = failed[0]
            present, value = self.facts.field(f)
            actual = show_value(value) if present else "absent"
            self.step(route, f"switch case {i} ({shown}) not matched: {f} is {actual}")
        if node.default is None:
            message = f"no switch case matched{f' in route {route}' if route else ''} and it has no default"
            self.step(route, message)
            raise NoRoute(message, tuple(self.steps))
        self.step(route, "switch: no case matched, taking default")
        return self.walk(node.default, outer, route)

    def limit(self, node: Limit, outer: str | None, route: str | None) -> list[Candidate]:
        what = describe_limit(node)
        if self.gate is None:
            self.step(route, f"limit {what}: assumed not spent (explain counts nothing), taking 'to'")
            return self.walk(node.to, outer, route)
        if not self.gate(node, self.facts, route):
            self.step(route, f"limit {what}: not spent, taking 'to'")
            return self.walk(node.to, outer, route)
        if node.otherwise is None:
            message = f"limit {what} is spent{f' in route {route}' if route else ''} and it has no otherwise"
            self.step(route, message)
            raise LimitReached(message, tuple(self.steps), node)
        self.step(route, f"limit {what}: spent, taking 'otherwise'")
        return self.walk(node.otherwise, outer, route)


def decide(
    table: RoutingTable,
    node: Node,
    facts: Facts,
    rand: Callable[[], float],
    gate: Gate | None = None,
    *,
    route: str | None = None,
) -> Decision:
    """Walk the route graph for one request. `route`: the route `node` belongs to, when it is not a RouteRef.

    `rand` returns a float in [0, 1) (e.g. random.random); `gate` returns True when a limit is spent.
    Raises NoRoute or LimitReached when no candidate serves the request.
    """
    walk = _Walk(table, facts, rand, gate)
    candidates = walk.walk(node, route, route)
    return Decision(tuple(candidates), tuple(walk.steps), tuple(walk.splits))


# Explain ---------------------------------------------------------------------------------------------------


class Unresolved(Exception):
    """The model does not resolve to a candidate; `lines` is the explanation up to that point."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.lines = lines


@dataclass(frozen=True, slots=True)
class Explanation:
    lines: list[str]
    decision: Decision


def final_line(candidates: tuple[Candidate, ...]) -> str:
    parts: list[str] = []
    previous: Candidate | None = None
    for c in candidates:
        if previous is None:
            parts.append(c.leaf.target)
        else:
            parts.append(f"then {c.leaf.target} on [{', '.join(previous.on or ())}]")
        previous = c
    return "-> " + ", ".join(parts)


def split_lines(splits: tuple[SplitChoice, ...]) -> list[str]:
    lines: list[str] = []
    for s in splits:
        where = f" in route {s.route}" if s.route else ""
        sticky = f" (sticky {s.sticky})" if s.sticky else ""
        lines.append(f"split{where}{sticky}:")
        for i, b in enumerate(s.branches):
            mark = "  <- chosen" if i == s.chosen else ""
            lines.append(f"  branch {i + 1}: p={b.probability:.2f} (weight {b.weight:g}) {b.target}{mark}")
    return lines


def explain_decision(
    table: RoutingTable,
    gateway_name: str,
    model: str,
    facts: Facts,
    rand: Callable[[], float] | None = None,
) -> Explanation:
    """As `explain`, with the decision itself. Raises Unresolved when the model does not resolve."""
    gateway = table.gateways.get(gateway_name)
    if gateway is None:
        raise Unresolved(f"unknown gateway {gateway_name!r} (defined: {', '.join(table.gateways)})", [])
    if not gateway.allows(model):
        allowed = ", ".join(gateway.allow_text or ())
        raise Unresolved(f"model {model!r} is not allowed on gateway {gateway_name!r} (allow: {allowed})", [])
    try:
        _, node, how = lookup_explained(table, model)
    except GatewayError as exc:
        raise Unresolved(str(exc), []) from None
    lines = [f"model {model!r} on gateway {gateway_name!r}: {how}"]
    if gateway.guardrails:
        rails = ", ".join(f"{g.name} ({g.on}: {g.action})" for g in gateway.guardrails)
        lines.append(f"guardrails, in order: {rails}")
    if isinstance(node, Leaf) and node.provider not in table.providers:
        raise Unresolved(f"unknown provider {node.provider!r} in {node.target!r}", lines)
    try:
        decision = decide(table, node, facts, rand or (lambda: 0.5))
    except RoutingError as exc:
        raise Unresolved(exc.message, lines + list(exc.steps)) from None
    lines += decision.steps
    lines += split_lines(decision.splits)
    lines.append(final_line(decision.candidates))
    return Explanation(lines, decision)


def explain(table: RoutingTable, gateway_name: str, model: str, facts: Facts) -> list[str]:
    """Which branch a request would take and why, without calling any upstream, one line a step.

    A random split choice is shown as the branch a mid-range draw takes; the split lines give every
    branch's probability. Raises Unresolved when the model does not resolve.
    """
    return explain_decision(table, gateway_name, model, facts).lines


# The request metadata header, then the names Cloudflare AI Gateway and Portkey give it (for migrations).
METADATA_HEADERS = ("x-gateway-metadata", "cf-aig-metadata", "x-portkey-metadata")


def header_metadata(raw: str | bytes | None) -> dict[str, MetadataValue]:
    """The metadata header's JSON object; anything else (absent, malformed, not an object) is none."""
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def make_facts(
    table: RoutingTable,
    gateway_name: str,
    model: str,
    *,
    metadata: Mapping[str, MetadataValue] | None = None,
    headers: Mapping[str, str] | None = None,
    token: str | None = None,
    stream: bool = False,
    has_tools: bool = False,
    has_images: bool = False,
    input_tokens: int = 0,
) -> Facts:
    """Facts for explain: the `x-gateway-metadata` header, metadata, then the token's metadata, merged."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    merged = header_metadata(next((lowered[h] for h in METADATA_HEADERS if h in lowered), None))
    merged.update(metadata or {})
    gateway = table.gateways.get(gateway_name)
    if token is not None and gateway is not None:
        for t in gateway.tokens:
            if t.name == token:
                merged.update(t.metadata)
    return Facts(merged, lowered, token, model, stream, has_tools, has_images, input_tokens)


def plan(
    table: RoutingTable,
    gateway: Gateway,
    model: str,
    facts: Callable[[], Facts],
    rand: Callable[[], float],
    gate: Gate | None = None,
) -> tuple[Candidate, ...]:
    """The request plan: the ordered targets to try for one request. Facts are built only when the
    route has decisions to make (a plain model needs none)."""
    check_allowed(gateway, model)
    route, node = lookup(table, model)
    if isinstance(node, Leaf):
        return (Candidate(node, route, None),)
    try:
        return decide(table, node, facts(), rand, gate, route=route).candidates
    except LimitReached as exc:
        raise GatewayError("rate_limit_error", exc.message) from None
    except RoutingError as exc:
        raise GatewayError("invalid_request_error", exc.message) from None
