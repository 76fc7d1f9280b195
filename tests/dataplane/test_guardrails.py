"""Guardrails on input through the official SDKs against the fakes: block, redact and flag in all three
client formats (Anthropic Messages, Chat Completions, Responses), redaction that keeps tool ids and
signatures, max_input_tokens, webhooks (allow, block, timeout, on_error) on a loopback server, and hits in
the access log, the log store, /api/logs?guardrail=, /metrics and /api/explain. Canary secrets check
that the matched text is never echoed, logged or stored."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.core.formats import Format
from gateway.dataplane.guardrails import collect
from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.anthropic_wire import thinking_signature
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

# Canaries: if one of these shows up anywhere but the upstream's own body, a matched text leaked.
SECRET = "sk-ant-api03-CANARY0secret0value0xyzXYZ0123456789"
EMAIL = "canary.person@example.org"
CARD = "4111 1111 1111 1111"

GUARDRAILS = """
server: { admin_token: adm-guard-1 }
logs: { store: memory, bodies: true }   # kept bodies must not hold a matched text either
guardrails:
  no-secrets:
    check: { regex: ['sk-ant-[A-Za-z0-9_-]{20,200}'] }
    action: block
  pii:
    check: { builtin: [email, credit_card] }
    action: redact
  watch:
    check: { regex: ['project-[0-9]{3}'] }
    action: flag
  size:
    check: { max_input_tokens: 2000 }
    action: block
"""
GATEWAYS = """
gateways:
  default: { guardrails: [no-secrets, pii, watch, size] }
  open: {}
