"""Files, batches and uploads, as strict as the real APIs:

Anthropic (`anthropic_routes`): the Files API (beta: `anthropic-beta: files-api-2025-04-14` required, as
are x-api-key and anthropic-version; multipart field `file`) and Message Batches (each request a
`custom_id`, unique, and Messages `params`; a batch ends at once, its `results_url` on api.anthropic.com
as the real one's, its results JSONL).

OpenAI (`openai_routes`, and Azure's v1 API under /openai/v1 via `azure_routes`): Files (multipart `file`
and `purpose` from the allowed set), Batches (the input file must exist with purpose `batch`, each line a
request to the batch's endpoint; a batch is `in_progress` when made and `completed` when next retrieved,
with an output file of results), Uploads (create with bytes, filename, purpose and mime_type; parts as
multipart `data`; complete with part_ids in order, which must add up to `bytes`).

Unknown ids get the provider's 404. Uploads are read as they stream in; the first bytes set
`FakeState.upload_started`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from . import anthropic_wire, openai_wire
from .common import Rejection, json_response, new_id
from .state import STATE_KEY

FILES_BETA = "files-api-2025-04-14"
OPENAI_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
BATCH_ENDPOINTS = frozenset({"/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions"})
Check = Callable[[web.Request], None]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _store(request: web.Request, name: str) -> dict[str, Any]:
    store = request.app[STATE_KEY].store
    table: dict[str, Any] = store.setdefault(f"files:{name}", {})
    return table


async def _multipart(request: web.Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    """Every field: (filename, content type, bytes), read as it streams in."""
    if request.content_type != "multipart/form-data":
        raise Rejection(400, "expected a multipart/form-data body")
    reader = await request.multipart()
    fields: dict[str, tuple[str | None, str | None, bytes]] = {}
    state = request.app[STATE_KEY]
    while True:
        part = await reader.next()
        if part is None:
            break
        assert isinstance(part, BodyPartReader)
        chunks = []
        while True:
            chunk = await part.read_chunk(65536)
            if not chunk:
                break
            state.upload_started.set()
            chunks.append(chunk)
        fields[part.name or ""] = (part.filename, part.headers.get("Content-Type"), b"".join(chunks))
    return fields


# -- Anthropic ---------------------------------------------------------------------------------------


def _anthropic(check_beta: bool) -> Callable[[Route], Route]:
    def decorate(handler: Route) -> Route:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            try:
                anthropic_wire._check_auth(request)
                anthropic_wire._check_version(request)
                if check_beta and FILES_BETA not in request.headers.get("anthropic-beta", ""):
                    raise Rejection(
                        400, f"The Files API is in beta: send the header anthropic-beta: {FILES_BETA}"
                    )
                return await handler(request)
            except Rejection as rejection:
                return anthropic_wire.error_response(rejection)

        return endpoint

    return decorate


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _anthropic_file(request: web.Request) -> dict[str, Any]:
    file_id = request.match_info["file_id"]
    found = _store(request, "anthropic").get(file_id)
    if found is None:
        raise Rejection(404, f"File not found: {file_id}")
    return found  # type: ignore[no-any-return]


@_anthropic(check_beta=True)
async def anthropic_upload(request: web.Request) -> web.StreamResponse:
    fields = await _multipart(request)
    if set(fields) != {"file"} or fields["file"][0] is None:
        raise Rejection(400, "file: Field required" if "file" not in fields else "Unexpected form fields")
    filename, mime, data = fields["file"]
    meta: dict[str, Any] = {
        "id": new_id("file_"),
        "type": "file",
        "filename": filename,
        "mime_type": mime or "application/octet-stream",
        "size_bytes": len(data),
        "created_at": _iso(time.time()),
        "downloadable": True,
    }
    _store(request, "anthropic")[meta["id"]] = {**meta, "data": data}
    return json_response(meta)


def _public(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k not in ("data", "results")}


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": items,
        "has_more": False,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


@_anthropic(check_beta=True)
async def anthropic_list_files(request: web.Request) -> web.StreamResponse:
    return json_response(_page([_public(f) for f in reversed(_store(request, "anthropic").values())]))


@_anthropic(check_beta=True)
async def anthropic_file(request: web.Request) -> web.StreamResponse:
    return json_response(_public(_anthropic_file(request)))


@_anthropic(check_beta=True)
async def anthropic_file_content(request: web.Request) -> web.StreamResponse:
    stored = _anthropic_file(request)
    return await _stream_bytes(request, stored["data"], stored["mime_type"])


@_anthropic(check_beta=True)
async def anthropic_delete_file(request: web.Request) -> web.StreamResponse:
    stored = _anthropic_file(request)
    del _store(request, "anthropic")[stored["id"]]
    return json_response({"id": stored["id"], "type": "file_deleted"})


async def _stream_bytes(request: web.Request, data: bytes, content_type: str) -> web.StreamResponse:
    """In pieces, with a content-length, as a file server sends it."""
    response = web.StreamResponse(headers={"Content-Type": content_type, "Content-Length": str(len(data))})
    await response.prepare(request)
    state = request.app[STATE_KEY]
    for start in range(0, len(data), 16384):
        await response.write(data[start : start + 16384])
        if start == 0 and state.hold_downloads:
            await asyncio.to_thread(state.download_release.wait, 10)
    await response.write_eof()
    return response


def _batch_counts(n: int) -> dict[str, int]:
    return {"processing": 0, "succeeded": n, "errored": 0, "canceled": 0, "expired": 0}


@_anthropic(check_beta=False)
async def anthropic_create_batch(request: web.Request) -> web.StreamResponse:
    try:
        payload = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise Rejection(400, "There was an error parsing the body of your request") from None
    requests = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests, list) or not requests:
        raise Rejection(400, "requests: Field required")
    extra = set(payload) - {"requests"}
    if extra:
        raise Rejection(400, f"{sorted(extra)[0]}: Extra inputs are not permitted")
    seen: set[str] = set()
    results = []
    for index, item in enumerate(requests):
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        params = item.get("params") if isinstance(item, dict) else None
        if not isinstance(custom_id, str) or not isinstance(params, dict):
            raise Rejection(400, f"requests.{index}: custom_id and params are required")
        if custom_id in seen:
            raise Rejection(400, f"requests.{index}.custom_id: duplicate custom_id {custom_id!r}")
        seen.add(custom_id)
        for name in ("model", "max_tokens", "messages"):
            if name not in params:
                raise Rejection(400, f"requests.{index}.params.{name}: Field required")
        anthropic_wire.check_request(params)
        message = {
            "id": new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": [{"type": "text", "text": f"Answer to {custom_id}."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 4},
        }
        results.append({"custom_id": custom_id, "result": {"type": "succeeded", "message": message}})
    now = time.time()
    batch_id = new_id("msgbatch_")
    batch: dict[str, Any] = {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended",
        "request_counts": _batch_counts(len(results)),
        "created_at": _iso(now),
        "ended_at": _iso(now),
        "expires_at": _iso(now + 86400),
        "archived_at": None,
        "cancel_initiated_at": None,
        # Where the real API says results live: never this fake's address.
        "results_url": f"https://api.anthropic.com/v1/messages/batches/{batch_id}/results",
    }
    _store(request, "batches")[batch_id] = {**batch, "results": results}
    return json_response(batch)


def _anthropic_batch(request: web.Request) -> dict[str, Any]:
    batch_id = request.match_info["batch_id"]
    found = _store(request, "batches").get(batch_id)
    if found is None:
        raise Rejection(404, f"Message batch not found: {batch_id}")
    return found  # type: ignore[no-any-return]


@_anthropic(check_beta=False)
async def anthropic_list_batches(request: web.Request) -> web.StreamResponse:
    return json_response(_page([_public(b) for b in reversed(_store(request, "batches").values())]))


@_anthropic(check_beta=False)
async def anthropic_batch(request: web.Request) -> web.StreamResponse:
    return json_response(_public(_anthropic_batch(request)))


@_anthropic(check_beta=False)
async def anthropic_cancel_batch(request: web.Request) -> web.StreamResponse:
    batch = _anthropic_batch(request)
    if batch["processing_status"] == "in_progress":
        batch["processing_status"] = "canceling"
    batch["cancel_initiated_at"] = batch["cancel_initiated_at"] or _iso(time.time())
    return json_response(_public(batch))


@_anthropic(check_beta=False)
async def anthropic_delete_batch(request: web.Request) -> web.StreamResponse:
    batch = _anthropic_batch(request)
    if batch["processing_status"] != "ended":
        raise Rejection(400, "Batch must be ended (or canceled) before it can be deleted")
    del _store(request, "batches")[batch["id"]]
    return json_response({"id": batch["id"], "type": "message_batch_deleted"})


@_anthropic(check_beta=False)
async def anthropic_batch_results(request: web.Request) -> web.StreamResponse:
    batch = _anthropic_batch(request)
    data = b"".join(orjson.dumps(line) + b"\n" for line in batch["results"])
    return await _stream_bytes(request, data, "application/binary")


def anthropic_routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/files", anthropic_upload),
        web.get("/v1/files", anthropic_list_files),
        web.get("/v1/files/{file_id}", anthropic_file),
        web.delete("/v1/files/{file_id}", anthropic_delete_file),
        web.get("/v1/files/{file_id}/content", anthropic_file_content),
        web.post("/v1/messages/batches", anthropic_create_batch),
        web.get("/v1/messages/batches", anthropic_list_batches),
        web.get("/v1/messages/batches/{batch_id}", anthropic_batch),
        web.delete("/v1/messages/batches/{batch_id}", anthropic_delete_batch),
        web.post("/v1/messages/batches/{batch_id}/cancel", anthropic_cancel_batch),
        web.get("/v1/messages/batches/{batch_id}/results", anthropic_batch_results),
    ]


# -- OpenAI (and Azure's v1 API) ---------------------------------------------------------------------


def _openai(check: Check, error: Callable[[Rejection], web.Response]) -> Callable[[Route], Route]:
    def decorate(handler: Route) -> Route:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            try:
                check(request)
                return await handler(request)
            except Rejection as rejection:
                return error(rejection)

        return endpoint

    return decorate


def _openai_file(request: web.Request, file_id: str | None = None) -> dict[str, Any]:
    file_id = file_id or request.match_info["file_id"]
    found = _store(request, "openai").get(file_id)
    if found is None:
        raise Rejection(404, f"No such File object: {file_id}", param="id")
    return found  # type: ignore[no-any-return]


def _new_openai_file(request: web.Request, filename: str, purpose: str, data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "id": new_id("file-"),
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": None,
    }
    _store(request, "openai")[meta["id"]] = {**meta, "data": data}
    return meta


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        payload = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise Rejection(400, "We could not parse the JSON body of your request.") from None
    if not isinstance(payload, dict):
        raise Rejection(400, "We could not parse the JSON body of your request.")
    return payload


def openai_handlers(check: Check, error: Callable[[Rejection], web.Response]) -> list[tuple[str, str, Route]]:
    wrap = _openai(check, error)

    @wrap
    async def upload(request: web.Request) -> web.StreamResponse:
        fields = await _multipart(request)
        if "file" not in fields or fields["file"][0] is None:
            raise Rejection(400, "Missing required parameter: 'file'.", param="file")
        purpose = fields.get("purpose", (None, None, b""))[2].decode()
        if purpose not in OPENAI_PURPOSES:
            raise Rejection(
                400, f"'{purpose}' is not one of {sorted(OPENAI_PURPOSES)} - 'purpose'", param="purpose"
            )
        filename, _, data = fields["file"]
        if purpose == "batch":
            _check_jsonl(data)
        return json_response(_new_openai_file(request, filename or "upload", purpose, data))

    @wrap
    async def list_files(request: web.Request) -> web.StreamResponse:
        items = [_public(f) for f in reversed(_store(request, "openai").values())]
        purpose = request.query.get("purpose")
        if purpose:
            items = [f for f in items if f["purpose"] == purpose]
        return json_response({"object": "list", **_page(items)})

    @wrap
    async def retrieve(request: web.Request) -> web.StreamResponse:
        return json_response(_public(_openai_file(request)))

    @wrap
    async def delete(request: web.Request) -> web.StreamResponse:
        stored = _openai_file(request)
        del _store(request, "openai")[stored["id"]]
        return json_response({"id": stored["id"], "object": "file", "deleted": True})

    @wrap
    async def content(request: web.Request) -> web.StreamResponse:
        return await _stream_bytes(request, _openai_file(request)["data"], "application/octet-stream")

    @wrap
    async def create_batch(request: web.Request) -> web.StreamResponse:
        payload = await _json(request)
        for name in ("input_file_id", "endpoint", "completion_window"):
            if name not in payload:
                raise Rejection(400, f"Missing required parameter: '{name}'.", param=name)
        if payload["endpoint"] not in BATCH_ENDPOINTS:
            raise Rejection(400, f"Invalid value: '{payload['endpoint']}'.", param="endpoint")
        if payload["completion_window"] != "24h":
            raise Rejection(400, "Invalid value for 'completion_window'.", param="completion_window")
        source = _openai_file(request, str(payload["input_file_id"]))
        if source["purpose"] != "batch":
            raise Rejection(400, "The input file must have purpose 'batch'.", param="input_file_id")
        lines = _check_jsonl(source["data"])
        for line in lines:
            if line.get("url") != payload["endpoint"]:
                raise Rejection(
                    400, "Each request's url must be the batch's endpoint.", param="input_file_id"
                )
        batch: dict[str, Any] = {
            "id": new_id("batch_"),
            "object": "batch",
            "endpoint": payload["endpoint"],
            "errors": None,
            "input_file_id": source["id"],
            "completion_window": "24h",
            "status": "in_progress",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "in_progress_at": int(time.time()),
            "completed_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": payload.get("metadata"),
        }
        _store(request, "batches")[batch["id"]] = {**batch, "lines": lines}
        return json_response(batch)

    def batch_of(request: web.Request) -> dict[str, Any]:
        batch_id = request.match_info["batch_id"]
        found = _store(request, "batches").get(batch_id)
        if found is None:
            raise Rejection(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        return found  # type: ignore[no-any-return]

    def public_batch(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if k != "lines"}

    @wrap
    async def retrieve_batch(request: web.Request) -> web.StreamResponse:
        batch = batch_of(request)
        if batch["status"] == "in_progress":  # done by the time anyone looks again
            out = b"".join(
                orjson.dumps(
                    {
                        "id": new_id("batch_req_"),
                        "custom_id": line["custom_id"],
                        "response": {"status_code": 200, "body": {"object": "chat.completion"}},
                        "error": None,
                    }
                )
                + b"\n"
                for line in batch["lines"]
            )
            made = _new_openai_file(request, f"{batch['id']}_output.jsonl", "batch_output", out)
            n = len(batch["lines"])
            batch.update(
                status="completed",
                output_file_id=made["id"],
                completed_at=int(time.time()),
                request_counts={"total": n, "completed": n, "failed": 0},
            )
        return json_response(public_batch(batch))

    @wrap
    async def list_batches(request: web.Request) -> web.StreamResponse:
        items = [public_batch(b) for b in reversed(_store(request, "batches").values())]
        return json_response({"object": "list", **_page(items)})

    @wrap
    async def cancel_batch(request: web.Request) -> web.StreamResponse:
        batch = batch_of(request)
        if batch["status"] not in ("validating", "in_progress"):
            raise Rejection(400, f"Cannot cancel a batch with status '{batch['status']}'.")
        batch.update(status="cancelling", cancelled_at=int(time.time()))
        return json_response(public_batch(batch))

    @wrap
    async def create_upload(request: web.Request) -> web.StreamResponse:
        payload = await _json(request)
        for name in ("bytes", "filename", "mime_type", "purpose"):
            if name not in payload:
                raise Rejection(400, f"Missing required parameter: '{name}'.", param=name)
        if payload["purpose"] not in OPENAI_PURPOSES:
            raise Rejection(400, f"Invalid value: '{payload['purpose']}'.", param="purpose")
        upload = {
            "id": new_id("upload_"),
            "object": "upload",
            "bytes": int(payload["bytes"]),
            "created_at": int(time.time()),
            "filename": payload["filename"],
            "purpose": payload["purpose"],
            "status": "pending",
            "expires_at": int(time.time()) + 3600,
            "file": None,
        }
        _store(request, "uploads")[upload["id"]] = {**upload, "parts": {}}
        return json_response(upload)

    def upload_of(request: web.Request) -> dict[str, Any]:
        upload_id = request.match_info["upload_id"]
        found = _store(request, "uploads").get(upload_id)
        if found is None:
            raise Rejection(404, f"Upload with id '{upload_id}' not found.", param="upload_id")
        return found  # type: ignore[no-any-return]

    def public_upload(upload: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in upload.items() if k != "parts"}

    @wrap
    async def add_part(request: web.Request) -> web.StreamResponse:
        upload = upload_of(request)
        if upload["status"] != "pending":
            raise Rejection(400, f"Upload is {upload['status']}.")
        fields = await _multipart(request)
        if set(fields) != {"data"}:
            raise Rejection(400, "Missing required parameter: 'data'.", param="data")
        part = {"id": new_id("part_"), "object": "upload.part", "created_at": int(time.time())}
        upload["parts"][part["id"]] = fields["data"][2]
        return json_response({**part, "upload_id": upload["id"]})

    @wrap
    async def complete(request: web.Request) -> web.StreamResponse:
        upload = upload_of(request)
        payload = await _json(request)
        part_ids = payload.get("part_ids")
        if not isinstance(part_ids, list) or not part_ids:
            raise Rejection(400, "Missing required parameter: 'part_ids'.", param="part_ids")
        unknown = [p for p in part_ids if p not in upload["parts"]]
        if unknown:
            raise Rejection(400, f"Part '{unknown[0]}' not found.", param="part_ids")
        data = b"".join(upload["parts"][p] for p in part_ids)
        if len(data) != upload["bytes"]:
            raise Rejection(
                400, f"The parts add up to {len(data)} bytes, not the {upload['bytes']} announced."
            )
        made = _new_openai_file(request, upload["filename"], upload["purpose"], data)
        upload.update(status="completed", file=made)
        return json_response(public_upload(upload))

    @wrap
    async def cancel_upload(request: web.Request) -> web.StreamResponse:
        upload = upload_of(request)
        upload["status"] = "cancelled"
        return json_response(public_upload(upload))

    return [
        ("POST", "/files", upload),
        ("GET", "/files", list_files),
        ("GET", "/files/{file_id}", retrieve),
        ("DELETE", "/files/{file_id}", delete),
        ("GET", "/files/{file_id}/content", content),
        ("POST", "/batches", create_batch),
        ("GET", "/batches", list_batches),
        ("GET", "/batches/{batch_id}", retrieve_batch),
        ("POST", "/batches/{batch_id}/cancel", cancel_batch),
        ("POST", "/uploads", create_upload),
        ("POST", "/uploads/{upload_id}/parts", add_part),
        ("POST", "/uploads/{upload_id}/complete", complete),
        ("POST", "/uploads/{upload_id}/cancel", cancel_upload),
    ]


def _check_jsonl(data: bytes) -> list[dict[str, Any]]:
    lines = []
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Rejection(400, f"Line {number} of the file is not valid JSON.", param="file") from None
        if not isinstance(line, dict) or not {"custom_id", "method", "url", "body"} <= set(line):
            raise Rejection(400, f"Line {number} needs custom_id, method, url and body.", param="file")
        lines.append(line)
    return lines


def openai_routes() -> list[web.RouteDef]:
    return [
        web.route(method, "/v1" + path, handler)
        for method, path, handler in openai_handlers(openai_wire._check_auth, openai_wire.error_response)
    ]


def azure_routes(check: Check, error: Callable[[Rejection], web.Response]) -> list[web.RouteDef]:
    return [
        web.route(method, "/openai/v1" + path, handler)
        for method, path, handler in openai_handlers(check, error)
    ]
