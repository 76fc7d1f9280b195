"""Azure OpenAI (`type: azure-openai`): official SDKs -> gateway -> the Azure fake, over loopback HTTP.

Azure speaks OpenAI Chat Completions at {base_url}/openai/deployments/<deployment>/chat/completions
?api-version=..., with the key in `api-key`; the fake rejects anything else the way Azure does.
"""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from gateway.config.compiler import compile_config
from gateway.config.issues import ConfigError
from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, openai_client
from tests.fakes.upstream import FakeUpstream, Script

API_VERSION = "2024-10-21"


def azure_config(
    azure: FakeUpstream, *, stored: bool = True, provider_keys: str = "[stored, request]"
) -> str:
    keys = f'keys:\n  azure-main: {{ provider: azure, secret: "{STORED_KEY}" }}\n' if stored else ""
    return f"""
version: 1
providers:
  azure:
    type: azure-openai
    base_url: "{azure.base_url}"
    api_version: "{API_VERSION}"
    deployments: {{ gpt-5.2: my-gpt-deployment }}
{keys}
models:
  gpt-*: azure/*
  claude-*: azure/gpt-5.2
gateways:
  default: {{ auth: none, provider_keys: {provider_keys} }}
"""


HI = [{"role": "user", "content": "hi"}]


def test_openai_sdk_plain_call_goes_to_the_mapped_deployment_with_api_key(
    make_gateway: GatewayFactory, azure_up: FakeUpstream
) -> None:
    gw = make_gateway(azure_config(azure_up))
    azure_up.push(Script(text="Bonjour.", usage={"prompt_tokens": 12, "completion_tokens": 3}))
    raw = openai_client(gw).chat.completions.with_raw_response.create(model="gpt-5.2", messages=HI)  # type: ignore[arg-type]
    completion = raw.parse()
    assert completion.choices[0].message.content == "Bonjour."
    assert completion.usage is not None and completion.usage.prompt_tokens == 12
    seen = azure_up.requests[-1]
    assert seen.path == "/openai/deployments/my-gpt-deployment/chat/completions"
    assert seen.query == f"api-version={API_VERSION}"
    assert seen.headers["api-key"] == STORED_KEY  # the stored key replaced the client's own
    assert "authorization" not in seen.headers
    assert seen.json["model"] == "gpt-5.2"  # kept; Azure ignores it
    assert raw.headers["x-gateway-provider"] == "azure"
    assert raw.headers["x-gateway-model"] == "azure/gpt-5.2"
    rec = gw.records(1)[-1]
    assert (rec["status"], rec["input_tokens"], rec["output_tokens"], rec["key"]) == (
        200,
        12,
        3,
        "key:azure-main",
    )


def test_a_model_without_a_deployment_entry_uses_its_own_name(
    make_gateway: GatewayFactory, azure_up: FakeUpstream
) -> None:
    gw = make_gateway(azure_config(azure_up))
    completion = openai_client(gw).chat.completions.create(model="gpt-5-mini", messages=HI)  # type: ignore[arg-type]
    assert completion.choices[0].message.content.startswith("Hello from the fake")
    assert azure_up.requests[-1].path == "/openai/deployments/gpt-5-mini/chat/completions"


