"""Files, batches and uploads at the SDKs' paths (`dataplane/files.py`), through the official SDKs over
loopback against the strict fakes (`tests/fakes/files_wire.py`): Anthropic's Files API and Message
Batches, OpenAI's Files, Batches and Uploads, Azure's v1 API by `x-gateway-provider`; uploads streamed
through and capped by server.max_body, downloads streamed back, bodies never logged."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

MAX_BODY = 256 * 1024
TOKEN = "gw-files-token-canary-51ab"
FILES_BETA = "files-api-2025-04-14"
BETAS: list[anthropic.types.AnthropicBetaParam] = [FILES_BETA]
API_VERSION = "2024-10-21"


@pytest.fixture
def gw(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, azure_up: FakeUpstream
) -> GatewayServer:
    extra = f"""
server: {{ max_body: {MAX_BODY} }}
logs: {{ bodies: true }}
"""
    config = standard_config(
        anthropic_up,
        openai_up,
        extra,
        gateway=f"""
gateways:
  default: {{ auth: none, provider_keys: [stored, request] }}
  team:
    auth: tokens
    tokens: [{{ name: team, secret: "{TOKEN}" }}]
    provider_keys: [stored]
""",
    ).replace(
        "providers:\n",
        f"""providers:
  azure: {{ type: azure-openai, base_url: "{azure_up.base_url}", api_version: "{API_VERSION}" }}
""",
        1,
    )
    config = config.replace(
        "keys:\n", 'keys:\n  azure-main: { provider: azure, secret: "azure-secret-key" }\n', 1
    )
    return make_gateway(config)


def _records(gw: GatewayServer, count: int) -> list[dict[str, object]]:
    return gw.records(wait_for=count)


def test_anthropic_files_through_the_sdk(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    client = anthropic_client(gw, "/g/team", key=TOKEN)
    data = b"%PDF-1.4 the gateway's file " * 100
    uploaded = client.beta.files.upload(file=("notes.pdf", data, "application/pdf"), betas=BETAS)
    assert uploaded.id.startswith("file_") and uploaded.size_bytes == len(data)
    sent = anthropic_up.requests[-1]
    assert sent.path == "/v1/files" and FILES_BETA in sent.headers["anthropic-beta"]
    assert sent.headers["x-api-key"] != TOKEN  # the stored key went upstream, not the gateway token
    assert [f.id for f in client.beta.files.list(betas=BETAS)] == [uploaded.id]
    assert client.beta.files.retrieve_metadata(uploaded.id, betas=BETAS).filename == "notes.pdf"
    assert client.beta.files.download(uploaded.id, betas=BETAS).read() == data
    assert client.beta.files.delete(uploaded.id, betas=BETAS).id == uploaded.id
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.beta.files.retrieve_metadata(uploaded.id, betas=BETAS)
    assert "File not found" in str(missing.value)

    records = _records(gw, 6)
    upload = records[0]
    assert upload["path"] == "/g/team/v1/files" and upload["status"] == 200
    assert upload["provider"] == "anthropic" and upload["key"] == "key:anthropic-main"
    logged = orjson.loads(str(upload["request_body"]))
    assert logged == {"file": {"name": "notes.pdf", "size": len(data), "content_type": "application/pdf"}}
    download = records[3]
    assert download["response_body"] == f"({len(data)} bytes of content, not logged)"
    assert "the gateway's file" not in orjson.dumps(records).decode()
    assert records[5]["status"] == 404


def test_message_batches_through_the_sdk(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    client = anthropic_client(gw, "/g/team", key=TOKEN)
    params: Any = {
        "model": "claude-haiku-4-5",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "hi"}],
    }
    batch = client.messages.batches.create(
        requests=[{"custom_id": "one", "params": params}, {"custom_id": "two", "params": params}]
    )
    # The upstream said api.anthropic.com: the client is pointed back through the gateway's base URL.
    assert batch.results_url == f"{gw.url}/g/team/v1/messages/batches/{batch.id}/results"
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert [b.id for b in client.messages.batches.list()] == [batch.id]
    assert [r.custom_id for r in client.messages.batches.results(batch.id)] == ["one", "two"]
    assert client.messages.batches.cancel(batch.id).id == batch.id
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.BadRequestError):  # the fake validates what a batch carries
        client.messages.batches.create(requests=[{"custom_id": "x", "params": {"model": "m"}}])  # type: ignore[typeddict-item]
    results = [r for r in _records(gw, 8) if str(r["path"]).endswith("/results")]
    assert results and "Answer to one" not in str(results[0]["response_body"])


def test_openai_files_batches_and_uploads_through_the_sdk(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    client = openai_client(gw)
    line = {"custom_id": "c1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-5"}}
    jsonl = orjson.dumps(line) + b"\n"
    created = client.files.create(file=("input.jsonl", jsonl), purpose="batch")
    assert created.id.startswith("file-") and created.bytes == len(jsonl)
    assert created.id in [f.id for f in client.files.list()]
    assert client.files.retrieve(created.id).purpose == "batch"
    assert client.files.content(created.id).read() == jsonl
    batch = client.batches.create(
        input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "in_progress"
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.output_file_id
    output = client.files.content(done.output_file_id).read()
    assert orjson.loads(output.splitlines()[0])["custom_id"] == "c1"
    assert next(b.id for b in client.batches.list()) == batch.id
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)  # completed: the upstream's 400 reaches the client
    assert client.files.delete(created.id).deleted
    with pytest.raises(openai.NotFoundError) as missing:
        client.files.retrieve(created.id)
    assert "No such File object" in str(missing.value)
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("x.txt", b"x"), purpose="nonsense")  # type: ignore[arg-type]

    data = b"0123456789" * 3000
    upload = client.uploads.create(
        bytes=len(data), filename="big.txt", mime_type="text/plain", purpose="assistants"
    )
    parts = [
        client.uploads.parts.create(upload.id, data=data[i : i + 10000]) for i in range(0, len(data), 10000)
    ]
    completed = client.uploads.complete(upload.id, part_ids=[p.id for p in parts])
    assert completed.status == "completed" and completed.file is not None
    assert client.files.content(completed.file.id).read() == data
    other = client.uploads.create(bytes=1, filename="x", mime_type="text/plain", purpose="assistants")
    assert client.uploads.cancel(other.id).status == "cancelled"
    records = gw.records(wait_for=18)
    part = next(r for r in records if str(r["path"]).endswith("/parts"))
    assert orjson.loads(str(part["request_body"]))["data"]["size"] == 10000
    assert "0123456789" not in orjson.dumps(records).decode()


def test_upload_file_chunked(gw: GatewayServer, tmp_path: Path) -> None:
    """The SDK's own chunked upload: create, a part per chunk, complete with the part ids in order."""
    path = tmp_path / "big.jsonl"
    data = bytes(range(256)) * 400
    path.write_bytes(data)
    client = openai_client(gw)
    done = client.uploads.upload_file_chunked(
        file=path, mime_type="text/jsonl", purpose="user_data", part_size=30000
    )
    assert done.status == "completed" and done.file is not None
    assert client.files.content(done.file.id).read() == data
    records = gw.records(wait_for=7)
    assert [r["path"].rsplit("/", 1)[-1] for r in records[:6]] == [
        "uploads",
        "parts",
        "parts",
        "parts",
        "parts",
        "complete",
    ]


