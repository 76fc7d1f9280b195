"""Google Vertex AI (`type: vertex`): official SDKs -> gateway -> the Vertex fake, over loopback HTTP.

Every test makes its own service account (an RSA key generated here, never committed); the fake's
token endpoint checks the JWT google-auth signs with it, and its model endpoints accept only the
access tokens it issued. The client x provider matrix is in test_translation.py.
"""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path
from typing import Any

import anthropic
import pytest
from google.oauth2 import service_account

from tests.conftest import GatewayFactory, anthropic_client, openai_client
from tests.fakes.gcp import ServiceAccount, make_service_account
from tests.fakes.upstream import FakeUpstream, Script

CLAUDE = "claude-sonnet-4-5@20250929"
HI: Any = [{"role": "user", "content": "hi"}]
BASE = "/v1/projects/test-project/locations/us-east5/publishers"


@pytest.fixture
def account(vertex_up: FakeUpstream, tmp_path: Path) -> ServiceAccount:
    made = make_service_account(vertex_up.url + "/token", tmp_path / "sa.json")
    vertex_up.settings.register_service_account(made)
    return made


def vertex_config(
    vertex: FakeUpstream, credentials: Path | None, provider_keys: str = "[stored, request]"
) -> str:
    keys = f'keys:\n  gcp: {{ provider: vertex, credentials_file: "{credentials}" }}\n' if credentials else ""
    return f"""
version: 1
providers:
  vertex: {{ type: vertex, project: test-project, region: us-east5, base_url: "{vertex.base_url}" }}
{keys}
models:
  sonnet: vertex/{CLAUDE}
  flash: vertex/gemini-2.5-flash
gateways:
  default: {{ auth: none, provider_keys: {provider_keys} }}
"""


def test_claude_call_is_the_request_anthropic_vertex_makes_with_one_cached_token(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, account: ServiceAccount
) -> None:
    gw = make_gateway(vertex_config(vertex_up, account.path))
    kwargs: Any = {"max_tokens": 64, "messages": HI, "system": "Be brief."}
    vertex_up.push(
        *(Script(text=f"answer {i}", usage={"input_tokens": 5, "output_tokens": 2}) for i in range(3))
    )
    for i in range(3):
        msg = anthropic_client(gw).messages.create(model="sonnet", **kwargs)
        assert msg.content[0].text == f"answer {i}"  # type: ignore[union-attr]
    assert vertex_up.settings.token_requests == 1  # one token, reused while it is fresh
    via_gateway = vertex_up.requests[-1]
    assert via_gateway.path == f"{BASE}/anthropic/models/{CLAUDE}:rawPredict"
    assert via_gateway.headers["authorization"].startswith("Bearer ")
    direct = anthropic.AnthropicVertex(
        project_id="test-project",
        region="us-east5",
        base_url=vertex_up.base_url,
        credentials=service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(account.path), scopes=["https://www.googleapis.com/auth/cloud-platform"]
        ),
        max_retries=0,
    )
    vertex_up.push(Script(text="direct"))
    direct.messages.create(model=CLAUDE, **kwargs)
    sdk = vertex_up.requests[-1]
    assert sdk.path == via_gateway.path
    ours, theirs = via_gateway.json, sdk.json
    assert ours.pop("anthropic_version") == "vertex-2023-10-16"  # documented; the SDK writes its own date
    theirs.pop("anthropic_version")
    assert ours == theirs and "model" not in ours
    rec = gw.records(3)[-1]
    assert (rec["status"], rec["input_tokens"], rec["output_tokens"], rec["key"]) == (200, 5, 2, "key:gcp")


def test_claude_stream_and_openai_clients(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, account: ServiceAccount
) -> None:
    gw = make_gateway(vertex_config(vertex_up, account.path))
    vertex_up.push(Script(text="streamed answer", text_chunks=3), Script(text="translated"))
    with anthropic_client(gw).messages.stream(model="sonnet", max_tokens=64, messages=HI) as s:
        assert s.get_final_text() == "streamed answer"
    assert vertex_up.requests[-1].path.endswith(":streamRawPredict")
    assert vertex_up.requests[-1].json["stream"] is True
    osdk = openai_client(gw)
    done = osdk.chat.completions.create(model="sonnet", messages=HI)
    assert done.choices[0].message.content == "translated"


@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_gemini_models_use_generate_content_under_the_google_publisher(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, account: ServiceAccount, client: str
) -> None:
    gw = make_gateway(vertex_config(vertex_up, account.path))
    vertex_up.push(Script(text="Gemini here."), Script(text="Gemini streams."))
    if client == "anthropic":
        msg = anthropic_client(gw).messages.create(model="flash", max_tokens=64, messages=HI)
        assert msg.content[0].text == "Gemini here."  # type: ignore[union-attr]
        with anthropic_client(gw).messages.stream(model="flash", max_tokens=64, messages=HI) as s:
            assert s.get_final_text() == "Gemini streams."
    else:
        osdk = openai_client(gw)
        assert (
            osdk.chat.completions.create(model="flash", messages=HI).choices[0].message.content
            == "Gemini here."
        )
        with osdk.chat.completions.stream(model="flash", messages=HI) as o:
            assert o.get_final_completion().choices[0].message.content == "Gemini streams."
    paths = [r.path for r in vertex_up.requests if r.path != "/token"]
    assert paths == [
        f"{BASE}/google/models/gemini-2.5-flash:generateContent",
        f"{BASE}/google/models/gemini-2.5-flash:streamGenerateContent",
    ]


