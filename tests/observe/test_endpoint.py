"""Each request record's `endpoint`: the kind of call, from its path, for every endpoint the gateway
serves, through the official SDKs; then the admin API's endpoint filter and group_by over them."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from tests.conftest import anthropic_client, openai_client
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

HI: Any = [{"role": "user", "content": "hi"}]


def test_every_endpoint_kind_is_recorded_filtered_and_grouped(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    claude = anthropic_client(gw)
    anthropic_up.push(Script(text="a"))
    claude.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HI)
    claude.messages.count_tokens(model="claude-haiku-4-5", messages=HI)
    gpt = openai_client(gw)
    openai_up.push(Script(text="b"), Script(text="c"))
    gpt.chat.completions.create(model="gpt-5", messages=HI)
    openai_client(gw, "/g/default/compat").chat.completions.create(model="openai/gpt-5", messages=HI)
    openai_up.push(Script(text="d"))
    made = gpt.responses.create(model="gpt-5", input="hi", store=True)
    gpt.responses.retrieve(made.id)
    gpt.models.list()
    openai_up.push(Script(text="e"))
    openai_client(gw, "/openai").chat.completions.create(model="gpt-5", messages=HI)  # native passthrough
    gpt.embeddings.create(model="openai/text-embedding-3-small", input="hi")
    line = {"custom_id": "c1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-5"}}
    batch_file = gpt.files.create(file=("in.jsonl", orjson.dumps(line) + b"\n"), purpose="batch")
    gpt.batches.create(input_file_id=batch_file.id, endpoint="/v1/chat/completions", completion_window="24h")
    gpt.uploads.create(bytes=1, filename="x.txt", mime_type="text/plain", purpose="assistants")
    claude.messages.batches.list()

    want = [
        ("/v1/messages", "messages"),
        ("/v1/messages/count_tokens", "count_tokens"),
        ("/v1/chat/completions", "chat"),
        ("/g/default/compat/chat/completions", "chat"),
        ("/v1/responses", "responses"),
        (f"/v1/responses/{made.id}", "responses"),
        ("/v1/models", "models"),
        ("/openai/chat/completions", "passthrough"),
        ("/v1/embeddings", "embeddings"),
        ("/v1/files", "files"),
        ("/v1/batches", "batches"),
        ("/v1/uploads", "files"),
        ("/v1/messages/batches", "batches"),
    ]
    lines = gw.records(len(want))
    assert [(r["path"], r["endpoint"]) for r in lines] == want
    assert all(r["status"] == 200 for r in lines), [(r["path"], r["status"], r["error"]) for r in lines]

    def stored(**params: str) -> list[tuple[str, str]]:
        deadline = time.monotonic() + 10  # the request log writes in batches, after the access log
        while True:
            found = httpx.get(gw.url + "/api/logs", params={"limit": "50", **params}).json()["data"]
            if params or len(found) == len(want) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return sorted((r["path"], r["endpoint"]) for r in found)

    assert stored() == sorted(want)
    for kind in ("messages", "count_tokens", "chat", "responses", "models", "passthrough", "embeddings"):
        assert stored(endpoint=kind) == sorted(w for w in want if w[1] == kind), kind
    assert stored(endpoint="files") == [("/v1/files", "files"), ("/v1/uploads", "files")]
    one = httpx.get(gw.url + f"/api/logs/{lines[3]['id']}").json()
    assert one["endpoint"] == "chat" and one["path"] == "/g/default/compat/chat/completions"

    grouped = httpx.get(gw.url + "/api/analytics", params={"since": "1h", "group_by": "endpoint"}).json()
    counts: dict[str, int] = {}
    for bucket in grouped["buckets"]:
        counts[bucket["group"]] = counts.get(bucket["group"], 0) + bucket["requests"]
    assert counts == {
        "messages": 1,
        "count_tokens": 1,
        "chat": 2,
        "responses": 2,
        "models": 1,
        "passthrough": 1,
        "embeddings": 1,
        "files": 2,
        "batches": 2,
    }
    only = httpx.get(gw.url + "/api/analytics", params={"since": "1h", "endpoint": "chat"}).json()
    assert only["totals"]["requests"] == 2
    bad = httpx.get(gw.url + "/api/analytics", params={"group_by": "endpoints"})
    assert bad.status_code == 400 and "endpoint" in bad.text
