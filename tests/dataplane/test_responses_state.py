"""Conversation state for Responses clients on translated targets: the gateway keeps the responses it
answered (`store` not false) in the state store for `server.responses_ttl`, continues them on
`previous_response_id` (any worker or replica sharing the store), answers the id endpoints for them, and
forgets them when they expire or are deleted. Clients are the openai SDK; the upstream is the Anthropic
fake (and the OpenAI one for a continuation that changes provider)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess

MODEL = "claude-haiku-4-5"


def config(anthropic_up: FakeUpstream, openai_up: FakeUpstream, store: str, ttl: str = "1h") -> str:
    return standard_config(
        anthropic_up, openai_up, f"state: {{ store: '{store}' }}\nserver: {{ responses_ttl: {ttl} }}\n"
    )


def texts(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_two_gateway_processes_share_kept_responses(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    store: str,
) -> None:
    url = request.getfixturevalue("redis_url") if store == "redis" else f"sqlite:///{tmp_path}/state.db"
    (tmp_path / "gateway.yaml").write_text(textwrap.dedent(config(anthropic_up, openai_up, url)))
    with GatewayProcess(tmp_path) as one, GatewayProcess(tmp_path) as two:
        first_client, second_client = openai_client(one.url), openai_client(two.url)
        anthropic_up.push(Script(text="Noted: seven."))
        first = first_client.responses.create(model=MODEL, input="Remember the number 7.")
        assert first.id.startswith("resp_gw") and first.output_text == "Noted: seven."
        # The next turn, on the other process, names only the id: the history comes from the store.
        anthropic_up.push(Script(text="It was 7."))
        with second_client.responses.stream(
            model=MODEL, input="Which number?", previous_response_id=first.id
        ) as stream:
            second = stream.get_final_response()
        sent = anthropic_up.requests[-1].json["messages"]
        assert [(m["role"], texts(m)) for m in sent] == [
            ("user", "Remember the number 7."),
            ("assistant", "Noted: seven."),
            ("user", "Which number?"),
        ]
        assert second.id.startswith("resp_gw") and second.output_text == "It was 7."
        # Either process answers the id endpoints from the shared store.
        assert second_client.responses.retrieve(first.id).output_text == "Noted: seven."
        assert first_client.responses.retrieve(second.id).output_text == "It was 7."
        items = first_client.responses.input_items.list(second.id, order="asc")
        assert [getattr(i, "role", None) for i in items.data] == ["user", "assistant", "user"]
        with pytest.raises(openai.BadRequestError):  # not a background response: nothing to cancel
            second_client.responses.cancel(first.id)
        deleted = first_client.responses.with_raw_response.delete(first.id)
        assert deleted.http_response.json() == {"id": first.id, "object": "response.deleted", "deleted": True}
        with pytest.raises(openai.NotFoundError):
            second_client.responses.retrieve(first.id)
        calls = len(anthropic_up.requests)
        with pytest.raises(openai.NotFoundError) as info:
            second_client.responses.create(model=MODEL, input="again?", previous_response_id=first.id)
        assert info.value.body == {
            "message": f"Previous response with id '{first.id}' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
        assert len(anthropic_up.requests) == calls  # refused before any upstream call
        # Records name the response each create made (the access log is written in batches).
        deadline = time.monotonic() + 5
        while True:
            made = {
                r.get("response_id") for r in one.records() + two.records() if r["path"] == "/v1/responses"
            }
            if {first.id, second.id} <= made or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert {first.id, second.id} <= made


def test_kept_responses_expire_after_responses_ttl(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(config(anthropic_up, openai_up, "memory", ttl="1s"))
    client = openai_client(gw)
    anthropic_up.push(Script(text="short-lived"))
    kept = client.responses.create(model=MODEL, input="hi")
    assert client.responses.retrieve(kept.id).output_text == "short-lived"
    time.sleep(1.3)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(kept.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model=MODEL, input="and now?", previous_response_id=kept.id)
    assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert len(anthropic_up.requests) == 1


def test_store_false_keeps_nothing_and_unknown_ids_are_404(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(config(anthropic_up, openai_up, "memory"))
    client = openai_client(gw)
    anthropic_up.push(Script(text="not kept"))
    loose = client.responses.create(model=MODEL, input="hi", store=False)
    assert loose.id.startswith("resp_gw")
    for call in (
        lambda: client.responses.retrieve(loose.id),
        lambda: client.responses.input_items.list(loose.id),
        lambda: client.responses.delete(loose.id),
        lambda: client.responses.cancel(loose.id),
        lambda: client.responses.create(model=MODEL, input="x", previous_response_id=loose.id),
        lambda: client.responses.retrieve("resp_gw0123"),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert len(anthropic_up.requests) == 1


def test_a_gateway_id_continues_on_another_provider_with_its_history_in_input(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(config(anthropic_up, openai_up, "memory"))
    client = openai_client(gw)
    anthropic_up.push(Script(text="Blue, noted."))
    first = client.responses.create(model=MODEL, input="My colour is blue.")
    openai_up.push(Script(text="Blue."))
    second = client.responses.create(model="gpt-5", input="My colour?", previous_response_id=first.id)
    assert second.output_text == "Blue."
    # OpenAI does not know the gateway's id: the gateway sends the history itself, without the id.
    sent = openai_up.requests[-1].json
    assert "previous_response_id" not in sent
    assert [item.get("role") for item in sent["input"]] == ["user", "assistant", "user"]
    assert sent["input"][1]["content"][0]["text"] == "Blue, noted."
    # That answer is OpenAI's, relayed: its id is OpenAI's, and OpenAI keeps it.
    assert not second.id.startswith("resp_gw")
    assert client.responses.retrieve(second.id).output_text == "Blue."


def test_input_tokens_for_a_translated_target_is_an_estimate(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(config(anthropic_up, openai_up, "memory"))
    resp = httpx.post(
        gw.url + "/v1/responses/input_tokens",
        json={"model": MODEL, "input": "x" * 300, "instructions": "be brief"},
    )
    assert resp.status_code == 200 and resp.headers["x-gateway-token-count"] == "estimate"
    assert resp.json() == {"object": "response.input_tokens", "input_tokens": 100 + 3 + 5}
    assert anthropic_up.requests == []


def test_another_providers_reasoning_is_not_sent_to_a_responses_server(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(config(anthropic_up, openai_up, "memory"))
    client = openai_client(gw)
    anthropic_up.push(Script(text="Blue, noted.", thinking="The user likes blue."))
    first = client.responses.create(
        model=MODEL,
        input="My colour is blue.",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    carried = [item for item in first.output if item.type == "reasoning"]
    assert carried and (carried[0].encrypted_content or "").startswith("gwr1:")
    # Continued on OpenAI (the strict fake refuses reasoning it did not mint): the carrier stays behind.
    openai_up.push(Script(text="Blue."))
    second = client.responses.create(model="gpt-5", input="My colour?", previous_response_id=first.id)
    assert second.output_text == "Blue."
    sent = openai_up.requests[-1].json["input"]
    assert [item.get("type", "message") for item in sent] == ["message", "message", "message"]
    # Back on Anthropic, the same history keeps its signed thinking.
    anthropic_up.push(Script(text="Still blue."))
    client.responses.create(model=MODEL, input="Sure?", previous_response_id=first.id)
    assistant = anthropic_up.requests[-1].json["messages"][1]
    assert assistant["role"] == "assistant" and assistant["content"][0]["type"] == "thinking"
