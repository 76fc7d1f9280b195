"""Can this target take this call: file ids in messages and server tools, checked before any upstream
call (dataplane/capability.py, providers/server_tools.py), through the official SDKs against the fakes.
A target that cannot take the call is skipped (a fallback goes on, the record says why); none left: a
400 in the client's envelope naming the reason and the target, and the fake never called."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from gateway.core.formats import Format
from gateway.dataplane.capability import file_refs
from gateway.dataplane.responses import Owner
from gateway.providers.server_tools import Reach, ServerTool, Support, declared, support, supported
from tests.conftest import STORED_KEY, GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

FILES_BETA = "files-api-2025-04-14"
FILE_ID = "file_011CNha8iCJcU1wXNR6q4V8w"
ROUTES = """
routes:
  docs:
    fallback: [openai/gpt-5.2, google/gemini-2.5-flash, anthropic/claude-sonnet-4-6]
  searching:
    fallback: [google/gemini-2.5-flash, anthropic/claude-sonnet-4-6]
  pinned:
    fallback: [anthropic-eu/claude-sonnet-4-6, anthropic/claude-sonnet-4-6]
  pinned-eu:
    fallback: [anthropic/claude-sonnet-4-6, anthropic-eu/claude-sonnet-4-6]
"""
SECOND_KEY = "sk-second-anthropic-key"
DOCUMENT = {
    "role": "user",
    "content": [
        {"type": "document", "source": {"type": "file", "file_id": FILE_ID}},
        {"type": "text", "text": "Summarize this document."},
    ],
}


@pytest.fixture
def gw(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    responses_up: FakeUpstream,
) -> GatewayServer:
    config = standard_config(anthropic_up, openai_up, extra=ROUTES).replace(
        "providers:\n",
        f"""providers:
  google: {{ type: gemini, base_url: "{gemini_up.base_url}" }}
  openai-rx: {{ type: openai, base_url: "{responses_up.base_url}" }}
  anthropic-eu: {{ type: anthropic, base_url: "{anthropic_up.base_url}" }}
""",
    )
    config = config.replace(
        "keys:\n",
        f"""keys:
  google-main: {{ provider: google, secret: "gemini-stored-key" }}
  openai-rx-main: {{ provider: openai-rx, secret: "rx-stored-key" }}
  anthropic-second: {{ provider: anthropic, secret: "{SECOND_KEY}" }}
  anthropic-eu-main: {{ provider: anthropic-eu, secret: "eu-stored-key" }}
