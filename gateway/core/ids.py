"""Ids the gateway mints for OpenAI's Responses API, told apart from upstream ids by their prefix.

A response the gateway answered itself (a Responses client, a translated target) gets an id that starts
with `resp_gw`: such an id is resolved in the gateway's own state store; any other id belongs to the
upstream that answered it. OpenAI's ids are `resp_` and hex, so no upstream id starts with `resp_gw`.
"""

from __future__ import annotations

import re
import secrets

GATEWAY_RESPONSE_PREFIX = "resp_gw"
# What a response id may be in a URL path: no `/`, no `..`, no control or other special characters.
_VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")


def mint_response_id() -> str:
    """A new gateway response id: the prefix and 24 random bytes in hex (OpenAI's ids carry 24 too)."""
    return GATEWAY_RESPONSE_PREFIX + secrets.token_hex(24)


def is_gateway_response_id(value: str) -> bool:
    return value.startswith(GATEWAY_RESPONSE_PREFIX)


def valid_response_id(value: str) -> bool:
    return _VALID_ID.fullmatch(value) is not None and ".." not in value
