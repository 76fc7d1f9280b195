"""Output guardrails at the relay: real provider answers (fetched from the fakes over loopback) fed
through the relays one byte at a time, as the client would read them in each format, same-format and
translated. The SDK-level tests are in test_guardrails_output.py."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gateway.core.formats import Format
from gateway.core.usage import Usage
from gateway.dataplane.exchange import AnswerReplaced, PassthroughRelay, PolicyStop, Relay
from gateway.dataplane.guarded import OutputGuard, Window, _arguments, guard_answer, guarded
from gateway.dataplane.translated import TranslationRelay
from gateway.policy.guardrails import Guardrail, matcher_of
from gateway.policy.guardrails.model import Action
from gateway.providers.registry import TYPES
from gateway.translate import pipeline
from gateway.translate.sse import SSEDecoder
from tests.fakes.upstream import FakeUpstream, Script

SECRET = "AKIA" + "ABCDEFGHIJKLMNOP"  # an AWS key shape: AKIA + 16
TEXT = f"Your key is {SECRET} and mail bob@example.com please."
CALL = {"name": "get_weather", "input": {"city": f"Paris {SECRET}", "units": "celsius"}}


def _rail(name: str, action: Action, patterns: list[str], builtins: tuple[str, ...] = ()) -> Guardrail:
    """A guardrail as the compiler makes one (RE2 patterns, bounded widths)."""
    return Guardrail(name, "output", action, matcher_of(name, patterns, builtins))


AWS = _rail("aws", "redact", [r"AKIA[0-9A-Z]{16}"])
EMAIL = _rail("mail", "redact", [], ("email",))
FLAG = _rail("flagged", "flag", [r"please"])
BLOCK = _rail("aws-block", "block", [r"AKIA[0-9A-Z]{16}"])
ONE_BY_ONE = 10_000  # Script pieces: more than any text here has characters
REDACTED = "Your key is [REDACTED:aws] and mail [REDACTED:email] please."


def _guard(*rails: Guardrail) -> tuple[OutputGuard, list[tuple[str, str]]]:
    hits: list[tuple[str, str]] = []
    return OutputGuard(rails, lambda name, action: hits.append((name, action))), hits


def test_a_window_never_releases_part_of_a_match() -> None:
    guard, hits = _guard(AWS, EMAIL, FLAG)
    window = Window(guard)
    released = [window.push(c) for c in TEXT] + [window.flush()]
    assert "".join(released) == REDACTED
    for piece in released:  # no character of either match went out as it was
        assert "AKIA" not in piece and "@" not in piece
    assert hits == [("aws", "redact"), ("mail", "redact"), ("flagged", "flag")]
    # Held back: never more than the longest match less one character.
    window = Window(guard)
    for c in "x" * 100:
        window.push(c)
        assert len(window.held) <= guard.max_match - 1


PROSE = "Sure! Here is the plan, step by step: first (a) read it; then [b] write it down. Done?"


def test_prose_is_released_up_to_the_last_character_no_match_can_hold() -> None:
    """Only the trailing run of characters some pattern can match is held: an email or a key cannot
    hold a space or punctuation, so a word goes out once the next space arrives."""
    guard, hits = _guard(AWS, EMAIL)
    window = Window(guard)
    released = ""
    for i, c in enumerate(PROSE):
        released += window.push(c)
        so_far = PROSE[: i + 1]
        word = so_far[len(so_far.rstrip(EMAIL_CHARS)) :]  # the email builtin's run, the longer one
        assert window.held == word and released + word == so_far
    assert released + window.flush() == PROSE and hits == []


EMAIL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-@"


@pytest.mark.parametrize("pattern", [r"zq.{1,30}", r"zq[^?]{1,30}"])
def test_a_pattern_of_any_character_holds_the_whole_window(pattern: str) -> None:
    """`.` and negated classes can match a space: the full window is held, as before."""
    guard, _ = _guard(_rail("any", "redact", [pattern]))
    window = Window(guard)
    released = ""
    for i, c in enumerate(PROSE):
        released += window.push(c)
        assert len(window.held) == min(i + 1, guard.max_match - 1)
    assert released + window.flush() == PROSE


def test_a_block_is_seen_as_soon_as_the_match_is_complete() -> None:
    guard, hits = _guard(BLOCK)
    window = Window(guard)
    released = ""
    with pytest.raises(PolicyStop):
        for c in TEXT:
            released += window.push(c)
    assert SECRET[:4] not in released and hits == [("aws-block", "block")]


# -- fetched from the fakes ---------------------------------------------------------------------------


def _fetch(fake: FakeUpstream, path: str, body: dict[str, Any], script: Script) -> bytes:
    fake.push(script)
    headers = {"x-api-key": "k", "authorization": "Bearer k", "anthropic-version": "2023-06-01"}
    answer = httpx.post(fake.base_url + path, json=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.content


MESSAGES = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
CHAT = {"model": "gpt-5.2", "messages": [{"role": "user", "content": "Hi"}]}
RESPONSES = {"model": "gpt-5.2", "input": "Hi"}
TOOLS = {
    Format.ANTHROPIC: [{"name": "get_weather", "input_schema": {"type": "object"}}],
    Format.OPENAI: [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ],
    Format.RESPONSES: [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
}


def _request(fmt: Format, stream: bool, tools: bool) -> dict[str, Any]:
    base = {Format.ANTHROPIC: MESSAGES, Format.OPENAI: CHAT, Format.RESPONSES: RESPONSES}[fmt]
    out: dict[str, Any] = {**base, "stream": stream}
    if tools:
        out["tools"] = TOOLS[fmt]
    return out


PATHS = {Format.ANTHROPIC: "/v1/messages", Format.OPENAI: "/chat/completions", Format.RESPONSES: "/responses"}


def _relay(client: Format, provider: Format, request: dict[str, Any]) -> Relay:
    if client is provider:
        ptype = TYPES["anthropic" if provider is Format.ANTHROPIC else "openai"]
        return PassthroughRelay(ptype, client, "req_1")
    translated = pipeline.build_request(client, provider, request, request["model"])
    return TranslationRelay(client, provider, request["model"], "req_1", translated, False)


def _stream_through(relay: Relay, wire: bytes) -> tuple[bytes, PolicyStop | None]:
    stream = relay.stream()
    out = b""
    try:
        for i in range(len(wire)):
            out += stream.feed(wire[i : i + 1])
        out += stream.close()
    except PolicyStop as exc:
        return out + stream.error_event(exc.kind, exc.message), exc
    return out, None


def _texts(fmt: Format, events: list[dict[str, Any]]) -> tuple[str, str]:
    """The answer's text and tool arguments as the client's SDK assembles them."""
    text, args = "", ""
    for e in events:
        if fmt is Format.ANTHROPIC and e.get("type") == "content_block_delta":
            text += e["delta"].get("text", "")
            args += e["delta"].get("partial_json", "")
        elif fmt is Format.OPENAI:
            for choice in e.get("choices") or []:
                text += choice["delta"].get("content") or ""
                for call in choice["delta"].get("tool_calls") or []:
                    args += call.get("function", {}).get("arguments") or ""
        elif fmt is Format.RESPONSES and e.get("type") == "response.output_text.delta":
            text += e["delta"]
        elif fmt is Format.RESPONSES and e.get("type") == "response.function_call_arguments.delta":
            args += e["delta"]
    return text, args


def _events(wire: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(e.data) for e in SSEDecoder().feed(wire + b"\n\n") if e.data != "[DONE]"]


PAIRS = [
    (Format.ANTHROPIC, Format.ANTHROPIC),
    (Format.OPENAI, Format.OPENAI),
    (Format.RESPONSES, Format.RESPONSES),
    (Format.ANTHROPIC, Format.OPENAI),
    (Format.OPENAI, Format.ANTHROPIC),
    (Format.RESPONSES, Format.ANTHROPIC),
]


def _fake(fmt: Format, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> FakeUpstream:
    return anthropic_up if fmt is Format.ANTHROPIC else openai_up


@pytest.mark.parametrize(("client", "provider"), PAIRS, ids=lambda f: f.value)
def test_a_stream_is_redacted_one_character_at_a_time(
    anthropic_up: FakeUpstream, openai_up: FakeUpstream, client: Format, provider: Format
) -> None:
    request = _request(client, stream=True, tools=True)
    upstream = _request(provider, stream=True, tools=True)
    # One character per chunk, the arguments too: the key is never whole in any one of them.
    script = Script(text=TEXT, tool_calls=[CALL], text_chunks=len(TEXT), argument_chunks=ONE_BY_ONE)
    wire = _fetch(_fake(provider, anthropic_up, openai_up), PATHS[provider], upstream, script)
    hits: list[tuple[str, str]] = []
    relay = guarded(
        _relay(client, provider, request), client, "req_1", (AWS, EMAIL, FLAG), lambda *h: hits.append(h)
    )
    out, stopped = _stream_through(relay, wire)
    assert stopped is None
    assert SECRET.encode() not in out and b"bob@example" not in out
    events = _events(out)
    text, args = _texts(client, events)
    assert text == REDACTED
    assert orjson.loads(args) == {"city": "Paris [REDACTED:aws]", "units": "celsius"}
    assert sorted(set(hits)) == [("aws", "redact"), ("flagged", "flag"), ("mail", "redact")]
    if client is Format.RESPONSES:
        numbers = [e["sequence_number"] for e in events]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        done = next(e for e in events if e["type"] == "response.output_text.done")
        assert done["text"] == REDACTED
        final = next(e for e in events if e["type"] == "response.completed")["response"]
        assert SECRET not in orjson.dumps(final).decode()
    if client is Format.ANTHROPIC:
        assert events[-1]["type"] == "message_stop"


@pytest.mark.parametrize("fmt", [Format.ANTHROPIC, Format.OPENAI, Format.RESPONSES], ids=lambda f: f.value)
def test_a_stream_without_hits_goes_out_byte_exact(
    anthropic_up: FakeUpstream, openai_up: FakeUpstream, fmt: Format
) -> None:
    """Events whose text goes out as it came are relayed as their own bytes, not parsed and encoded
    anew (the text ends in a character no pattern can hold, so nothing is held for the block's end)."""
    request = _request(fmt, stream=True, tools=True)
    call = {"name": "get_weather", "input": {"city": "Paris", "units": "celsius"}}
    script = Script(
        text="Sure: the weather in Paris is mild today!", tool_calls=[call], text_chunks=1, argument_chunks=1
    )
    wire = _fetch(_fake(fmt, anthropic_up, openai_up), PATHS[fmt], request, script)
    wire = wire.replace(b'":', b'": ')  # spaced as no encoder here writes it: an event encoded anew shows
    hits: list[tuple[str, str]] = []
    relay = guarded(_relay(fmt, fmt, request), fmt, "req_1", (AWS, EMAIL, FLAG), lambda *h: hits.append(h))
    stream = relay.stream()
    assert stream.feed(wire) + stream.close() == wire and hits == []


@pytest.mark.parametrize(("client", "provider"), PAIRS, ids=lambda f: f.value)
def test_a_stream_is_blocked_where_the_match_is_seen(
    anthropic_up: FakeUpstream, openai_up: FakeUpstream, client: Format, provider: Format
) -> None:
    request = _request(client, stream=True, tools=False)
    upstream = _request(provider, stream=True, tools=False)
    wire = _fetch(
        _fake(provider, anthropic_up, openai_up),
        PATHS[provider],
        upstream,
        Script(text=TEXT, text_chunks=len(TEXT)),
    )
    hits: list[tuple[str, str]] = []
    relay = guarded(_relay(client, provider, request), client, "req_1", (BLOCK,), lambda *h: hits.append(h))
    out, stopped = _stream_through(relay, wire)
    assert stopped is not None and hits == [("aws-block", "block")]
    assert b"AKIA" not in out
    events = _events(out)
    text, _ = _texts(client, events)
    assert TEXT.startswith(text) and len(text) <= TEXT.index(SECRET)
    last = events[-1]
    if client is Format.ANTHROPIC:
        assert last["type"] == "error" and b"event: error" in out
    elif client is Format.OPENAI:
        assert last["error"]["code"] == "guardrail_blocked"
    else:
        assert [e["type"] for e in events[-2:]] == ["response.failed", "error"]
        assert last["code"] == "guardrail_blocked"
        numbers = [e["sequence_number"] for e in events]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


@pytest.mark.parametrize(("client", "provider"), PAIRS, ids=lambda f: f.value)
def test_a_whole_answer_is_redacted_or_blocked(
    anthropic_up: FakeUpstream, openai_up: FakeUpstream, client: Format, provider: Format
) -> None:
    request = _request(client, stream=False, tools=True)
    upstream = _request(provider, stream=False, tools=True)
    fake = _fake(provider, anthropic_up, openai_up)
    data = _fetch(fake, PATHS[provider], upstream, Script(text=TEXT, tool_calls=[CALL]))
    hits: list[tuple[str, str]] = []
    relay = guarded(
        _relay(client, provider, request), client, "req_1", (AWS, EMAIL), lambda *h: hits.append(h)
    )
    usage = Usage()
    answer = orjson.loads(relay.response(200, data, usage))
    assert usage.output_tokens  # read before the guardrails: a blocked call is still charged
    wire = orjson.dumps(answer).decode()
    assert SECRET not in wire and "bob@example" not in wire and "[REDACTED:aws]" in wire
    if client is Format.ANTHROPIC:
        assert answer["content"][1]["input"] == {"city": "Paris [REDACTED:aws]", "units": "celsius"}
    elif client is Format.OPENAI:
        arguments = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        assert orjson.loads(arguments)["city"] == "Paris [REDACTED:aws]"
    assert set(hits) == {("aws", "redact"), ("mail", "redact")}

    blocking = guarded(_relay(client, provider, request), client, "req_1", (BLOCK,), lambda *h: None)
    with pytest.raises(AnswerReplaced) as caught:
        blocking.response(200, data, Usage())
    assert caught.value.status == 400
    error = orjson.loads(caught.value.body)["error"]
    assert error["code" if client is not Format.ANTHROPIC else "type"] in (
        "guardrail_blocked",
        "invalid_request_error",
    )
    assert SECRET not in caught.value.body.decode() and "aws-block" in caught.value.body.decode()


def test_a_match_across_two_text_blocks_is_not_a_match() -> None:
    """Each block is its own text, as a client reads it: a key cut between two blocks is two strings."""
    guard, hits = _guard(AWS)
    first, second = Window(guard), Window(guard)
    out = "".join(first.push(c) for c in "key AKIAABCDEFGH") + first.flush()
    out += "".join(second.push(c) for c in "IJKLMNOP end") + second.flush()
    assert out == "key AKIAABCDEFGHIJKLMNOP end" and hits == []


def test_no_output_guardrails_is_the_relay_itself() -> None:
    relay = PassthroughRelay(TYPES["anthropic"], Format.ANTHROPIC, "req_1")
    assert guarded(relay, Format.ANTHROPIC, "req_1", (), lambda *h: None) is relay


def test_overlapping_matches_of_two_guardrails_are_redacted_as_one() -> None:
    """An email whose local part is a key: neither match's tail may go out."""
    guard, _ = _guard(EMAIL, _rail("aws", "redact", [r"AKIA[0-9A-Z]{16}[a-z.@]{0,30}"]))
    text = f"x bob{SECRET}@example.com..zz y"  # the key's match runs on past the email's end
    window = Window(guard)
    out = "".join(window.push(c) for c in text) + window.flush()
    assert out == "x [REDACTED:email] y" and SECRET[4:] not in out
    assert SECRET[4:] not in guard.text(text)  # whole: in order, the second sees the first's redaction


def test_whole_tool_arguments_stay_valid_json_numbers_and_keys_included() -> None:
    guard, _ = _guard(_rail("card", "redact", [], ("credit_card",)), AWS)
    call = {"id": "toolu_1", "card": 4111111111111111, SECRET: [f"x {SECRET}", 3], "n": 12}
    out = guard_answer(guard, Format.ANTHROPIC, answer := {"content": [{"type": "tool_use", "input": call}]})
    assert out and answer["content"][0]["input"] == {
        "id": "toolu_1",
        "card": "[REDACTED:credit_card]",
        "[REDACTED:aws]": ["x [REDACTED:aws]", 3],
        "n": 12,
    }
    raw = orjson.dumps(call).decode()
    assert orjson.loads(_arguments(guard, raw))["card"] == "[REDACTED:credit_card]"
    assert _arguments(guard, '{"a": 1}') == '{"a": 1}'  # nothing matched: the client's bytes as they were


def test_streamed_arguments_stay_valid_json_when_a_number_is_redacted() -> None:
    guard, _ = _guard(_rail("card", "redact", [], ("credit_card",)), AWS)
    raw = orjson.dumps(
        {"card": 4111111111111111, "say": f'a \\" {SECRET}', "n": [1, 4111111111111111]}
    ).decode()
    window = guard.window(json=True)
    out = "".join(window.push(c) for c in raw) + window.flush()
    assert orjson.loads(out) == {
        "card": "[REDACTED:credit_card]",
        "say": 'a \\" [REDACTED:aws]',
        "n": [1, "[REDACTED:credit_card]"],
    }
    text = guard.window()  # plain text: the redaction as it is
    assert "".join(text.push(c) for c in "n=4111111111111111") + text.flush() == "n=[REDACTED:credit_card]"
