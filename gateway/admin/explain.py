"""POST /api/explain: a described request checked, then the routing decision for it, without calling any
upstream."""

from __future__ import annotations

from typing import Any

from gateway.routing.plan import Unresolved, explain_decision, make_facts
from gateway.routing.table import RoutingTable

_EXPLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "gateway": (str,),
    "metadata": (dict,),
    "headers": (dict,),
    "token": (str, type(None)),
    "stream": (bool,),
    "has_tools": (bool,),
    "has_images": (bool,),
    "input_tokens": (int,),
}


def explain_request_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("model"), str):
        return "model (a string) is required"
    for name, value in body.items():
        types = _EXPLAIN_TYPES.get(name)
        if types is None:
            return f"unknown field {name!r} (known: {', '.join(_EXPLAIN_TYPES)})"
        if not isinstance(value, types) or (name == "input_tokens" and isinstance(value, bool)):
            return f"{name} has the wrong type"
    if any(not isinstance(v, str) for v in body.get("headers", {}).values()):
        return "headers values must be strings"
    return None


def explain_answer(table: RoutingTable, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /api/explain: the decision for a described request, without calling any upstream."""
    gateway = body.get("gateway", "default")
    facts = make_facts(
        table,
        gateway,
        body["model"],
        metadata=body.get("metadata") or {},
        headers=body.get("headers") or {},
        token=body.get("token"),
        stream=body.get("stream", False),
        has_tools=body.get("has_tools", False),
        has_images=body.get("has_images", False),
        input_tokens=body.get("input_tokens", 0),
    )
    try:
        result = explain_decision(table, gateway, body["model"], facts)
    except Unresolved as exc:
        return 404, {"error": exc.message, "lines": exc.lines}
    decision = result.decision
    return 200, {
        "lines": result.lines,
        # Every guardrail the request would pass through, in the order they apply.
        "guardrails": [
            {"name": g.name, "on": g.on, "action": g.action} for g in table.gateways[gateway].guardrails
        ],
        "candidates": [
            {"target": c.leaf.target, "route": c.route, "on": list(c.on) if c.on is not None else None}
            for c in decision.candidates
        ],
        "splits": [
            {
                "route": s.route,
                "sticky": s.sticky,
                "chosen": s.chosen,
                "how": s.how,
                "branches": [
                    {"weight": b.weight, "p": round(b.probability, 4), "target": b.target} for b in s.branches
                ],
            }
            for s in decision.splits
        ],
    }
