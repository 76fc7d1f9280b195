"""Upstream failures: errors pass through, timers fire, a stream never ends clean after a failure."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest

from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer, free_port

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
MESSAGE = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}


def timeouts_config(anthropic_up: FakeUpstream, openai_up: FakeUpstream, timeouts: str) -> str:
    return standard_config(anthropic_up, openai_up).replace(
        f'base_url: "{anthropic_up.base_url}" }}',
        f'base_url: "{anthropic_up.base_url}", timeouts: {timeouts} }}',
    )


def test_upstream_errors_pass_through_with_status_and_body(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    anthropic_up.push(Script(status=529, error_message="Overloaded right now"))
    with pytest.raises(anthropic.APIStatusError) as info:
        anthropic_client(gw).messages.create(**MESSAGE)
    assert info.value.status_code == 529
    assert info.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded right now"}  # type: ignore[index]

    openai_up.push(Script(status=429, headers={"retry-after": "7"}))
    with pytest.raises(openai.RateLimitError) as oinfo:
        openai_client(gw).chat.completions.create(**CHAT)
    assert oinfo.value.response.headers["retry-after"] == "7"
    recs = gw.records(2)
    assert [r["status"] for r in recs] == [529, 429]
    assert recs[0]["error"] == "Overloaded right now"


def test_unreachable_upstream_is_a_502_in_the_clients_envelope(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on
    config = (
        standard_config(anthropic_up, openai_up)
        .replace(anthropic_up.base_url, dead)
        .replace(openai_up.base_url, dead + "/v1")
    )
    gw = make_gateway(config)
    resp = httpx.post(gw.url + "/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS)
    assert resp.status_code == 502
    assert (
        resp.json()["error"]["type"] == "api_error" and "cannot connect to provider 'anthropic'" in resp.text
    )
    resp = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "upstream_error"


def test_first_byte_timeout_is_a_504(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(timeouts_config(anthropic_up, openai_up, "{ first_byte: 300ms }"))
    anthropic_up.push(Script(delay=3))
    started = time.monotonic()
    resp = httpx.post(gw.url + "/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS)
    assert time.monotonic() - started < 2
    assert resp.status_code == 504 and resp.json()["error"]["type"] == "timeout_error"
    assert "did not start answering within 0.3s" in resp.json()["error"]["message"]
    time.sleep(0.2)
    assert anthropic_up.disconnects == 1  # the upstream call was abandoned, not left running


def test_cut_stream_ends_with_an_error_event_not_a_clean_end(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    anthropic_up.push(Script(cut_after=3))
    client = anthropic_client(gw)
    with pytest.raises(anthropic.APIStatusError) as info, client.messages.stream(**MESSAGE) as stream:
        for _ in stream:
            pass
    assert "the upstream stream broke" in str(info.value)
    rec = gw.records(1)[-1]
    assert rec["status"] == 502 and "the upstream stream broke" in rec["error"]

    openai_up.push(Script(cut_after=2))
    with (
        pytest.raises(openai.APIError),
        openai_client(gw).chat.completions.stream(**CHAT) as ostream,
    ):
        for _ in ostream:
            pass
    openai_up.push(Script(cut_after=2))
    raw = httpx.post(gw.url + "/v1/chat/completions", json={**CHAT, "stream": True})
    assert b"[DONE]" not in raw.content and b'finish_reason":"stop' not in raw.content
    assert raw.content.rstrip().endswith(b'"code":"upstream_error"}}')


def test_idle_stall_mid_stream_fires_the_idle_timer(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(timeouts_config(anthropic_up, openai_up, "{ idle: 400ms }"))
    anthropic_up.push(Script(stall_after=2))
    started = time.monotonic()
    resp = httpx.post(gw.url + "/v1/messages", json={**MESSAGE, "stream": True}, headers=ANTHROPIC_HEADERS)
    assert time.monotonic() - started < 3
    assert resp.status_code == 200
    assert resp.text.count("event: ") >= 3 and "event: error" in resp.text and "message_stop" not in resp.text
    assert '"timeout_error"' in resp.text


def test_error_event_inside_a_200_stream_reaches_the_client_and_the_log(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    anthropic_up.push(Script(error_event_after=2))
    client = anthropic_client(gw)
    with pytest.raises(anthropic.APIStatusError), client.messages.stream(**MESSAGE) as stream:
        for _ in stream:
            pass
    # The SDK raises on the error event and may hang up before the upstream's stream has ended.
    assert gw.records(1)[-1]["error"] in (
        "Overloaded",
        "client disconnected after the upstream reported: Overloaded",
    )


def test_client_disconnect_cancels_the_upstream_call(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    # Mid-stream: the client reads two chunks and goes away.
    anthropic_up.push(Script(chunk_delay=0.2, text_chunks=30))
    with httpx.stream(
        "POST", gw.url + "/v1/messages", json={**MESSAGE, "stream": True}, headers=ANTHROPIC_HEADERS
    ) as resp:
        chunks = resp.iter_raw()
        next(chunks)
        next(chunks)
    # Before the first byte of a non-streaming answer.
    anthropic_up.push(Script(delay=5))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.url + "/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS, timeout=0.5)
    deadline = time.monotonic() + 3
    while anthropic_up.disconnects < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert anthropic_up.disconnects == 2
    recs = gw.records(2)
    assert [r["status"] for r in recs] == [499, 499]


def test_a_client_that_hangs_up_at_the_closing_event_has_not_left_early(
    gw: GatewayServer, openai_up: FakeUpstream, anthropic_up: FakeUpstream
) -> None:
    # The SDKs close the connection once they read `data: [DONE]` / `event: message_stop`. Here the
    # upstream holds its end of body for a second after that event, so the client is gone first.
    openai_up.push(Script(text_chunks=2))
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        frames = resp.read().count(b"\n\n")
    anthropic_up.push(Script(text_chunks=2))
    with httpx.stream(
        "POST", gw.url + "/v1/messages", json={**MESSAGE, "stream": True}, headers=ANTHROPIC_HEADERS
    ) as resp:
        events = resp.read().count(b"\n\n")
    openai_up.push(Script(text_chunks=2, stall_after=frames, stall_seconds=1.0))
    with openai_client(gw).chat.completions.create(**CHAT, stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    anthropic_up.push(Script(text_chunks=2, stall_after=events, stall_seconds=1.0))
    with anthropic_client(gw).messages.stream(**MESSAGE) as astream:
        atext = astream.get_final_text()
    assert text and atext
    recs = gw.records(4)
    assert [(r["status"], r["error"]) for r in recs[-2:]] == [(200, None), (200, None)]


@pytest.mark.parametrize(
    ("path", "body", "status", "kind", "code"),
    [
        ("/v1/messages", b"{not json", 400, "invalid_request_error", "invalid_json"),
        ("/v1/chat/completions", b"{not json", 400, "invalid_request_error", "invalid_json"),
        ("/v1/chat/completions", b"[1, 2]", 400, "invalid_request_error", "invalid_json"),
        ("/v1/messages", b'{"max_tokens": 1}', 400, "invalid_request_error", "missing_required_parameter"),
        ("/v1/chat/completions", b'{"model": 5}', 400, "invalid_request_error", "missing_required_parameter"),
        ("/v1/messages", b'{"model": "nope"}', 404, "not_found_error", "model_not_found"),
        ("/v1/chat/completions", b'{"model": "nowhere/x"}', 404, "not_found_error", "model_not_found"),
        # Cross-format calls are checked before translation: nothing half-formed reaches a provider.
        ("/v1/messages", b'{"model": "gpt-5.2"}', 400, "invalid_request_error", None),
        (
            "/v1/messages",
            b'{"model": "gpt-5.2", "messages": [{"role": "user", "content": "x"}]}',
            400,
            "invalid_request_error",
            None,
        ),
        ("/v1/chat/completions", b'{"model": "claude-x"}', 400, "invalid_request_error", None),
        (
            "/v1/chat/completions",
            b'{"model": "claude-x", "messages": "x"}',
            400,
            "invalid_request_error",
            None,
        ),
        (
            "/v1/messages",
            b'{"model": "claude-x", "pad": "' + b"x" * 3000 + b'"}',
            413,
            "request_too_large",
            None,
        ),
    ],
)
def test_bad_requests_get_the_clients_envelope_and_never_reach_upstream(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    path: str,
    body: bytes,
    status: int,
    kind: str,
    code: str | None,
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra="server: { max_body: 2KiB }"))
    resp = httpx.post(
        gw.url + path, content=body, headers={**ANTHROPIC_HEADERS, "content-type": "application/json"}
    )
    assert resp.status_code == status, resp.text
    err = resp.json()
    if path == "/v1/messages":
        assert err["type"] == "error" and err["error"]["type"] == kind and err["request_id"]
    else:
        assert err["error"]["type"] == kind and (code is None or err["error"]["code"] == code)
    assert resp.headers["x-gateway-request-id"]
    assert anthropic_up.requests == [] and openai_up.requests == []
    rec = gw.records(1)[-1]
    assert rec["status"] == status and rec["error"]


def test_routing_errors_and_unknown_paths(gw: GatewayServer) -> None:
    assert httpx.get(gw.url + "/v1/messages").status_code == 405
    resp = httpx.post(gw.url + "/g/nope/v1/messages", json=MESSAGE, headers=ANTHROPIC_HEADERS)
    assert resp.status_code == 404 and "no gateway named 'nope'" in resp.json()["error"]["message"]
    resp = httpx.get(gw.url + "/v2/whatever")
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize("model", ["claude-x", "gpt-x"])
def test_a_stored_key_echoed_in_an_upstream_error_never_reaches_client_or_log(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, model: str
) -> None:
    from tests.conftest import STORED_KEY

    upstream = anthropic_up if model.startswith("claude") else openai_up
    echo = Script(status=401, error_message=f"Incorrect API key provided: {STORED_KEY}.")
    upstream.push(echo, echo)  # once through the same-format path, once translated
    for path, body in (
        ("/v1/messages", {**MESSAGE, "model": model}),
        ("/v1/chat/completions", {**CHAT, "model": model}),
    ):
        resp = httpx.post(gw.url + path, json=body, headers=ANTHROPIC_HEADERS)
        assert resp.status_code == 401
        assert STORED_KEY not in resp.text and "[redacted]" in resp.text
    for rec in gw.records(2):
        assert STORED_KEY not in str(rec)


def test_leaf_retries_hold_errors_back_and_honour_retry_after(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            extra="""
routes:
  sturdy: { model: anthropic/claude-x, retries: 2 }
