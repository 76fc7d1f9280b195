"""Gemini errors -> Anthropic error bodies, and token counting."""

from __future__ import annotations

import json

import orjson
import pytest

from gateway.translate.gemini import (
    anthropic_request_to_gemini,
    count_tokens_request,
    count_tokens_response,
    gemini_error_to_anthropic,
)
from gateway.translate.gemini.errors import retry_delay, stream_error
from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.fakes.script import Script
from tests.fakes.upstream import FakeUpstream
from tests.translate.gemini.support import (
    MODEL,
    post,
    request,
    user,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (422, "invalid_request_error"),
        (502, "api_error"),
    ],
)
def test_errors_by_status(fake: FakeUpstream, status: int, kind: str) -> None:
    fake.push(Script(status=status, error_message="boom happened"))
    response = post(fake, anthropic_request_to_gemini(request([user("hi")])))
    assert response.status_code == status
    converted = json.loads(gemini_error_to_anthropic(status, response.content))
    assert converted == {"type": "error", "error": {"type": kind, "message": "boom happened"}}


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [
        (403, "PERMISSION_DENIED", "permission_error"),
        (400, "FAILED_PRECONDITION", "invalid_request_error"),
        # A status outside http.md's table: Google's own name for it decides.
        (499, "CANCELLED", "api_error"),
        (409, "ABORTED", "conflict_error"),
        (450, "RESOURCE_EXHAUSTED", "rate_limit_error"),
        (450, "SOMETHING_NEW", "invalid_request_error"),
    ],
)
def test_errors_by_status_then_googles_name(status: int, name: str, kind: str) -> None:
    body = orjson.dumps({"error": {"code": status, "message": "m", "status": name}})
    assert json.loads(gemini_error_to_anthropic(status, body))["error"]["type"] == kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"}, "rate_limit_error"),
        ({"message": "m", "status": "RESOURCE_EXHAUSTED"}, "rate_limit_error"),  # no code: the name
        ({"message": "m", "status": "UNAVAILABLE"}, "overloaded_error"),
        ({"message": "m"}, "api_error"),
    ],
)
def test_stream_errors_by_code_then_name(error: dict[str, object], kind: str) -> None:
    assert stream_error(error).kind == kind


def test_error_bodies_that_are_not_the_envelope() -> None:
    wrapped = [{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}]
    assert json.loads(gemini_error_to_anthropic(429, orjson.dumps(wrapped)))["error"]["message"] == "quota"
    html = json.loads(gemini_error_to_anthropic(502, b"<html>Bad Gateway</html>"))
    assert html == {"type": "error", "error": {"type": "api_error", "message": "<html>Bad Gateway</html>"}}
    empty = json.loads(gemini_error_to_anthropic(500, b""))
    assert empty["error"]["message"] and empty["error"]["type"] == "api_error"


def test_count_tokens(fake: FakeUpstream) -> None:
    body = json.loads(FIXTURE.read_text())["body"]
    translated = anthropic_request_to_gemini(body)
    exact = count_tokens_request(translated, MODEL)
    assert exact["generateContentRequest"]["model"] == f"models/{MODEL}"
    assert set(exact["generateContentRequest"]) == {"model", "contents", "systemInstruction", "tools"}
    response = post(fake, exact, "count")
    assert response.status_code == 200, response.text
    with_everything = count_tokens_response(response.json())["input_tokens"]

    bare = count_tokens_request(translated)
    assert set(bare) == {"contents"}
    response = post(fake, bare, "count")
    assert response.status_code == 200, response.text
    folded = count_tokens_response(response.json())["input_tokens"]
    only_messages = post(fake, {"contents": translated["contents"]}, "count").json()["totalTokens"]
    assert folded > only_messages and with_everything > only_messages  # system and tools are counted
    assert count_tokens_response({"totalTokens": 7}) == {"input_tokens": 7}


def test_retry_delay_from_retry_info() -> None:
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}
    other = {"@type": "type.googleapis.com/google.rpc.Help", "links": []}
    body = {"error": {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED", "details": [other, info]}}
    assert retry_delay(orjson.dumps(body)) == 27.0
    assert retry_delay(orjson.dumps([body])) == 27.0  # streaming methods wrap the error in an array
    assert retry_delay(orjson.dumps({"error": {**body["error"], "details": [other]}})) is None
    bad = {"error": {"details": [{**info, "retryDelay": "soon"}]}}
    assert retry_delay(orjson.dumps(bad)) is None
    assert retry_delay(b"not json") is None
