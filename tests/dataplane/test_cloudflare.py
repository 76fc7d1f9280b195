"""For people moving from Cloudflare AI Gateway: its unified endpoint's path (`/compat/chat/completions`)
under every base URL, model names as Cloudflare spells them (`google-ai-studio/...`, `workers-ai/@cf/...`)
reaching the provider of that type, and the `workers-ai` preset against a fake Workers AI (account path,
API token, `@cf/` model names), through the OpenAI SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.config.compiler import compile_config
from gateway.config.issues import ConfigError
from tests.conftest import STORED_KEY, GatewayFactory, openai_client
from tests.fakes import workers_ai_wire
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

LLAMA = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"  # priced: $0.293 / $2.253 per M tokens in / out
HI: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def _workers_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("workers-ai") as fake:
        yield fake


@pytest.fixture
def workers_up(_workers_upstream: FakeUpstream) -> FakeUpstream:
    _workers_upstream.reset()
    return _workers_upstream


def config(
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    workers_up: FakeUpstream,
    token: str = workers_ai_wire.API_TOKEN,
) -> str:
    # Provider names that are not Cloudflare's: its spellings must find them by type.
    return f"""
version: 1
providers:
  claude: {{ type: anthropic, base_url: "{anthropic_up.base_url}" }}
  gpt: {{ type: openai, base_url: "{openai_up.base_url}" }}
  gem: {{ type: gemini, base_url: "{gemini_up.base_url}" }}
  wai: {{ type: workers-ai, base_url: "{workers_up.base_url}", account_id: "{workers_ai_wire.ACCOUNT_ID}" }}
keys:
  claude-main: {{ provider: claude, secret: "{STORED_KEY}" }}
  gpt-main: {{ provider: gpt, secret: "{STORED_KEY}" }}
  gem-main: {{ provider: gem, secret: "{STORED_KEY}" }}
  cf-token: {{ provider: wai, secret: "{token}" }}