""",
        )
    )
    anthropic_up.push(
        Script(status=503), Script(status=429, headers={"retry-after": "0.3"}), Script(text="ok")
    )
    started = time.monotonic()
    resp = httpx.post(
        gw.url + "/v1/messages", json={**MESSAGE, "model": "dynamic/sturdy"}, headers=ANTHROPIC_HEADERS
    )
    assert resp.status_code == 200 and resp.json()["content"][0]["text"] == "ok"
    assert time.monotonic() - started >= 0.3  # the upstream's retry-after was honoured
    assert resp.headers["x-gateway-attempts"] == "3" and resp.headers["x-gateway-route"] == "sturdy"
    assert len(anthropic_up.requests) == 3
    rec = gw.records(1)[-1]
    assert [a["status"] for a in rec["attempts"]] == [503, 429, 200]
    assert rec["status"] == 200 and rec["error"] is None

    # Retries exhausted: the client gets the last failure, in full.
    anthropic_up.push(Script(status=503), Script(status=503), Script(status=529, error_message="still busy"))
    resp = httpx.post(
        gw.url + "/v1/messages", json={**MESSAGE, "model": "dynamic/sturdy"}, headers=ANTHROPIC_HEADERS
    )
    assert resp.status_code == 529 and resp.json()["error"]["message"] == "still busy"
    assert resp.headers["x-gateway-attempts"] == "3"
    # A client error is not retried.
    anthropic_up.reset()
    anthropic_up.push(Script(status=400))
    resp = httpx.post(
        gw.url + "/v1/messages", json={**MESSAGE, "model": "dynamic/sturdy"}, headers=ANTHROPIC_HEADERS
    )
    assert resp.status_code == 400 and len(anthropic_up.requests) == 1


def test_retry_budget_caps_retries_under_a_total_outage(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    import concurrent.futures

    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            extra="""
