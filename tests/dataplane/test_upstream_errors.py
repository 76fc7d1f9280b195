"""Upstream errors keep their meaning (issue 14, item 6; http.md, Errors).

Every provider's 401, 403, 404, 413, 429, 500, 503 and 529, each in that provider's own envelope as the
fakes render it (Bedrock's `{"message"}` with `x-amzn-ErrorType`, Google's `google.rpc` status, Azure's
`{code, message}`...), reaches both official SDKs through a real gateway with the upstream's status:
byte for byte when the upstream already answered in the client's envelope, otherwise in the client's
envelope with the error type the contract's table gives that status. Streamed calls too: an error before
the stream's first byte is an HTTP error. The upstream's retry-after is kept.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import openai
import pytest

from tests import sse_wire
from tests.conftest import GatewayFactory, anthropic_client, openai_client
from tests.e2e import conftest as e2e
from tests.e2e import test_translation as matrix
from tests.fakes.script import RecordedAnswer
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

STATUSES = (401, 403, 404, 413, 429, 500, 503, 529)
# http.md's table; 503 is not in it: OpenAI, Gemini and Bedrock answer 503 when the model or service is
# overloaded, so it is an overloaded_error, its status kept (the SDKs retry 503 and 529 alike).
TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
OPENAI_CODES = {
    "invalid_json",
    "missing_required_parameter",
    "invalid_api_key",
    "permission_denied",
    "model_not_found",
    "request_too_large",
    "rate_limit_exceeded",
    "budget_exceeded",
    "upstream_error",
    "upstream_timeout",
}
# The SDKs pick their exception class from the status alone.
ANTHROPIC_ERRORS: dict[int, type[anthropic.APIStatusError]] = {
    401: anthropic.AuthenticationError,
    403: anthropic.PermissionDeniedError,
    404: anthropic.NotFoundError,
    413: anthropic.RequestTooLargeError,
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    503: anthropic.ServiceUnavailableError,
    529: anthropic.OverloadedError,
}
OPENAI_ERRORS: dict[int, type[openai.APIStatusError]] = {
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    413: openai.APIStatusError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
    503: openai.InternalServerError,
    529: openai.InternalServerError,
}
# Upstreams that speak the OpenAI client's own API: their answers are the client's envelope already.
OPENAI_WIRE = {"openai", "azure", "groq"}
RETRY_AFTER = "7"
MODELS, UPSTREAMS = matrix.MODELS, matrix.UPSTREAMS
# The client x provider matrix's gateway (every provider, each on its fake) and its fakes by upstream.
gw, ups = matrix.gw, e2e.ups


def _call(gateway: GatewayServer, client: str, upstream: str, stream: bool) -> Exception:
    """One call that must fail; returns the SDK's exception."""
    model = MODELS[upstream]
    messages: Any = [{"role": "user", "content": "What is the capital?"}]
    try:
        if client == "anthropic":
            anthropic_client(gateway, key="client-key").messages.create(
                model=model, max_tokens=64, messages=messages, stream=stream
            )
        else:
            openai_client(gateway, key="client-key").chat.completions.create(
                model=model, messages=messages, stream=stream
            )
    except Exception as exc:
        return exc
    raise AssertionError("the call succeeded")


