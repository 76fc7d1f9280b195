"""Dynamic routes executed by the data plane: switch, split, fallback across providers and formats."""

from __future__ import annotations

import json
from collections import Counter

import httpx

from tests.conftest import GatewayFactory, anthropic_client, standard_config
from tests.fakes.anthropic_wire import thinking_signature
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer, free_port

HEADERS = {"anthropic-version": "2023-06-01"}
ROUTES = """
routes:
  support:
    switch:
      - when: { metadata.tier: enterprise }
        to: { fallback: [anthropic/claude-sonnet-4-5, openai/gpt-5.2] }
    default:
      split:
        - { weight: 90, to: anthropic/claude-haiku-4-5 }
        - { weight: 10, to: { model: openai/gpt-5-mini, params: { temperature: 0.2 } } }
      sticky: metadata.user
  picky:
    fallback:
      on: [timeout]
      to: [anthropic/claude-slow, openai/gpt-5.2]
"""


def message(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], **extra}


def test_fallback_crosses_providers_for_a_claude_code_shaped_stream(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra=ROUTES))
    anthropic_up.push(Script(status=529))
    openai_up.push(Script(tool_calls=[{"name": "Bash", "input": {"command": "ls"}}]))
    client = anthropic_client(gw)
    tools = [
        {
            "name": "Bash",
            "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        }
    ]
    with client.messages.with_streaming_response.create(
        **message("dynamic/support", stream=True, tools=tools),  # type: ignore[arg-type]
        extra_headers={"x-gateway-metadata": json.dumps({"tier": "enterprise", "user": "u1"})},
    ) as raw:
        assert raw.headers["x-gateway-model"] == "openai/gpt-5.2"
        assert raw.headers["x-gateway-attempts"] == "2" and raw.headers["x-gateway-route"] == "support"
        body = raw.read().decode()
    assert '"name":"Bash"' in body and "event: message_stop" in body and "event: error" not in body
    assert anthropic_up.requests[-1].json["model"] == "claude-sonnet-4-5"
    assert openai_up.requests[-1].json["model"] == "gpt-5.2"
    rec = gw.records(1)[-1]
    assert [(a["target"], a["status"]) for a in rec["attempts"]] == [
        ("anthropic/claude-sonnet-4-5", 529),
        ("openai/gpt-5.2", 200),
    ]


def test_fallback_on_lists_what_moves_on(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = standard_config(anthropic_up, openai_up, extra=ROUTES).replace(
        f'base_url: "{anthropic_up.base_url}" }}',
        f'base_url: "{anthropic_up.base_url}", timeouts: {{ first_byte: 300ms }} }}',
    )
    gw = make_gateway(config)
    anthropic_up.push(Script(delay=2))  # a timeout: in `on`, so the next node serves
    resp = httpx.post(gw.url + "/v1/messages", json=message("dynamic/picky"), headers=HEADERS)
    assert resp.status_code == 200 and resp.headers["x-gateway-model"] == "openai/gpt-5.2"
    anthropic_up.push(Script(status=503))  # a 503 is not in `on: [timeout]`: the client gets it
    resp = httpx.post(gw.url + "/v1/messages", json=message("dynamic/picky"), headers=HEADERS)
    assert resp.status_code == 503 and resp.headers["x-gateway-model"] == "anthropic/claude-slow"


def test_split_is_sticky_per_user_and_weighted_overall(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra=ROUTES))
    served: dict[str, set[str]] = {}
    for user in range(60):
        for _ in range(2):
            resp = httpx.post(
                gw.url + "/v1/messages",
                json=message("dynamic/support"),
                headers={**HEADERS, "x-gateway-metadata": json.dumps({"user": f"u{user}"})},
            )
            assert resp.status_code == 200
            served.setdefault(f"u{user}", set()).add(resp.headers["x-gateway-model"])
    assert all(len(models) == 1 for models in served.values())  # sticky: one branch per user
    counts = Counter(next(iter(m)) for m in served.values())
    assert counts["anthropic/claude-haiku-4-5"] > counts["openai/gpt-5-mini"]
    mini = [r.json for r in openai_up.requests]
    assert all(body["temperature"] == 0.2 for body in mini)  # the branch's params apply


def test_an_error_inside_a_200_stream_before_content_falls_back(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra=ROUTES))
    anthropic_up.push(Script(error_event_after=1))  # message_start, then an overloaded error
    openai_up.push(Script(text="from the fallback"))
    client = anthropic_client(gw)
    with client.messages.stream(  # type: ignore[call-overload]
        **message("dynamic/support"), extra_headers={"x-gateway-metadata": '{"tier": "enterprise"}'}
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "from the fallback"  # type: ignore[union-attr]
    rec = gw.records(1)[-1]
    assert [a["status"] for a in rec["attempts"]] == [529, 200]

    # After content has started, an error is the client's to see: no fallback, an error event.
    anthropic_up.push(Script(error_event_after=3))
    resp = httpx.post(
        gw.url + "/v1/messages",
        json=message("dynamic/support", stream=True),
        headers={**HEADERS, "x-gateway-metadata": '{"tier": "enterprise"}'},
    )
    assert "event: error" in resp.text and "message_stop" not in resp.text
    assert resp.headers["x-gateway-attempts"] == "1"


def test_a_failing_target_is_ejected_and_the_fallback_serves_directly(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra=ROUTES))
    enterprise = {**HEADERS, "x-gateway-metadata": '{"tier": "enterprise"}'}
    anthropic_up.push(*[Script(status=500) for _ in range(5)])
    for _ in range(5):  # five failures in a row eject anthropic/claude-sonnet-4-5
        resp = httpx.post(gw.url + "/v1/messages", json=message("dynamic/support"), headers=enterprise)
        assert resp.status_code == 200 and resp.headers["x-gateway-model"] == "openai/gpt-5.2"
    before = len(anthropic_up.requests)
    resp = httpx.post(gw.url + "/v1/messages", json=message("dynamic/support"), headers=enterprise)
    assert resp.headers["x-gateway-attempts"] == "1" and resp.headers["x-gateway-model"] == "openai/gpt-5.2"
    assert len(anthropic_up.requests) == before  # skipped while ejected
    circuits = {c["target"]: c for c in httpx.get(gw.url + "/readyz").json()["circuits"]}
    assert circuits["anthropic/claude-sonnet-4-5"]["state"] == "open"
    # The last target standing is never ejected: a plain model keeps being tried.
    anthropic_up.push(*[Script(status=500) for _ in range(6)])
    for _ in range(6):
        httpx.post(gw.url + "/v1/messages", json=message("claude-solo"), headers=HEADERS)
    assert (
        httpx.post(gw.url + "/v1/messages", json=message("claude-solo"), headers=HEADERS).status_code == 200
    )


