"""The data plane end to end: official SDKs -> gateway -> fake upstreams, over loopback HTTP."""

from __future__ import annotations

import json
import re

import httpx
import orjson

from tests.conftest import CLAUDE_CODE_CAPTURE as FIXTURE
from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer


def test_anthropic_sdk_plain_call_with_stored_key(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    anthropic_up.push(
        Script(text="Bonjour.", usage={"input_tokens": 11, "output_tokens": 3, "cache_read_input_tokens": 7})
    )
    client = anthropic_client(gw)
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    msg = raw.parse()
    assert msg.content[0].text == "Bonjour."  # type: ignore[union-attr]
    assert msg.usage.cache_read_input_tokens == 7
    seen = anthropic_up.requests[-1]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == STORED_KEY  # the stored key replaced the client's own
    assert "authorization" not in seen.headers
    assert seen.headers["anthropic-version"] == client.default_headers["anthropic-version"]
    assert raw.headers["x-gateway-provider"] == "anthropic"
    assert raw.headers["x-gateway-model"] == "anthropic/claude-sonnet-4-6"
    assert raw.headers["x-gateway-config-version"] == gw.live.table.version
    assert raw.headers["request-id"].startswith("req_")  # the upstream's own headers pass through
    rec = gw.records(1)[-1]
    assert rec["id"] == raw.headers["x-gateway-request-id"]
    assert (rec["status"], rec["input_tokens"], rec["output_tokens"], rec["cache_read_tokens"]) == (
        200,
        11,
        3,
        7,
    )
    assert (
        rec["provider"] == "anthropic"
        and rec["model"] == "claude-sonnet-4-6"
        and rec["key"] == "key:anthropic-main"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["ts"])


def test_anthropic_sdk_stream_relays_every_event_and_reads_usage(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    anthropic_up.push(
        Script(
            text="one two three four",
            thinking="let me think",
            text_chunks=4,
            usage={"input_tokens": 21, "output_tokens": 9, "cache_creation_input_tokens": 5},
        )
    )
    with anthropic_client(gw).messages.stream(
        model="claude-opus-4-8", max_tokens=100, messages=[{"role": "user", "content": "count"}]
    ) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature  # type: ignore[union-attr]
    assert final.content[1].text == "one two three four"  # type: ignore[union-attr]
    assert events.count("text") == 4 and events[-1] == "message_stop"
    rec = gw.records(1)[-1]
    assert rec["stream"] is True and rec["status"] == 200
    assert (rec["input_tokens"], rec["output_tokens"], rec["cache_write_tokens"]) == (21, 9, 5)
    assert rec["ttfb_ms"] is not None and rec["ttfb_ms"] <= rec["latency_ms"]


def test_openai_sdk_plain_and_stream(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    client = openai_client(gw)
    openai_up.push(
        Script(text="plain answer", usage={"prompt_tokens": 30, "completion_tokens": 4, "cached_tokens": 10})
    )
    done = client.chat.completions.create(model="gpt-5.2", messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content == "plain answer"
    assert openai_up.requests[-1].headers["authorization"] == f"Bearer {STORED_KEY}"

    openai_up.push(
        Script(
            tool_calls=[
                {"name": "get_weather", "input": {"city": "Paris"}},
                {"name": "get_time", "input": {"tz": "CET"}},
            ]
        )
    )
    with client.chat.completions.stream(
        model="gpt-5.2",
        messages=[{"role": "user", "content": "weather?"}],
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    recs = gw.records(2)
    assert (recs[0]["input_tokens"], recs[0]["cache_read_tokens"], recs[0]["output_tokens"]) == (20, 10, 4)
    assert recs[1]["stream"] is True and recs[1]["output_tokens"] is not None


def test_client_key_used_when_no_stored_key(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, stored=False))
    sdk = anthropic_client(gw, key="sk-ant-client-own")
    # Forwarded in the header the client used; this SDK version sends api_key as a bearer token.
    assert sdk.auth_headers == {"Authorization": "Bearer sk-ant-client-own"}
    sdk.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    seen = anthropic_up.requests[-1].headers
    assert seen["authorization"] == "Bearer sk-ant-client-own" and "x-api-key" not in seen
    httpx.post(
        gw.url + "/v1/messages",
        headers={"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-raw"},
        json={"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    seen = anthropic_up.requests[-1].headers
    assert seen["x-api-key"] == "sk-ant-raw" and "authorization" not in seen
    openai_client(gw, key="sk-openai-own").chat.completions.create(
        model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert openai_up.requests[-1].headers["authorization"] == "Bearer sk-openai-own"
    # An OAuth-style bearer token reaches Anthropic as a bearer token (Claude Code with ANTHROPIC_AUTH_TOKEN).
    anthropic_client(gw, key=None, auth_token="oauth-token-1").messages.create(
        model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    seen = anthropic_up.requests[-1].headers
    assert seen["authorization"] == "Bearer oauth-token-1" and "x-api-key" not in seen
    assert [r["key"] for r in gw.records(4)] == ["request"] * 4


def test_missing_key_is_a_401_that_says_how_to_fix_it(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = standard_config(
        anthropic_up,
        openai_up,
        stored=False,
        extra="""
keys:
  anthropic-main: { provider: anthropic, secret: "${ANTHROPIC_TEST_KEY:-}" }
""",
    )
    gw = make_gateway(config)
    resp = httpx.post(
        gw.url + "/v1/messages",
        headers={"anthropic-version": "2023-06-01"},
        json={"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    assert resp.status_code == 401
    err = resp.json()
    assert err["type"] == "error" and err["error"]["type"] == "authentication_error"
    assert "set ANTHROPIC_TEST_KEY" in err["error"]["message"]
    assert "x-api-key header" in err["error"]["message"]
    assert anthropic_up.requests == []
    resp = httpx.post(gw.url + "/v1/chat/completions", json={"model": "gpt-5.2", "messages": []})
    assert resp.status_code == 401
    err = resp.json()["error"]
    assert err["type"] == "authentication_error" and err["code"] == "invalid_api_key"
    assert "Authorization: Bearer header" in err["message"]


def test_count_tokens_and_models(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(anthropic_up, openai_up, extra="routes:\n  coding: anthropic/claude-opus-4-8\n")
    )
    client = anthropic_client(gw)
    count = client.messages.count_tokens(model="fast", messages=[{"role": "user", "content": "hello there"}])
    assert count.input_tokens >= 1
    seen = anthropic_up.requests[-1]
    assert seen.path == "/v1/messages/count_tokens" and seen.json["model"] == "claude-haiku-4-5"

    ids = [m.id for m in client.models.list()]
    assert ids == ["fast", "dynamic/coding", "anthropic/claude-haiku-4-5", "anthropic/claude-opus-4-8"]
    listed = openai_client(gw).models.list()
    assert [m.id for m in listed] == ids and listed.data[0].owned_by == "anthropic"
    raw = httpx.get(gw.url + "/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert raw["has_more"] is False and raw["first_id"] == "fast" and raw["data"][0]["type"] == "model"


def test_aliases_routes_and_provider_prefixes_rewrite_only_the_model(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            extra="""
routes:
  coding: anthropic/claude-opus-4-8
  tuned: { model: openai/gpt-5-mini, params: { temperature: 0.2 } }
""",
        )
    )
    body = b'{"max_tokens": 5,  "model" : "fast", "messages":[{"role":"user","content":"\\u00e9 model"}]}'
    headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    for model, upstream in [
        ("fast", "claude-haiku-4-5"),
        ("dynamic/coding", "claude-opus-4-8"),
        ("anthropic/claude-x", "claude-x"),
        ("@anthropic/claude-y", "claude-y"),
    ]:
        resp = httpx.post(
            gw.url + "/v1/messages", content=body.replace(b'"fast"', orjson.dumps(model)), headers=headers
        )
        assert resp.status_code == 200, resp.text
        expected = body.replace(b'"fast"', orjson.dumps(upstream))
        assert anthropic_up.requests[-1].body == expected  # every other byte as the client sent it
    assert resp.headers["x-gateway-model"] == "anthropic/claude-y"
    resp = httpx.post(
        gw.url + "/v1/messages", content=body.replace(b'"fast"', b'"dynamic/coding"'), headers=headers
    )
    assert resp.headers["x-gateway-route"] == "coding"

    openai_client(gw).chat.completions.create(
        model="dynamic/tuned", messages=[{"role": "user", "content": "x"}]
    )
    sent = openai_up.requests[-1].json
    assert sent["model"] == "gpt-5-mini" and sent["temperature"] == 0.2


def test_claude_code_request_is_forwarded_byte_exact(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    capture = json.loads(FIXTURE.read_text())
    config = standard_config(anthropic_up, openai_up)
    gw = make_gateway(
        config.replace("models:\n", "models:\n  claude-opus-4-8: anthropic/claude-opus-4-8-20261101\n")
    )
    # Claude Code's Node client serialises compactly; the fixture is replayed the same way.
    body = json.dumps(capture["body"], separators=(",", ":"), ensure_ascii=False).encode()
    headers = {k: v for k, v in capture["headers"].items() if k not in ("connection", "accept-encoding")}
    headers["authorization"] = "Bearer some-client-token"
    resp = httpx.post(gw.url + capture["path"], content=body, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert b"event: message_stop" in resp.content
    seen = anthropic_up.requests[-1]
    assert seen.path == "/v1/messages" and seen.query == "beta=true"
    assert seen.body == body.replace(b'"model":"claude-opus-4-8"', b'"model":"claude-opus-4-8-20261101"', 1)
    for name in (
        "anthropic-beta",
        "anthropic-version",
        "user-agent",
        "x-app",
        "x-stainless-helper-method",
        "anthropic-dangerous-direct-browser-access",
    ):
        if name in capture["headers"]:
            assert seen.headers[name] == capture["headers"][name], name
    assert seen.headers["x-api-key"] == STORED_KEY and "authorization" not in seen.headers


def test_gateway_headers_are_never_forwarded(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    anthropic_client(gw).messages.create(
        model="claude-x",
        max_tokens=5,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={
            "x-gateway-metadata": '{"user":"u1"}',
            "x-gateway-key": "gw-secret",
            "cf-aig-metadata": "{}",
            "x-portkey-metadata": "{}",
            "anthropic-beta": "b1,b2",
            "Connection": "keep-alive, x-custom",
            "te": "trailers",
        },
    )
    seen = anthropic_up.requests[-1].headers
    assert not [h for h in seen if h.startswith(("x-gateway-", "cf-aig-", "x-portkey-"))]
    assert "te" not in seen and seen["anthropic-beta"] == "b1,b2"


def test_native_passthrough_for_each_provider(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> None:
    config = (
        standard_config(
            anthropic_up,
            openai_up,
            gateway="""
gateways:
  default: { auth: none }
  team: { auth: none, provider_keys: [stored] }
""",
        )
        .replace(
            "providers:\n", f'providers:\n  google: {{ type: gemini, base_url: "{gemini_up.base_url}" }}\n'
        )
        .replace(
            "keys:\n",
            'keys:\n  google-main: { provider: google, secret: "AIza-stored-canary-key-000000000" }\n',
        )
    )
    gw = make_gateway(config)
    # Anthropic's own client on the native path, through a named gateway
    msg = anthropic_client(gw, "/g/team/anthropic").messages.create(
        model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content
    assert anthropic_up.requests[-1].path == "/v1/messages"
    assert anthropic_up.requests[-1].headers["x-api-key"] == STORED_KEY
    # OpenAI's client with base_url at the native path: {base_url}/chat/completions upstream
    done = openai_client(gw, "/openai").chat.completions.create(
        model="gpt-5.2", messages=[{"role": "user", "content": "hi"}]
    )
    assert done.choices[0].message.content
    assert openai_up.requests[-1].path == "/v1/chat/completions"
    # Gemini, streaming, query string kept, key header injected
    resp = httpx.post(
        gw.url + "/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    assert len(resp.headers.get_list("date")) == 1  # the gateway's own, not the upstream's as well
    seen = gemini_up.requests[-1]
    assert seen.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" and seen.query == "alt=sse"
    assert seen.headers["x-goog-api-key"] == "AIza-stored-canary-key-000000000"
    recs = gw.records(3)
    assert recs[-1]["provider"] == "google" and recs[-1]["input_tokens"] is not None
    assert recs[0]["gateway"] == "team" and recs[0]["model"] == "claude-haiku-4-5"


def test_passthrough_refuses_paths_that_climb_out_of_base_url(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    import socket

    for path in (
        "/anthropic/../admin",
        "/anthropic/v1/%2e%2e/x",
        "/anthropic/v1%2fmessages",
        "/anthropic/./v1",
        "/g/default/anthropic/v1/..%2F..%2Fadmin",
    ):
        # A raw socket: HTTP clients would normalise these paths before sending them.
        with socket.create_connection(("127.0.0.1", gw.port)) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nanthropic-version: 2023-06-01\r\n"
                "Content-Length: 2\r\nConnection: close\r\n\r\n{}".encode()
            )
            head = sock.recv(65536).split(b"\r\n", 1)[0]
        assert head == b"HTTP/1.1 400 Bad Request", (path, head)
    assert anthropic_up.requests == []


def test_health_and_readiness(gw: GatewayServer) -> None:
    assert httpx.get(gw.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gw.url + "/readyz").json()
    assert ready["status"] == "ready" and ready["config_version"] == gw.live.table.version
    assert ready["loaded_at"].endswith("Z") and ready["last_reload"] is None
    assert gw.records() == []  # health checks are not request-logged


def test_cost_from_real_usage_in_header_and_log(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    usage = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 100,
    }
    body = {"model": "claude-sonnet-4-5", "max_tokens": 600, "messages": [{"role": "user", "content": "hi"}]}
    anthropic_up.push(Script(usage=usage), Script(usage=usage), Script())
    resp = httpx.post(gw.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    # $3 input, $15 output, $0.30 cache read, $3.75 cache write per million tokens
    assert resp.headers["x-gateway-cost-usd"] == "0.011475"
    streamed = httpx.post(
        gw.url + "/v1/messages", json={**body, "stream": True}, headers={"anthropic-version": "2023-06-01"}
    )
    assert "x-gateway-cost-usd" not in streamed.headers  # known only after the headers went out
    unpriced = httpx.post(
        gw.url + "/v1/messages",
        json={**body, "model": "claude-unknown-model"},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert "x-gateway-cost-usd" not in unpriced.headers  # never a made-up price
    recs = gw.records(3)
    assert [r["cost_usd"] for r in recs] == ["0.011475", "0.011475", None]
