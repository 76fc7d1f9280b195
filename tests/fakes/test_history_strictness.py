"""The fakes refuse what the real APIs refuse in a history another provider helped write: the rules a
conversation that changes provider breaks first (tool ids, tool call pairing, signatures)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.anthropic_wire import thinking_signature
from tests.fakes.test_bedrock_fake import signed_post
from tests.fakes.upstream import FakeUpstream

ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
LLAMA = "meta.llama3-3-70b-instruct-v1:0"


def anthropic_post(fake: FakeUpstream, messages: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 2048, "messages": messages, **extra}
    return httpx.post(f"{fake.url}/v1/messages", json=body, headers=ANTHROPIC_HEADERS)


def tool_loop(tool_id: str, result_id: str | None = None, first: dict[str, Any] | None = None) -> list[Any]:
    call = {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {"city": "Paris"}}
    result = {"type": "tool_result", "tool_use_id": result_id or tool_id, "content": "18C"}
    return [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [first, call] if first else [call]},
        {"role": "user", "content": [result]},
    ]


def test_anthropic_takes_a_well_formed_tool_loop(anthropic_up: FakeUpstream) -> None:
    assert anthropic_post(anthropic_up, tool_loop("toolu_01A-b_c")).status_code == 200
    signed = {"type": "thinking", "thinking": "go", "signature": thinking_signature("go")}
    budget = {"type": "enabled", "budget_tokens": 1024}
    assert (
        anthropic_post(anthropic_up, tool_loop("toolu_1", first=signed), thinking=budget).status_code == 200
    )
    # A final assistant message may hold a call without its result (a prefill).
    assert anthropic_post(anthropic_up, tool_loop("toolu_1")[:2]).status_code == 200


@pytest.mark.parametrize(
    ("messages", "extra", "message"),
    [
        (tool_loop("functions.Bash:0"), {}, "String should match pattern"),
        (tool_loop("toolu_1", "toolu_2"), {}, "unexpected `tool_use_id`"),
        (
            [*tool_loop("toolu_1")[:2], {"role": "user", "content": "and?"}],
            {},
            "without `tool_result` blocks",
        ),
        (
            tool_loop("toolu_1", first={"type": "thinking", "thinking": "go", "signature": "forged"}),
            {},
            "Invalid `signature` in `thinking` block",
        ),
        (
            tool_loop("toolu_1", first={"type": "thinking", "thinking": "go", "signature": ""}),
            {},
            "Invalid `signature` in `thinking` block",
        ),
        (
            tool_loop("toolu_1"),
            {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            "must start with a thinking block",
        ),
    ],
    ids=[
        "tool-id-pattern",
        "unknown-result",
        "missing-result",
        "forged-signature",
        "empty-signature",
        "no-thinking",
    ],
)
def test_anthropic_refuses_what_anthropic_refuses(
    anthropic_up: FakeUpstream, messages: list[Any], extra: dict[str, Any], message: str
) -> None:
    response = anthropic_post(anthropic_up, messages, **extra)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and message in error["message"]


@pytest.mark.parametrize("tool_id", ["tooluse.a:1", "t" * 65])
def test_converse_refuses_tool_ids_outside_its_pattern(bedrock_up: FakeUpstream, tool_id: str) -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"text": "Weather?"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": tool_id, "name": "w", "input": {}}}]},
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": tool_id, "content": [{"text": "18C"}]}}],
            },
        ],
        "toolConfig": {"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": {"type": "object"}}}}]},
    }
    refused = signed_post(bedrock_up, f"/model/{LLAMA}/converse", body)
    assert refused.status_code == 400 and "toolUseId" in refused.json()["message"]
    for message in body["messages"][1:]:
        block = message["content"][0]
        (block.get("toolUse") or block["toolResult"])["toolUseId"] = "tooluse_a-1"
    assert signed_post(bedrock_up, f"/model/{LLAMA}/converse", body).status_code == 200