"""
ADMIN = {"authorization": "Bearer adm-guard-1"}


@pytest.fixture
def gw(make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> GatewayServer:
    return make_gateway(standard_config(anthropic_up, openai_up, GUARDRAILS, gateway=GATEWAYS))


def last_record(gw: GatewayServer, count: int) -> dict[str, Any]:
    return gw.records(wait_for=count)[count - 1]


def no_canary(*texts: str) -> None:
    for text in texts:
        for canary in (SECRET, EMAIL, CARD, "CANARY0secret"):
            assert canary not in text


# -- block ----------------------------------------------------------------------------------------------


def test_block_in_every_client_format_names_the_guardrail_and_calls_nothing(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    a, o = anthropic_client(gw), openai_client(gw)
    before = len(anthropic_up.requests) + len(openai_up.requests)
    with pytest.raises(anthropic.BadRequestError) as info:
        a.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            system="You help.",
            messages=[{"role": "user", "content": [{"type": "text", "text": f"my key is {SECRET}"}]}],
        )
    body = info.value.response.json()
    assert body["error"]["type"] == "invalid_request_error" and "'no-secrets'" in body["error"]["message"]
    no_canary(info.value.response.text)

    with pytest.raises(openai.BadRequestError) as chat:
        o.chat.completions.create(
            model="gpt-5-mini",
            messages=[
                {"role": "user", "content": "call the tool"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "login", "arguments": json.dumps({"key": SECRET})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ],
        )
    assert chat.value.code == "guardrail_blocked" and chat.value.status_code == 400
    assert "'no-secrets'" in chat.value.message
    no_canary(chat.value.response.text)

    with pytest.raises(openai.BadRequestError) as responses:
        o.responses.create(model="gpt-5-mini", instructions=f"Use {SECRET} for the API.", input="hi")
    assert responses.value.code == "guardrail_blocked"
    no_canary(responses.value.response.text)

    with pytest.raises(anthropic.BadRequestError):  # a tool's description is read too
        a.messages.count_tokens(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"name": "t", "description": f"uses {SECRET}", "input_schema": {"type": "object"}}],
        )
    assert len(anthropic_up.requests) + len(openai_up.requests) == before  # no upstream call at all
    records = gw.records(wait_for=4)
    for r in records:
        assert r["status"] == 400 and r["guardrails"] == [
            {"name": "no-secrets", "on": "input", "action": "block"}
        ]
        assert r["attempts"] == []
    no_canary(json.dumps(records))


def test_max_input_tokens_blocks_an_oversized_prompt(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    before = len(anthropic_up.requests)
    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(gw).messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "word " * 3000}]
        )
    assert "'size'" in info.value.response.json()["error"]["message"]
    assert len(anthropic_up.requests) == before
    anthropic_client(gw).messages.create(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "word " * 100}]
    )
    assert len(anthropic_up.requests) == before + 1


def test_a_block_after_a_redaction_keeps_the_logged_body_clean(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    before = len(anthropic_up.requests)
    with pytest.raises(anthropic.BadRequestError) as info:  # pii redacts, then size blocks
        anthropic_client(gw).messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            messages=[{"role": "user", "content": f"{EMAIL} " + "word " * 3000}],
        )
    assert "'size'" in info.value.message and len(anthropic_up.requests) == before
    (record,) = gw.records(wait_for=1)
    assert record["guardrails"] == [
        {"name": "pii", "on": "input", "action": "redact"},
        {"name": "size", "on": "input", "action": "block"},
    ]
    deadline = time.monotonic() + 10
    while not (found := httpx.get(gw.url + "/api/logs", headers=ADMIN).json()["data"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    body = httpx.get(gw.url + f"/api/logs/{found[0]['id']}", headers=ADMIN).json()["request_body"]
    assert "[REDACTED:email]" in body
    no_canary(body, info.value.response.text)


# -- redact ---------------------------------------------------------------------------------------------


def test_redact_anthropic_keeps_tool_ids_signatures_and_structure(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    # A signature the fake checks, as Anthropic does: a changed thinking text would be refused.
    signature = thinking_signature("The user wants a payment.")
    anthropic_client(gw).messages.create(
        model="claude-haiku-4-5",
        max_tokens=10,
        system=[{"type": "text", "text": f"Mail {EMAIL} if asked."}],
        tools=[
            {
                "name": "pay",
                "description": f"Pays with card {CARD}.",
                "input_schema": {
                    "type": "object",
                    "properties": {"to": {"type": "string", "description": f"like {EMAIL}"}},
                },
            }
        ],
        messages=[
            {"role": "user", "content": f"Pay from {CARD} and tell {EMAIL}."},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "The user wants a payment.", "signature": signature},
                    {"type": "tool_use", "id": "toolu_01A", "name": "pay", "input": {"to": EMAIL, "n": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": [{"type": "text", "text": f"receipt sent to {EMAIL}"}],
                    },
                    {"type": "text", "text": "done?"},
                ],
            },
        ],
    )
    sent = anthropic_up.requests[-1].json
    assert sent["system"][0]["text"] == "Mail [REDACTED:email] if asked."
    assert sent["tools"][0]["description"] == "Pays with card [REDACTED:credit_card]."
    assert sent["tools"][0]["input_schema"]["properties"]["to"]["description"] == "like [REDACTED:email]"
    assert sent["tools"][0]["name"] == "pay"
    assert sent["messages"][0]["content"] == "Pay from [REDACTED:credit_card] and tell [REDACTED:email]."
    thinking, tool_use = sent["messages"][1]["content"]
    assert thinking == {"type": "thinking", "thinking": "The user wants a payment.", "signature": signature}
    assert tool_use == {
        "type": "tool_use", "id": "toolu_01A", "name": "pay", "input": {"to": "[REDACTED:email]", "n": 1},
    }  # fmt: skip
    result = sent["messages"][2]["content"][0]
    assert (
        result["tool_use_id"] == "toolu_01A"
        and result["content"][0]["text"] == "receipt sent to [REDACTED:email]"
    )
    record = gw.records(wait_for=1)[-1]
    assert record["status"] == 200
    assert record["guardrails"] == [{"name": "pii", "on": "input", "action": "redact"}]
    no_canary(json.dumps(record))


def test_redact_chat_completions_keeps_arguments_valid_json(
    gw: GatewayServer, openai_up: FakeUpstream
) -> None:
    openai_client(gw).chat.completions.create(
        model="gpt-5-mini",
        messages=[
            {"role": "system", "content": f"Escalate to {EMAIL}."},
            {"role": "user", "content": [{"type": "text", "text": f"card {CARD}"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "mail", "arguments": json.dumps({"to": EMAIL, "cc": ["x"]})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_9", "content": f"sent to {EMAIL}"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "mail",
                    "description": f"Mails, e.g. {EMAIL}",
                    "parameters": {"type": "object"},
                },
            }
        ],
    )
    sent = openai_up.requests[-1].json
    assert sent["messages"][0]["content"] == "Escalate to [REDACTED:email]."
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "card [REDACTED:credit_card]"}]
    call = sent["messages"][2]["tool_calls"][0]
    assert call["id"] == "call_9" and json.loads(call["function"]["arguments"]) == {
        "to": "[REDACTED:email]",
        "cc": ["x"],
    }
    assert sent["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_9",
        "content": "sent to [REDACTED:email]",
    }
    assert sent["tools"][0]["function"]["description"] == "Mails, e.g. [REDACTED:email]"
    no_canary(openai_up.requests[-1].body.decode())


def test_redact_responses_items(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    openai_client(gw).responses.create(
        model="gpt-5-mini",
        instructions=f"Owner: {EMAIL}",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": f"card {CARD}"}]},
            {
                "type": "function_call",
                "call_id": "fc_1",
                "name": "mail",
                "arguments": json.dumps({"to": EMAIL}),
            },
            {"type": "function_call_output", "call_id": "fc_1", "output": f"mailed {EMAIL}"},
        ],
        tools=[
            {
                "type": "function",
                "name": "mail",
                "description": f"to {EMAIL}",
                "parameters": {"type": "object"},
            }
        ],
    )
    sent = openai_up.requests[-1].json
    assert sent["instructions"] == "Owner: [REDACTED:email]"
    assert sent["input"][0]["content"][0]["text"] == "card [REDACTED:credit_card]"
    assert sent["input"][1]["call_id"] == "fc_1" and json.loads(sent["input"][1]["arguments"]) == {
        "to": "[REDACTED:email]"
    }
    assert sent["input"][2] == {
        "type": "function_call_output",
        "call_id": "fc_1",
        "output": "mailed [REDACTED:email]",
    }
    assert sent["tools"][0]["description"] == "to [REDACTED:email]"
    no_canary(openai_up.requests[-1].body.decode())


def test_flag_only_records_and_a_gateway_without_guardrails_forwards_untouched(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    a = anthropic_client(gw)
    a.messages.create(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "see project-123"}]
    )
    assert anthropic_up.requests[-1].json["messages"][0]["content"] == "see project-123"
    assert gw.records(wait_for=1)[-1]["guardrails"] == [{"name": "watch", "on": "input", "action": "flag"}]
    # The same email through the gateway that lists no guardrails: forwarded as sent, no hit.
    anthropic_client(gw, "/g/open").messages.create(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": f"to {EMAIL}"}]
    )
    assert anthropic_up.requests[-1].json["messages"][0]["content"] == f"to {EMAIL}"
    assert "guardrails" not in gw.records(wait_for=2)[-1]


def test_hits_in_the_log_store_filter_metrics_and_explain(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    a = anthropic_client(gw)
    a.messages.create(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": f"mail {EMAIL}"}]
    )
    a.messages.create(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "plain"}]
    )
    with pytest.raises(anthropic.BadRequestError):
        a.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": SECRET}]
        )
    gw.records(wait_for=3)
    deadline = time.monotonic() + 10
    while True:
        logs = httpx.get(gw.url + "/api/logs", headers=ADMIN, params={"guardrail": "pii"}).json()
        if logs["data"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [r["guardrails"] for r in logs["data"]] == [[{"name": "pii", "on": "input", "action": "redact"}]]
    blocked = httpx.get(gw.url + "/api/logs", headers=ADMIN, params={"guardrail": "no-secrets"}).json()[
        "data"
    ]
    assert len(blocked) == 1 and blocked[0]["status"] == 400
    everything = httpx.get(gw.url + "/api/logs", headers=ADMIN, params={"limit": "50"}).text
    details = [
        httpx.get(gw.url + f"/api/logs/{r['id']}", headers=ADMIN).json()
        for r in httpx.get(gw.url + "/api/logs", headers=ADMIN).json()["data"]
    ]
    bodies = {d["request_body"] for d in details}
    assert len(bodies) == 3 and any("mail [REDACTED:email]" in b for b in bodies)
    assert any("[REDACTED:no-secrets]" in b for b in bodies)  # blocked: its logged body is scrubbed too
    no_canary(*bodies)
    metrics = httpx.get(gw.url + "/metrics", headers=ADMIN).text
    assert 'gateway_guardrail_hits_total{action="redact",guardrail="pii"} 1.0' in metrics
    assert 'gateway_guardrail_hits_total{action="block",guardrail="no-secrets"} 1.0' in metrics
    no_canary(everything, metrics)
    explained = httpx.post(gw.url + "/api/explain", headers=ADMIN, json={"model": "claude-haiku-4-5"}).json()
    assert [g["name"] for g in explained["guardrails"]] == ["no-secrets", "pii", "watch", "size"]
    assert explained["guardrails"][1] == {"name": "pii", "on": "input", "action": "redact"}
    assert any(
        line.startswith("guardrails, in order: no-secrets (input: block)") for line in explained["lines"]
    )


# -- webhook --------------------------------------------------------------------------------------------


class Moderation:
    """A moderation service on loopback: answers by what the text holds, records what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.calls.append(({k.lower(): v for k, v in self.headers.items()}, payload))
                text = payload["text"]
                if "slow" in text:
                    time.sleep(1.5)
                if "broken" in text:
                    self.send_response(500)
                    self.end_headers()
                    return
                verdict = "block" if "forbidden" in text else "allow"
                body = json.dumps({"verdict": verdict, "reason": "policy"}).encode()
                if "garbled" in text:
                    body = b'{"verdict": "allow"'  # cut short: not JSON
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/check"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def moderation() -> Iterator[Moderation]:
    service = Moderation()
    yield service
    service.close()


