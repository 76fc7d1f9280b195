"""Every provider `type` config may name, each one object (`base.ProviderType`).

Adding a type: one module with its ProviderType subclass, one entry here, its fake upstream and its
tests; `tests/providers/test_registry.py` checks the config schema against this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.core.formats import Format
from gateway.providers import anthropic, azure_openai, bedrock, gemini, openai, presets, vertex
from gateway.providers.base import ProviderType
from gateway.routing.table import Provider

TYPES: Mapping[str, ProviderType] = MappingProxyType(
    {
        t.name: t
        for t in (
            anthropic.TYPE,
            openai.TYPE,
            gemini.TYPE,
            azure_openai.TYPE,
            bedrock.TYPE,
            vertex.TYPE,
            *presets.TYPES.values(),
        )
    }
)
# The plain type of each wire format: reads usage of answers in that format, e.g. a native Gemini
# call on Vertex.
BY_FORMAT: Mapping[Format, ProviderType] = MappingProxyType(
    {
        Format.ANTHROPIC: anthropic.TYPE,
        Format.OPENAI: openai.TYPE,
        Format.GEMINI: gemini.TYPE,
        Format.RESPONSES: openai.TYPE,  # OpenAI's type reads both of its APIs' usage
    }
)


def type_of(provider: Provider) -> ProviderType:
    return TYPES[provider.type]  # the compiler admits only these
