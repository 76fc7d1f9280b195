"""JSON Schema -> Gemini Schema (an OpenAPI 3.0 subset), for tool parameters and structured output."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

# Copied unchanged when present. Everything else is dropped, notably: $schema, $id, $comment, $defs,
# definitions (inlined through $ref), additionalProperties, propertyNames, patternProperties,
# unevaluatedProperties, dependentRequired, dependentSchemas, if/then/else, not, uniqueItems, multipleOf,
# contains, prefixItems, examples, readOnly, writeOnly, deprecated, contentEncoding, contentMediaType.
# Rewritten: $ref (inlined), allOf (merged), oneOf (-> anyOf), const (-> enum), type lists and
# {"type":"null"} branches (-> nullable), integer exclusiveMinimum/Maximum (-> minimum/maximum),
# format (kept only where the Gemini API accepts it).
_COPIED_KEYS = (
    "title",
    "description",
    "default",
    "example",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
# The Gemini Developer API fails requests with any other format.
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}


def clean_schema(schema: JSON) -> JSON:
    """A JSON Schema -> the Gemini Schema subset (see the comment above for exactly what changes)."""
    definitions: JSON = {}
    for key in ("definitions", "$defs"):
        found = schema.get(key)
        if isinstance(found, dict):
            definitions.update(found)
    return _clean(schema, definitions, frozenset())


def _resolve(node: JSON, definitions: JSON, stack: frozenset[str]) -> tuple[JSON, frozenset[str]]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node, stack
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    name = ref.removeprefix("#/$defs/").removeprefix("#/definitions/")
    target = definitions.get(name)
    if not isinstance(target, dict):
        return siblings, stack  # external or unknown reference: keep what the node says about itself
    if name in stack:
        # Recursive type: Gemini has no references, so cut the cycle at a bare node of the same type.
        cut = {k: target[k] for k in ("type", "description") if k in target}
        return {**cut, **siblings}, stack
    return _resolve({**target, **siblings}, definitions, stack | {name})


def _merge_all_of(node: JSON) -> JSON:
    merged = {k: v for k, v in node.items() if k != "allOf"}
    for sub in node["allOf"] if isinstance(node["allOf"], list) else []:
        if not isinstance(sub, dict):
            continue
        for key, value in sub.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**value, **merged.get("properties", {})}
            elif key == "required" and isinstance(value, list):
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            else:
                merged.setdefault(key, value)
    return merged


def _clean(node: Any, definitions: JSON, stack: frozenset[str]) -> JSON:
    if not isinstance(node, dict):
        return {}  # boolean schemas: `true` accepts anything; `false` has no Gemini form
    node, stack = _resolve(node, definitions, stack)
    if "allOf" in node:
        node = _merge_all_of(node)
    out: JSON = {}
    nullable = node.get("nullable") is True

    raw_type = node.get("type")
    types = [raw_type] if isinstance(raw_type, str) else raw_type if isinstance(raw_type, list) else []
    if "null" in types:
        nullable = True
    types = [t for t in types if t in _TYPES]

    branches: list[Any] = []
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            branches.extend(node[key])
    cleaned_branches: list[JSON] = []
    for branch in branches:
        if isinstance(branch, dict) and branch.get("type") == "null":
            nullable = True
            continue
        cleaned_branches.append(_clean(branch, definitions, stack))
    if len(cleaned_branches) == 1 and not types:
        # `anyOf: [X, null]` is how optional fields are usually written; it is just a nullable X.
        out.update(cleaned_branches[0])
    elif cleaned_branches:
        out["anyOf"] = cleaned_branches

    if len(types) == 1:
        out["type"] = types[0].upper()
    elif len(types) > 1 and "anyOf" not in out:
        out["anyOf"] = [{"type": t.upper()} for t in types]

    for key in _COPIED_KEYS:
        if key in node:
            out[key] = node[key]

    enum = _enum(node)
    if enum is not None and out.get("type", "STRING") == "STRING":
        if None in enum:
            nullable = True
        values = [v for v in enum if v is not None]
        # Gemini enums are strings only; a numeric enum would be coerced to strings in the call's args.
        if values and all(isinstance(v, str) for v in values):
            out["enum"] = values
            out.setdefault("type", "STRING")

    if out.get("type") == "INTEGER":
        low, high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        if isinstance(low, int) and not isinstance(low, bool):
            out.setdefault("minimum", low + 1)
        if isinstance(high, int) and not isinstance(high, bool):
            out.setdefault("maximum", high - 1)

    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(out.get("type", ""), frozenset()):
        out["format"] = fmt

    properties = node.get("properties")
    if isinstance(properties, dict) and properties:
        out["properties"] = {name: _clean(sub, definitions, stack) for name, sub in properties.items()}
        required = node.get("required")
        if isinstance(required, list):
            kept = [name for name in required if name in out["properties"]]
            if kept:
                out["required"] = kept
        ordering = node.get("propertyOrdering")
        if isinstance(ordering, list):
            out["propertyOrdering"] = [name for name in ordering if name in out["properties"]]
        if "type" not in out and "anyOf" not in out:
            out["type"] = "OBJECT"

    items = node.get("items")
    if isinstance(items, dict):
        out["items"] = _clean(items, definitions, stack)
    elif isinstance(items, list) and items:
        # Draft-4 tuple form: Gemini has one item schema, so accept any of the positions' schemas.
        variants = [_clean(item, definitions, stack) for item in items]
        out["items"] = variants[0] if len(variants) == 1 else {"anyOf": variants}
    if "items" in out and "type" not in out and "anyOf" not in out:
        out["type"] = "ARRAY"

    if nullable:
        out["nullable"] = True
    return out


def _enum(node: JSON) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    enum = node.get("enum")
    return enum if isinstance(enum, list) and enum else None
