"""OpenAI-compatible presets (`type: groq`, `type: ollama`, ...): OpenAI's wire format and adapter with a
default base_url, the fields a preset's API rejects dropped, and local servers callable without a key.

End-to-end tests point a preset at the fake OpenAI upstream by overriding `base_url`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.config.compiler import compile_config
from gateway.config.issues import ConfigError
from gateway.core.formats import Format
from gateway.pricing.prices import PriceTable
from gateway.providers import presets
from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, openai_client
from tests.fakes.upstream import FakeUpstream, Script

HI = [{"role": "user", "content": "hi"}]
ACCOUNT = "0123456789abcdef0123456789abcdef"
DEFAULTS = {
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "xai": "https://api.x.ai/v1",
    "together": "https://api.together.xyz/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "ollama": "http://127.0.0.1:11434/v1",
    "vllm": "http://127.0.0.1:8000/v1",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "workers-ai": f"https://api.cloudflare.com/client/v4/accounts/{ACCOUNT}/ai/v1",
}
LOCAL = {"ollama", "vllm", "lmstudio", "llamacpp"}


def preset_config(
    up: FakeUpstream,
    ptype: str = "groq",
    *,
    secret: str | None = STORED_KEY,
    provider_keys: str = "[stored, request]",
) -> str:
    keys = f'keys:\n  main: {{ provider: up, secret: "{secret}" }}\n' if secret is not None else ""
    return f"""