def test_count_tokens_for_claude_and_gemini_on_vertex(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, account: ServiceAccount
) -> None:
    gw = make_gateway(vertex_config(vertex_up, account.path))
    messages: Any = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]
    for model in ("sonnet", "flash"):
        raw = anthropic_client(gw).messages.with_raw_response.count_tokens(
            model=model, messages=messages, system="Count me too."
        )
        assert raw.parse().input_tokens > 0
        assert "x-gateway-token-count" not in raw.headers  # counted by Vertex, not estimated
    paths = [r.path for r in vertex_up.requests if r.path != "/token"]
    assert paths == [
        f"{BASE}/anthropic/models/count-tokens:rawPredict",
        f"{BASE}/google/models/gemini-2.5-flash:countTokens",
    ]
    assert vertex_up.requests[-2].json["model"] == CLAUDE
    gemini_count = vertex_up.requests[-1].json  # Vertex's CountTokensRequest: system and tools as fields
    assert gemini_count["systemInstruction"]["parts"] == [{"text": "Count me too."}]


def test_token_is_refreshed_before_it_expires(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, account: ServiceAccount
) -> None:
    vertex_up.settings.token_lifetime = 120  # inside the 5-minute margin: every call needs a new one
    gw = make_gateway(vertex_config(vertex_up, account.path))
    vertex_up.push(Script(text="a"), Script(text="b"))
    for _ in range(2):
        anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    assert vertex_up.settings.token_requests == 2


def test_concurrent_first_calls_share_one_token_request(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, account: ServiceAccount
) -> None:
    gw = make_gateway(vertex_config(vertex_up, account.path))
    vertex_up.push(*(Script(text="x") for _ in range(8)))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda _: anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI),
                range(8),
            )
        )
    assert len(results) == 8
    assert vertex_up.settings.token_requests == 1


def test_unknown_service_account_is_a_502_without_the_private_key(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, tmp_path: Path
) -> None:
    stranger = make_service_account(vertex_up.url + "/token", tmp_path / "stranger.json")  # not registered
    gw = make_gateway(vertex_config(vertex_up, stranger.path))
    with pytest.raises(anthropic.APIStatusError) as info:
        anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    assert info.value.status_code == 502
    text = info.value.response.text
    assert "cannot get a Google access token for provider 'vertex'" in text
    private_key = json.loads(stranger.path.read_text())["private_key"]
    assert private_key.splitlines()[1] not in text
    assert [r.path for r in vertex_up.requests] == ["/token"]  # no model call without a token


def test_google_front_door_errors_become_anthropic_errors(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, account: ServiceAccount
) -> None:
    gw = make_gateway(vertex_config(vertex_up, account.path))
    for stream in (False, True):
        vertex_up.push(Script(status=429, error_message="Quota exceeded for aiplatform.googleapis.com"))
        with pytest.raises(anthropic.RateLimitError) as info:
            if stream:
                with anthropic_client(gw).messages.stream(model="sonnet", max_tokens=8, messages=HI) as s:
                    s.get_final_text()
            else:
                anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
        body = info.value.response.json()
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
        assert "Quota exceeded" in body["error"]["message"]


def test_google_default_credentials_without_a_stored_key(
    make_gateway: GatewayFactory,
    vertex_up: FakeUpstream,
    account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(account.path))
    gw = make_gateway(vertex_config(vertex_up, None))
    vertex_up.push(Script(text="ambient"))
    msg = anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    assert msg.content[0].text == "ambient"  # type: ignore[union-attr]
    assert gw.records(1)[-1]["key"] == "ambient"


def test_native_passthrough_mints_the_token_and_reads_usage(
    make_gateway: GatewayFactory, vertex_up: FakeUpstream, account: ServiceAccount
) -> None:
    """AnthropicVertex pointed at /vertex: its own token is replaced by the gateway's."""
    gw = make_gateway(vertex_config(vertex_up, account.path, provider_keys="[stored]"))
    client = anthropic.AnthropicVertex(
        project_id="test-project",
        region="us-east5",
        base_url=gw.url + "/vertex",
        access_token="client-own-token",
        max_retries=0,
    )
    vertex_up.push(Script(text="native", usage={"input_tokens": 7, "output_tokens": 3}))
    msg = client.messages.create(model=CLAUDE, max_tokens=8, messages=HI)
    assert msg.content[0].text == "native"  # type: ignore[union-attr]
    sent = vertex_up.requests[-1]
    assert sent.headers["authorization"] != "Bearer client-own-token"
    rec = gw.records(1)[-1]
    assert (rec["model"], rec["input_tokens"], rec["output_tokens"]) == (CLAUDE, 7, 3)
