"""AWS Bedrock (`type: bedrock`): official SDKs -> gateway -> the Bedrock fake, over loopback HTTP.

The fake verifies every SigV4 signature with botocore (service `bedrock`, its region, the secret it
holds for the access key), answers streams in AWS event-stream framing, and errors as Bedrock does.
The client x provider matrix (text, tools, images, errors, cut streams) is in test_translation.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests import sse_wire
from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, openai_client
from tests.fakes import bedrock_wire
from tests.fakes.upstream import FakeUpstream, Script

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
LLAMA = "meta.llama3-3-70b-instruct-v1:0"
HI: Any = [{"role": "user", "content": "hi"}]


def bedrock_config(
    bedrock: FakeUpstream,
    key: str | None = None,
    *,
    extra: str = "",
    provider_keys: str = "[stored, request]",
) -> str:
    if key is None:
        key = (
            f"aws: {{ provider: bedrock, access_key_id: {bedrock_wire.DEFAULT_ACCESS_KEY}, "
            f'secret_access_key: "{bedrock_wire.DEFAULT_SECRET_KEY}" }}'
        )
    keys = f"keys:\n  {key}\n" if key else ""
    return f"""
version: 1
providers:
  bedrock: {{ type: bedrock, region: us-east-1, base_url: "{bedrock.url}" }}
{extra}
{keys}
models:
  sonnet: "bedrock/{CLAUDE}"
  llama: "bedrock/{LLAMA}"
gateways:
  default: {{ auth: none, provider_keys: {provider_keys} }}
"""


def boto3_bedrock(gateway_url: str) -> Any:
    """AWS's own SDK pointed at the gateway's native Bedrock passthrough, signing with the client's
    own (fake) credentials, which the gateway replaces; no retries, so each call is one request."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        endpoint_url=gateway_url + "/bedrock",
        region_name="us-east-1",
        aws_access_key_id="AKIACLIENTSOWNKEY",
        aws_secret_access_key="not-the-real-secret",
        config=Config(retries={"max_attempts": 1}),
    )


def test_claude_call_is_the_request_anthropic_bedrock_makes_signed_with_the_stored_key(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    gw = make_gateway(bedrock_config(bedrock_up))
    kwargs: Any = {"max_tokens": 64, "messages": HI, "system": "Be brief."}
    bedrock_up.push(Script(text="Hello there.", usage={"input_tokens": 9, "output_tokens": 3}))
    raw = anthropic_client(gw).messages.with_raw_response.create(
        model="sonnet", extra_headers={"anthropic-beta": "context-1m-2025-08-07"}, **kwargs
    )
    msg = raw.parse()
    assert msg.content[0].text == "Hello there."  # type: ignore[union-attr]
    via_gateway = bedrock_up.requests[-1]
    assert via_gateway.path == f"/model/{CLAUDE}/invoke"
    assert via_gateway.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={bedrock_wire.DEFAULT_ACCESS_KEY}/"
    )
    assert "x-api-key" not in via_gateway.headers  # the client's key never reaches AWS
    # The same request from the official AnthropicBedrock client, straight to the fake.
    direct = anthropic.AnthropicBedrock(
        aws_access_key=bedrock_wire.DEFAULT_ACCESS_KEY,
        aws_secret_key=bedrock_wire.DEFAULT_SECRET_KEY,
        aws_region="us-east-1",
        base_url=bedrock_up.url,
        max_retries=0,
    )
    bedrock_up.push(Script(text="Hello there."))
    direct.messages.create(model=CLAUDE, extra_headers={"anthropic-beta": "context-1m-2025-08-07"}, **kwargs)
    sdk = bedrock_up.requests[-1]
    assert sdk.path == via_gateway.path
    ours, theirs = via_gateway.json, sdk.json
    # The SDK writes its own API version date; Bedrock documents bedrock-2023-05-31, which we send.
    assert ours.pop("anthropic_version") == "bedrock-2023-05-31"
    theirs.pop("anthropic_version")
    assert ours == theirs  # no model, no stream, anthropic_beta from the header
    assert ours["anthropic_beta"] == ["context-1m-2025-08-07"]
    rec = gw.records(1)[-1]
    assert (rec["status"], rec["input_tokens"], rec["output_tokens"], rec["key"]) == (200, 9, 3, "key:aws")
    assert raw.headers["x-gateway-provider"] == "bedrock"
    assert float(raw.headers["x-gateway-cost-usd"]) > 0  # priced from the AWS price list