""",
    ).replace("models:\n", "models:\n  gemini-*: google/*\n  rx-gpt: openai-rx/gpt-5.2\n")
    return make_gateway(config)


@pytest.fixture
def sent() -> list[bytes]:
    """The request bodies the SDK sent, as bytes, in order."""
    return []


def keep_bodies(sent: list[bytes]) -> httpx2.Client:
    """An HTTP client for the Anthropic SDK (which runs on httpx2) that keeps each body it sends."""
    return httpx2.Client(event_hooks={"request": [lambda request: sent.append(request.read())]})


def model_calls(up: FakeUpstream) -> list[Any]:
    return [r for r in up.requests if r.method == "POST"]


def last_record(gw: GatewayServer, count: int) -> dict[str, Any]:
    return gw.records(count)[count - 1]


# -- item 2: a file id in a message ------------------------------------------------------------------


def test_an_anthropic_file_id_reaches_anthropic_byte_exact_with_the_files_beta(
    gw: GatewayServer, anthropic_up: FakeUpstream, sent: list[bytes]
) -> None:
    client = anthropic_client(gw, http_client=keep_bodies(sent))
    answer = client.beta.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[DOCUMENT], betas=[FILES_BETA]
    )
    assert answer.content[0].type == "text"
    [call] = model_calls(anthropic_up)
    assert call.body == sent[-1]  # the client's very bytes: a file id cannot be rewritten
    assert FILES_BETA in call.headers["anthropic-beta"]
    rec = last_record(gw, 1)
    assert rec["status"] == 200 and [a["target"] for a in rec["attempts"]] == ["anthropic/claude-sonnet-4-6"]


def test_the_fake_refuses_a_file_source_without_the_files_beta(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    # The fake is as strict as the API: the beta header is what makes `file` a source type.
    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(gw).messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[DOCUMENT])  # type: ignore[list-item]
    assert "Input tag 'file'" in info.value.message
    assert len(model_calls(anthropic_up)) == 1


@pytest.mark.parametrize(
    ("model", "target"), [("gemini-2.5-flash", "google/gemini-2.5-flash"), ("gpt-5.2", "openai/gpt-5.2")]
)
def test_an_anthropic_file_id_routed_elsewhere_is_a_400_before_any_upstream_call(
    gw: GatewayServer,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    model: str,
    target: str,
) -> None:
    client = anthropic_client(gw)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.messages.create(model=model, max_tokens=64, messages=[DOCUMENT], betas=[FILES_BETA])  # type: ignore[list-item]
    message = info.value.message
    assert FILE_ID in message and target in message and "Anthropic Files API" in message
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert info.value.response.headers["x-gateway-model"] == target
    assert not model_calls(anthropic_up) and not model_calls(openai_up) and not model_calls(gemini_up)
    rec = last_record(gw, 1)
    assert rec["status"] == 400 and rec["provider"] == target.split("/")[0] and FILE_ID in rec["error"]
    assert [(a["target"], a["status"], a["skipped"]) for a in rec["attempts"]] == [(target, 400, True)]


def test_a_fallback_chain_skips_the_targets_that_cannot_take_a_file_id(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> None:
    client = anthropic_client(gw)
    raw = client.beta.messages.with_raw_response.create(
        model="dynamic/docs", max_tokens=64, messages=[DOCUMENT], betas=[FILES_BETA]
    )
    assert raw.headers["x-gateway-model"] == "anthropic/claude-sonnet-4-6"
    assert raw.headers["x-gateway-attempts"] == "1"  # the skipped targets were never tried
    assert raw.parse().content[0].type == "text"
    assert not model_calls(openai_up) and not model_calls(gemini_up)
    assert model_calls(anthropic_up)[0].json["messages"][0]["content"][0]["source"]["file_id"] == FILE_ID
    rec = last_record(gw, 1)
    assert [(a["target"], a["status"], a.get("skipped", False)) for a in rec["attempts"]] == [
        ("openai/gpt-5.2", 400, True),
        ("google/gemini-2.5-flash", 400, True),
        ("anthropic/claude-sonnet-4-6", 200, False),
    ]
    assert FILE_ID in rec["attempts"][0]["error"] and rec["status"] == 200


def remember_owner(gw: GatewayServer, file_id: str, provider: str, key: str) -> None:
    """What the gateway keeps when a file is uploaded through it: the provider and key that own it."""
    remember = gw.app.data.files.remember(gw.live.table, file_id, Owner(provider, key, ""))
    asyncio.run_coroutine_threadsafe(remember, gw._server_loop()).result(5)


def test_a_file_id_the_gateway_saw_created_pins_to_its_provider_and_key(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    remember_owner(gw, FILE_ID, "anthropic", "key:anthropic-main")
    client = anthropic_client(gw)
    raw = client.beta.messages.with_raw_response.create(
        model="dynamic/pinned", max_tokens=64, messages=[DOCUMENT], betas=[FILES_BETA]
    )
    # anthropic-eu is an Anthropic provider too, but not the one that holds the file.
    assert raw.headers["x-gateway-model"] == "anthropic/claude-sonnet-4-6"
    [call] = model_calls(anthropic_up)
    # The key that uploaded it, of the provider's two (unpinned, the first listed would go: the second).
    assert call.headers["x-api-key"] == STORED_KEY
    skipped = last_record(gw, 1)["attempts"][0]
    assert skipped["target"] == "anthropic-eu/claude-sonnet-4-6" and skipped["skipped"] is True
    assert "provider 'anthropic' (key 'anthropic-main')" in skipped["error"]
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.messages.create(
            model="anthropic-eu/claude-sonnet-4-6", max_tokens=64, messages=[DOCUMENT], betas=[FILES_BETA]
        )
    assert "belongs to provider 'anthropic'" in info.value.message
    assert len(model_calls(anthropic_up)) == 1


def test_a_file_uploaded_through_the_gateway_is_served_by_the_provider_that_holds_it(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    client = anthropic_client(gw)
    uploaded = client.beta.files.upload(
        file=("notes.txt", b"The meeting is on Tuesday.", "text/plain"),
        betas=[FILES_BETA],
        extra_headers={"x-gateway-provider": "anthropic-eu"},
    )
    document: Any = {
        "role": "user",
        "content": [{"type": "document", "source": {"type": "file", "file_id": uploaded.id}}],
    }
    raw = client.beta.messages.with_raw_response.create(
        model="dynamic/pinned-eu", max_tokens=64, messages=[document], betas=[FILES_BETA]
    )
    # The route's first target is an Anthropic provider too, but the file is in anthropic-eu's storage.
    assert raw.headers["x-gateway-model"] == "anthropic-eu/claude-sonnet-4-6"
    call = model_calls(anthropic_up)[-1]
    assert call.path == "/v1/messages" and call.headers["x-api-key"] == "eu-stored-key"
    attempts = last_record(gw, 2)["attempts"]
    assert [(a["target"], a.get("skipped", False)) for a in attempts] == [
        ("anthropic/claude-sonnet-4-6", True),
        ("anthropic-eu/claude-sonnet-4-6", False),
    ]
    assert "belongs to provider 'anthropic-eu' (key 'anthropic-eu-main')" in attempts[0]["error"]


def test_an_openai_file_part_passes_to_openai_and_is_a_400_to_anthropic(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    client = openai_client(gw)
    messages: Any = [
        {
            "role": "user",
            "content": [
                {"type": "file", "file": {"file_id": "file-abc123"}},
                {"type": "text", "text": "What is in it?"},
            ],
        }
    ]
    answer = client.chat.completions.create(model="gpt-5.2", messages=messages)
    assert answer.choices[0].message.content
    assert model_calls(openai_up)[-1].json["messages"][0]["content"][0] == {
        "type": "file",
        "file": {"file_id": "file-abc123"},
    }
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude-sonnet-4-6", messages=messages)
    assert "file-abc123" in info.value.message and "anthropic/claude-sonnet-4-6" in info.value.message
    assert info.value.param == "messages[0].content[0].file.file_id"
    assert not model_calls(anthropic_up)
    assert last_record(gw, 2)["status"] == 400


def test_a_responses_file_id_passes_to_a_responses_server_and_is_a_400_when_translated(
    gw: GatewayServer, anthropic_up: FakeUpstream, responses_up: FakeUpstream
) -> None:
    client = openai_client(gw)
    item: Any = {
        "role": "user",
        "content": [
            {"type": "input_file", "file_id": "file-pdf1"},
            {"type": "input_text", "text": "Summarize"},
        ],
    }
    answer = client.responses.create(model="rx-gpt", input=[item])
    assert answer.output_text
    assert model_calls(responses_up)[-1].json["input"][0]["content"][0]["file_id"] == "file-pdf1"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="claude-sonnet-4-6", input=[item])
    assert "file-pdf1" in info.value.message and "OpenAI Files API" in info.value.message
    assert info.value.param == "input[0].content[0].file_id"
    assert not model_calls(anthropic_up)


# -- item 4's refusals: server tools the target cannot run ------------------------------------------


def test_an_anthropic_server_tool_passes_untouched_to_anthropic_and_is_a_400_elsewhere(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, sent: list[bytes]
) -> None:
    client = anthropic_client(gw, http_client=keep_bodies(sent))
    tools: Any = [{"type": "code_execution_20250825", "name": "code_execution"}]
    hi: Any = [{"role": "user", "content": "Compute 2**100"}]
    client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=hi, tools=tools)
    assert model_calls(anthropic_up)[-1].body == sent[-1]
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="gpt-5.2", max_tokens=64, messages=hi, tools=tools)
    message = info.value.message
    assert "code_execution_20250825" in message and "openai/gpt-5.2" in message
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert not model_calls(openai_up)
    rec = last_record(gw, 2)
    assert rec["status"] == 400 and rec["attempts"][0]["skipped"] is True


def test_a_fallback_chain_skips_a_target_that_cannot_run_a_server_tool(
    gw: GatewayServer, anthropic_up: FakeUpstream, gemini_up: FakeUpstream
) -> None:
    tools: Any = [
        {"name": "lookup", "input_schema": {"type": "object"}},
        {"type": "memory_20250818", "name": "memory"},
    ]
    raw = anthropic_client(gw).messages.with_raw_response.create(
        model="dynamic/searching",
        max_tokens=64,
        messages=[{"role": "user", "content": "Remember this"}],
        tools=tools,
    )
    assert raw.headers["x-gateway-model"] == "anthropic/claude-sonnet-4-6"
    assert not model_calls(gemini_up)
    error = last_record(gw, 1)["attempts"][0]["error"]
    assert "memory_20250818" in error and "google/gemini-2.5-flash" in error


def test_responses_built_in_tools_that_cannot_cross_are_a_400_in_openais_envelope(
    gw: GatewayServer, anthropic_up: FakeUpstream, responses_up: FakeUpstream
) -> None:
    client = openai_client(gw)
    tools: Any = [{"type": "code_interpreter", "container": {"type": "auto"}}]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="claude-sonnet-4-6", input="Plot y=x^2", tools=tools)
    assert "code_interpreter" in info.value.message and "anthropic/claude-sonnet-4-6" in info.value.message
    assert info.value.param == "tools[0].type"
    assert not model_calls(anthropic_up)
    # A Responses `web_search` crosses: mapped to Anthropic's own search tool.
    anthropic_up.push(Script(text="searched"))
    answer = client.responses.create(model="claude-sonnet-4-6", input="News?", tools=[{"type": "web_search"}])
    assert answer.output_text == "searched"
    assert model_calls(anthropic_up)[-1].json["tools"][0]["type"] == "web_search_20250305"


def test_web_search_on_a_chat_model_that_cannot_search_is_a_400(
    gw: GatewayServer, openai_up: FakeUpstream
) -> None:
    # Only OpenAI's search models search in Chat Completions; any other is refused, not sent without it.
    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(gw).messages.create(
            model="gpt-5",
            max_tokens=100,
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
            messages=[{"role": "user", "content": "News?"}],
        )
    assert "web_search" in info.value.message and "openai/gpt-5" in info.value.message
    assert not model_calls(openai_up)


def test_a_plain_chat_call_is_not_checked_at_all(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    answer = openai_client(gw).chat.completions.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content
    assert "skipped" not in last_record(gw, 1)["attempts"][0]


# -- the table ---------------------------------------------------------------------------------------


def test_the_server_tool_table() -> None:
    def tool(api: Format, kind: str) -> ServerTool:
        return ServerTool(api, kind, "tools[0]")

    anthropic_api = Reach("anthropic", Format.ANTHROPIC)
    bedrock = Reach("bedrock", Format.ANTHROPIC)
    vertex = Reach("vertex", Format.ANTHROPIC)
    gemini = Reach("gemini", Format.GEMINI)
    assert support(tool(Format.ANTHROPIC, "web_search_20260209"), anthropic_api) is Support.NATIVE
    assert support(tool(Format.ANTHROPIC, "web_search_20250305"), vertex) is Support.NATIVE
    assert not supported(tool(Format.ANTHROPIC, "web_search_20250305"), bedrock)
    assert not supported(tool(Format.ANTHROPIC, "code_execution_20250825"), vertex)
    assert supported(tool(Format.ANTHROPIC, "bash_20250124"), bedrock)
    converse = Reach("bedrock", Format.ANTHROPIC, converted=True)  # Llama, Nova, ... on Bedrock
    assert not supported(tool(Format.ANTHROPIC, "bash_20250124"), converse)
    assert supported(tool(Format.ANTHROPIC, "some_new_tool_20270101"), bedrock)  # the upstream judges
    assert not supported(tool(Format.ANTHROPIC, "some_new_tool_20270101"), gemini)  # cannot translate
    assert support(tool(Format.RESPONSES, "web_search"), anthropic_api) is Support.MAPPED
    assert support(tool(Format.RESPONSES, "web_search_preview"), gemini) is Support.MAPPED
    # Chat Completions searches only with OpenAI's search models.
    assert support(
        tool(Format.ANTHROPIC, "web_search_20250305"), Reach("openai", Format.OPENAI, model="gpt-5")
    ) is (Support.REFUSED)
    search_model = Reach("openai", Format.OPENAI, model="gpt-4o-search-preview")
    assert support(tool(Format.ANTHROPIC, "web_search_20250305"), search_model) is Support.MAPPED
    assert support(tool(Format.RESPONSES, "web_search"), Reach("openai", Format.OPENAI, model="gpt-5")) is (
        Support.DROPPED
    )
    assert support(tool(Format.ANTHROPIC, "web_fetch_20250910"), gemini) is Support.MAPPED
    assert not supported(tool(Format.ANTHROPIC, "web_fetch_20250910"), Reach("openai", Format.RESPONSES))
    assert not supported(tool(Format.RESPONSES, "file_search"), anthropic_api)
    assert supported(tool(Format.RESPONSES, "file_search"), Reach("openai", Format.RESPONSES))
    found = declared(
        Format.ANTHROPIC,
        {
            "tools": [{"name": "f"}, {"type": "custom", "name": "g"}, {"type": "bash_20250124"}],
            "mcp_servers": [{}],
        },
    )
    assert [(t.family, t.where) for t in found] == [("bash", "tools[2]"), ("mcp", "mcp_servers")]
    cached = declared(Format.RESPONSES, {"tools": [{"type": "web_search", "external_web_access": False}]})
    assert cached == []


def test_where_file_ids_are_found_in_each_format() -> None:
    anthropic_body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "file", "file_id": "file_img"}},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                    {"type": "container_upload", "file_id": "file_csv"},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [
                            {"type": "document", "source": {"type": "file", "file_id": "file_doc"}},
                            {
                                "type": "tool_result",
                                "content": [{"type": "container_upload", "file_id": "no"}],
                            },
                        ],
                    }
                ],
            },
            {"role": "user", "content": "file_id"},
        ]
    }
    assert [(r.file_id, r.where) for r in file_refs(Format.ANTHROPIC, anthropic_body)] == [
        ("file_img", "messages.0.content.0.source.file_id"),
        ("file_csv", "messages.0.content.2.file_id"),
        ("file_doc", "messages.1.content.0.content.0.source.file_id"),
    ]
    chat = {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_data": "x"}}]}]}
    assert file_refs(Format.OPENAI, chat) == []
    responses_body = {
        "input": [
            {
                "type": "function_call_output",
                "call_id": "c",
                "output": [{"type": "input_image", "file_id": "f1"}],
            },
            {"role": "user", "content": [{"type": "input_file", "file_url": "https://x"}]},
        ]
    }
    assert [(r.file_id, r.where) for r in file_refs(Format.RESPONSES, responses_body)] == [
        ("f1", "input[0].output[0].file_id")
    ]
    # A malformed body is left to the translator or the upstream: nothing raises here.
    assert file_refs(Format.ANTHROPIC, {"messages": [1, {"content": [2, {"type": "tool_result"}]}]}) == []
