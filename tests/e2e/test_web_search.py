"""Web search (and web fetch) across providers, through the official SDKs against the strict fakes.

Anthropic's web_search tool passes through to Anthropic untouched; to an OpenAI Chat search model it is
`web_search_options`, to a Responses-only model the `web_search` tool, to Gemini `google_search`. The
pages found come back as citations in the client's shape (Anthropic `web_search_result_location`,
OpenAI `url_citation` annotations), the searches as `usage.server_tool_use.web_search_requests` for an
Anthropic client, and every request record's cost includes the searches at the configured price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

# The cited text follows a non-ASCII character: Gemini counts its offsets in UTF-8 bytes, the clients
# in characters.
TEXT = "Über Paris: sunny, 21 °C today. Take sunglasses."
CITE = "sunny, 21 °C"
PAGE = {"query": "paris weather", "url": "https://weather.example/paris", "title": "Paris weather"}
SEARCHES = [{**PAGE, "cite": CITE}]
START = TEXT.index(CITE)
SEARCH_TOOL: Any = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
LOCATED_TOOL: Any = {
    **SEARCH_TOOL,
    "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
}
CODEX = "gpt-5.1-codex"  # served only by the Responses API
# Token prices of 1 and 2 USD per million: 1,000 input and 100 output tokens cost 0.0012.
TOKENS = Decimal("0.0012")
USAGE = {
    "anthropic": {"input_tokens": 1000, "output_tokens": 100},
    "chat": {"prompt_tokens": 1000, "completion_tokens": 100},
    "responses": {"input_tokens": 1000, "output_tokens": 100},
    "gemini": {"promptTokenCount": 1000, "candidatesTokenCount": 100},
}


@pytest.fixture
def gw(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> GatewayServer:
    config = standard_config(
        anthropic_up,
        openai_up,
        """
pricing:
  anthropic/claude-sonnet-4-6: { input: 1, output: 2, web_search: 0.01 }
  openai/gpt-4o-search-preview: { input: 1, output: 2, web_search: 0.025 }
  openai/gpt-5.1-codex: { input: 1, output: 2, web_search: 0.01 }
  google/gemini-2.5-flash: { input: 1, output: 2, web_search: 0.035 }