def test_webhook_allow_block_timeout_and_on_error(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, moderation: Moderation
) -> None:
    extra = f"""
guardrails:
  mod-open:
    check:
      webhook:
        url: "{moderation.url}"
        timeout: 300ms
        headers: {{ authorization: "Bearer ${{MOD_TOKEN}}" }}
    action: block
    on_error: allow
  mod-closed:
    check: {{ webhook: {{ url: "{moderation.url}", timeout: 300ms }} }}
    action: block
    on_error: block
"""
    gateways = """
gateways:
  default: { guardrails: [mod-open] }
  strict: { guardrails: [mod-closed] }
"""
    gw = make_gateway(
        standard_config(anthropic_up, openai_up, extra, gateway=gateways), env={"MOD_TOKEN": "m0d-secret"}
    )
    a, strict = anthropic_client(gw), anthropic_client(gw, "/g/strict")

    def ask(client: anthropic.Anthropic, text: str) -> None:
        client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            system="Be kind.",
            messages=[{"role": "user", "content": text}],
            extra_headers={"x-gateway-metadata": json.dumps({"team": "support"})},
        )

    before = len(anthropic_up.requests)
    ask(a, "hello there")  # allow
    headers, payload = moderation.calls[-1]
    assert headers["authorization"] == "Bearer m0d-secret"
    assert payload == {
        "direction": "input",
        "text": "Be kind.\n\nhello there",
        "model": "claude-haiku-4-5",
        "gateway": "default",
        "metadata": {"team": "support"},
    }
    with pytest.raises(anthropic.BadRequestError) as info:  # block
        ask(a, "something forbidden")
    assert "'mod-open'" in info.value.response.json()["error"]["message"]
    started = time.monotonic()
    ask(a, "slow please")  # timeout, on_error allow: answered, not blocked
    assert time.monotonic() - started < 1.4  # the gateway did not wait for the slow verdict
    ask(a, "broken service")  # 500, on_error allow
    ask(a, "garbled answer")  # not JSON, on_error allow
    with pytest.raises(anthropic.BadRequestError):  # timeout, on_error block
        ask(strict, "slow please")
    with pytest.raises(anthropic.BadRequestError):  # 500, on_error block
        ask(strict, "broken service")
    with pytest.raises(anthropic.BadRequestError) as garbled:  # not JSON, on_error block
        ask(strict, "garbled answer")
    assert (
        garbled.value.response.json()["error"]["message"]
        == "the request was blocked by guardrail 'mod-closed'"
    )
    ask(strict, "fine")
    assert len(anthropic_up.requests) == before + 5
    records = gw.records(wait_for=9)
    hits = [r.get("guardrails") for r in records]
    closed = [{"name": "mod-closed", "on": "input", "action": "block"}]
    assert hits[:5] == [None, [{"name": "mod-open", "on": "input", "action": "block"}], None, None, None]
    assert hits[5:] == [closed, closed, closed, None]
    assert "m0d-secret" not in json.dumps(records)


