"""Errors both ways, as bodies and inside streams."""

from __future__ import annotations

import httpx2
import openai
import orjson
import pytest

from gateway.translate.openai_chat import (
    anthropic_error_to_openai,
    openai_error_to_anthropic,
)

# Errors


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (409, "conflict_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (418, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_openai_error_to_anthropic_by_status(status: int, kind: str) -> None:
    body = orjson.dumps(
        {"error": {"message": "Something happened.", "type": "x", "param": None, "code": None}}
    )
    assert orjson.loads(openai_error_to_anthropic(status, body)) == {
        "type": "error",
        "error": {"type": kind, "message": "Something happened."},
    }


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        # http.md's statuses decide, whatever the body calls them.
        (429, {"type": "insufficient_quota", "code": "insufficient_quota"}, "rate_limit_error"),
        (400, {"type": "invalid_request_error", "code": "rate_limit_exceeded"}, "invalid_request_error"),
        # Others: the type or code an OpenAI-compatible server gives.
        (498, {"type": "capacity_exceeded", "code": None}, "overloaded_error"),
        (520, {"type": "server_error", "code": "upstream_timeout"}, "timeout_error"),
        (451, {"type": "x", "code": None}, "invalid_request_error"),
    ],
)
def test_openai_error_to_anthropic_by_status_then_name(
    status: int, error: dict[str, object], kind: str
) -> None:
    body = orjson.dumps({"error": {"message": "m", "param": None, **error}})
    assert orjson.loads(openai_error_to_anthropic(status, body))["error"]["type"] == kind


def test_anthropics_own_type_is_kept_and_an_unknown_one_follows_the_status() -> None:
    def kind(status: int, error_type: str) -> str:
        body = orjson.dumps({"type": "error", "error": {"type": error_type, "message": "m"}})
        return str(orjson.loads(anthropic_error_to_openai(status, body))["error"]["type"])

    assert kind(503, "api_error") == "api_error"  # Anthropic's own word for its 503
    assert kind(529, "overloaded_error") == "overloaded_error"
    assert kind(403, "some_new_error") == "permission_error"


def test_error_bodies_in_other_shapes() -> None:
    def message(body: bytes, status: int = 500) -> str:
        return str(orjson.loads(openai_error_to_anthropic(status, body))["error"]["message"])

    assert message(b"<html>Bad Gateway</html>", 502) == "<html>Bad Gateway</html>"
    assert message(b"", 502) == "upstream returned HTTP 502"
    assert message(b'{"detail": "Not Found"}', 404) == "Not Found"
    assert message(b'{"error": "model not loaded"}') == "model not loaded"
    assert message(b'[{"error": {"message": "listed"}}]') == "listed"
    overflow = orjson.dumps(
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, your messages "
                "resulted in 130512 tokens. Please reduce the length of the messages.",
                "code": "context_length_exceeded",
            }
        }
    )
    assert message(overflow, 400) == "prompt is too long: 130512 tokens > 128000 maximum"
    assert (
        message(b'{"error": {"message": "too long", "code": "context_length_exceeded"}}', 400)
        == "prompt is too long: too long"
    )


def test_anthropic_error_to_openai() -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"},"request_id":"req_1"}'
    assert orjson.loads(anthropic_error_to_openai(429, body)) == {
        "error": {
            "message": "Slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    overflow = orjson.dumps(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 208310 tokens > 200000 maximum",
            },
        }
    )
    assert (
        orjson.loads(anthropic_error_to_openai(400, overflow))["error"]["code"] == "context_length_exceeded"
    )
    wrapped = orjson.loads(anthropic_error_to_openai(529, b"upstream connect error"))
    assert wrapped["error"] == {
        "message": "upstream connect error",
        "type": "overloaded_error",
        "param": None,
        "code": "upstream_error",
    }
    # Each envelope is what the other SDK parses: the OpenAI SDK reads message/type/code from it.
    error = openai.APIStatusError(
        "x",
        response=httpx2.Response(429, request=httpx2.Request("POST", "http://t")),
        body=orjson.loads(anthropic_error_to_openai(429, body))["error"],
    )
    assert error.code == "rate_limit_exceeded" and error.type == "rate_limit_error"
