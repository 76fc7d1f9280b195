"""The Bedrock fake must be indistinguishable from bedrock-runtime to AWS's and Anthropic's own clients."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import boto3
import botocore.auth
import botocore.exceptions
import httpx
import orjson
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from tests.fakes import bedrock_wire, eventstream
from tests.fakes.anthropic_wire import input_tokens_estimate
from tests.fakes.bedrock_wire import DEFAULT_ACCESS_KEY, DEFAULT_API_KEY, DEFAULT_SECRET_KEY
from tests.fakes.sigv4 import INVALID_TOKEN, SIGNATURE_MISMATCH
from tests.fakes.upstream import FakeUpstream, Script

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
LLAMA = "meta.llama3-3-70b-instruct-v1:0"
HI = [{"role": "user", "content": "hi"}]
CONVERSE_HI = [{"role": "user", "content": [{"text": "hi"}]}]
WEATHER = {"name": "get_weather", "input": {"city": "Paris", "units": "celsius"}}
WEATHER_TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Weather for a city",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}


@pytest.fixture
def claude(bedrock_up: FakeUpstream) -> Iterator[anthropic.AnthropicBedrock]:
    with anthropic.AnthropicBedrock(
        aws_access_key=DEFAULT_ACCESS_KEY,
        aws_secret_key=DEFAULT_SECRET_KEY,
        aws_region="us-east-1",
        base_url=bedrock_up.url,
        max_retries=0,
    ) as client:
        yield client


def runtime(fake: FakeUpstream, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "endpoint_url": fake.url,
        "region_name": "us-east-1",
        "aws_access_key_id": DEFAULT_ACCESS_KEY,
        "aws_secret_access_key": DEFAULT_SECRET_KEY,
        "config": Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        **overrides,
    }
    return boto3.client("bedrock-runtime", **options)


def signed_post(
    fake: FakeUpstream,
    path: str,
    body: Any,
    *,
    access_key: str = DEFAULT_ACCESS_KEY,
    secret_key: str = DEFAULT_SECRET_KEY,
    session_token: str | None = None,
    region: str = "us-east-1",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a SigV4-signed JSON body the way a hand-written signer (a gateway) would."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    request = AWSRequest(
        method="POST",
        url=fake.url + path,
        data=raw,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    SigV4Auth(Credentials(access_key, secret_key, session_token), "bedrock", region).add_auth(request)
    prepared = request.prepare()
    return httpx.post(prepared.url, content=raw, headers=dict(prepared.headers))


def error_type(response: httpx.Response) -> str:
    return response.headers["x-amzn-errortype"].partition(":")[0]


# -- event-stream framing, proven with botocore's own decoder -------------------------------------------


def test_eventstream_encoder_round_trips_through_botocore() -> None:
    messages = [
        eventstream.event("chunk", {"bytes": base64.b64encode(b'{"type":"ping"}').decode(), "p": "abcd"}),
        eventstream.encode_message({":event-type": "messageStart", "x-long": "é" * 300}, b""),
        eventstream.exception("throttlingException", {"message": "slow down"}),
    ]
    buffer = EventStreamBuffer()
    # Byte by byte: the decoder must find every boundary from the prelude alone.
    for byte in b"".join(messages):
        buffer.add_data(bytes([byte]))
    decoded = list(buffer)
    assert [m.headers for m in decoded] == [
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
        {":event-type": "messageStart", "x-long": "é" * 300},
        {
            ":exception-type": "throttlingException",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
    ]
    assert json.loads(decoded[0].payload)["p"] == "abcd"
    assert decoded[1].payload == b""
    assert decoded[2].to_response_dict()["status_code"] == 400

    corrupted = bytearray(messages[0])
    corrupted[-1] ^= 0xFF
    broken = EventStreamBuffer()
    broken.add_data(bytes(corrupted))
    with pytest.raises(ChecksumMismatch):
        list(broken)


# -- AnthropicBedrock: InvokeModel -----------------------------------------------------------------------


def test_anthropic_bedrock_create(bedrock_up: FakeUpstream, claude: anthropic.AnthropicBedrock) -> None:
    raw = claude.messages.with_raw_response.create(
        model=CLAUDE, max_tokens=64, messages=HI, extra_headers={"anthropic-beta": "context-1m-2025-08-07"}
    )
    message = raw.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the fake bedrock upstream."
    assert message.model == "claude-sonnet-4-5-20250929"
    assert message.id.startswith("msg_bdrk_")
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["x-amzn-bedrock-input-token-count"] == str(message.usage.input_tokens)
    assert raw.headers["x-amzn-bedrock-output-token-count"] == str(message.usage.output_tokens)
    assert int(raw.headers["x-amzn-bedrock-invocation-latency"]) >= 1
    assert raw.headers["x-amzn-requestid"]

    sent = bedrock_up.requests[-1]
    assert sent.path == f"/model/{CLAUDE}/invoke"
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={DEFAULT_ACCESS_KEY}/")
    assert "model" not in sent.json and "stream" not in sent.json
    assert sent.json["anthropic_beta"] == ["context-1m-2025-08-07"]
    assert sent.json["anthropic_version"] in bedrock_up.settings.anthropic_versions
    assert message.usage.input_tokens == input_tokens_estimate(sent.json)


def test_anthropic_bedrock_stream_text_and_tool_call(
    bedrock_up: FakeUpstream, claude: anthropic.AnthropicBedrock
) -> None:
    bedrock_up.push(Script(text="Checking.", tool_calls=[WEATHER], usage={"output_tokens": 9}))
    with claude.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Checking."  # type: ignore[union-attr]
    assert final.content[1].input == WEATHER["input"]  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 9
    assert "message_stop" in events
    assert bedrock_up.requests[-1].path == f"/model/{CLAUDE}/invoke-with-response-stream"


def test_anthropic_bedrock_api_key(bedrock_up: FakeUpstream) -> None:
    with anthropic.AnthropicBedrock(
        api_key=DEFAULT_API_KEY, aws_region="us-east-1", base_url=bedrock_up.url, max_retries=0
    ) as client:
        assert client.messages.create(model=CLAUDE, max_tokens=8, messages=HI).content
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            client.with_options(api_key="ABSKnotregistered").messages.create(
                model=CLAUDE, max_tokens=8, messages=HI
            )
    assert denied.value.body == {"Message": "Authentication failed: Please make sure your API Key is valid."}
    assert bedrock_up.requests[0].headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"


def test_wrong_secret_is_permission_denied(bedrock_up: FakeUpstream) -> None:
    with (
        anthropic.AnthropicBedrock(
            aws_access_key=DEFAULT_ACCESS_KEY,
            aws_secret_key="not-the-secret",
            aws_region="us-east-1",
            base_url=bedrock_up.url,
            max_retries=0,
        ) as client,
        pytest.raises(anthropic.PermissionDeniedError) as denied,
    ):
        client.messages.create(model=CLAUDE, max_tokens=8, messages=HI)
    assert denied.value.status_code == 403
    assert denied.value.body == {"message": SIGNATURE_MISMATCH}
    assert denied.value.response.headers["x-amzn-errortype"] == (
        "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/"
    )
    assert bedrock_up.pending_scripts == 0


def test_front_door_refusals_consume_no_script(bedrock_up: FakeUpstream) -> None:
    bedrock_up.push(Script(text="kept for the next good request"))
    unsigned = httpx.post(f"{bedrock_up.url}/model/{CLAUDE}/invoke", json={})
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Missing Authentication Token"})
    assert error_type(unsigned) == "MissingAuthenticationTokenException"

    unknown = signed_post(bedrock_up, f"/model/{CLAUDE}/invoke", {}, access_key="AKIAUNKNOWN")
    assert (unknown.status_code, unknown.json(), error_type(unknown)) == (
        403,
        {"message": INVALID_TOKEN},
        "UnrecognizedClientException",
    )
    wrong_region = signed_post(bedrock_up, f"/model/{CLAUDE}/invoke", {}, region="eu-west-1")
    assert wrong_region.status_code == 403
    assert "Credential should be scoped to a valid region" in wrong_region.json()["message"]

    assert bedrock_up.pending_scripts == 1
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": HI}
    ok = signed_post(bedrock_up, f"/model/{CLAUDE}/invoke", body)
    assert ok.json()["content"][0]["text"] == "kept for the next good request"


def test_signature_covers_body_path_and_time(
    bedrock_up: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": HI}
    raw = orjson.dumps(body)
    request = AWSRequest(method="POST", url=f"{bedrock_up.url}/model/{CLAUDE}/invoke", data=raw)
    SigV4Auth(Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY), "bedrock", "us-east-1").add_auth(request)
    headers = dict(request.prepare().headers)
    # Same signature, another body: AWS recomputes the payload hash.
    tampered = httpx.post(request.url, content=raw.replace(b"hi", b"ho"), headers=headers)
    assert (tampered.status_code, tampered.json()["message"]) == (403, SIGNATURE_MISMATCH)
    # Same signature, another model in the path.
    moved = httpx.post(request.url.replace("sonnet", "opus"), content=raw, headers=headers)
    assert moved.json()["message"] == SIGNATURE_MISMATCH
    assert httpx.post(request.url, content=raw, headers=headers).status_code == 200

    stale = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=6)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale.replace(tzinfo=None))
    expired = signed_post(bedrock_up, f"/model/{CLAUDE}/invoke", body)
    assert expired.status_code == 403
    assert expired.json()["message"].startswith("Signature expired: ")
    assert error_type(expired) == "InvalidSignatureException"


def test_session_tokens_and_content_sha(bedrock_up: FakeUpstream) -> None:
    bedrock_up.settings.add_credentials("ASIATEMPORARY", "temp-secret", session_token="session-token-1")
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": HI}
    path = f"/model/{CLAUDE}/invoke"
    good = signed_post(
        bedrock_up,
        path,
        body,
        access_key="ASIATEMPORARY",
        secret_key="temp-secret",
        session_token="session-token-1",
    )
    assert good.status_code == 200
    assert bedrock_up.requests[-1].headers["x-amz-security-token"] == "session-token-1"
    missing = signed_post(bedrock_up, path, body, access_key="ASIATEMPORARY", secret_key="temp-secret")
    assert (missing.status_code, missing.json()["message"]) == (403, INVALID_TOKEN)

    sha = signed_post(bedrock_up, path, body, headers={"X-Amz-Content-SHA256": "0" * 64})
    assert sha.status_code == 403
    assert "x-amz-content-sha256" in sha.json()["message"]


def test_invoke_body_is_checked_like_bedrock(bedrock_up: FakeUpstream) -> None:
    path = f"/model/{CLAUDE}/invoke"
    base = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": HI}
    cases = [
        ({**base, "model": CLAUDE}, "extraneous key [model] is not permitted"),
        ({**base, "stream": True}, "extraneous key [stream] is not permitted"),
        ({"max_tokens": 8, "messages": HI}, "required key [anthropic_version] not found"),
        ({**base, "anthropic_version": "2023-06-01"}, "#/anthropic_version"),
        ({**base, "messages": []}, "messages: at least one message is required"),
    ]
    for body, fragment in cases:
        response = signed_post(bedrock_up, path, body)
        assert response.status_code == 400, body
        assert error_type(response) == "ValidationException"
        assert fragment in response.json()["message"]

    llama = signed_post(bedrock_up, f"/model/{LLAMA}/invoke", base)
    assert llama.status_code == 400
    bogus = signed_post(bedrock_up, "/model/not-a-model/invoke", base)
    assert bogus.json() == {"message": "The provided model identifier is invalid."}


def test_scripted_errors_use_bedrock_envelope(
    bedrock_up: FakeUpstream, claude: anthropic.AnthropicBedrock
) -> None:
    bedrock_up.push(Script(status=429), Script(status=503, error_message="busy"))
    with pytest.raises(anthropic.RateLimitError) as limited:
        claude.messages.create(model=CLAUDE, max_tokens=8, messages=HI)
    assert limited.value.response.headers["x-amzn-errortype"] == (
        "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    )
    with pytest.raises(botocore.exceptions.ClientError) as unavailable:
        runtime(bedrock_up).converse(modelId=LLAMA, messages=CONVERSE_HI)
    assert unavailable.value.response["Error"] == {"Code": "ServiceUnavailableException", "Message": "busy"}


def test_anthropic_bedrock_mid_stream_exception(
    bedrock_up: FakeUpstream, claude: anthropic.AnthropicBedrock
) -> None:
    bedrock_up.push(Script(error_event_after=3, error_event_type="throttlingException"))
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as failed,
        claude.messages.stream(model=CLAUDE, max_tokens=8, messages=HI) as stream,
    ):
        received.extend(event.type for event in stream)
    assert "throttlingException" in str(failed.value)
    assert received[0] == "message_start"


# -- boto3: Converse, ConverseStream, InvokeModel(WithResponseStream), CountTokens -----------------------


def test_boto3_converse_text_and_tool_call(bedrock_up: FakeUpstream) -> None:
    client = runtime(bedrock_up)
    answer = client.converse(
        modelId=LLAMA,
        messages=CONVERSE_HI,
        system=[{"text": "be brief"}],
        inferenceConfig={"maxTokens": 64, "temperature": 0.2},
    )
    assert answer["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "Hello from the fake bedrock upstream."}],
    }
    assert answer["stopReason"] == "end_turn"
    usage = answer["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert usage["inputTokens"] == bedrock_wire.converse_input_tokens(bedrock_up.requests[-1].json)
    assert answer["metrics"]["latencyMs"] >= 1
    # botocore percent-encodes the model id in the path; the signature covers the encoded form.
    assert bedrock_up.requests[-1].raw_path == "/model/meta.llama3-3-70b-instruct-v1%3A0/converse"

    bedrock_up.push(Script(tool_calls=[WEATHER], usage={"inputTokens": 50, "outputTokens": 7}))
    answer = client.converse(modelId="amazon.nova-pro-v1:0", messages=CONVERSE_HI, toolConfig=WEATHER_TOOLS)
    [block] = answer["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "get_weather"
    assert block["toolUse"]["input"] == WEATHER["input"]
    assert answer["stopReason"] == "tool_use"
    assert answer["usage"] == {"inputTokens": 50, "outputTokens": 7, "totalTokens": 57}


def test_boto3_converse_stream(bedrock_up: FakeUpstream) -> None:
    bedrock_up.push(Script(text="Let me check.", tool_calls=[WEATHER], text_chunks=2))
    response = runtime(bedrock_up).converse_stream(
        modelId="mistral.mistral-large-2407-v1:0", messages=CONVERSE_HI, toolConfig=WEATHER_TOOLS
    )
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    events = list(response["stream"])
    names = [next(iter(event)) for event in events]
    assert names == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "contentBlockStart",
        *["contentBlockDelta"] * (names.count("contentBlockDelta") - 2),
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    text = "".join(
        e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e
    )
    assert text == "Let me check."
    start = events[4]["contentBlockStart"]
    assert start["contentBlockIndex"] == 1 and start["start"]["toolUse"]["name"] == "get_weather"
    pieces = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events[5:-3]]
    assert len(pieces) >= 2 and json.loads("".join(pieces)) == WEATHER["input"]
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}
    assert set(events[-1]["metadata"]) == {"usage", "metrics"}


def test_boto3_converse_stream_exception_and_cut(bedrock_up: FakeUpstream) -> None:
    client = runtime(bedrock_up)
    bedrock_up.push(Script(error_event_after=2, error_event_type="throttlingException", error_message="slow"))
    received: list[dict[str, Any]] = []
    with pytest.raises(botocore.exceptions.EventStreamError) as failed:
        received.extend(client.converse_stream(modelId=LLAMA, messages=CONVERSE_HI)["stream"])
    assert failed.value.response["Error"] == {"Code": "throttlingException", "Message": "slow"}
    assert len(received) == 2

    # cut_after tears the 4th frame in half and drops the connection: botocore never sees it whole.
    bedrock_up.push(Script(cut_after=3))
    got: list[dict[str, Any]] = []
    with pytest.raises((botocore.exceptions.BotoCoreError, urllib3.exceptions.HTTPError)):
        got.extend(client.converse_stream(modelId=LLAMA, messages=CONVERSE_HI)["stream"])
    assert len(got) == 3


def test_boto3_invoke_model_anthropic(bedrock_up: FakeUpstream) -> None:
    client = runtime(bedrock_up)
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "messages": HI})
    plain = client.invoke_model(modelId=CLAUDE, body=body, contentType="application/json")
    message = json.loads(plain["body"].read())
    assert message["type"] == "message" and message["content"][0]["type"] == "text"

    bedrock_up.push(Script(tool_calls=[WEATHER]))
    streamed = client.invoke_model_with_response_stream(modelId=CLAUDE, body=body)
    events = [json.loads(part["chunk"]["bytes"]) for part in streamed["body"]]
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert "ping" not in [e["type"] for e in events]
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert events[-1]["type"] == "message_stop"
    assert set(metrics) == {"inputTokenCount", "outputTokenCount", "invocationLatency", "firstByteLatency"}
    assert metrics["inputTokenCount"] == events[0]["message"]["usage"]["input_tokens"]
    partial = "".join(e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta")
    assert json.loads(partial) == WEATHER["input"]


def test_boto3_count_tokens_and_arn_model_ids(bedrock_up: FakeUpstream) -> None:
    client = runtime(bedrock_up)
    counted = client.count_tokens(modelId=LLAMA, input={"converse": {"messages": CONVERSE_HI}})
    assert counted["inputTokens"] == bedrock_wire.converse_input_tokens({"messages": CONVERSE_HI})
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "messages": HI}
    counted = client.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": json.dumps(body)}})
    assert counted["inputTokens"] == input_tokens_estimate(body)

    arn = (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"
    )
    answer = client.converse(modelId=arn, messages=CONVERSE_HI)
    assert answer["stopReason"] == "end_turn"
    assert "%2F" in bedrock_up.requests[-1].raw_path


def test_converse_body_is_checked_like_bedrock(bedrock_up: FakeUpstream) -> None:
    client = runtime(bedrock_up)
    assistant_first = [{"role": "assistant", "content": [{"text": "hi"}]}]
    with pytest.raises(client.exceptions.ValidationException, match="must start with a user message"):
        client.converse(modelId=LLAMA, messages=assistant_first)
    twice = [*CONVERSE_HI, *CONVERSE_HI]
    with pytest.raises(client.exceptions.ValidationException, match="must alternate"):
        client.converse(modelId=LLAMA, messages=twice)
    with pytest.raises(client.exceptions.ValidationException, match="is blank"):
        client.converse(modelId=LLAMA, messages=[{"role": "user", "content": [{"text": " "}]}])
    history = [
        *CONVERSE_HI,
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}],
        },
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}]},
    ]
    with pytest.raises(client.exceptions.ValidationException, match="toolConfig field must be defined"):
        client.converse(modelId=LLAMA, messages=history)
    assert (
        client.converse(modelId=LLAMA, messages=history, toolConfig=WEATHER_TOOLS)["stopReason"] == "end_turn"
    )
    with pytest.raises(client.exceptions.ValidationException, match="Expected toolResult blocks"):
        client.converse(modelId=LLAMA, messages=[*history[:2], *CONVERSE_HI], toolConfig=WEATHER_TOOLS)

    # What botocore would refuse client-side, a hand-written client can still send.
    path = f"/model/{LLAMA}/converse"
    unknown = signed_post(bedrock_up, path, {"messages": CONVERSE_HI, "max_tokens": 5})
    assert unknown.status_code == 400 and "extraneous key [max_tokens]" in unknown.json()["message"]
    topk = signed_post(bedrock_up, path, {"messages": CONVERSE_HI, "inferenceConfig": {"topK": 5}})
    assert topk.status_code == 400 and "extraneous key [topK]" in topk.json()["message"]
    both = signed_post(
        bedrock_up, path, {"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]}
    )
    assert both.status_code == 400 and "exactly one" in both.json()["message"]
    role = signed_post(bedrock_up, path, {"messages": [{"role": "system", "content": [{"text": "a"}]}]})
    assert role.status_code == 400 and "enum value set" in role.json()["message"]


def test_cut_after_tears_a_frame(bedrock_up: FakeUpstream) -> None:
    body = orjson.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": HI})
    request = AWSRequest(
        method="POST", url=f"{bedrock_up.url}/model/{CLAUDE}/invoke-with-response-stream", data=body
    )
    SigV4Auth(Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY), "bedrock", "us-east-1").add_auth(request)
    bedrock_up.push(Script(cut_after=1))
    received = bytearray()
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", request.url, content=body, headers=dict(request.prepare().headers)) as response,
    ):
        assert response.headers["content-type"] == bedrock_wire.EVENTSTREAM_TYPE
        for chunk in response.iter_raw():
            received.extend(chunk)
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(received))
    [first] = list(buffer)
    assert json.loads(base64.b64decode(json.loads(first.payload)["bytes"]))["type"] == "message_start"
    # Half of the second frame arrived: more bytes than one frame, fewer than two.
    assert len(received) > first.prelude.total_length
