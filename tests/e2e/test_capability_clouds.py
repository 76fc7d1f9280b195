"""What cannot cross to the clouds, checked before any upstream call (dataplane/capability.py): an
Anthropic file id has no Files API on Bedrock or Vertex, a Converse model runs no Anthropic server tool,
Bedrock runs no web search; Claude on Vertex takes Anthropic's web search as is. Through the Anthropic
SDK against the strict Bedrock and Vertex fakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.conftest import GatewayFactory, anthropic_client
from tests.e2e.conftest import every_provider
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

FILES_BETA = "files-api-2025-04-14"
DOCUMENT: Any = {
    "role": "user",
    "content": [
        {"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}},
        {"type": "text", "text": "Summarize it."},
    ],
}
HI: Any = [{"role": "user", "content": "Search the news"}]
WEB_SEARCH: Any = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]


@pytest.fixture
def gw(make_gateway: GatewayFactory, ups: dict[str, FakeUpstream], tmp_path: Path) -> GatewayServer:
    return every_provider(make_gateway, ups, tmp_path, vertex_gemini="gemini-2.5-flash")


def model_calls(up: FakeUpstream) -> list[Any]:
    return [r for r in up.requests if r.method == "POST" and "/token" not in r.path]


@pytest.mark.parametrize("model", ["br-claude", "vx-claude"])
def test_an_anthropic_file_id_cannot_go_to_claude_on_a_cloud(
    gw: GatewayServer, bedrock_up: FakeUpstream, vertex_up: FakeUpstream, model: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(gw).beta.messages.create(
            model=model, max_tokens=64, messages=[DOCUMENT], betas=[FILES_BETA]
        )
    assert "Anthropic Files API" in info.value.message
    assert not model_calls(bedrock_up) and not model_calls(vertex_up)


def test_server_tools_on_the_clouds(
    gw: GatewayServer, bedrock_up: FakeUpstream, vertex_up: FakeUpstream
) -> None:
    client = anthropic_client(gw)
    for model in ("br-claude", "br-llama"):  # Bedrock: no web search, through InvokeModel or Converse
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(model=model, max_tokens=64, messages=HI, tools=WEB_SEARCH)
        assert "'web_search_20250305' server tool cannot run on bedrock/" in info.value.message
    bash: Any = [{"type": "bash_20250124", "name": "bash"}]
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="br-llama", max_tokens=64, messages=HI, tools=bash)
    assert "bash_20250124" in info.value.message
    assert not model_calls(bedrock_up)
    # Claude on Vertex runs Anthropic's web search: the tool goes as sent.
    client.messages.create(model="vx-claude", max_tokens=64, messages=HI, tools=WEB_SEARCH)
    assert model_calls(vertex_up)[-1].json["tools"] == WEB_SEARCH
