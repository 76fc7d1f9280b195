"""One gateway in front of every provider fake, for the any-client-to-any-provider tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GatewayFactory, standard_config, with_clouds
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer


@pytest.fixture
def ups(
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    bedrock_up: FakeUpstream,
    vertex_up: FakeUpstream,
    azure_up: FakeUpstream,
    responses_up: FakeUpstream,
) -> dict[str, FakeUpstream]:
    """The fake behind each provider setup the models below name."""
    return {
        "anthropic": anthropic_up,
        "openai": openai_up,
        "gemini": gemini_up,
        "bedrock": bedrock_up,
        "converse": bedrock_up,
        "vertex": vertex_up,
        "vertex-gemini": vertex_up,
        "azure": azure_up,
        "groq": openai_up,
        "openai-responses": responses_up,
    }


def every_provider(
    make_gateway: GatewayFactory,
    ups: dict[str, FakeUpstream],
    tmp_path: Path,
    vertex_gemini: str,
    *,
    openai_responses: bool = True,
    responses_provider: bool = False,
) -> GatewayServer:
    """A gateway with a provider of each kind and these models: the standard config's, `gemini-*` on
    Gemini, `br-claude` (Claude through InvokeModel), `br-llama` (Converse), `vx-claude` (rawPredict),
    `vx-gemini` (`vertex_gemini` on Vertex), `az-gpt` (Azure) and `groq-llama` (an OpenAI-compatible
    preset, against the OpenAI fake). `openai_responses=False`: the `openai` provider has no Responses
    API (`responses: false`), so Responses clients reach it translated to Chat Completions.
    `responses_provider=True` adds `openai-rx`, a `type: openai` server of the Responses API (the
    `openai-responses` fake), and the model `rx-gpt` on it (`gpt-5.2` there: the only byte a
    same-format call changes)."""
    config = standard_config(ups["anthropic"], ups["openai"])
    if not openai_responses:
        config = config.replace(
            f'openai: {{ type: openai, base_url: "{ups["openai"].base_url}" }}',
            f'openai: {{ type: openai, base_url: "{ups["openai"].base_url}", responses: false }}',
        )
    if responses_provider:
        config = config.replace(
            "providers:\n",
            f'providers:\n  openai-rx: {{ type: openai, base_url: "{ups["openai-responses"].base_url}" }}\n',
        ).replace("keys:\n", 'keys:\n  openai-rx-main: { provider: openai-rx, secret: "rx-stored-key" }\n')
    config = config.replace(
        "providers:\n",
        f"""providers:
  google: {{ type: gemini, base_url: "{ups["gemini"].base_url}" }}
  azure: {{ type: azure-openai, base_url: "{ups["azure"].url}", api_version: "2024-10-21" }}
  groq: {{ type: groq, base_url: "{ups["openai"].base_url}" }}
""",
    )
    config = config.replace(
        "keys:\n",
        """keys:
  google-main: { provider: google, secret: "gemini-stored-key" }
  azure-main: { provider: azure, secret: "azure-stored-key" }
  groq-main: { provider: groq, secret: "groq-stored-key" }
""",
    )
    models = f"""
        gemini-*: google/*
        br-claude: "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        br-llama: "bedrock/meta.llama3-3-70b-instruct-v1:0"
        vx-claude: vertex/claude-sonnet-4-5@20250929
        vx-gemini: vertex/{vertex_gemini}
        az-gpt: azure/gpt-5
        groq-llama: groq/llama-3.3-70b-versatile
        {"rx-gpt: openai-rx/gpt-5.2" if responses_provider else ""}
    """
    return make_gateway(with_clouds(config, ups["bedrock"], ups["vertex"], tmp_path, models))