def test_azure_files_by_x_gateway_provider(gw: GatewayServer, azure_up: FakeUpstream) -> None:
    client = openai.AzureOpenAI(
        base_url=f"{gw.url}/v1",
        api_key="unused",
        api_version=API_VERSION,
        max_retries=0,
        default_headers={"x-gateway-provider": "azure"},
    )
    made = client.files.create(file=("a.jsonl", b"{}\n"), purpose="user_data")
    assert made.id.startswith("file-")
    sent = azure_up.requests[-1]
    # Azure's v1 API: no api-version, the stored key in api-key.
    assert sent.path == "/openai/v1/files" and "api-version" not in sent.query
    assert sent.headers["api-key"] == "azure-secret-key"
    assert client.files.retrieve(made.id).id == made.id
    with pytest.raises(openai.BadRequestError) as wrong:
        openai_client(gw, default_headers={"x-gateway-provider": "anthropic"}).files.list()
    assert "of type 'anthropic'" in str(wrong.value)
    with pytest.raises(openai.NotFoundError):
        openai_client(gw, default_headers={"x-gateway-provider": "nobody"}).files.list()


def test_file_owners_are_remembered(gw: GatewayServer) -> None:
    """The provider and key that created a file id, for routing a message that names it."""
    made = openai_client(gw, default_headers={"x-gateway-provider": "azure"}).files.create(
        file=("a.txt", b"hello"), purpose="user_data"
    )
    plane, table = gw.app.data, gw.live.table
    owner = asyncio.run_coroutine_threadsafe(plane.files.owner(table, made.id), gw._server_loop()).result(5)
    assert owner is not None and (owner.provider, owner.key) == ("azure", "key:azure-main")
    openai_client(gw, default_headers={"x-gateway-provider": "azure"}).files.delete(made.id)
    gone = asyncio.run_coroutine_threadsafe(plane.files.owner(table, made.id), gw._server_loop()).result(5)
    assert gone is None


def test_upload_over_max_body_is_refused_before_the_upstream(
    gw: GatewayServer, openai_up: FakeUpstream
) -> None:
    before = len(openai_up.requests)
    with pytest.raises(openai.APIStatusError) as refused:
        openai_client(gw).files.create(file=("big.bin", b"x" * (MAX_BODY + 1)), purpose="assistants")
    assert refused.value.status_code == 413 and "server.max_body" in str(refused.value)
    assert len(openai_up.requests) == before  # the upstream never saw it
    (record,) = gw.records(wait_for=1)
    assert record["status"] == 413 and record["error"]


