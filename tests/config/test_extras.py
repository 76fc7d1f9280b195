"""gateway/config/extras.py: which extras a config needs, and the message that names the install command."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.config import extras
from gateway.config.compiler import compile_config
from gateway.providers.registry import TYPES
from gateway.routing.table import RoutingTable

CONFIG = """\
version: 1
providers:
  plain: { type: anthropic }
  aws: { type: bedrock, region: us-east-1 }
  gcp: { type: vertex, project: p, region: us-east5 }
  az-key: { type: azure-openai, base_url: https://a.openai.azure.com, api_version: "2024-10-21" }
  az-entra:
    type: azure-openai
    base_url: https://b.openai.azure.com
    api_version: "2024-10-21"
    auth: entra-id
state: { store: "redis://:hunter2@127.0.0.1:6379/0" }
logs: { store: "postgresql://u:hunter2@db/logs" }
"""


def table(tmp_path: Path, text: str = CONFIG) -> RoutingTable:
    (tmp_path / "c.yaml").write_text(textwrap.dedent(text))
    return compile_config(tmp_path / "c.yaml", {})


def test_each_use_names_its_extra_in_config_order(tmp_path: Path) -> None:
    needs = extras.needed_extras(table(tmp_path), {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318"})
    assert [need.message for need in needs] == [
        "provider 'aws' (type bedrock) needs the aws extra: pip install 'llm-gateway[aws]'",
        "provider 'gcp' (type vertex) needs the gcp extra: pip install 'llm-gateway[gcp]'",
        "provider 'az-entra' (type azure-openai, auth: entra-id) needs the azure extra: "
        "pip install 'llm-gateway[azure]'",
        "state.store (a Redis URL) needs the redis extra: pip install 'llm-gateway[redis]'",
        "logs.store (a PostgreSQL URL) needs the postgres extra: pip install 'llm-gateway[postgres]'",
        "tracing (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set) needs the otel extra: "
        "pip install 'llm-gateway[otel]'",
    ]
    assert all("hunter2" not in need.message for need in needs)  # store URLs may hold passwords
    assert str(needs[0].location).endswith("c.yaml:4:3")
    assert needs[3].location is None


def test_a_core_config_needs_nothing(tmp_path: Path) -> None:
    plain = table(tmp_path, "providers:\n  a: { type: anthropic }\n  o: { type: openai }\n")
    assert extras.needed_extras(plain, {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) == []


def test_missing_means_not_importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = table(tmp_path)
    assert extras.missing_extras(compiled, {}) == []  # the development environment has every extra
    absent = {"botocore", "google"}

    def find_spec(name: str) -> object | None:
        if name.split(".")[0] not in absent:
            return object()
        if "." in name:  # what importlib does when the parent package is absent
            raise ModuleNotFoundError(name)
        return None

    monkeypatch.setattr(extras.importlib.util, "find_spec", find_spec)
    assert [need.extra for need in extras.missing_extras(compiled, {})] == ["aws", "gcp"]


def test_every_extra_in_pyproject_is_probed() -> None:
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    for extra in extras.MODULES:
        assert f"\n{extra} = [" in text
    assert {t.extra for t in TYPES.values() if t.extra} <= set(extras.MODULES)