def test_webhook_calls_give_their_connections_back(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, moderation: Moderation
) -> None:
    # More calls than the webhook client holds connections (64): each must free its own.
    extra = f"""
guardrails:
  mod:
    check: {{ webhook: {{ url: "{moderation.url}", timeout: 2s }} }}
    action: block
    on_error: block
"""
    gateways = "gateways:\n  default: { guardrails: [mod] }\n"
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra, gateway=gateways))
    a = anthropic_client(gw)
    for i in range(70):
        a.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": f"hi {i}"}]
        )
    assert len(moderation.calls) == 70


def test_webhook_failures_are_logged_without_the_text(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    moderation: Moderation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    extra = f"""
guardrails:
  mod:
    check: {{ webhook: {{ url: "{moderation.url}", timeout: 300ms }} }}
    action: block
    on_error: allow
"""
    gateways = "gateways:\n  default: { guardrails: [mod] }\n"
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra, gateway=gateways))
    with caplog.at_level(logging.WARNING, logger="gateway.guardrails"):
        anthropic_client(gw).messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            messages=[{"role": "user", "content": f"garbled {SECRET}"}],
        )
        gw.records(wait_for=1)
    assert "guardrail mod: webhook failed (the answer is not JSON): allowed" in caplog.text
    no_canary(caplog.text, json.dumps(gw.records()))