def test_anthropic_upload_over_max_body_is_413_in_its_envelope(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    before = len(anthropic_up.requests)
    with pytest.raises(anthropic.APIStatusError) as refused:
        anthropic_client(gw).beta.files.upload(file=("big.pdf", b"x" * (MAX_BODY + 1)), betas=BETAS)
    assert refused.value.status_code == 413
    assert isinstance(refused.value.body, dict) and refused.value.body["error"]["type"] == "request_too_large"
    assert len(anthropic_up.requests) == before
    (record,) = gw.records(wait_for=1)
    assert record["status"] == 413 and record["provider"] == "anthropic"


def _chunked_multipart(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield b'--b0undary\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
    yield b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n'
    yield b"Content-Type: application/octet-stream\r\n\r\n" + first
    yield from rest
    yield b"\r\n--b0undary--\r\n"


def test_chunked_upload_over_max_body_is_cut_off(gw: GatewayServer) -> None:
    body = _chunked_multipart(b"y" * 1024, (b"z" * 65536 for _ in range(8)))
    answer = httpx.post(
        f"{gw.url}/v1/files",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b0undary", "authorization": "Bearer k"},
        timeout=10,
    )
    assert answer.status_code == 413 and answer.json()["error"]["type"] == "request_too_large"
    (record,) = gw.records(wait_for=1)
    assert record["status"] == 413


def test_upload_streams_through(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    """The fake sees the upload's first bytes while the client still holds its last ones back: a
    gateway that read the body whole first would leave the client waiting here, and the test fails."""
    seen_early = threading.Event()

    def rest() -> Iterator[bytes]:
        if openai_up.upload_started.wait(5):
            seen_early.set()
        yield b"tail of the file"

    answer = httpx.post(
        f"{gw.url}/v1/files",
        content=_chunked_multipart(b"h" * 70000, rest()),
        headers={"content-type": "multipart/form-data; boundary=b0undary", "authorization": "Bearer k"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert seen_early.is_set()
    assert answer.json()["bytes"] == 70000 + len(b"tail of the file")
    (record,) = gw.records(wait_for=1)
    assert orjson.loads(str(record["request_body"])) == {
        "purpose": "assistants",
        "file": {"name": "s.bin", "size": 70016, "content_type": "application/octet-stream"},
    }


def test_missing_gateway_auth_is_401(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    before = len(anthropic_up.requests)
    with pytest.raises(anthropic.AuthenticationError):
        anthropic_client(gw, "/g/team", key="wrong").beta.files.list(betas=BETAS)
    with pytest.raises(anthropic.AuthenticationError):
        anthropic_client(gw, "/g/team").messages.batches.list()
    assert len(anthropic_up.requests) == before
    assert [r["status"] for r in gw.records(wait_for=2)] == [401, 401]


def test_file_upload_io_objects(gw: GatewayServer) -> None:
    """An SDK reading from a file object (content-length known to httpx) goes through too."""
    made = openai_client(gw).files.create(file=("f.txt", io.BytesIO(b"abc" * 1000)), purpose="user_data")
    assert made.bytes == 3000


def test_request_rate_limits_apply(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(
        standard_config(
            anthropic_up,
            openai_up,
            gateway="gateways:\n  default: { auth: none, rate_limits: [{ requests: 1, per: 1m }] }\n",
        )
    )
    client = openai_client(gw)
    assert client.files.list().data is not None
    with pytest.raises(openai.RateLimitError):
        client.files.list()
    assert [r["status"] for r in gw.records(wait_for=2)] == [200, 429]


def test_download_streams_back(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    """The client gets a file's first piece while the upstream still holds the rest back: a gateway that
    read the answer whole first would give it nothing until the release, and the test fails."""
    data = bytes(range(256)) * 512  # 128 KiB, in 16 KiB pieces
    made = openai_client(gw).files.create(file=("d.bin", data), purpose="user_data")
    release = openai_up.hold_downloads()
    got_first = threading.Event()

    def release_late() -> None:
        got_first.wait(10)
        release.set()

    helper = threading.Thread(target=release_late)
    helper.start()
    try:
        with httpx.stream(
            "GET", f"{gw.url}/v1/files/{made.id}/content", headers={"authorization": "Bearer k"}
        ) as answer:
            assert answer.status_code == 200 and answer.headers["content-length"] == str(len(data))
            pieces = answer.iter_bytes()
            first = next(pieces)
            early = not release.is_set()
            got_first.set()
            rest = b"".join(pieces)
    finally:
        got_first.set()
        helper.join()
    assert early and first + rest == data


def test_client_leaving_mid_upload_is_499(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    """The upload stops where the client did: the upstream connection is closed, the record says 499."""
    host, port = gw.url.removeprefix("http://").split(":")
    head = (
        b"POST /v1/files HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-length: 200000\r\n"
        b"content-type: multipart/form-data; boundary=b0undary\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + b"".join(_chunked_multipart(b"q" * 70000, iter(()))))
        assert openai_up.upload_started.wait(5)  # streaming through when the client goes
    (record,) = gw.records(wait_for=1)
    assert record["status"] == 499
    assert openai_up.wait_for_disconnects(1)  # the upstream saw its connection go