version: 1
providers:
  up: {{ type: {ptype}, base_url: "{up.base_url}" }}
{keys}
models:
  llama-*: up/*
  claude-*: up/llama-3.3-70b-versatile
gateways:
  default: {{ auth: none, provider_keys: {provider_keys} }}
"""


def test_every_preset_compiles_with_its_default_base_url_as_openai_format(tmp_path: Path) -> None:
    # Workers AI's URL names an account, which it requires.
    lines = "".join(
        f"  p-{t}: {{ type: {t}{', account_id: ' + ACCOUNT if t == 'workers-ai' else ''} }}\n"
        for t in DEFAULTS
    )
    (tmp_path / "gateway.yaml").write_text(f"version: 1\nproviders:\n{lines}")
    table = compile_config(tmp_path, {})
    for ptype, url in DEFAULTS.items():
        provider = table.providers[f"p-{ptype}"]
        assert (provider.type, provider.base_url, provider.format) == (ptype, url, Format.OPENAI)
        assert presets.TYPES[ptype].needs_key is (ptype not in LOCAL)
    assert set(presets.PRESETS) == set(DEFAULTS)


def test_base_url_stays_overridable(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(
        "version: 1\nproviders:\n  box: { type: ollama, base_url: http://gpu-box:11434/v1/ }\n"
    )
    assert compile_config(tmp_path, {}).providers["box"].base_url == "http://gpu-box:11434/v1"


def test_an_unknown_type_is_a_schema_error_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text("version: 1\nproviders:\n  x:\n    type: groqq\n")
    with pytest.raises(ConfigError) as info:
        compile_config(tmp_path, {})
    errors = [str(i) for i in info.value.errors]
    assert any("gateway.yaml:4" in e and "groqq" in e for e in errors), errors


def test_preset_types_are_priced_from_the_package(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(
        "version: 1\nproviders:\n"
        "  gq: { type: groq, base_url: http://127.0.0.1:9/v1 }\n"
        "  ds: { type: deepseek, base_url: http://127.0.0.1:9/v1 }\n"
        "  ol: { type: ollama }\n"
    )
    prices = PriceTable(compile_config(tmp_path, {}))
    assert prices.price("gq", "llama-3.3-70b-versatile") is not None
    assert prices.price("ds", "deepseek-chat") is not None
    assert prices.price("ol", "llama3.2") is None  # local: no price unless `pricing:` gives one


def test_openai_sdk_reaches_a_preset_at_an_overridden_base_url(
    make_gateway: GatewayFactory, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(preset_config(openai_up))
    openai_up.push(Script(text="Fast.", usage={"prompt_tokens": 5, "completion_tokens": 1}))
    raw = openai_client(gw).chat.completions.with_raw_response.create(
        model="llama-3.3-70b-versatile",
        messages=HI,  # type: ignore[arg-type]
    )
    assert raw.parse().choices[0].message.content == "Fast."
    seen = openai_up.requests[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {STORED_KEY}"
    assert raw.headers["x-gateway-model"] == "up/llama-3.3-70b-versatile"
    rec = gw.records(1)[-1]
    assert (rec["status"], rec["input_tokens"], rec["output_tokens"]) == (200, 5, 1)


def test_groq_drops_the_fields_its_api_rejects(make_gateway: GatewayFactory, openai_up: FakeUpstream) -> None:
    gw = make_gateway(preset_config(openai_up))
    resp = httpx.post(
        gw.url + "/v1/chat/completions",
        json={
            "model": "llama-3.3-70b-versatile",
            "messages": [{"role": "user", "content": "hi", "name": "ann"}],
            "logprobs": True,
            "top_logprobs": 2,
            "logit_bias": {"50256": -100},
            "n": 2,
            "temperature": 0.5,
        },
    )
    assert resp.status_code == 200, resp.text
    sent = openai_up.requests[-1].json
    for field in ("logprobs", "top_logprobs", "logit_bias", "n"):
        assert field not in sent
    assert sent["messages"] == [{"role": "user", "content": "hi"}]
    assert sent["temperature"] == 0.5 and sent["model"] == "llama-3.3-70b-versatile"


def test_groq_keeps_n_of_one_and_other_presets_drop_nothing(
    make_gateway: GatewayFactory, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(preset_config(openai_up, "mistral"))
    body = {
        "model": "llama-x",
        "messages": [{"role": "user", "content": "hi", "name": "a"}],
        "logprobs": True,
    }
    assert httpx.post(gw.url + "/v1/chat/completions", json=body).status_code == 200
    assert openai_up.requests[-1].json == body
    assert presets.TYPES["groq"].drop_unsupported({"model": "m", "n": 1}) == {"model": "m", "n": 1}


def test_a_request_without_unsupported_fields_is_forwarded_byte_exact(
    make_gateway: GatewayFactory, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(preset_config(openai_up))
    body = b'{ "model" : "llama-3.3-70b-versatile",\n  "messages": [{"role":"user","content":"hi"}], "n": 1 }'
    resp = httpx.post(
        gw.url + "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 200, resp.text
    assert openai_up.requests[-1].body == body


def test_dropping_logs_the_field_names_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    obj = {"model": "m", "messages": [{"role": "user", "content": "x", "name": "n"}], "logit_bias": {}}
    with caplog.at_level(logging.DEBUG, logger="gateway.presets"):
        cleaned = presets.TYPES["groq"].drop_unsupported(obj)
    assert cleaned == {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert "logit_bias" in caplog.text and "messages[].name" in caplog.text and "groq" in caplog.text
    raw = orjson.dumps({"model": "m", "messages": []})
    assert presets.TYPES["groq"].clean(raw) is raw


def test_a_local_preset_without_a_key_sends_no_authorization(
    make_gateway: GatewayFactory, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(preset_config(openai_up, "ollama", secret=None, provider_keys="[stored]"))
    # The fake insists on a key like OpenAI does; a scripted body stands in for a keyless local server.
    openai_up.push(
        Script(
            body={
                "id": "chatcmpl-local",
                "object": "chat.completion",
                "created": 1,
                "model": "llama3.2",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Local."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        )
    )
    completion = openai_client(gw).chat.completions.create(model="llama-3.2", messages=HI)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "Local."
    seen = openai_up.requests[-1]
    assert "authorization" not in {k.lower() for k in seen.headers}
    assert gw.records(1)[-1]["key"] == "none"


def test_a_hosted_preset_without_a_key_fails_with_401_naming_the_env_var(
    make_gateway: GatewayFactory, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(preset_config(openai_up, secret="${GROQ_API_KEY:-}", provider_keys="[stored]"))
    resp = httpx.post(gw.url + "/v1/chat/completions", json={"model": "llama-x", "messages": HI})
    assert resp.status_code == 401
    assert "GROQ_API_KEY" in resp.json()["error"]["message"]
    assert openai_up.requests == []


def test_anthropic_sdk_reaches_a_preset_through_translation(
    make_gateway: GatewayFactory, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(preset_config(openai_up))
    openai_up.push(Script(text="Translated.", usage={"prompt_tokens": 7, "completion_tokens": 2}))
    client = anthropic_client(gw, key="client-key")
    msg = client.messages.create(
        model="claude-x", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "Translated."
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (7, 2)
    seen = openai_up.requests[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.json["model"] == "llama-3.3-70b-versatile"
    assert seen.headers["authorization"] == f"Bearer {STORED_KEY}"
