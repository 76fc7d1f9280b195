"""Scrub secrets from text that leaves the gateway (logs, error messages)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Common provider key shapes, for secrets the gateway did not itself send (an upstream echoing a key).
_KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|AIza[A-Za-z0-9_\-]{20,}|AKIA[A-Z0-9]{12,})")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, "[redacted]")
    return _KEY_SHAPES.sub("[redacted]", text)
