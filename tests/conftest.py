"""Shared fixtures: fake upstreams (one per wire format) and a factory for real gateways on loopback."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

STORED_KEY = "sk-stored-canary-0123456789abcdef"
# Inside the repository, so a clone anywhere runs the suite.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CLAUDE_CODE_CAPTURE = FIXTURES / "claude-code" / "say-hi.request.json"
# Codex 0.169.0's second turn of a shell round trip (reasoning, function_call, function_call_output).
CODEX_CAPTURE = FIXTURES / "codex" / "shell-round-trip.request.json"


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


@pytest.fixture(scope="session")
def _responses_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai") as fake:
        yield fake


@pytest.fixture
def responses_up(_responses_upstream: FakeUpstream) -> FakeUpstream:
    """An OpenAI server of its own for the Responses API, so its calls are never mixed with the Chat
    Completions ones of `openai_up`."""
    _responses_upstream.reset()
    return _responses_upstream


@pytest.fixture(scope="session")
def _bedrock_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("bedrock") as fake:
        yield fake


@pytest.fixture
def bedrock_up(_bedrock_upstream: FakeUpstream) -> FakeUpstream:
    """Fake Bedrock Runtime; ``.settings`` (credentials, API keys, region) back at defaults per test."""
    _bedrock_upstream.reset()
    return _bedrock_upstream


@pytest.fixture(scope="session")
def _vertex_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("vertex") as fake:
        yield fake


@pytest.fixture
def vertex_up(_vertex_upstream: FakeUpstream) -> FakeUpstream:
    """Fake Vertex AI + token endpoint; ``.settings`` (service accounts, tokens, counters) reset per test."""
    _vertex_upstream.reset()
    return _vertex_upstream


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


# -- Clients and the usual gateway: the one copy of set-up the test modules share ---------------------------


@pytest.fixture
def gw(make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> GatewayServer:
    """A gateway on `standard_config` (both fakes, stored keys, open); modules with their own set-up
    override this fixture."""
    return make_gateway(standard_config(anthropic_up, openai_up))


def base_url(target: GatewayServer | str) -> str:
    return target if isinstance(target, str) else target.url


def anthropic_client(
    target: GatewayServer | str, path: str = "", *, key: str | None = "k", **options: Any
) -> anthropic.Anthropic:
    """The Anthropic SDK at `target` + `path`, without retries so each test sees every answer as sent.
    `key=None` leaves the API key out (e.g. with `auth_token=`)."""
    if key is not None:
        options["api_key"] = key
    return anthropic.Anthropic(base_url=base_url(target) + path, max_retries=0, **options)


def openai_client(
    target: GatewayServer | str, path: str = "/v1", *, key: str = "k", **options: Any
) -> openai.OpenAI:
    """The OpenAI SDK at `target` + `path` (its usual `/v1` by default), without retries."""
    return openai.OpenAI(base_url=base_url(target) + path, api_key=key, max_retries=0, **options)


def with_clouds(config: str, bedrock: FakeUpstream, vertex: FakeUpstream, tmp_path: Path, models: str) -> str:
    """`config` (from standard_config) plus the Bedrock and Vertex fakes as providers `bedrock` and
    `vertex`, their stored keys (the fake's access key; a service account made and trusted here) and
    `models` (YAML lines under `models:`)."""
    from tests.fakes import bedrock_wire
    from tests.fakes.gcp import make_service_account

    account = make_service_account(vertex.url + "/token", tmp_path / "sa.json")
    vertex.settings.register_service_account(account)
    providers = f"""providers:
  bedrock: {{ type: bedrock, region: us-east-1, base_url: "{bedrock.url}" }}
  vertex: {{ type: vertex, project: test-project, region: us-east5, base_url: "{vertex.base_url}" }}
"""
    access_key, secret = bedrock_wire.DEFAULT_ACCESS_KEY, bedrock_wire.DEFAULT_SECRET_KEY
    keys = f"""keys:
  aws: {{ provider: bedrock, access_key_id: {access_key}, secret_access_key: "{secret}" }}
  gcp: {{ provider: vertex, credentials_file: "{account.path}" }}
"""
    config = config.replace("providers:\n", providers, 1).replace("keys:\n", keys, 1)
    return config.replace(
        "models:\n", "models:\n" + textwrap.indent(textwrap.dedent(models).strip() + "\n", "  "), 1
    )


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
    """A real PostgreSQL with an empty `requests` log and rollups (dropped before each test)."""
    import psycopg

    with psycopg.connect(_postgres_server, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS requests")
        conn.execute("DROP TABLE IF EXISTS requests_hourly")
        conn.execute("DROP TABLE IF EXISTS requests_hourly_latency")
        conn.execute("DROP TABLE IF EXISTS requests_hourly_latency_all")
        conn.execute("DROP TABLE IF EXISTS gateway_schema")
    return _postgres_server
