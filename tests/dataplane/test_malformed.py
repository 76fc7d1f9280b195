"""Malformed model-call bodies get a 400 in the client's envelope naming the field, and a log record;
never a plain-text 500 or a dropped connection. What the real APIs accept still passes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.battery.inputs import (
    ANTHROPIC_HEADERS,
    JSON_HEADERS,
    anthropic_error,
    openai_error,
    three_formats_gateway,
)
from tests.conftest import CLAUDE_CODE_CAPTURE
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def _gateway(
    tmp_path_factory: pytest.TempPathFactory,
    _anthropic_upstream: FakeUpstream,
    _openai_upstream: FakeUpstream,
    _gemini_upstream: FakeUpstream,
) -> Iterator[GatewayServer]:
    # One gateway for the module: these tests only send requests, so they can share it.
    with three_formats_gateway(
        tmp_path_factory, _anthropic_upstream, _openai_upstream, _gemini_upstream
    ) as server:
        yield server


@pytest.fixture
def gw(
    _gateway: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> GatewayServer:
    return _gateway


def _records(gw: GatewayServer, responses: list[httpx.Response]) -> list[dict[str, Any]]:
    """The log records of these answers, in order (found by x-gateway-request-id)."""
    ids = [r.headers["x-gateway-request-id"] for r in responses]
    deadline = time.monotonic() + 5
    while True:
        found = {r["id"]: r for r in gw.records() if r["id"] in ids}
        if len(found) == len(ids) or time.monotonic() > deadline:
            return [found[i] for i in ids if i in found]
        time.sleep(0.02)


def _post(gw: GatewayServer, path: str, body: Any, raw: bytes | None = None) -> httpx.Response:
    headers = JSON_HEADERS if path == "/v1/chat/completions" else ANTHROPIC_HEADERS
    content = raw if raw is not None else orjson.dumps(body)
    return httpx.post(gw.url + path, content=content, headers=headers, timeout=10)


def _assert_400(response: httpx.Response, path: str, field: str) -> None:
    assert response.status_code == 400, response.text
    if path == "/v1/chat/completions":
        err = openai_error(response.content)
        assert err is not None, response.text
        assert err["param"] is not None and err["param"].startswith(field), err
    else:
        err = anthropic_error(response.content)
        assert err is not None, response.text
        assert err["message"].startswith(field), err
    assert err["type"] == "invalid_request_error"


ANTHROPIC_WRONG = [
    ("tools", "x"),
    ("tools", {"a": 1}),
    ("tools", [1]),
    ("tools", [{"name": 3}]),
    ("tools", [{"name": "t", "input_schema": 3}]),
    ("messages", "x"),
    ("messages", {"role": "user"}),
    ("messages", [1]),
    ("messages", [{"role": "user", "content": 3}]),
    ("messages", [{"role": "user", "content": [1]}]),
    ("messages", [{"role": "user", "content": [{"type": "text", "text": 3}]}]),
    (
        "messages",
        [{"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "b", "input": 3}]}],
    ),
    ("system", 5),
    ("system", {"a": 1}),
    ("tool_choice", "auto"),
    ("temperature", "hot"),
    ("top_k", 1.5),
    ("stop_sequences", "x"),
    ("stop_sequences", [1]),
    ("metadata", 3),
    ("thinking", "x"),
]


@pytest.mark.parametrize("model", ["gpt-4o", "gemini-2.5-flash"])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_wrong_types_on_translated_anthropic_calls(
    gw: GatewayServer, gemini_up: FakeUpstream, openai_up: FakeUpstream, model: str, path: str
) -> None:
    responses = []
    for field, value in ANTHROPIC_WRONG:
        body = {"model": model, "max_tokens": 16, "messages": USER, field: value}
        responses.append(_post(gw, path, body))
        _assert_400(responses[-1], path, field)
    assert not openai_up.requests and not gemini_up.requests
    records = _records(gw, responses)
    assert [r["status"] for r in records] == [400] * len(ANTHROPIC_WRONG)
    assert [r["error"].partition(":")[0].partition(".")[0] for r in records] == [
        f for f, _ in ANTHROPIC_WRONG
    ]


OPENAI_WRONG = [
    ("tools", "x"),
    ("tools", [{"type": "function", "function": 3}]),
    ("messages", "x"),
    ("messages", [1]),
    ("messages", [{"role": "user", "content": 3}]),
    ("messages", [{"role": "assistant", "tool_calls": 3}]),
    ("messages", [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": 3}]}]),
    ("tool_choice", 3),
    ("max_tokens", "5"),
    ("max_completion_tokens", "5"),
    ("temperature", "x"),
    ("stop", 3),
    ("stop", [1]),
    ("response_format", 3),
    ("stream_options", 3),
    ("seed", "x"),
    ("n", "2"),
]


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gemini-2.5-flash"])
def test_wrong_types_on_translated_openai_calls(
    gw: GatewayServer, anthropic_up: FakeUpstream, gemini_up: FakeUpstream, model: str
) -> None:
    for field, value in OPENAI_WRONG:
        body = {"model": model, "messages": USER, field: value}
        _assert_400(_post(gw, "/v1/chat/completions", body), "/v1/chat/completions", field)
    assert not anthropic_up.requests and not gemini_up.requests


@pytest.mark.parametrize("model", ["gpt-4o", "gemini-2.5-flash"])
def test_count_tokens_for_other_providers_needs_messages(gw: GatewayServer, model: str) -> None:
    for messages in ["missing", None, "x", [1], []]:
        body: dict[str, Any] = {"model": model}
        if messages != "missing":
            body["messages"] = messages
        _assert_400(_post(gw, "/v1/messages/count_tokens", body), "/v1/messages/count_tokens", "messages")


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/messages", "claude-haiku-4-5"),
        ("/v1/messages", "gpt-4o"),
        ("/v1/messages", "gemini-2.5-flash"),
        ("/v1/messages/count_tokens", "claude-haiku-4-5"),
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/chat/completions", "claude-haiku-4-5"),
        ("/v1/chat/completions", "gemini-2.5-flash"),
    ],
)
def test_stream_must_be_a_boolean(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, path: str, model: str
) -> None:
    responses = []
    for stream in ["yes", 1, "true", {}]:
        body = {"model": model, "max_tokens": 16, "messages": USER, "stream": stream}
        responses.append(_post(gw, path, body))
        _assert_400(responses[-1], path, "stream")
    assert not anthropic_up.requests and not openai_up.requests
    assert [(r["status"], r["stream"]) for r in _records(gw, responses)] == [(400, False)] * 4


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_model_names_with_control_characters_are_refused(gw: GatewayServer, path: str) -> None:
    for model in ["claude-haiku-4-5\r\nx-evil: 1", "gpt-4o\x01", "claude-\x7f", "gpt-\n", "gemini-\x00"]:
        body = {"model": model, "max_tokens": 16, "messages": USER}
        _assert_400(_post(gw, path, body), path, "model")


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_model_names_with_model_glob_keep_working_unicode(gw: GatewayServer, path: str) -> None:
    # Printable non-ASCII is not a control character: it resolves and answers (here, Anthropic's glob).
    body = {"model": "claude-ünïcode", "max_tokens": 16, "messages": USER}
    assert _post(gw, path, body).status_code == 200


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_a_key_the_gateway_reads_given_twice_is_refused(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, path: str
) -> None:
    """orjson keeps the last `model`, an upstream may read the first: routing (and the allow list) on
    one while the provider serves the other must be impossible."""
    for raw in [
        b'{"model":"claude-opus-4-1","max_tokens":16,"model":"claude-haiku-4-5","messages":[]}',
        b'{"model":"gpt-4o","stream":false,"messages":[],"stream" : true}',
    ]:
        response = _post(gw, path, None, raw=raw)
        assert response.status_code == 400, response.text
        err = (openai_error if path == "/v1/chat/completions" else anthropic_error)(response.content)
        assert err is not None and "given more than once" in err["message"]
    # The same name nested deeper (a tool's parameter called "model") is no repeat.
    tool = {"name": "pick", "input_schema": {"type": "object", "properties": {"model": {"type": "string"}}}}
    body = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": USER, "tools": [tool]}
    assert _post(gw, "/v1/messages", body).status_code == 200
    assert len(anthropic_up.requests) == 1 and not openai_up.requests


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/messages", "gpt-4o"),
        ("/v1/messages", "gemini-2.5-flash"),
        ("/v1/chat/completions", "claude-haiku-4-5"),
    ],
)
def test_deep_nesting_on_translated_calls_is_a_400(gw: GatewayServer, path: str, model: str) -> None:
    for depth in [201, 256, 600, 1000]:
        head = orjson.dumps({"model": model, "max_tokens": 16, "messages": USER})[:-1]
        raw = head + b',"metadata":{"deep":' + _nested(depth) + b"}}"
        response = _post(gw, path, None, raw=raw)
        assert response.status_code == 400, response.text
        envelope = openai_error if path == "/v1/chat/completions" else anthropic_error
        err = envelope(response.content)
        assert err is not None and "deep" in err["message"]


def test_deep_nesting_same_format_stays_byte_exact(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    # orjson.loads takes it; the gateway only parses, never rewrites: the provider decides.
    head = orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 16, "messages": USER})[:-1]
    raw = head + b',"metadata":{"x":' + _nested(600) + b"}}"
    response = _post(gw, "/v1/messages", None, raw=raw)
    assert response.status_code == 200, response.text
    assert anthropic_up.requests[-1].body == raw


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    # Explicit nulls for optional fields, an integer temperature, a string system: what the APIs take.
    (
        "/v1/messages",
        {
            "model": "gpt-4o",
            "max_tokens": 16,
            "messages": USER,
            "system": None,
            "tools": None,
            "temperature": 1,
            "stream": None,
        },
    ),
    ("/v1/messages/count_tokens", {"model": "gemini-2.5-flash", "messages": USER, "system": "be brief"}),
    (
        "/v1/chat/completions",
        {
            "model": "claude-haiku-4-5",
            "messages": USER,
            "stop": "x",
            "tools": None,
            "temperature": 0,
            "n": None,
        },
    ),
    (
        "/v1/chat/completions",
        {
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "stream": False,
        },
    ),
]


def test_what_the_real_apis_accept_still_passes(gw: GatewayServer) -> None:
    # Claude Code's real request (system turns inside messages, adaptive thinking, context management),
    # on another provider's model: the check must take it whole.
    captured = orjson.loads(CLAUDE_CODE_CAPTURE.read_bytes())["body"]
    claude_code = [
        ("/v1/messages", {**captured, "model": "gpt-4o", "stream": False}),
        ("/v1/messages/count_tokens", {**captured, "model": "gemini-2.5-flash", "stream": False}),
    ]
    for path, body in ACCEPTED + claude_code:
        response = _post(gw, path, body)
        assert response.status_code == 200, (body, response.text)


def test_a_control_character_model_on_a_raw_socket_gets_an_answer(gw: GatewayServer) -> None:
    # The original failure: the name reached x-gateway-model and the server closed without answering.
    body = orjson.dumps({"model": "claude-haiku-4-5\r\nx: y", "max_tokens": 8, "messages": USER})
    head = (
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 "), data[:200]
