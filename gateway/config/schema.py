"""Validate one config file against the config JSON Schema, with errors located in the YAML.

The schema ships inside the package (`gateway/config/config.schema.json`) and is read as a package
resource, so an installed wheel validates configs without the source tree; the YAML files in `routes/`
and `examples/` point editors at the same file."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from gateway.config.issues import Issue
from gateway.config.source import SourceFile

SCHEMA_RESOURCE = resources.files("gateway.config") / "config.schema.json"


@functools.cache
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_RESOURCE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(source: SourceFile) -> list[Issue]:
    """Every schema problem in the file, one per failing location."""
    issues: list[Issue] = []
    seen: set[tuple[Any, ...]] = set()
    for error in validator().iter_errors(source.data):
        error = _most_specific(error)
        path = tuple(error.absolute_path)
        for key, message in _explain(error):
            full = (*path, key) if key is not None else path
            if (full, message) in seen:
                continue
            seen.add((full, message))
            issues.append(Issue(source.locate(full), full, message))
    return issues


def _most_specific(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures, descend to the branch error that explains the problem best."""
    while error.context:
        deeper = best_match(error.context)
        if deeper is None or deeper is error:
            break
        error = deeper
    return error


SECRET_KEYS = frozenset(
    {"secret", "sha256", "admin_token", "access_key_id", "secret_access_key", "session_token"}
)


def _explain(error: ValidationError) -> list[tuple[str | None, str]]:
    """Messages pointing at the key itself where jsonschema reports the parent object."""
    instance = error.instance
    if error.absolute_path and error.absolute_path[-1] in SECRET_KEYS:
        # Never echo a secret into errors, which reach logs and /readyz.
        expected = (
            error.schema.get("type", "a valid value") if isinstance(error.schema, dict) else "a valid value"
        )
        return [(None, f"invalid value (expected {expected}; the value is not shown because it is a secret)")]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties", {}))
        extra = [k for k in instance if k not in known]
        if extra and not schema.get("patternProperties"):
            hint = f" (expected one of: {', '.join(sorted(known))})" if known else ""
            return [(k, f"unknown key {k!r}{hint}") for k in extra]
    if error.validator == "required" and isinstance(instance, dict):
        return [(None, error.message.replace("is a required property", "is required"))]
    if error.validator == "pattern" and isinstance(error.schema, dict) and error.schema.get("description"):
        # The regex means little to a reader; the description says what is expected.
        return [(None, f"{instance!r} is not valid here: {error.schema['description']}")]
    if error.validator == "propertyNames":
        return [(None, f"invalid name: {error.message}")]
    return [(None, _short(error.message))]


def _short(message: str) -> str:
    # jsonschema repeats whole sub-documents in some messages; keep lines readable.
    return message if len(message) <= 300 else message[:297] + "..."