def test_openai_sdk_stream_with_usage(make_gateway: GatewayFactory, azure_up: FakeUpstream) -> None:
    gw = make_gateway(azure_config(azure_up))
    azure_up.push(
        Script(text="one two three", text_chunks=3, usage={"prompt_tokens": 9, "completion_tokens": 3})
    )
    stream = openai_client(gw).chat.completions.create(
        model="gpt-5.2",
        messages=HI,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert azure_up.requests[-1].path == "/openai/deployments/my-gpt-deployment/chat/completions"
    rec = gw.records(1)[-1]
    assert (rec["input_tokens"], rec["output_tokens"]) == (9, 3)


def test_openai_sdk_tool_call(make_gateway: GatewayFactory, azure_up: FakeUpstream) -> None:
    gw = make_gateway(azure_config(azure_up))
    azure_up.push(Script(tool_calls=[{"id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    completion = openai_client(gw).chat.completions.create(model="gpt-5", messages=HI, tools=tools)  # type: ignore[arg-type]
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert azure_up.requests[-1].json["tools"][0]["function"]["name"] == "get_weather"


def test_anthropic_sdk_is_translated_to_the_deployment(
    make_gateway: GatewayFactory, azure_up: FakeUpstream
) -> None:
    gw = make_gateway(azure_config(azure_up))
    azure_up.push(Script(text="Salut.", usage={"prompt_tokens": 10, "completion_tokens": 2}))
    raw = anthropic_client(gw).messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    msg = raw.parse()
    assert msg.content[0].text == "Salut."  # type: ignore[union-attr]
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (10, 2)
    seen = azure_up.requests[-1]
    assert seen.path == "/openai/deployments/my-gpt-deployment/chat/completions"
    assert seen.query == f"api-version={API_VERSION}"
    assert seen.headers["api-key"] == STORED_KEY
    assert "x-api-key" not in seen.headers and "authorization" not in seen.headers
    assert seen.json["messages"][-1] == {"role": "user", "content": "hi"}
    assert seen.json["model"] == "gpt-5.2"
    assert raw.headers["x-gateway-model"] == "azure/gpt-5.2"


def test_anthropic_sdk_stream_is_translated(make_gateway: GatewayFactory, azure_up: FakeUpstream) -> None:
    gw = make_gateway(azure_config(azure_up))
    azure_up.push(
        Script(text="alpha beta gamma", text_chunks=3, usage={"prompt_tokens": 8, "completion_tokens": 3})
    )
    with anthropic_client(gw).messages.stream(
        model="claude-opus-4-8", max_tokens=100, messages=[{"role": "user", "content": "count"}]
    ) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and "message_stop" in events
    assert final.content[0].text == "alpha beta gamma"  # type: ignore[union-attr]
    assert final.usage.output_tokens == 3
    seen = azure_up.requests[-1]
    assert seen.path == "/openai/deployments/my-gpt-deployment/chat/completions"
    assert seen.json["stream"] is True
    rec = gw.records(1)[-1]
    assert (rec["status"], rec["output_tokens"]) == (200, 3)


def test_the_clients_own_key_is_sent_as_api_key(make_gateway: GatewayFactory, azure_up: FakeUpstream) -> None:
    gw = make_gateway(azure_config(azure_up, stored=False, provider_keys="[request]"))
    openai_client(gw, key="client-openai-key").chat.completions.create(model="gpt-5", messages=HI)  # type: ignore[arg-type]
    seen = azure_up.requests[-1]
    assert seen.headers["api-key"] == "client-openai-key" and "authorization" not in seen.headers
    anthropic_client(gw, key="client-anthropic-key").messages.create(
        model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    seen = azure_up.requests[-1]
    assert seen.headers["api-key"] == "client-anthropic-key" and "x-api-key" not in seen.headers
    # An Azure-style client sends its key in api-key itself.
    resp = httpx.post(
        gw.url + "/v1/chat/completions",
        headers={"api-key": "client-azure-key"},
        json={"model": "gpt-5", "messages": HI},
    )
    assert resp.status_code == 200, resp.text
    assert azure_up.requests[-1].headers["api-key"] == "client-azure-key"
    rec = gw.records(3)[-1]
    assert rec["key"] == "request"


def test_without_any_key_the_error_says_where_to_put_one(
    make_gateway: GatewayFactory, azure_up: FakeUpstream
) -> None:
    gw = make_gateway(azure_config(azure_up, stored=False, provider_keys="[request]"))
    resp = httpx.post(gw.url + "/v1/chat/completions", json={"model": "gpt-5", "messages": HI})
    assert resp.status_code == 401
    assert "api-key" in resp.json()["error"]["message"]
    assert azure_up.requests == []


def test_upstream_errors_come_back_in_the_clients_format_without_the_key(
    make_gateway: GatewayFactory, azure_up: FakeUpstream
) -> None:
    gw = make_gateway(azure_config(azure_up))
    azure_up.push(Script(status=401, error_message=f"Access denied for key {STORED_KEY}"))
    with pytest.raises(openai.AuthenticationError) as info:
        openai_client(gw).chat.completions.create(model="gpt-5", messages=HI)  # type: ignore[arg-type]
    assert info.value.status_code == 401
    assert STORED_KEY not in info.value.response.text
    azure_up.push(Script(status=429))
    with pytest.raises(anthropic.RateLimitError) as limited:
        anthropic_client(gw).messages.create(
            model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    body = limited.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "exceeded token rate limit" in body["error"]["message"]
    azure_up.push(Script(status=401, error_message=f"Access denied for key {STORED_KEY}"))
    with pytest.raises(anthropic.AuthenticationError) as denied:
        anthropic_client(gw).messages.create(
            model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert denied.value.response.json()["error"]["type"] == "authentication_error"
    assert STORED_KEY not in denied.value.response.text


def test_native_passthrough_keeps_the_path_and_query_and_sends_api_key(
    make_gateway: GatewayFactory, azure_up: FakeUpstream
) -> None:
    gw = make_gateway(azure_config(azure_up))
    azure_up.push(Script(text="native", usage={"prompt_tokens": 4, "completion_tokens": 1}))
    url = gw.url + f"/azure/openai/deployments/my-gpt-deployment/chat/completions?api-version={API_VERSION}"
    resp = httpx.post(url, headers={"api-key": "client-key"}, json={"messages": HI, "model": "gpt-5.2"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "native"
    seen = azure_up.requests[-1]
    assert seen.path == "/openai/deployments/my-gpt-deployment/chat/completions"
    assert seen.query == f"api-version={API_VERSION}"
    assert seen.headers["api-key"] == STORED_KEY
    rec = gw.records(1)[-1]
    assert (rec["provider"], rec["input_tokens"], rec["output_tokens"]) == ("azure", 4, 1)
    # The fake answers a missing api-version as Azure does, and the gateway relays it untouched.
    resp = httpx.post(
        gw.url + "/azure/openai/deployments/my-gpt-deployment/chat/completions", json={"messages": HI}
    )
    assert resp.status_code == 404
    assert resp.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert STORED_KEY not in resp.text


def test_a_config_without_api_version_fails_with_its_location(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(
        "version: 1\nproviders:\n  azure:\n    type: azure-openai\n    base_url: https://r.openai.azure.com\n"
    )
    with pytest.raises(ConfigError) as info:
        compile_config(tmp_path, {})
    errors = [str(i) for i in info.value.errors]
    assert any("gateway.yaml:3:" in e and "providers.azure" in e and "api_version" in e for e in errors), (
        errors
    )


def test_azure_compiles_as_served_openai_format(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(
        "version: 1\nproviders:\n  azure:\n    type: azure-openai\n    base_url: https://r.openai.azure.com/\n"
        '    api_version: "2024-10-21"\n'
    )
    table = compile_config(tmp_path, {})
    provider = table.providers["azure"]
    assert provider.format == "openai" and provider.base_url == "https://r.openai.azure.com"
    assert not table.warnings


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/openai/deployments/gpt-5/chat/completions", {"api-key": "k"}, 404, "404"),
        (
            "/openai/deployments/gpt-5/chat/completions?api-version=1999-01-01",
            {"api-key": "k"},
            400,
            "BadRequest",
        ),
        (f"/openai/deployments/gpt-5/chat/completions?api-version={API_VERSION}", {}, 401, "401"),
        (
            f"/openai/deployments/gpt-5/chat/completions?api-version={API_VERSION}",
            {"authorization": "Bearer k"},
            401,
            "401",
        ),
        (
            f"/openai/deployments/nope/chat/completions?api-version={API_VERSION}",
            {"api-key": "k"},
            404,
            "DeploymentNotFound",
        ),
    ],
)
def test_the_azure_fake_front_door(
    azure_up: FakeUpstream, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    resp = httpx.post(azure_up.url + path, headers=headers, json={"model": "gpt-5", "messages": HI})
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == code


def entra_config(azure: FakeUpstream) -> str:
    return azure_config(azure, stored=False, provider_keys="[stored, request]").replace(
        f'    api_version: "{API_VERSION}"\n', f'    api_version: "{API_VERSION}"\n    auth: entra-id\n'
    )


def test_entra_id_token_from_the_gateways_managed_identity_is_cached(
    make_gateway: GatewayFactory, azure_up: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import azure_wire

    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", azure_up.url + azure_wire.IDENTITY_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", azure_wire.IDENTITY_HEADER)
    gw = make_gateway(entra_config(azure_up))
    azure_up.push(Script(text="one"), Script(text="two"), Script(text="three"))
    for text in ("one", "two"):
        done = openai_client(gw).chat.completions.create(model="gpt-5.2", messages=HI)  # type: ignore[arg-type]
        assert done.choices[0].message.content == text
    msg = anthropic_client(gw).messages.create(model="claude-x", max_tokens=16, messages=HI)  # type: ignore[arg-type]
    assert msg.content[0].text == "three"  # type: ignore[union-attr]
    seen = azure_up.requests[-1]
    assert seen.headers["authorization"].startswith("Bearer eyJ") and "api-key" not in seen.headers
    assert azure_up.settings.token_requests == 1  # one token for all three calls
    assert {r["key"] for r in gw.records(3)} == {"ambient"}


def test_entra_id_without_an_azure_identity_is_a_clear_502(
    make_gateway: GatewayFactory, azure_up: FakeUpstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no az, azd or pwsh to ask
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")  # IMDS probe: refused
    gw = make_gateway(entra_config(azure_up))
    with pytest.raises(openai.APIStatusError) as info:
        openai_client(gw).chat.completions.create(model="gpt-5.2", messages=HI)  # type: ignore[arg-type]
    assert info.value.status_code == 502
    assert "cannot get a Microsoft Entra ID token for provider 'azure'" in str(info.value)
    assert azure_up.requests == []


def test_a_clients_own_entra_id_token_is_passed_as_bearer(
    make_gateway: GatewayFactory, azure_up: FakeUpstream
) -> None:
    token, _ = azure_up.settings.issue()
    gw = make_gateway(azure_config(azure_up, stored=False, provider_keys="[request]"))
    azure_up.push(Script(text="mine"))
    done = openai_client(gw, key=token).chat.completions.create(model="gpt-5.2", messages=HI)  # type: ignore[arg-type]
    assert done.choices[0].message.content == "mine"
    seen = azure_up.requests[-1]
    assert seen.headers["authorization"] == f"Bearer {token}" and "api-key" not in seen.headers


def test_entra_id_provider_with_a_stored_key_is_a_config_error(
    tmp_path: Path, azure_up: FakeUpstream
) -> None:
    (tmp_path / "gateway.yaml").write_text(
        entra_config(azure_up).replace("models:\n", 'keys:\n  k: { provider: azure, secret: "x" }\nmodels:\n')
    )
    with pytest.raises(ConfigError) as info:
        compile_config(tmp_path, {})
    assert "auth: entra-id" in str(info.value) and "keys.k.provider" in str(info.value)