# -- streams and embeddings -----------------------------------------------------------------------------


def test_streams_are_checked_before_the_first_byte(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    a, o = anthropic_client(gw), openai_client(gw)
    with a.messages.stream(
        model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": f"to {EMAIL}"}]
    ) as stream:
        stream.get_final_message()
    assert anthropic_up.requests[-1].json["messages"][0]["content"] == "to [REDACTED:email]"
    assert anthropic_up.requests[-1].json["stream"] is True
    chunks = list(
        o.chat.completions.create(
            model="gpt-5-mini", stream=True, messages=[{"role": "user", "content": f"card {CARD}"}]
        )
    )
    assert chunks and openai_up.requests[-1].json["messages"][0]["content"] == "card [REDACTED:credit_card]"
    events = list(o.responses.create(model="gpt-5-mini", stream=True, input=f"mail {EMAIL}"))
    assert events and openai_up.requests[-1].json["input"] == "mail [REDACTED:email]"
    before = len(anthropic_up.requests) + len(openai_up.requests)
    with pytest.raises(anthropic.BadRequestError) as info:  # blocked: a 400, not a stream
        a.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            stream=True,
            messages=[{"role": "user", "content": SECRET}],
        )
    assert info.value.response.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as chat:
        list(
            o.chat.completions.create(
                model="gpt-5-mini", stream=True, messages=[{"role": "system", "content": SECRET}]
            )
        )
    assert chat.value.code == "guardrail_blocked"
    with pytest.raises(openai.BadRequestError) as responses:
        list(o.responses.create(model="gpt-5-mini", stream=True, input=[{"role": "user", "content": SECRET}]))
    assert responses.value.code == "guardrail_blocked"
    assert len(anthropic_up.requests) + len(openai_up.requests) == before
    no_canary(info.value.response.text, chat.value.response.text, responses.value.response.text)