routes:
  sturdy: { model: anthropic/claude-x, retries: 3 }
""",
        )
    )
    requests = 20
    anthropic_up.push(*[Script(status=503, delay=0.2) for _ in range(requests * 4)])
    with concurrent.futures.ThreadPoolExecutor(requests) as pool:
        statuses = list(
            pool.map(
                lambda _: (
                    httpx.post(
                        gw.url + "/v1/messages",
                        json={**MESSAGE, "model": "dynamic/sturdy"},
                        headers=ANTHROPIC_HEADERS,
                        timeout=30,
                    ).status_code
                ),
                range(requests),
            )
        )
    assert statuses == [503] * requests
    # Without a budget: 20 x 4 = 80 upstream calls. The budget lets max(3, 20% of 20) requests retry.
    assert len(anthropic_up.requests) <= requests + 4 * 3


def test_per_request_timeout_and_max_attempts_only_tighten_config(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            extra="""
routes:
  sturdy: { model: anthropic/claude-x, retries: 2 }
""",
        )
    )
    body = {**MESSAGE, "model": "dynamic/sturdy"}
    anthropic_up.push(Script(status=503), Script(text="never reached"))
    resp = httpx.post(
        gw.url + "/v1/messages", json=body, headers={**ANTHROPIC_HEADERS, "x-gateway-max-attempts": "1"}
    )
    assert resp.status_code == 503 and resp.headers["x-gateway-attempts"] == "1"
    assert len(anthropic_up.requests) == 1

    anthropic_up.reset()
    anthropic_up.push(Script(delay=3), Script(delay=3), Script(delay=3))
    started = time.monotonic()
    resp = httpx.post(
        gw.url + "/v1/messages",
        json=body,
        headers={**ANTHROPIC_HEADERS, "x-gateway-timeout": "300ms", "x-gateway-max-attempts": "2"},
    )
    assert resp.status_code == 504 and time.monotonic() - started < 2.5
    assert resp.headers["x-gateway-attempts"] == "2"

    for bad in ({"x-gateway-timeout": "soon"}, {"x-gateway-max-attempts": "0"}):
        resp = httpx.post(gw.url + "/v1/messages", json=body, headers={**ANTHROPIC_HEADERS, **bad})
        assert resp.status_code == 400 and next(iter(bad)) in resp.json()["error"]["message"]
