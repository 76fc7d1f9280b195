"""Encoder for the AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

botocore only decodes it (``botocore.eventstream.EventStreamBuffer``); the fake needs to write it.
One message is::

    prelude:  total length (uint32) | headers length (uint32) | CRC32 of those 8 bytes (uint32)
    headers:  per header: name length (uint8) | name | value type (uint8, 7 = string) |
              value length (uint16) | value
    payload
    message CRC32 (uint32) over everything before it

All integers are big-endian.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

_STRING = 7
_PRELUDE = struct.Struct(">II")


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers, in the order given."""
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    # 12 bytes of prelude, the headers, the payload, 4 bytes of message CRC.
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    )


def event(event_type: str, payload: Any) -> bytes:
    """A JSON ``event`` message, as Bedrock sends each stream event."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, orjson.dumps(payload))


def exception(exception_type: str, payload: Any) -> bytes:
    """A JSON ``exception`` message (modeled stream error, e.g. ``throttlingException``)."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, orjson.dumps(payload))