""",
    )
    config = config.replace(
        "providers:\n", f'providers:\n  google: {{ type: gemini, base_url: "{gemini_up.base_url}" }}\n'
    )
    config = config.replace("keys:\n", 'keys:\n  google-main: { provider: google, secret: "gemini-key" }\n')
    config = config.replace("models:\n", "models:\n  gemini-*: google/*\n")
    return make_gateway(config)


def _cost(gw: GatewayServer) -> Decimal:
    return Decimal(gw.records(1)[-1]["cost_usd"])


def _anthropic_citations(content: list[Any]) -> list[tuple[str, str]]:
    """(cited text, url) of every web citation in an Anthropic answer's text blocks; a whole answer's
    cited block is the cited text itself (a stream's block was sent before its citations came)."""
    found = [
        (c.cited_text, c.url)
        for block in content
        if block.type == "text"
        for c in block.citations or ()
        if c.type == "web_search_result_location"
    ]
    return found


def _split_at_cite(content: list[Any]) -> bool:
    """Whether the cited text is a text block of its own, carrying the citation (a whole answer's
    shape)."""
    return any(b.type == "text" and b.text == CITE and b.citations for b in content)


def _ask(gw: GatewayServer, model: str, tool: Any, *, stream: bool) -> Any:
    client = anthropic_client(gw)
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": 300,
        "tools": [tool],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    if stream:
        with client.messages.stream(**request) as events:
            return events.get_final_message()
    return client.messages.create(**request)


# -- Anthropic client -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_search_passes_through(gw: GatewayServer, anthropic_up: FakeUpstream, stream: bool) -> None:
    anthropic_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["anthropic"]))
    message = _ask(gw, "claude-sonnet-4-6", LOCATED_TOOL, stream=stream)
    assert anthropic_up.requests[-1].json["tools"] == [LOCATED_TOOL]  # untouched
    kinds = [b.type for b in message.content]
    assert kinds[:2] == ["server_tool_use", "web_search_tool_result"]
    assert message.content[1].content[0].url == PAGE["url"]
    assert _anthropic_citations(message.content) == [(CITE, PAGE["url"])]
    assert _split_at_cite(message.content) or stream
    assert "".join(b.text for b in message.content if b.type == "text") == TEXT
    assert (
        message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 1
    )
    assert _cost(gw) == TOKENS + Decimal("0.01")


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_search_on_an_openai_search_model(
    gw: GatewayServer, openai_up: FakeUpstream, stream: bool
) -> None:
    openai_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["chat"]))
    message = _ask(gw, "gpt-4o-search-preview", LOCATED_TOOL, stream=stream)
    sent = openai_up.requests[-1].json
    assert sent["web_search_options"] == {
        "user_location": {"type": "approximate", "approximate": {"city": "Paris", "country": "FR"}}
    }
    assert "tools" not in sent
    assert _anthropic_citations(message.content) == [(CITE, PAGE["url"])]
    assert _split_at_cite(message.content) or stream
    assert "".join(b.text for b in message.content if b.type == "text") == TEXT
    assert (
        message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 1
    )
    assert _cost(gw) == TOKENS + Decimal("0.025")


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_search_on_a_responses_model(
    gw: GatewayServer, openai_up: FakeUpstream, stream: bool
) -> None:
    openai_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["responses"]))
    message = _ask(gw, CODEX, {**SEARCH_TOOL, "allowed_domains": ["weather.example"]}, stream=stream)
    call = openai_up.requests[-1]
    assert call.path == "/v1/responses"
    assert call.json["tools"] == [{"type": "web_search", "filters": {"allowed_domains": ["weather.example"]}}]
    search = next(b for b in message.content if b.type == "server_tool_use")
    assert search.name == "web_search" and search.input == {"query": PAGE["query"]}
    assert any(b.type == "web_search_tool_result" for b in message.content)
    assert _anthropic_citations(message.content) == [(CITE, PAGE["url"])]
    assert _split_at_cite(message.content) or stream
    assert (
        message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 1
    )
    assert _cost(gw) == TOKENS + Decimal("0.01")


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_search_on_gemini(gw: GatewayServer, gemini_up: FakeUpstream, stream: bool) -> None:
    gemini_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["gemini"]))
    message = _ask(gw, "gemini-2.5-flash", SEARCH_TOOL, stream=stream)
    assert gemini_up.requests[-1].json["tools"] == [{"google_search": {}}]
    search = next(b for b in message.content if b.type == "server_tool_use")
    assert search.input == {"query": PAGE["query"]}
    result = next(b for b in message.content if b.type == "web_search_tool_result")
    assert [page.url for page in result.content] == [PAGE["url"]]
    # The byte offsets Gemini gives are the characters the client cites.
    assert _anthropic_citations(message.content) == [(CITE, PAGE["url"])]
    assert _split_at_cite(message.content) or stream
    assert "".join(b.text for b in message.content if b.type == "text") == TEXT
    assert (
        message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 1
    )
    assert _cost(gw) == TOKENS + Decimal("0.035")


def test_gemini_cannot_restrict_search_domains(gw: GatewayServer, gemini_up: FakeUpstream) -> None:
    before = len(gemini_up.requests)
    client = anthropic_client(gw)
    with pytest.raises(Exception) as caught:
        client.messages.create(
            model="gemini-2.5-flash",
            max_tokens=100,
            tools=[{**SEARCH_TOOL, "allowed_domains": ["weather.example"]}],
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        )
    assert getattr(caught.value, "status_code", None) == 400 and "domains" in str(caught.value)
    assert len(gemini_up.requests) == before  # refused before any upstream call
    assert gw.records(1)[-1]["status"] == 400


def test_anthropic_web_fetch_on_gemini_is_url_context(gw: GatewayServer, gemini_up: FakeUpstream) -> None:
    gemini_up.push(Script(text="The page says hello."))
    message = _ask(gw, "gemini-2.5-flash", {"type": "web_fetch_20250910", "name": "web_fetch"}, stream=False)
    assert gemini_up.requests[-1].json["tools"] == [{"url_context": {}}]
    assert message.content[0].type == "text"


# -- OpenAI Chat client ---------------------------------------------------------------------------------


def _chat(gw: GatewayServer, model: str, *, stream: bool) -> tuple[str, list[Any]]:
    """The answer's text and its url_citation annotations (as dicts)."""
    client = openai_client(gw)
    request: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "web_search_options": {"user_location": {"type": "approximate", "approximate": {"city": "Paris"}}},
    }
    if not stream:
        answer = client.chat.completions.create(**request)
        annotations = [a.model_dump() for a in answer.choices[0].message.annotations or ()]
        return answer.choices[0].message.content or "", annotations
    text, annotations = "", []
    # With usage asked for: a passed-through stream reports none otherwise.
    options: Any = {"include_usage": True}
    for chunk in client.chat.completions.create(**request, stream=True, stream_options=options):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            annotations.extend((choice.delta.model_extra or {}).get("annotations") or ())
    return text, annotations


