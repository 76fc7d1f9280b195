"""Output guardrails through the official SDKs (config.md "Defaults and precedence"): the answer's text
and tool-call arguments, whole and streamed one character per chunk, in each client format, from a
same-format upstream (byte-exact path) and a translated one. Redact rewrites what the client reads;
block is the client's 400 (whole) or its error event (stream), the upstream call still charged; every
hit is in the record, never the matched text."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

SECRET = "AKIA" + "QWERTYUIOPASDFGH"  # an AWS access key's shape
TEXT = f"Use {SECRET} or write to ops@example.com today."
REDACTED = "Use [REDACTED:aws-out] or write to [REDACTED:email] today."
ONE_BY_ONE = 10_000  # Script pieces: more than any text here has characters
CALL = {"name": "lookup", "input": {"key": SECRET, "note": "x"}}
GUARDRAILS = """
guardrails:
  aws-out: { on: output, check: { regex: ['AKIA[0-9A-Z]{16}'] }, action: redact }
  pii-out: { on: both, check: { builtin: [email] }, action: redact }
  tickets: { on: output, check: { regex: ['today'] }, action: flag }
  stop-aws: { on: output, check: { regex: ['AKIA[0-9A-Z]{16}'] }, action: block }
"""
GATEWAYS = """
gateways:
  default: { auth: none, provider_keys: [stored, request], guardrails: [aws-out, pii-out, tickets] }
  strict: { auth: none, provider_keys: [stored, request], guardrails: [stop-aws] }
  regex: { auth: none, provider_keys: [stored, request], guardrails: [aws-out, tickets] }
"""
# (client format, model): the fake behind it is the same format (byte-exact) or another (translated).
CASES = [
    ("anthropic", "claude-sonnet-4-6"),
    ("anthropic", "gpt-5.2"),
    ("openai", "gpt-5.2"),
    ("openai", "claude-sonnet-4-6"),
    ("responses", "gpt-5.2"),
    ("responses", "claude-sonnet-4-6"),
]
IDS = [f"{c}-{'same' if (c == 'anthropic') == m.startswith('claude') else 'translated'}" for c, m in CASES]


@pytest.fixture
def gw(make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> GatewayServer:
    return make_gateway(standard_config(anthropic_up, openai_up, GUARDRAILS, gateway=GATEWAYS))


def _push(anthropic_up: FakeUpstream, openai_up: FakeUpstream, model: str, script: Script) -> None:
    (anthropic_up if model.startswith("claude") else openai_up).push(script)


TOOLS = {
    "anthropic": [{"name": "lookup", "input_schema": {"type": "object"}}],
    "openai": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    "responses": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
}


def _ask(gw: GatewayServer, client: str, model: str, stream: bool, prefix: str = "") -> tuple[str, str]:
    """(text, tool arguments as JSON) as the client's SDK assembles them."""
    tools: Any = TOOLS[client]
    if client == "anthropic":
        sdk = anthropic_client(gw, prefix)
        args = {
            "model": model,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": tools,
        }
        if stream:
            with sdk.messages.stream(**args) as events:
                message = events.get_final_message()
        else:
            message = sdk.messages.create(**args)
        text = "".join(b.text for b in message.content if b.type == "text")
        calls = [b.input for b in message.content if b.type == "tool_use"]
        return text, json.dumps(calls[0]) if calls else ""
    sdk_openai = openai_client(gw, prefix + "/v1")
    if client == "openai":
        chat: Any = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "tools": tools}
        if stream:
            text, arguments = "", ""
            for chunk in sdk_openai.chat.completions.create(**chat, stream=True):
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    for call in choice.delta.tool_calls or []:
                        arguments += (call.function.arguments or "") if call.function else ""
            return text, arguments
        answer = sdk_openai.chat.completions.create(**chat)
        message_c = answer.choices[0].message
        return message_c.content or "", message_c.tool_calls[
            0
        ].function.arguments if message_c.tool_calls else ""  # type: ignore[union-attr]
    request: Any = {"model": model, "input": "Hi", "tools": tools, "store": False}
    if stream:
        with sdk_openai.responses.stream(**request) as events:
            for _ in events:
                pass
            response = events.get_final_response()
    else:
        response = sdk_openai.responses.create(**request)
    calls_r = [i for i in response.output if i.type == "function_call"]
    return response.output_text, calls_r[0].arguments if calls_r else ""