def test_rate_gate_sends_the_overflow_to_otherwise(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            extra="""
routes:
  gated:
    limit: { rate: { requests: 3, per: 1m, by: metadata.user } }
    to: anthropic/claude-opus-4-8
    otherwise: anthropic/claude-haiku-4-5
  strict:
    limit: { rate: { requests: 1, per: 1m } }
    to: anthropic/claude-opus-4-8
""",
        )
    )
    served = []
    for _ in range(5):
        resp = httpx.post(
            gw.url + "/v1/messages",
            json=message("dynamic/gated"),
            headers={**HEADERS, "x-gateway-metadata": '{"user": "a"}'},
        )
        served.append(resp.headers["x-gateway-model"])
    assert served == ["anthropic/claude-opus-4-8"] * 3 + ["anthropic/claude-haiku-4-5"] * 2
    other = httpx.post(
        gw.url + "/v1/messages",
        json=message("dynamic/gated"),
        headers={**HEADERS, "x-gateway-metadata": '{"user": "b"}'},
    )
    assert other.headers["x-gateway-model"] == "anthropic/claude-opus-4-8"  # its own counter
    assert (
        httpx.post(gw.url + "/v1/messages", json=message("dynamic/strict"), headers=HEADERS).status_code
        == 200
    )
    resp = httpx.post(gw.url + "/v1/messages", json=message("dynamic/strict"), headers=HEADERS)
    assert resp.status_code == 429 and resp.json()["error"]["type"] == "rate_limit_error"


def test_history_from_another_provider_stays_valid_for_anthropic(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    history = [
        {"role": "user", "content": "What is 6 x 7?"},
        # An earlier turn served by OpenAI through the gateway: its reasoning came back unsigned.
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "six sevens", "signature": ""},
                {"type": "text", "text": "42"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "signed", "signature": thinking_signature("signed")},
                {"type": "text", "text": "and more"},
            ],
        },
        {"role": "user", "content": "Thanks"},
    ]
    resp = httpx.post(
        gw.url + "/v1/messages",
        headers=HEADERS,
        json={"model": "claude-x", "max_tokens": 64, "messages": history},
    )
    assert resp.status_code == 200
    sent = anthropic_up.requests[-1].json["messages"]
    blocks = [b for m in sent if isinstance(m["content"], list) for b in m["content"]]
    assert [b.get("signature") for b in blocks if b["type"] == "thinking"] == [
        thinking_signature("signed")
    ]  # unsigned one dropped
    assert [b["text"] for b in blocks if b["type"] == "text"] == ["42", "and more"]


def test_connect_refused_falls_back(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on
    config = standard_config(anthropic_up, openai_up, extra=ROUTES).replace(
        f'"{anthropic_up.base_url}"', f'"{dead}"'
    )
    gw = make_gateway(config)
    resp = httpx.post(
        gw.url + "/v1/messages",
        json=message("dynamic/support"),
        headers={**HEADERS, "x-gateway-metadata": '{"tier": "enterprise"}'},
    )
    assert resp.status_code == 200 and resp.headers["x-gateway-model"] == "openai/gpt-5.2"
    assert gw.records(1)[-1]["attempts"][0]["status"] == 502
