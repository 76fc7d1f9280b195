"""A request record as stored (a row) and as the API shows it (a dict, per http.md)."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.observe.accesslog import iso_ts
from gateway.observe.logstore.sql import COLUMNS

_JSON = ("metadata", "attempts")


def to_row(record: dict[str, Any]) -> tuple[Any, ...]:
    values = []
    for column in COLUMNS:
        value = record.get(column)
        if column in _JSON:
            value = orjson.dumps(value).decode() if value else None
        elif column == "stream":
            value = bool(value)
        values.append(value)
    return tuple(values)


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