@pytest.mark.parametrize(("client", "model"), CASES, ids=IDS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_answer_is_redacted(
    gw: GatewayServer,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    client: str,
    model: str,
    stream: bool,
) -> None:
    # A stream of one character per chunk: the key is never whole in any one of them.
    script = Script(text=TEXT, tool_calls=[CALL], text_chunks=len(TEXT), argument_chunks=ONE_BY_ONE)
    _push(anthropic_up, openai_up, model, script)
    text, arguments = _ask(gw, client, model, stream)
    assert text == REDACTED
    assert json.loads(arguments) == {"key": "[REDACTED:aws-out]", "note": "x"}
    record = gw.records(wait_for=1)[-1]
    assert record["status"] == 200
    assert {(h["name"], h["on"], h["action"]) for h in record["guardrails"]} == {
        ("aws-out", "output", "redact"),
        ("pii-out", "output", "redact"),
        ("tickets", "output", "flag"),
    }
    assert SECRET not in json.dumps(record)


@pytest.mark.parametrize(("client", "model"), CASES, ids=IDS)
def test_a_whole_answer_is_blocked_and_still_charged(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, client: str, model: str
) -> None:
    _push(anthropic_up, openai_up, model, Script(text=TEXT, usage={"input_tokens": 11, "output_tokens": 7}))
    error: type[Exception] = anthropic.BadRequestError if client == "anthropic" else openai.BadRequestError
    with pytest.raises(error) as caught:
        _ask(gw, client, model, stream=False, prefix="/g/strict")
    body = str(caught.value.body)
    assert "stop-aws" in body and SECRET not in body
    # OpenAI's envelope has a code; Anthropic's names the error type only.
    assert ("guardrail_blocked" if client != "anthropic" else "invalid_request_error") in body
    record = gw.records(wait_for=1)[-1]
    assert record["status"] == 400 and record["output_tokens"]  # the upstream answered: it is charged
    assert record["guardrails"] == [{"name": "stop-aws", "on": "output", "action": "block"}]


def _stream_until_error(gw: GatewayServer, client: str, model: str, tools: bool, seen: list[str]) -> None:
    """Read a stream through /g/strict with the SDK's stream helpers until the SDK raises its error;
    `seen` gets [text, arguments] as they came before it."""
    seen[:] = ["", ""]
    tool_args: Any = {"tools": TOOLS[client]} if tools else {}
    if client == "anthropic":
        args: Any = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
        with anthropic_client(gw, "/g/strict").messages.stream(**args, **tool_args) as events:
            for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    seen[0] += event.delta.text
                elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    seen[1] += event.delta.partial_json
    elif client == "openai":
        chat: Any = {"model": model, "messages": [{"role": "user", "content": "Hi"}], **tool_args}
        with openai_client(gw, "/g/strict/v1").chat.completions.stream(**chat) as chunks:
            for chunk in chunks:
                if chunk.type == "content.delta":
                    seen[0] += chunk.delta
                elif chunk.type == "tool_calls.function.arguments.delta":
                    seen[1] += chunk.arguments_delta
    else:
        request: Any = {"model": model, "input": "Hi", "store": False, **tool_args}
        with openai_client(gw, "/g/strict/v1").responses.stream(**request) as events:
            for event in events:
                if event.type == "response.output_text.delta":
                    seen[0] += event.delta
                elif event.type == "response.function_call_arguments.delta":
                    seen[1] += event.delta
                elif event.type == "error":
                    raise openai.APIError(event.message, None, body=event.model_dump())  # type: ignore[arg-type]


@pytest.mark.parametrize(("client", "model"), CASES, ids=IDS)
@pytest.mark.parametrize("where", ["text", "arguments"])
def test_a_stream_is_ended_with_the_clients_error_event(
    gw: GatewayServer,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    client: str,
    model: str,
    where: str,
) -> None:
    # One character per chunk: the key is never whole in any one chunk.
    if where == "text":
        script = Script(text=TEXT, text_chunks=len(TEXT))
    else:
        script = Script(text="Looking it up.", tool_calls=[CALL], argument_chunks=ONE_BY_ONE)
    _push(anthropic_up, openai_up, model, script)
    seen: list[str] = []
    with pytest.raises((anthropic.APIError, openai.APIError)) as caught:
        _stream_until_error(gw, client, model, where == "arguments", seen)
    assert "stop-aws" in str(caught.value) and SECRET not in str(caught.value)
    text, arguments = seen
    if where == "text":  # what came before the key, none of it
        assert TEXT.startswith(text) and "AKIA" not in text and len(text) <= TEXT.index(SECRET)
    else:
        assert text == "Looking it up." and "AKIA" not in arguments
        assert "AKIA" not in arguments and len(arguments) <= len('{"key": "')  # held: 19 characters
    record = gw.records(wait_for=1)[-1]
    assert record["status"] == 400
    assert record["guardrails"] == [{"name": "stop-aws", "on": "output", "action": "block"}]
    assert SECRET not in json.dumps(record)


@pytest.mark.parametrize(("client", "model"), CASES, ids=IDS)
def test_what_a_blocked_stream_sent_holds_nothing_of_the_match(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, client: str, model: str
) -> None:
    """The raw stream up to its error event: the text before the key, none of the key."""
    _push(anthropic_up, openai_up, model, Script(text=TEXT, text_chunks=len(TEXT)))
    path, body = _raw_request(client, model)
    answer = httpx.post(gw.url + "/g/strict" + path, json=body, headers=RAW_HEADERS, timeout=10)
    assert answer.status_code == 200  # the stream had started: its end is the error event
    # Anthropic's error envelope has no code: its type and the message naming the guardrail.
    assert (b"stop-aws" if client == "anthropic" else b"guardrail_blocked") in answer.content
    text = _sse_text(answer.content)  # one character per event: read as the client joins them
    assert TEXT.startswith(text) and "AKIA" not in text
    if client == "anthropic":
        assert answer.content.rstrip().split(b"\n\n")[-1].startswith(b"event: error")
    elif client == "openai":
        assert b"[DONE]" not in answer.content
    else:
        assert b"response.failed" in answer.content and b"response.completed" not in answer.content


def _sse_text(wire: bytes) -> str:
    text = ""
    for line in wire.splitlines():
        if not line.startswith(b"data: {"):
            continue
        event = json.loads(line[6:])
        if event.get("type") == "content_block_delta":
            text += event["delta"].get("text", "")
        elif event.get("type") == "response.output_text.delta":
            text += event["delta"]
        for choice in event.get("choices") or []:
            text += choice["delta"].get("content") or ""
    return text


RAW_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01", "authorization": "Bearer k"}


def _raw_request(client: str, model: str) -> tuple[str, dict[str, Any]]:
    messages = [{"role": "user", "content": "Hi"}]
    if client == "anthropic":
        return "/v1/messages", {"model": model, "max_tokens": 64, "messages": messages, "stream": True}
    if client == "openai":
        return "/v1/chat/completions", {"model": model, "messages": messages, "stream": True}
    return "/v1/responses", {"model": model, "input": "Hi", "store": False, "stream": True}


LONG = "lorem ipsum dolor sit amet, " * 14  # 392 characters, nothing any guardrail matches


@pytest.mark.parametrize(("client", "model"), CASES, ids=IDS)
def test_a_guarded_stream_still_streams(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, client: str, model: str
) -> None:
    """Output guardrails hold back only the longest match less one (19 characters here), never the
    answer: the upstream stalls after about 120 of its one-character pieces, and the client has read
    most of them by then. (Buffered, nothing would come until the stall's end, after the SDK's timeout.)"""
    _push(
        anthropic_up,
        openai_up,
        model,
        Script(text=LONG, text_chunks=len(LONG), stall_after=120, stall_seconds=60),
    )
    seen = ""
    if client == "anthropic":
        args: Any = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
        with anthropic_client(gw, "/g/regex", timeout=10).messages.stream(**args) as events:
            for piece in events.text_stream:
                seen += piece
                if len(seen) >= 60:
                    break
    elif client == "openai":
        chat: Any = {"model": model, "messages": [{"role": "user", "content": "Hi"}]}
        with openai_client(gw, "/g/regex/v1", timeout=10).chat.completions.stream(**chat) as chunks:
            for chunk in chunks:
                seen += chunk.delta if chunk.type == "content.delta" else ""
                if len(seen) >= 60:
                    break
    else:
        request: Any = {"model": model, "input": "Hi", "store": False}
        with openai_client(gw, "/g/regex/v1", timeout=10).responses.stream(**request) as events:
            for event in events:
                seen += event.delta if event.type == "response.output_text.delta" else ""
                if len(seen) >= 60:
                    break
    assert LONG.startswith(seen) and len(seen) >= 60


def test_input_only_guardrails_leave_the_answer_alone(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    """A gateway whose guardrails look at input only relays the answer as it came (byte-exact path)."""
    extra = "guardrails:\n  mail-in: { on: input, check: { builtin: [email] }, action: redact }\n"
    gateways = (
        "gateways:\n  default: { auth: none, provider_keys: [stored, request], guardrails: [mail-in] }\n"
    )
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra, gateway=gateways))
    anthropic_up.push(Script(text=TEXT, text_chunks=len(TEXT)))
    text, _ = _ask(gw, "anthropic", "claude-sonnet-4-6", stream=True)
    assert text == TEXT


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_custom_tools_input_is_redacted(gw: GatewayServer, openai_up: FakeUpstream, stream: bool) -> None:
    """A Responses custom tool's input is free text the client runs: output like any other."""
    call = {"name": "shell", "input": f"export KEY={SECRET}"}
    openai_up.push(Script(text="Running.", tool_calls=[call], argument_chunks=ONE_BY_ONE))
    request: Any = {
        "model": "gpt-5.2",
        "input": "Hi",
        "tools": [{"type": "custom", "name": "shell"}],
        "store": False,
    }
    if stream:
        deltas = ""
        with openai_client(gw).responses.stream(**request) as events:
            for event in events:
                if event.type == "response.custom_tool_call_input.delta":
                    deltas += event.delta
            response = events.get_final_response()
        assert deltas == "export KEY=[REDACTED:aws-out]"
    else:
        response = openai_client(gw).responses.create(**request)
    (tool,) = [item for item in response.output if item.type == "custom_tool_call"]
    assert tool.input == "export KEY=[REDACTED:aws-out]"  # type: ignore[union-attr]