models:
  llama: wai/{LLAMA}
  "@cf/*": wai/*
gateways:
  default: {{ auth: none, provider_keys: [stored] }}
  team: {{ auth: none, provider_keys: [stored] }}
"""


@pytest.fixture
def gw(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    workers_up: FakeUpstream,
) -> GatewayServer:
    return make_gateway(config(anthropic_up, openai_up, gemini_up, workers_up))


def test_compat_is_chat_completions_under_every_base_url(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    for base in ("/compat", "/g/team/compat"):
        openai_up.push(Script(text="Paris.", usage={"prompt_tokens": 9, "completion_tokens": 2}))
        raw = openai_client(gw, base).chat.completions.with_raw_response.create(
            model="openai/gpt-5", messages=HI
        )
        assert raw.parse().choices[0].message.content == "Paris."
        assert raw.headers["x-gateway-model"] == "gpt/gpt-5"
        assert openai_up.requests[-1].path == "/v1/chat/completions"
    records = gw.records(2)
    assert [r["path"] for r in records] == ["/compat/chat/completions", "/g/team/compat/chat/completions"]
    assert [r["endpoint"] for r in records] == ["chat", "chat"]
    assert [r["gateway"] for r in records] == ["default", "team"]
    # Only POST, like /v1/chat/completions; the error in OpenAI's envelope, and logged.
    wrong = httpx.get(gw.url + "/compat/chat/completions")
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "invalid_request_error"
    assert gw.records(3)[-1]["endpoint"] == "chat"


def test_cloudflare_model_names_reach_the_provider_of_that_type(
    gw: GatewayServer, anthropic_up: FakeUpstream, gemini_up: FakeUpstream, workers_up: FakeUpstream
) -> None:
    sdk = openai_client(gw, "/compat")
    anthropic_up.push(Script(text="From Claude."))
    gemini_up.push(Script(text="From Gemini."))
    workers_up.push(Script(text="From Llama."))
    answers = {}
    for name in ("anthropic/claude-haiku-4-5", "google-ai-studio/gemini-2.5-flash", f"workers-ai/{LLAMA}"):
        raw = sdk.chat.completions.with_raw_response.create(model=name, messages=HI)
        answers[name] = (raw.headers["x-gateway-model"], raw.parse().choices[0].message.content)
    assert answers == {
        "anthropic/claude-haiku-4-5": ("claude/claude-haiku-4-5", "From Claude."),
        "google-ai-studio/gemini-2.5-flash": ("gem/gemini-2.5-flash", "From Gemini."),
        f"workers-ai/{LLAMA}": (f"wai/{LLAMA}", "From Llama."),
    }
    assert anthropic_up.requests[-1].json["model"] == "claude-haiku-4-5"
    assert "gemini-2.5-flash" in gemini_up.requests[-1].path
    assert workers_up.requests[-1].json["model"] == LLAMA
    # A Cloudflare provider with no type here, or a type the config has no provider of: a 404 that says
    # how names resolve, before any upstream call.
    for name in ("perplexity-ai/sonar", "aws-bedrock/anthropic.claude-sonnet-4-5-v1:0"):
        with pytest.raises(openai.NotFoundError) as info:
            sdk.chat.completions.create(model=name, messages=HI)
        assert "Cloudflare's provider names" in str(info.value)
    explained = httpx.post(
        gw.url + "/api/explain", json={"model": "google-ai-studio/gemini-2.5-flash"}
    ).json()
    assert "the first gemini provider, gem" in str(explained)


def test_a_provider_named_as_cloudflare_spells_it_wins_over_the_type(
    make_gateway: GatewayFactory, openai_up: FakeUpstream, responses_up: FakeUpstream
) -> None:
    gw = make_gateway(
        f"""
version: 1
providers:
  first: {{ type: openai, base_url: "{responses_up.base_url}" }}
  openai: {{ type: openai, base_url: "{openai_up.base_url}" }}
keys:
  a: {{ provider: first, secret: "{STORED_KEY}" }}
  b: {{ provider: openai, secret: "{STORED_KEY}" }}
gateways:
  default: {{ auth: none, provider_keys: [stored] }}
"""
    )
    openai_up.push(Script(text="named"))
    raw = openai_client(gw, "/compat").chat.completions.with_raw_response.create(
        model="openai/gpt-5", messages=HI
    )
    assert (
        raw.headers["x-gateway-model"] == "openai/gpt-5" and raw.parse().choices[0].message.content == "named"
    )


def test_workers_ai_json_and_stream_with_cost(gw: GatewayServer, workers_up: FakeUpstream) -> None:
    sdk = openai_client(gw, "/compat")
    workers_up.push(
        Script(text="Hello from the edge.", usage={"prompt_tokens": 1000, "completion_tokens": 100})
    )
    raw = sdk.chat.completions.with_raw_response.create(model=f"workers-ai/{LLAMA}", messages=HI)
    answer = raw.parse()
    assert answer.choices[0].message.content == "Hello from the edge." and answer.model == LLAMA
    # $0.293 per M input and $2.253 per M output tokens (Cloudflare's published token prices).
    assert raw.headers["x-gateway-cost-usd"] == "0.0005183"
    seen = workers_up.requests[-1]
    assert seen.path == f"/client/v4/accounts/{workers_ai_wire.ACCOUNT_ID}/ai/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {workers_ai_wire.API_TOKEN}"
    assert seen.json["model"] == LLAMA

    # Streamed, through an alias and through a glob that keep the `@` and the `/`s.
    workers_up.push(
        Script(text="Streamed words.", usage={"prompt_tokens": 2000, "completion_tokens": 10}),
        Script(text="Globbed."),
    )
    stream = openai_client(gw).chat.completions.create(
        model="llama", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Streamed words."
    small = "@cf/meta/llama-3.1-8b-instruct"
    raw = openai_client(gw).chat.completions.with_raw_response.create(model=small, messages=HI)
    assert raw.headers["x-gateway-model"] == f"wai/{small}" and workers_up.requests[-1].json["model"] == small

    records = gw.records(3)
    assert [(r["provider"], r["model"], r["endpoint"], r["stream"]) for r in records] == [
        ("wai", LLAMA, "chat", False),
        ("wai", LLAMA, "chat", True),
        ("wai", small, "chat", False),
    ]
    assert [r["client_model"] for r in records] == [f"workers-ai/{LLAMA}", "llama", small]
    assert records[1]["cost_usd"] == "0.00060853"  # 2000 x 0.293 + 10 x 2.253, per million
    logged = httpx.get(gw.url + "/api/logs", params={"model": LLAMA}).json()["data"]
    assert len(logged) == 2 and all(r["endpoint"] == "chat" for r in logged)
    metrics = httpx.get(gw.url + "/metrics").text
    assert f'model="{LLAMA}"' in metrics and 'provider="wai"' in metrics
    # The model list: the alias, and Workers AI's priced catalogue under the provider's name.
    listed = {m.id for m in openai_client(gw).models.list()}
    assert {"llama", f"wai/{LLAMA}", "wai/@cf/openai/gpt-oss-120b"} <= listed


def test_workers_ai_refusals_reach_the_client_and_the_log(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    workers_up: FakeUpstream,
) -> None:
    gw = make_gateway(config(anthropic_up, openai_up, gemini_up, workers_up, token="not-the-token"))
    sdk = openai_client(gw, "/compat")
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model=f"workers-ai/{LLAMA}", messages=HI)
    rec = gw.records(1)[-1]
    assert (rec["status"], rec["provider"], rec["model"], rec["endpoint"]) == (401, "wai", LLAMA, "chat")
    assert rec["error"] and rec["attempts"][0]["status"] == 401


def test_config_refuses_a_provider_named_compat_and_a_workers_ai_provider_without_account(
    tmp_path: Path,
) -> None:
    (tmp_path / "gateway.yaml").write_text(
        "version: 1\nproviders:\n"
        "  compat: { type: openai }\n"
        "  wai:\n"
        "    type: workers-ai\n"
        "  wai2: { type: workers-ai, account_id: my-account }\n"
    )
    with pytest.raises(ConfigError) as info:
        compile_config(tmp_path, {})
    errors = [str(i) for i in info.value.errors]
    assert any("gateway.yaml:4" in e and "account_id" in e and "required" in e for e in errors), errors
    assert any("gateway.yaml:6" in e and "32 hexadecimal" in e for e in errors), errors
    (tmp_path / "gateway.yaml").write_text("version: 1\nproviders:\n  compat: { type: openai }\n")
    with pytest.raises(ConfigError) as info:
        compile_config(tmp_path, {})
    assert any("gateway.yaml:3" in str(e) and "reserved" in str(e) for e in info.value.errors)