def _anthropic_type(body: bytes) -> str | None:
    """The error type of an answer in Anthropic's envelope (Claude on Vertex answers in it, but
    Google's front door does not), else None."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if isinstance(obj, dict) and obj.get("type") == "error":
        return str(obj["error"]["type"])
    return None


def _in_clients_envelope(client: str, upstream: str, body: bytes) -> bool:
    if client == "openai":
        return upstream in OPENAI_WIRE
    return _anthropic_type(body) is not None


def _check(
    client: str, upstream: str, status: int, stream: bool, exc: Exception, sent: RecordedAnswer
) -> list[str]:
    """What is wrong with the answer the client got, as readable lines (empty when all is right)."""
    cell = f"{status} {'stream' if stream else 'plain'}"
    expected = (ANTHROPIC_ERRORS if client == "anthropic" else OPENAI_ERRORS)[status]
    if type(exc) is not expected:
        return [f"{cell}: {type(exc).__name__} ({exc}), expected {expected.__name__}"]
    assert isinstance(exc, anthropic.APIStatusError | openai.APIStatusError)
    response = exc.response
    problems = []
    if response.status_code != status:
        problems.append(f"{cell}: status {response.status_code}")
    if status == 429 and response.headers.get("retry-after") != RETRY_AFTER:
        problems.append(f"{cell}: retry-after {response.headers.get('retry-after')!r} not kept")
    if _in_clients_envelope(client, upstream, sent.body):
        if response.content != sent.body:
            problems.append(f"{cell}: not forwarded as it was: {response.content!r} != {sent.body!r}")
        return problems
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return [*problems, f"{cell}: not the client's envelope: {body}"]
    # Anthropic's own type is in the words of OpenAI's envelope already: kept (its 503 is an api_error).
    expected_type = _anthropic_type(sent.body) or TYPES[status]
    if error.get("type") != expected_type:
        problems.append(f"{cell}: type {error.get('type')!r}, expected {expected_type!r}")
    if "Scripted failure" not in str(error.get("message")):
        problems.append(f"{cell}: the upstream's message was lost: {error.get('message')!r}")
    if client == "anthropic" and body.get("type") != "error":
        problems.append(f"{cell}: not Anthropic's envelope: {body}")
    if client == "openai" and (error.get("code") not in OPENAI_CODES or "param" not in error):
        problems.append(f"{cell}: not OpenAI's envelope: {body}")
    return problems


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_upstream_errors_keep_status_and_type(
    gw: GatewayServer,
    ups: dict[str, FakeUpstream],
    client: str,
    upstream: str,
) -> None:
    fake = ups[upstream]
    problems: list[str] = []
    for stream in (False, True):
        for status in STATUSES:
            headers = {"retry-after": RETRY_AFTER} if status == 429 else {}
            fake.push(Script(status=status, error_message=f"Scripted failure {status}", headers=headers))
            exc = _call(gw, client, upstream, stream)
            sent = fake.answers[-1]
            assert sent.status == status, "the fake did not answer as scripted"
            problems += _check(client, upstream, status, stream, exc, sent)
    assert not problems, "\n".join(problems)


# Every exception of botocore's bedrock-runtime service model, and the AWS front door's own (all 403),
# -> the type an Anthropic or OpenAI client must see. The status decides where http.md's table has it
# (a quota exceeded is Bedrock's 400: a bad request, not one to retry), the name otherwise.
BEDROCK_TYPES = {
    "ValidationException": "invalid_request_error",
    "ConflictException": "invalid_request_error",
    "ServiceQuotaExceededException": "invalid_request_error",
    "AccessDeniedException": "permission_error",
    "ResourceNotFoundException": "not_found_error",
    "ModelTimeoutException": "timeout_error",  # 408
    "ModelErrorException": "api_error",  # 424
    "ModelStreamErrorException": "api_error",  # 424
    "ThrottlingException": "rate_limit_error",
    "ModelNotReadyException": "rate_limit_error",
    "InternalServerException": "api_error",
    "ServiceUnavailableException": "overloaded_error",
}
AWS_FRONT_DOOR = (
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "UnrecognizedClientException",
    "MissingAuthenticationTokenException",
)


def _bedrock_exceptions() -> list[tuple[str, int]]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    found = [(shape.name, int(shape.metadata["error"]["httpStatusCode"])) for shape in model.error_shapes]
    # A new exception in botocore's model needs a decision here, not a silent fallback.
    assert {name for name, _ in found} == set(BEDROCK_TYPES)
    return found + [(name, 403) for name in AWS_FRONT_DOOR]


@pytest.mark.parametrize("upstream", ["bedrock", "converse"])
def test_every_bedrock_exception_keeps_its_status_and_meaning(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str
) -> None:
    fake = ups[upstream]
    problems: list[str] = []
    for name, status in _bedrock_exceptions():
        expected = BEDROCK_TYPES.get(name, "permission_error")
        for client in ("anthropic", "openai"):
            fake.push(Script(status=status, error_message=f"Scripted failure {name}", error_code=name))
            exc = _call(gw, client, upstream, stream=False)
            sent = fake.answers[-1]
            assert sent.headers["x-amzn-errortype"].startswith(f"{name}:"), "the fake ignored its script"
            if not isinstance(exc, anthropic.APIStatusError | openai.APIStatusError):
                problems.append(f"{client} {name}: {type(exc).__name__}: {exc}")
                continue
            body = exc.response.json()
            got = (exc.response.status_code, body["error"]["type"], body["error"]["message"])
            if got != (status, expected, f"Scripted failure {name}"):
                problems.append(f"{client} {name}: {got}, expected {(status, expected)}")
    assert not problems, "\n".join(problems)


# Native passthrough (`/<provider>/<path>`): the client speaks the provider's own API, so its errors
# reach it exactly as sent, whatever their shape (boto3 reads x-amzn-ErrorType, Google's SDK the body).
NATIVE = {
    "anthropic": ("/anthropic/v1/messages", {"model": "claude-sonnet-4-6", "max_tokens": 8}),
    "openai": ("/openai/chat/completions", {"model": "gpt-5"}),
    "gemini": ("/google/models/gemini-2.5-flash:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}),
    "bedrock": (
        "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke",
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8},
    ),
    "vertex": (
        "/vertex/projects/test-project/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-4-5@20250929:rawPredict",
        {"anthropic_version": "vertex-2023-10-16", "max_tokens": 8},
    ),
    "azure": ("/azure/openai/deployments/gpt-5/chat/completions?api-version=2024-10-21", {}),
}


@pytest.mark.parametrize("upstream", list(NATIVE))
def test_native_passthrough_errors_are_forwarded_as_they_are(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str
) -> None:
    import httpx

    fake = ups[upstream]
    path, body = NATIVE[upstream]
    if "contents" not in body:
        body = {**body, "messages": [{"role": "user", "content": "hi"}]}
    problems = []
    with httpx.Client(base_url=gw.url, timeout=10) as http:
        for status in STATUSES:
            headers = {"retry-after": RETRY_AFTER} if status == 429 else {}
            fake.push(Script(status=status, error_message=f"Scripted failure {status}", headers=headers))
            response = http.post(path, json=body)
            sent = fake.answers[-1]
            assert sent.status == status, f"the fake did not answer as scripted: {sent}"
            if (response.status_code, response.content) != (sent.status, sent.body):
                problems.append(f"{status}: {response.status_code} {response.content!r} != {sent.body!r}")
            for name in ("retry-after", "x-amzn-errortype", "content-type"):
                got, expected = response.headers.get(name), sent.headers.get(name)
                if got != expected:
                    problems.append(f"{status}: {name} {got!r} != {expected!r}")
    assert not problems, "\n".join(problems)


# An error event inside a started stream (each fake's own: Anthropic's overloaded_error, OpenAI's
# server_error, Gemini's 503 UNAVAILABLE, Bedrock's modelStreamErrorException) -> the type the client's
# error event carries. Same-format streams are relayed as they are, so OpenAI's own type stays.
MID_STREAM = {
    "anthropic": "overloaded_error",
    "openai": "api_error",
    "gemini": "overloaded_error",
    "bedrock": "api_error",
    "converse": "api_error",
    "vertex": "overloaded_error",
    "vertex-gemini": "overloaded_error",
    "azure": "api_error",
    "groq": "api_error",
}


@pytest.mark.parametrize("upstream", list(MID_STREAM))
@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_mid_stream_errors_keep_their_meaning(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: sse_wire.ClientFormat, upstream: str
) -> None:
    ups[upstream].push(Script(error_event_after=2, text_chunks=4))
    raw = sse_wire.stream(gw.url, client, MODELS[upstream])
    assert raw.status == 200
    error = sse_wire.assert_ends_with_error(raw.events, client)
    expected = "server_error" if client == "openai" and upstream in OPENAI_WIRE else MID_STREAM[upstream]
    assert error["type"] == expected
    if client == "openai" and upstream not in OPENAI_WIRE:
        assert error["code"] in OPENAI_CODES


# Bedrock's mid-stream exceptions carry no status: their name decides.
BEDROCK_STREAM_TYPES = {
    "throttlingException": "rate_limit_error",
    "serviceUnavailableException": "overloaded_error",
    "modelStreamErrorException": "api_error",
    "internalServerException": "api_error",
    "validationException": "invalid_request_error",
    "modelTimeoutException": "timeout_error",
}


@pytest.mark.parametrize("upstream", ["bedrock", "converse"])
def test_bedrock_mid_stream_exceptions_keep_their_meaning(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str
) -> None:
    clients: tuple[sse_wire.ClientFormat, ...] = ("anthropic", "openai")
    got = {}
    for name in BEDROCK_STREAM_TYPES:
        for client in clients:
            ups[upstream].push(Script(error_event_after=2, text_chunks=4, error_event_type=name))
            raw = sse_wire.stream(gw.url, client, MODELS[upstream])
            got[name, client] = sse_wire.assert_ends_with_error(raw.events, client)["type"]
    assert got == {(n, c): kind for n, kind in BEDROCK_STREAM_TYPES.items() for c in clients}


@pytest.mark.parametrize("upstream", ["anthropic", "gemini", "bedrock", "vertex", "vertex-gemini"])
def test_count_tokens_errors_keep_status_and_type(
    gw: GatewayServer, ups: dict[str, FakeUpstream], upstream: str
) -> None:
    fake = ups[upstream]
    problems: list[str] = []
    sdk = anthropic_client(gw, key="client-key")
    for status in STATUSES:
        headers = {"retry-after": RETRY_AFTER} if status == 429 else {}
        fake.push(Script(status=status, error_message=f"Scripted failure {status}", headers=headers))
        try:
            sdk.messages.count_tokens(model=MODELS[upstream], messages=[{"role": "user", "content": "hi"}])
        except anthropic.APIStatusError as exc:
            sent = fake.answers[-1]
            assert sent.status == status, "the fake did not answer as scripted"
            problems += _check("anthropic", upstream, status, False, exc, sent)
        else:
            problems.append(f"{status}: counted")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("upstream", ["gemini", "vertex-gemini"])
@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_googles_retry_info_becomes_retry_after(
    gw: GatewayServer, ups: dict[str, FakeUpstream], client: str, upstream: str
) -> None:
    """Google says when to come back in the 429's body (google.rpc.RetryInfo), with no header: the
    client, which knows nothing of Google's envelope, gets it as retry-after."""
    fake = ups[upstream]
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26.2s"}]
    error = {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED", "details": details}
    fake.push(Script(status=429, body={"error": error}))
    exc = _call(gw, client, upstream, stream=False)
    assert "retry-after" not in fake.answers[-1].headers
    assert isinstance(exc, anthropic.RateLimitError | openai.RateLimitError)
    assert exc.response.headers.get("retry-after") == "27"


def test_a_retry_waits_as_googles_retry_info_says(
    make_gateway: GatewayFactory, gemini_up: FakeUpstream
) -> None:
    gateway = make_gateway(
        f"""
version: 1
providers:
  google: {{ type: gemini, base_url: "{gemini_up.base_url}" }}
keys:
  google-main: {{ provider: google, secret: "gemini-stored-key" }}
models:
  gemini-*: google/*
routes:
  sturdy: {{ model: google/gemini-2.5-flash, retries: 1 }}
gateways:
  default: {{ auth: none, provider_keys: [stored] }}
"""
    )
    # Without it the first retry waits under 0.25 s (jittered backoff).
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.8s"}]
    error = {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED", "details": details}
    gemini_up.push(Script(status=429, body={"error": error}), Script(text="ok"))
    started = time.monotonic()
    msg = anthropic_client(gateway).messages.create(
        model="dynamic/sturdy", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == "ok"  # type: ignore[union-attr]
    assert time.monotonic() - started >= 0.8
    assert [r.status for r in gemini_up.answers] == [429, 200]