def test_claude_stream_is_decoded_from_event_stream_into_anthropic_sse(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    gw = make_gateway(bedrock_config(bedrock_up))
    bedrock_up.push(
        Script(
            tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}],
            usage={"input_tokens": 20, "output_tokens": 7},
        )
    )
    tools: Any = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    with anthropic_client(gw).messages.stream(model="sonnet", max_tokens=64, messages=HI, tools=tools) as s:
        events = [e.type for e in s]
        final = s.get_final_message()
    assert events[0] == "message_start" and "message_stop" in events
    assert [(b.name, b.input) for b in final.content if b.type == "tool_use"] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert bedrock_up.requests[-1].path == f"/model/{CLAUDE}/invoke-with-response-stream"
    assert "stream" not in bedrock_up.requests[-1].json
    rec = gw.records(1)[-1]
    assert (rec["status"], rec["input_tokens"], rec["output_tokens"], rec["error"]) == (200, 20, 7, None)


@pytest.mark.parametrize("stream", [False, True])
def test_other_models_go_through_converse_for_both_sdks(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream, stream: bool
) -> None:
    gw = make_gateway(bedrock_config(bedrock_up))
    usage = {"inputTokens": 11, "outputTokens": 4}
    bedrock_up.push(Script(text="Bonjour tout le monde.", usage=usage), Script(text="Salut.", usage=usage))
    if stream:
        with anthropic_client(gw).messages.stream(
            model="llama", max_tokens=64, messages=HI, system="Be brief."
        ) as s:
            text = s.get_final_text()
    else:
        msg = anthropic_client(gw).messages.create(
            model="llama", max_tokens=64, messages=HI, system="Be brief."
        )
        text = msg.content[0].text  # type: ignore[union-attr]
    assert text == "Bonjour tout le monde."
    sent = bedrock_up.requests[-1]
    assert sent.path == f"/model/{LLAMA}/{'converse-stream' if stream else 'converse'}"
    assert sent.json["system"] == [{"text": "Be brief."}]
    assert sent.json["inferenceConfig"]["maxTokens"] == 64
    osdk = openai_client(gw)
    if stream:
        with osdk.chat.completions.stream(
            model="llama", messages=HI, stream_options={"include_usage": True}
        ) as o:
            done = o.get_final_completion()
    else:
        done = osdk.chat.completions.create(model="llama", messages=HI)
    assert done.choices[0].message.content == "Salut."
    assert done.usage is not None and (done.usage.prompt_tokens, done.usage.completion_tokens) == (11, 4)
    recs = gw.records(2)
    assert [(r["input_tokens"], r["output_tokens"]) for r in recs[-2:]] == [(11, 4), (11, 4)]