def test_embeddings_input_is_checked(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    o = openai_client(gw)
    o.embeddings.create(
        model="openai/text-embedding-3-small", input=[f"mail {EMAIL}", "plain"], encoding_format="float"
    )
    sent = openai_up.requests[-1]
    assert sent.path.endswith("/embeddings") and sent.json["input"] == ["mail [REDACTED:email]", "plain"]
    o.embeddings.create(model="openai/text-embedding-3-small", input=f"card {CARD}", encoding_format="float")
    assert openai_up.requests[-1].json["input"] == "card [REDACTED:credit_card]"
    before = len(openai_up.requests)
    with pytest.raises(openai.BadRequestError) as info:
        o.embeddings.create(model="openai/text-embedding-3-small", input=["fine", f"key {SECRET}"])
    assert info.value.code == "guardrail_blocked" and len(openai_up.requests) == before
    no_canary(info.value.response.text)


def test_hostile_input_in_system_tools_and_tool_results(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    # Near misses for the detectors (an @ without a domain, three digit groups, a key prefix too short)
    # pass untouched; the secret at the end of a long tool result is still found.
    bait = "a" * 60 + "@ " + "4111 4111 4111 x " + "sk-ant-short " + "(a+)+b" * 3 + " "
    hostile = bait * 12
    a = anthropic_client(gw)

    def ask(result: str) -> None:
        a.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            system=hostile,
            tools=[{"name": "t", "description": hostile, "input_schema": {"type": "object"}}],
            messages=[
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_9", "name": "t", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": result}],
                },
            ],
        )

    ask(hostile)
    sent = anthropic_up.requests[-1].json
    assert sent["system"] == hostile and sent["tools"][0]["description"] == hostile
    assert sent["messages"][2]["content"][0]["content"] == hostile
    before = len(anthropic_up.requests)
    with pytest.raises(anthropic.BadRequestError) as info:
        ask(hostile + SECRET)
    assert "'no-secrets'" in info.value.response.json()["error"]["message"]
    assert len(anthropic_up.requests) == before
    no_canary(info.value.response.text)


def test_every_text_a_chat_call_holds_is_read() -> None:
    # The texts in one Chat Completions body, in order; ids, names, roles and JSON keys are not texts.
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "s1"},
            {"role": "user", "content": [
                {"type": "text", "text": "u1"}, {"type": "image_url", "image_url": {"url": "x"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"k": ["a1"]}'}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "t1"},
        ],
        "tools": [{"type": "function", "function": {
            "name": "f", "description": "d1", "parameters": {"properties": {"k": {"description": "p1"}}},
        }}],
        "functions": [{"name": "old", "description": "d2", "parameters": {"type": "object"}}],
    }  # fmt: skip
    slots, nested = collect(Format.OPENAI, "chat", body)
    assert [c[k] for c, k in slots] == ["s1", "u1", "a1", "t1", "d1", "p1", "d2"]
    assert len(nested) == 1
