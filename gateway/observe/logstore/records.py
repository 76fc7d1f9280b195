"""A request record as stored (a row, in `COLUMNS` order) and as the API shows it (a dict, per http.md)."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.observe.logstore.sql import COLUMNS
from gateway.observe.record import RequestRecord, iso_ts

_JSON = ("metadata", "attempts", "guardrails")


def to_row(r: RequestRecord) -> tuple[Any, ...]:
    """The values for `COLUMNS`, in its order; `ts` stays epoch seconds, empty JSON columns are NULL."""
    attempts = orjson.dumps([a.as_dict() for a in r.attempts]).decode() if r.attempts else None
    metadata = orjson.dumps(r.metadata).decode() if r.metadata else None
    guardrails = orjson.dumps(r.guardrails).decode() if r.guardrails else None
    return (
        r.id, r.ts, r.gateway, r.route, r.provider, r.model, r.client_model, r.method, r.path, r.status,
        r.stream, r.latency_ms, r.ttfb_ms, r.input_tokens, r.output_tokens, r.cache_read_tokens,
        r.cache_write_tokens, r.cost_usd, r.cache, r.token, r.key, r.config_version, r.error, metadata,
        attempts, r.request_body, r.response_body, r.endpoint, guardrails, r.prompt,
    )  # fmt: skip


def from_row(row: tuple[Any, ...], *, bodies: bool = True) -> dict[str, Any]:
    record = dict(zip(COLUMNS, row, strict=True))
    record["ts"] = iso_ts(float(record["ts"]))
    record["stream"] = bool(record["stream"])
    for column in _JSON:
        record[column] = (
            orjson.loads(record[column]) if record[column] else ({} if column == "metadata" else [])
        )
    if not bodies or record["request_body"] is None:
        record.pop("request_body")
    if not bodies or record["response_body"] is None:
        record.pop("response_body")
    return record
