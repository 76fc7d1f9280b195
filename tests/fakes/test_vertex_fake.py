"""The Vertex fake must be indistinguishable from Vertex AI (and its token endpoint) to Google's and
Anthropic's own clients: google-auth service-account credentials and AnthropicVertex."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import google.auth.exceptions
import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account

from tests.fakes import gcp, vertex_wire
from tests.fakes.anthropic_wire import input_tokens_estimate
from tests.fakes.gemini_wire import prompt_tokens_estimate
from tests.fakes.upstream import FakeUpstream, Script

MODEL = "claude-sonnet-4-5@20250929"
HI = [{"role": "user", "content": "hi"}]
WEATHER = {"name": "get_weather", "input": {"city": "Paris", "units": "celsius"}}
GEMINI_HI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def credentials(account: gcp.ServiceAccount, scopes: list[str] | None = None) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_file(
        str(account.path), scopes=scopes or [gcp.CLOUD_PLATFORM_SCOPE]
    )


@pytest.fixture
def account(vertex_up: FakeUpstream, tmp_path: Path) -> gcp.ServiceAccount:
    made = gcp.make_service_account(vertex_up.url + vertex_wire.TOKEN_PATH, tmp_path / "sa.json")
    vertex_up.settings.register_service_account(made)
    return made


@pytest.fixture
def claude(vertex_up: FakeUpstream, account: gcp.ServiceAccount) -> Iterator[anthropic.AnthropicVertex]:
    with anthropic.AnthropicVertex(
        project_id="test-project",
        region="us-east5",
        base_url=vertex_up.base_url,
        credentials=credentials(account),
        max_retries=0,
    ) as client:
        yield client


def post(fake: FakeUpstream, path: str, body: Any, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(fake.url + path, json=body, headers=headers)


def claude_path(
    action: str, model: str = MODEL, project: str = "test-project", region: str = "us-east5"
) -> str:
    return f"/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:{action}"


def gemini_path(action: str, model: str = "gemini-2.5-flash") -> str:
    return f"/v1/projects/test-project/locations/us-east5/publishers/google/models/{model}:{action}"


# -- service-account key files and the token endpoint ---------------------------------------------------


def test_make_service_account_writes_a_key_file_google_auth_loads(
    vertex_up: FakeUpstream, tmp_path: Path
) -> None:
    made = gcp.make_service_account(
        vertex_up.url + "/token", tmp_path / "keys" / "sa.json", project_id="proj-9"
    )
    info = json.loads(made.path.read_text())
    assert info["type"] == "service_account"
    assert info["token_uri"] == vertex_up.url + "/token"
    assert info["client_email"] == made.client_email and made.client_email.endswith(
        "@proj-9.iam.gserviceaccount.com"
    )
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert made.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert oct(made.path.stat().st_mode & 0o777) == "0o600"
    loaded = credentials(made)
    assert (loaded.service_account_email, loaded.project_id) == (made.client_email, "proj-9")


def test_anthropic_vertex_create_stream_and_count_share_one_token(
    vertex_up: FakeUpstream, claude: anthropic.AnthropicVertex, account: gcp.ServiceAccount
) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=64, messages=HI)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the fake vertex upstream."
    assert message.id.startswith("msg_vrtx_")
    assert message.model == "claude-sonnet-4-5-20250929"

    vertex_up.push(Script(text="Checking.", tool_calls=[WEATHER]))
    with claude.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[1].input == WEATHER["input"]  # type: ignore[union-attr]

    counted = claude.messages.count_tokens(model=MODEL, messages=HI)
    assert counted.input_tokens == input_tokens_estimate({"messages": HI})

    # google-auth fetched one token and the client reused it for all three calls.
    assert vertex_up.settings.token_requests == 1
    assert vertex_up.settings.tokens_issued == [account.client_email]
    token_request, *calls = vertex_up.requests
    assert token_request.path == "/token"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert [call.path.rpartition(":")[2] for call in calls] == [
        "rawPredict",
        "streamRawPredict",
        "rawPredict",
    ]
    assert calls[0].path == claude_path("rawPredict")
    assert calls[2].path.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert len({call.headers["authorization"] for call in calls}) == 1
    assert "model" not in calls[0].json and calls[1].json["stream"] is True
    assert calls[0].json["anthropic_version"] in vertex_up.settings.anthropic_versions


def test_short_token_lifetime_makes_every_call_refresh(
    vertex_up: FakeUpstream, claude: anthropic.AnthropicVertex
) -> None:
    # google-auth refreshes 3m45s before expiry, so a 60 s token is "expired" as soon as it arrives.
    vertex_up.settings.token_lifetime = 60
    for _ in range(3):
        claude.messages.create(model=MODEL, max_tokens=8, messages=HI)
    assert vertex_up.settings.token_requests == 3
    assert len({r.headers["authorization"] for r in vertex_up.requests if r.path != "/token"}) == 3


def test_unregistered_or_forged_service_accounts_get_no_token(
    vertex_up: FakeUpstream, tmp_path: Path
) -> None:
    stranger = gcp.make_service_account(vertex_up.url + "/token", tmp_path / "stranger.json")
    with pytest.raises(google.auth.exceptions.RefreshError, match="account not found"):
        credentials(stranger).refresh(google.auth.transport.requests.Request())

    # Registered under the same email, but with another key: the signature does not verify.
    impostor = gcp.make_service_account(vertex_up.url + "/token", tmp_path / "impostor.json")
    vertex_up.settings.register_service_account(stranger.client_email, impostor.public_key_pem)
    with (
        anthropic.AnthropicVertex(
            project_id="test-project",
            region="us-east5",
            base_url=vertex_up.base_url,
            credentials=credentials(stranger),
            max_retries=0,
        ) as client,
        pytest.raises(google.auth.exceptions.RefreshError, match="Invalid JWT Signature"),
    ):
        client.messages.create(model=MODEL, max_tokens=8, messages=HI)
    assert vertex_up.settings.token_requests == 2
    assert vertex_up.settings.tokens_issued == []
    assert len(vertex_up.requests) == 2  # no model call was attempted

    bad = httpx.post(vertex_up.url + "/token", data={"grant_type": gcp.JWT_GRANT_TYPE, "assertion": "a.b.c"})
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    )
    wrong_grant = httpx.post(vertex_up.url + "/token", data={"grant_type": "client_credentials"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


def test_bearer_token_project_region_and_scope_checks(
    vertex_up: FakeUpstream, account: gcp.ServiceAccount
) -> None:
    body = {"anthropic_version": vertex_wire.ANTHROPIC_VERSION, "max_tokens": 8, "messages": HI}
    vertex_up.push(Script(text="kept"))

    missing = post(vertex_up, claude_path("rawPredict"), body, None)
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    unknown = post(vertex_up, claude_path("rawPredict"), body, "ya29.not-issued")
    assert unknown.json()["error"]["message"].startswith("Request had invalid authentication credentials.")
    token = vertex_up.settings.issue_token()
    other_project = post(vertex_up, claude_path("rawPredict", project="someone-else"), body, token)
    assert (other_project.status_code, other_project.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    other_region = post(vertex_up, claude_path("rawPredict", region="europe-west1"), body, token)
    assert (other_region.status_code, other_region.json()["error"]["status"]) == (404, "NOT_FOUND")
    narrow = vertex_up.settings.issue_token(scopes=("https://www.googleapis.com/auth/userinfo.email",))
    scoped = post(vertex_up, claude_path("rawPredict"), body, narrow)
    assert scoped.status_code == 403
    assert scoped.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"

    assert vertex_up.pending_scripts == 1  # front-door refusals consume no script
    assert post(vertex_up, claude_path("rawPredict"), body, token).json()["content"][0]["text"] == "kept"

    vertex_up.settings.expire_tokens()
    expired = post(vertex_up, claude_path("rawPredict"), body, token)
    assert expired.status_code == 401
    assert expired.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_claude_body_is_checked_like_vertex(vertex_up: FakeUpstream) -> None:
    token = vertex_up.settings.issue_token()
    body = {"anthropic_version": vertex_wire.ANTHROPIC_VERSION, "max_tokens": 8, "messages": HI}
    cases = [
        (claude_path("rawPredict"), {**body, "model": MODEL}, "model: Extra inputs are not permitted"),
        (claude_path("rawPredict"), {"max_tokens": 8, "messages": HI}, "anthropic_version: Field required"),
        (claude_path("rawPredict"), {**body, "anthropic_version": "bedrock-2023-05-31"}, "anthropic_version"),
        (claude_path("streamRawPredict"), body, "stream"),
    ]
    for path, payload, fragment in cases:
        response = post(vertex_up, path, payload, token)
        assert response.status_code == 400, payload
        error = response.json()
        assert error["type"] == "error" and error["request_id"].startswith("req_vrtx_")
        assert fragment in error["error"]["message"]
    unknown = post(vertex_up, claude_path("predictLong"), body, token)
    assert unknown.status_code == 404


def test_scripted_errors_and_streams(vertex_up: FakeUpstream, claude: anthropic.AnthropicVertex) -> None:
    vertex_up.push(Script(status=429), Script(status=529))
    with pytest.raises(anthropic.RateLimitError) as limited:
        claude.messages.create(model=MODEL, max_tokens=8, messages=HI, stream=True)
    # Quota errors come from Google's platform; on a streaming method, as a one-element array.
    assert isinstance(limited.value.body, list)
    assert limited.value.body[0]["error"]["status"] == "RESOURCE_EXHAUSTED"
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        claude.messages.create(model=MODEL, max_tokens=8, messages=HI)
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]

    token = vertex_up.settings.issue_token()
    body = {
        "anthropic_version": vertex_wire.ANTHROPIC_VERSION,
        "max_tokens": 8,
        "messages": HI,
        "stream": True,
    }
    vertex_up.push(Script(error_event_after=2))
    raw = post(vertex_up, claude_path("streamRawPredict"), body, token)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.count("event: ") == 3 and "event: error" in raw.text


# -- Gemini on Vertex -----------------------------------------------------------------------------------


def test_gemini_generate_stream_and_count(vertex_up: FakeUpstream) -> None:
    token = vertex_up.settings.issue_token()
    generated = post(vertex_up, gemini_path("generateContent"), GEMINI_HI, token).json()
    assert generated["candidates"][0]["content"]["parts"] == [
        {"text": "Hello from the fake vertex upstream."}
    ]
    assert generated["modelVersion"] == "gemini-2.5-flash"
    assert generated["usageMetadata"]["promptTokenCount"] == prompt_tokens_estimate(GEMINI_HI)

    vertex_up.push(Script(tool_calls=[WEATHER]))
    streamed = post(vertex_up, gemini_path("streamGenerateContent") + "?alt=sse", GEMINI_HI, token)
    assert streamed.headers["content-type"] == "text/event-stream"
    events = [json.loads(block[len("data: ") :]) for block in streamed.text.split("\r\n\r\n") if block]
    assert events[-1]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": WEATHER["input"]}}
    ]
    as_array = post(vertex_up, gemini_path("streamGenerateContent"), GEMINI_HI, token).json()
    assert isinstance(as_array, list) and as_array[-1]["candidates"][0]["finishReason"] == "STOP"

    counted = post(vertex_up, gemini_path("countTokens"), GEMINI_HI, token).json()
    assert counted == {"totalTokens": prompt_tokens_estimate(GEMINI_HI)}

    unauthenticated = post(vertex_up, gemini_path("streamGenerateContent"), GEMINI_HI, None)
    assert unauthenticated.status_code == 401 and isinstance(unauthenticated.json(), list)
    vertex_up.push(Script(status=429))
    limited = post(vertex_up, gemini_path("generateContent"), GEMINI_HI, token)
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    invalid = post(vertex_up, gemini_path("generateContent"), {"contents": []}, token)
    assert (invalid.status_code, invalid.json()["error"]["status"]) == (400, "INVALID_ARGUMENT")


def test_reset_restores_defaults(vertex_up: FakeUpstream, account: gcp.ServiceAccount) -> None:
    vertex_up.settings.project = "other"
    vertex_up.settings.issue_token()
    vertex_up.reset()
    assert vertex_up.settings.project == vertex_wire.DEFAULT_PROJECT
    assert vertex_up.settings.service_accounts == {}
    assert vertex_up.settings.token_requests == 0
