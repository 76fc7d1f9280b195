"""Shared fixtures: fake upstreams (one per wire format) and a factory for real gateways on loopback."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

STORED_KEY = "sk-stored-canary-0123456789abcdef"
# ../shared beside the checkout (CI clones main with shared/ next to it).
SHARED = Path(__file__).resolve().parents[2] / "shared"
CLAUDE_CODE_CAPTURE = SHARED / "fixtures" / "claude-code" / "say-hi.request.json"


@pytest.fixture(scope="session")
def _anthropic_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("anthropic") as fake:
        yield fake


@pytest.fixture(scope="session")
def _openai_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai") as fake:
        yield fake


@pytest.fixture(scope="session")
def _gemini_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("gemini") as fake:
        yield fake


@pytest.fixture
def anthropic_up(_anthropic_upstream: FakeUpstream) -> FakeUpstream:
    _anthropic_upstream.reset()
    return _anthropic_upstream


@pytest.fixture
def openai_up(_openai_upstream: FakeUpstream) -> FakeUpstream:
    _openai_upstream.reset()
    return _openai_upstream


@pytest.fixture(scope="session")
def _azure_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("azure") as fake:
        yield fake


@pytest.fixture
def azure_up(_azure_upstream: FakeUpstream) -> FakeUpstream:
    _azure_upstream.reset()
    return _azure_upstream


@pytest.fixture
def gemini_up(_gemini_upstream: FakeUpstream) -> FakeUpstream:
    _gemini_upstream.reset()
    return _gemini_upstream


GatewayFactory = Callable[..., GatewayServer]


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """make_gateway(yaml_text, env=None, watch=False) -> a started GatewayServer on that config folder."""
    started: list[GatewayServer] = []

    def factory(config: str, env: dict[str, str] | None = None, watch: bool = False) -> GatewayServer:
        folder = tmp_path / f"config{len(started)}"
        folder.mkdir()
        (folder / "gateway.yaml").write_text(textwrap.dedent(config))
        server = GatewayServer(folder, env=env or {}, watch=watch).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


def standard_config(
    anthropic: FakeUpstream,
    openai: FakeUpstream,
    extra: str = "",
    *,
    stored: bool = True,
    gateway: str | None = None,
) -> str:
    """A config with both fake upstreams, stored keys (or none), the usual globs and an open gateway."""
    keys = (
        f"""
keys:
  anthropic-main: {{ provider: anthropic, secret: "{STORED_KEY}" }}
  openai-main: {{ provider: openai, secret: "{STORED_KEY}" }}
"""
        if stored
        else ""
    )
    gateways = (
        gateway
        or """
gateways:
  default: { auth: none, provider_keys: [stored, request] }
"""
    )
    return f"""
version: 1
providers:
  anthropic: {{ type: anthropic, base_url: "{anthropic.base_url}" }}
  openai: {{ type: openai, base_url: "{openai.base_url}" }}
{keys}
models:
  claude-*: anthropic/*
  gpt-*: openai/*
  fast: anthropic/claude-haiku-4-5
{gateways}
{extra}
"""


@pytest.fixture(scope="session")
def _redis_server() -> Iterator[str]:
    from tests.services import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture
def redis_url(_redis_server: str) -> str:
    """A real, empty Redis (flushed before each test)."""
    from tests.services import flush

    flush(_redis_server)
    return _redis_server


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[str]:
    from tests.services import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(_postgres_server: str) -> str:
    """A real PostgreSQL with an empty `requests` log (dropped before each test)."""
    import psycopg

    with psycopg.connect(_postgres_server, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS requests")
        conn.execute("DROP TABLE IF EXISTS gateway_schema")
    return _postgres_server