def test_a_stored_response_read_again_is_redacted(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    """The upstream keeps what its model wrote; reading it back by id is output too."""
    openai_up.push(Script(text=TEXT))
    sdk = openai_client(gw)
    created = sdk.responses.create(model="gpt-5.2", input="Hi")  # stored upstream
    assert created.output_text == REDACTED
    again = sdk.responses.retrieve(created.id)
    assert again.output_text == REDACTED
    record = gw.records(wait_for=2)[-1]
    assert {h["name"] for h in record["guardrails"]} == {"aws-out", "pii-out", "tickets"}


def test_blocked_streams_are_no_mark_against_the_target(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    """The gateway ended those streams, not the upstream: the target's circuit breaker stays closed
    (five broken streams in a row would open it)."""
    path, body = _raw_request("anthropic", "claude-sonnet-4-6")
    for _ in range(6):
        anthropic_up.push(Script(text=TEXT, text_chunks=4))
        answer = httpx.post(gw.url + "/g/strict" + path, json=body, headers=RAW_HEADERS, timeout=10)
        assert b"stop-aws" in answer.content
    circuits = httpx.get(gw.url + "/readyz").json()["circuits"]
    assert circuits and all(c["state"] == "closed" for c in circuits), circuits


def test_a_guardrail_on_both_sides_records_a_hit_on_each(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    anthropic_up.push(Script(text="Reply to ops@example.com.", text_chunks=25))
    with anthropic_client(gw).messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=64,
        messages=[{"role": "user", "content": "Mail me at me@example.org"}],
    ) as events:
        text = "".join(events.text_stream)
    assert text == "Reply to [REDACTED:email]."
    assert b"me@example.org" not in anthropic_up.requests[-1].body  # the input side's work
    hits = gw.records(wait_for=1)[-1]["guardrails"]
    assert {"name": "pii-out", "on": "input", "action": "redact"} in hits
    assert {"name": "pii-out", "on": "output", "action": "redact"} in hits
