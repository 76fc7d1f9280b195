"""The provider registry is the one list of provider types: the config schema must agree with it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gateway.config import schema
from gateway.core.formats import Format
from gateway.providers.base import ProviderType
from gateway.providers.registry import BY_FORMAT, TYPES
from gateway.routing.table import ProviderSettings

# Keys every provider may have, whatever its type.
COMMON = {"type", "base_url", "timeouts", "max_connections", "headers"}


def _schema() -> dict[str, Any]:
    return dict(schema.validator().schema)


def _definition_for(type_name: str) -> dict[str, Any]:
    """The provider definition the schema applies to a provider of this type (its if/then branch)."""
    root = _schema()
    defs = root["$defs"]
    matched = []
    for branch in defs["provider"]["allOf"]:
        condition = branch["if"]["properties"]["type"]
        applies = (
            type_name in condition["enum"] if "enum" in condition else condition.get("const") == type_name
        )
        if "not" in condition:
            applies = type_name not in condition["not"]["enum"]
        if applies:
            matched.append(branch["then"]["$ref"].rsplit("/", 1)[1])
    assert len(matched) == 1, f"type {type_name!r} matches {matched} in the schema"
    return dict(defs[matched[0]])


def test_schema_types_are_the_registry_types() -> None:
    assert set(_schema()["$defs"]["provider_type"]["enum"]) == set(TYPES)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_schema_settings_are_the_types_settings(name: str) -> None:
    ptype = TYPES[name]
    allowed = set(_definition_for(name)["properties"])
    assert allowed - COMMON == set(ptype.settings), name


@pytest.mark.parametrize("name", sorted(TYPES))
def test_the_types_settings_are_typed_provider_settings(name: str) -> None:
    assert set(TYPES[name].settings) <= {f.name for f in dataclasses.fields(ProviderSettings)}


@pytest.mark.parametrize("name", sorted(TYPES))
def test_key_fields_are_in_the_key_schema(name: str) -> None:
    key_properties = set(_schema()["$defs"]["key"]["properties"])
    assert set(TYPES[name].key_fields) <= key_properties


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_type_is_complete(name: str) -> None:
    ptype = TYPES[name]
    assert isinstance(ptype, ProviderType) and ptype.name == name
    assert ptype.display and ptype.client_key_hint and ptype.system()
    assert ptype.base_url({"region": "us-east-1", "base_url": ""}) or name == "azure-openai"
    assert ptype.format in Format


def test_each_format_has_its_plain_type() -> None:
    # The Responses API is OpenAI's second API: OpenAI's own type reads it.
    plain = {f: (Format.OPENAI if f is Format.RESPONSES else f) for f in Format}
    assert {f: t.format for f, t in BY_FORMAT.items()} == plain