def _cited(text: str, annotations: list[Any]) -> list[tuple[str, str]]:
    return [
        (text[a["url_citation"]["start_index"] : a["url_citation"]["end_index"]], a["url_citation"]["url"])
        for a in annotations
        if a["type"] == "url_citation"
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_chat_search_options_on_anthropic(
    gw: GatewayServer, anthropic_up: FakeUpstream, stream: bool
) -> None:
    anthropic_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["anthropic"]))
    text, annotations = _chat(gw, "claude-sonnet-4-6", stream=stream)
    [tool] = anthropic_up.requests[-1].json["tools"]
    assert tool["type"].startswith("web_search_") and tool["user_location"]["city"] == "Paris"
    assert text == TEXT
    assert _cited(text, annotations) == [(CITE, PAGE["url"])]
    assert _cost(gw) == TOKENS + Decimal("0.01")


@pytest.mark.parametrize("stream", [False, True])
def test_chat_search_options_on_gemini(gw: GatewayServer, gemini_up: FakeUpstream, stream: bool) -> None:
    gemini_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["gemini"]))
    text, annotations = _chat(gw, "gemini-2.5-flash", stream=stream)
    assert gemini_up.requests[-1].json["tools"] == [{"google_search": {}}]
    assert text == TEXT
    assert _cited(text, annotations) == [(CITE, PAGE["url"])]
    assert _cost(gw) == TOKENS + Decimal("0.035")


@pytest.mark.parametrize("stream", [False, True])
def test_chat_search_model_passes_through(gw: GatewayServer, openai_up: FakeUpstream, stream: bool) -> None:
    openai_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["chat"]))
    text, annotations = _chat(gw, "gpt-4o-search-preview", stream=stream)
    assert text == TEXT and _cited(text, annotations) == [(CITE, PAGE["url"])]
    # Chat reports no search count; a search model's call is one billed search.
    assert _cost(gw) == TOKENS + Decimal("0.025")


def test_chat_search_options_on_a_model_that_cannot_search(
    gw: GatewayServer, openai_up: FakeUpstream
) -> None:
    # The real API's answer, relayed: only the search models take web_search_options.
    with pytest.raises(Exception) as caught:
        _chat(gw, "gpt-5", stream=False)
    assert getattr(caught.value, "status_code", None) == 400 and "Web search options" in str(caught.value)


# -- Responses client -----------------------------------------------------------------------------------


def _responses(gw: GatewayServer, model: str, *, stream: bool) -> dict[str, Any]:
    client = openai_client(gw)
    request: dict[str, Any] = {
        "model": model,
        "input": "Weather in Paris?",
        "tools": [{"type": "web_search"}],
    }
    if stream:
        with client.responses.stream(**request) as events:
            return events.get_final_response().model_dump()
    return client.responses.create(**request).model_dump()


def _response_citations(response: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for item in response["output"]:
        for part in item.get("content") or () if item["type"] == "message" else ():
            for a in part.get("annotations") or ():
                found.append((part["text"][a["start_index"] : a["end_index"]], a["url"]))
    return found


@pytest.mark.parametrize("stream", [False, True])
def test_responses_search_on_gemini(gw: GatewayServer, gemini_up: FakeUpstream, stream: bool) -> None:
    gemini_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["gemini"]))
    response = _responses(gw, "gemini-2.5-flash", stream=stream)
    assert gemini_up.requests[-1].json["tools"] == [{"google_search": {}}]
    searches = [item for item in response["output"] if item["type"] == "web_search_call"]
    assert [s["action"]["query"] for s in searches] == [PAGE["query"]]
    assert _response_citations(response) == [(CITE, PAGE["url"])]
    assert _cost(gw) == TOKENS + Decimal("0.035")


@pytest.mark.parametrize("stream", [False, True])
def test_responses_search_on_anthropic_cites(
    gw: GatewayServer, anthropic_up: FakeUpstream, stream: bool
) -> None:
    anthropic_up.push(Script(text=TEXT, searches=SEARCHES, usage=USAGE["anthropic"]))
    response = _responses(gw, "claude-sonnet-4-6", stream=stream)
    assert anthropic_up.requests[-1].json["tools"][0]["name"] == "web_search"
    assert response["output"][0]["type"] == "web_search_call"
    assert _response_citations(response) == [(CITE, PAGE["url"])]
    assert _cost(gw) == TOKENS + Decimal("0.01")
