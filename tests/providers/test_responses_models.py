"""`responses_models`: which models an OpenAI or Azure provider serves only through the Responses API
(compiled from config; the wire format a call to each model speaks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.compiler import compile_config
from gateway.config.issues import ConfigError
from gateway.core.formats import Format
from gateway.providers.registry import type_of
from gateway.routing.table import RoutingTable


def _table(tmp_path: Path, providers: str) -> RoutingTable:
    (tmp_path / "gateway.yaml").write_text(f"version: 1\nproviders:\n{providers}")
    return compile_config(tmp_path, {})


def _wire(table: RoutingTable, provider: str, model: str) -> Format:
    target = table.providers[provider]
    return type_of(target).wire_format(target, model)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-5-codex", Format.RESPONSES),
        ("gpt-5.1-codex-max", Format.RESPONSES),
        ("gpt-5.3-codex", Format.RESPONSES),
        ("codex-mini-latest", Format.RESPONSES),
        ("o3-pro-2025-06-10", Format.RESPONSES),
        ("o1-pro", Format.RESPONSES),
        ("o4-mini-deep-research", Format.RESPONSES),
        ("gpt-5-pro", Format.RESPONSES),
        ("gpt-5.2-pro", Format.RESPONSES),
        ("computer-use-preview", Format.RESPONSES),
        ("gpt-5.2", Format.OPENAI),
        ("gpt-5-mini", Format.OPENAI),
        ("o3", Format.OPENAI),
        ("gpt-4o", Format.OPENAI),
    ],
)
def test_default_families(tmp_path: Path, model: str, expected: Format) -> None:
    table = _table(tmp_path, "  openai: { type: openai }\n")
    assert _wire(table, "openai", model) is expected


def test_configured_globs_replace_the_default(tmp_path: Path) -> None:
    table = _table(
        tmp_path,
        "  openai: { type: openai, responses_models: ['my-ft-*'] }\n"
        "  none: { type: openai, responses_models: [] }\n"
        "  azure: { type: azure-openai, base_url: 'https://r.openai.azure.com', api_version: '2024-10-21' }\n"
        "  groq: { type: groq }\n",
    )
    assert _wire(table, "openai", "my-ft-1") is Format.RESPONSES
    assert _wire(table, "openai", "gpt-5-codex") is Format.OPENAI
    assert _wire(table, "none", "gpt-5-codex") is Format.OPENAI
    assert _wire(table, "azure", "gpt-5-codex") is Format.RESPONSES  # Azure serves them too
    assert _wire(table, "groq", "gpt-5-codex") is Format.OPENAI  # a preset serves Chat Completions only


def test_only_openai_and_azure_take_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="responses_models"):
        _table(tmp_path, "  groq: { type: groq, responses_models: ['x'] }\n")
    with pytest.raises(ConfigError, match="responses_models"):
        _table(tmp_path, "  openai: { type: openai, responses_models: 'gpt-5-codex' }\n")