def test_wrong_secret_is_refused_by_aws_and_reported_without_the_secret(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    canary = "canaryWrongSecret0123456789abcdefABCDEF"
    key = (
        f"aws: {{ provider: bedrock, access_key_id: {bedrock_wire.DEFAULT_ACCESS_KEY}, "
        f'secret_access_key: "{canary}" }}'
    )
    gw = make_gateway(bedrock_config(bedrock_up, key))
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    assert "signature" in str(info.value).lower()
    body = info.value.response.text
    assert canary not in body and json.loads(body)["type"] == "error"
    with pytest.raises(openai.PermissionDeniedError):
        openai_client(gw).chat.completions.create(model="sonnet", messages=HI)
    assert canary not in json.dumps(gw.records(2))


def test_session_token_is_signed_and_sent(make_gateway: GatewayFactory, bedrock_up: FakeUpstream) -> None:
    bedrock_up.settings.add_credentials("ASIATEMPORARYKEY", "tempSecret/abc", "session-token-xyz")
    key = (
        "aws: { provider: bedrock, access_key_id: ASIATEMPORARYKEY, secret_access_key: tempSecret/abc, "
        "session_token: session-token-xyz }"
    )
    gw = make_gateway(bedrock_config(bedrock_up, key))
    bedrock_up.push(Script(text="ok"))
    anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    assert bedrock_up.requests[-1].headers["x-amz-security-token"] == "session-token-xyz"


def test_without_a_stored_key_the_aws_credential_chain_is_used(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bedrock_wire.DEFAULT_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bedrock_wire.DEFAULT_SECRET_KEY)
    # A key whose env vars are unset (config.md's example on an instance with a role) is no key.
    empty = (
        'aws: { provider: bedrock, access_key_id: "${UNSET_KEY_ID:-}", '
        'secret_access_key: "${UNSET_SECRET:-}" }'
    )
    gw = make_gateway(bedrock_config(bedrock_up, key=empty))
    bedrock_up.push(Script(text="from the chain"), Script(text="again"))
    for expected in ("from the chain", "again"):
        msg = anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
        assert msg.content[0].text == expected  # type: ignore[union-attr]
    assert gw.records(2)[-1]["key"] == "ambient"


def test_no_credentials_anywhere_is_a_clear_401(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    gw = make_gateway(bedrock_config(bedrock_up, key="", provider_keys="[stored]"))
    with pytest.raises(anthropic.AuthenticationError) as info:
        anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    assert "no AWS credentials for provider 'bedrock'" in str(info.value)
    assert bedrock_up.requests == []


def test_bedrock_api_keys_stored_or_the_clients_own_go_as_bearer(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    gw = make_gateway(
        bedrock_config(bedrock_up, f'aws: {{ provider: bedrock, secret: "{bedrock_wire.DEFAULT_API_KEY}" }}')
    )
    bedrock_up.push(Script(text="ok"))
    anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    assert bedrock_up.requests[-1].headers["authorization"] == f"Bearer {bedrock_wire.DEFAULT_API_KEY}"
    gw2 = make_gateway(bedrock_config(bedrock_up, key="", provider_keys="[request]"))
    bedrock_up.push(Script(text="ok"))
    anthropic_client(gw2.url, key=bedrock_wire.DEFAULT_API_KEY).messages.create(
        model="sonnet", max_tokens=8, messages=HI
    )
    assert bedrock_up.requests[-1].headers["authorization"] == f"Bearer {bedrock_wire.DEFAULT_API_KEY}"


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (400, anthropic.BadRequestError, "invalid_request_error"),
    ],
)
def test_bedrock_errors_arrive_in_anthropics_envelope(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream, status: int, error: type[Exception], kind: str
) -> None:
    gw = make_gateway(bedrock_config(bedrock_up))
    bedrock_up.push(Script(status=status, error_message="Too many tokens, please wait."))
    with pytest.raises(error) as info:
        anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    body = info.value.response.json()  # type: ignore[attr-defined]
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["error"]["message"] == "Too many tokens, please wait."


def test_mid_stream_exception_becomes_an_error_event(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    gw = make_gateway(bedrock_config(bedrock_up))
    bedrock_up.push(
        Script(
            text="one two three four five six",
            text_chunks=6,
            error_event_after=3,
            error_event_type="throttlingException",
        )
    )
    stream = anthropic_client(gw).messages.stream(model="sonnet", max_tokens=64, messages=HI)
    with pytest.raises(anthropic.APIStatusError) as info, stream as s:
        for _ in s:
            pass
    # Raised from an error event inside a started (200) stream, not from a 429 answer before it.
    assert info.value.status_code == 200
    assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert gw.records(1)[-1]["error"]
    bedrock_up.push(
        Script(
            text="one two three four five six",
            text_chunks=6,
            error_event_after=3,
            error_event_type="throttlingException",
        )
    )
    raw = sse_wire.stream(gw.url, "anthropic", "sonnet")
    assert raw.status == 200
    assert any(e.event == "content_block_delta" for e in raw.events)  # the error came mid-stream
    assert sse_wire.assert_ends_with_error(raw.events, "anthropic")["type"] == "rate_limit_error"


def test_throttled_bedrock_falls_back_to_anthropic(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream, anthropic_up: FakeUpstream
) -> None:
    extra = f'  anthropic: {{ type: anthropic, base_url: "{anthropic_up.base_url}" }}'
    config = bedrock_config(bedrock_up, extra=extra).replace(
        "keys:\n", f'keys:\n  anthropic-main: {{ provider: anthropic, secret: "{STORED_KEY}" }}\n'
    )
    config += f"""
routes:
  claude:
    fallback: ["bedrock/{CLAUDE}", anthropic/claude-sonnet-4-5]
"""
    gw = make_gateway(config)
    bedrock_up.push(Script(status=429, error_message="Too many requests"))
    anthropic_up.push(Script(text="from anthropic"))
    raw = anthropic_client(gw).messages.with_raw_response.create(
        model="dynamic/claude", max_tokens=8, messages=HI
    )
    assert raw.parse().content[0].text == "from anthropic"  # type: ignore[union-attr]
    assert raw.headers["x-gateway-provider"] == "anthropic"
    attempts = gw.records(1)[-1]["attempts"]
    assert [(a["target"], a["status"]) for a in attempts] == [
        (f"bedrock/{CLAUDE}", 429),
        ("anthropic/claude-sonnet-4-5", 200),
    ]


def test_native_passthrough_is_signed_by_the_gateway(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    """AnthropicBedrock pointed at /bedrock: its own (wrong) signature is dropped, the gateway signs."""
    gw = make_gateway(bedrock_config(bedrock_up, provider_keys="[stored]"))
    client = anthropic.AnthropicBedrock(
        aws_access_key="AKIACLIENTSOWNKEY",
        aws_secret_key="not-the-real-secret",
        aws_region="us-east-1",
        base_url=gw.url + "/bedrock",
        max_retries=0,
    )
    bedrock_up.push(Script(text="native"), Script(text="native stream"))
    msg = client.messages.create(model=CLAUDE, max_tokens=8, messages=HI)
    assert msg.content[0].text == "native"  # type: ignore[union-attr]
    sent = bedrock_up.requests[-1]
    assert bedrock_wire.DEFAULT_ACCESS_KEY in sent.headers["authorization"]
    with client.messages.stream(model=CLAUDE, max_tokens=8, messages=HI) as s:
        assert s.get_final_text() == "native stream"  # event-stream relayed as AWS framed it
    # The model comes from the URL, and usage from a decoded copy of the answer: priced like any call.
    recs = gw.records(2)[-2:]
    assert [r["model"] for r in recs] == [CLAUDE, CLAUDE]
    assert all(r["input_tokens"] and r["output_tokens"] and r["cost_usd"] for r in recs), recs


def test_boto3_converse_through_native_passthrough(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    """AWS's own SDK against the gateway: re-signed, relayed as is, usage read from Converse's shapes."""
    gw = make_gateway(bedrock_config(bedrock_up, provider_keys="[stored]"))
    client = boto3_bedrock(gw.url)
    usage = {"inputTokens": 13, "outputTokens": 5}
    bedrock_up.push(Script(text="plain converse", usage=usage), Script(text="streamed converse", usage=usage))
    messages: Any = [{"role": "user", "content": [{"text": "hi"}]}]
    out = client.converse(modelId=LLAMA, messages=messages)
    assert out["output"]["message"]["content"][0]["text"] == "plain converse"
    stream = client.converse_stream(modelId=LLAMA, messages=messages)["stream"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in stream if "contentBlockDelta" in e)
    assert text == "streamed converse"
    recs = gw.records(2)[-2:]
    assert [(r["model"], r["input_tokens"], r["output_tokens"]) for r in recs] == [
        (LLAMA, 13, 5),
        (LLAMA, 13, 5),
    ]


def test_count_tokens_uses_bedrocks_count_tokens_api(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    gw = make_gateway(bedrock_config(bedrock_up))
    messages: Any = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]
    for model, path in (("sonnet", CLAUDE), ("llama", LLAMA)):
        raw = anthropic_client(gw).messages.with_raw_response.count_tokens(
            model=model, messages=messages, system="Short."
        )
        assert raw.parse().input_tokens > 0
        assert "x-gateway-token-count" not in raw.headers  # counted by Bedrock, not estimated
        sent = bedrock_up.requests[-1]
        assert sent.path == f"/model/{path}/count-tokens"
    assert set(bedrock_up.requests[-2].json["input"]) == {"invokeModel"}
    assert bedrock_up.requests[-1].json["input"]["converse"]["system"] == [{"text": "Short."}]


def test_cloud_secrets_never_reach_config_views_or_logs(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream, tmp_path: Path
) -> None:
    canary = "canaryAwsSecret/0123456789abcdefABCDEFghij"
    bedrock_up.settings.add_credentials("AKIACANARYACCESSKEY", canary, "canary-session-token-0123456789")
    key = (
        "aws: { provider: bedrock, access_key_id: AKIACANARYACCESSKEY, "
        f'secret_access_key: "{canary}", session_token: canary-session-token-0123456789 }}'
    )
    gw = make_gateway(bedrock_config(bedrock_up, key))
    bedrock_up.push(Script(text="ok"))
    anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=HI)
    config = httpx.get(gw.url + "/api/config").text
    page = httpx.get(gw.url + "/dashboard/config").text
    logs = httpx.get(gw.url + "/api/logs").text
    assert '"secret":"AKIA...SKEY"' in config  # the key id, masked
    for text in (config, page, logs, json.dumps(gw.records(1))):
        assert canary not in text and "canary-session-token" not in text


def test_a_large_body_is_signed_off_the_event_loop_and_verifies(
    make_gateway: GatewayFactory, bedrock_up: FakeUpstream
) -> None:
    gw = make_gateway(bedrock_config(bedrock_up))
    bedrock_up.push(Script(text="read it all"))
    big: Any = [{"role": "user", "content": "word " * 300_000}]  # 1.5 MB: over credentials.BIG_BODY
    msg = anthropic_client(gw).messages.create(model="sonnet", max_tokens=8, messages=big)
    assert msg.content[0].text == "read it all"  # type: ignore[union-attr]
    assert len(bedrock_up.requests[-1].body) > 1 << 20
