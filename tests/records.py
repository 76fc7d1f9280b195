"""Request records for the unit tests of their readers (metrics, the log store): every field set to a
plausible value, the ones a test cares about given by keyword."""

from __future__ import annotations

import time
from typing import Any

from gateway.observe.record import Attempt, RequestRecord


def request_record(**fields: Any) -> RequestRecord:
    """A finished, answered request with no usage known; `fields` override any field by name."""
    defaults: dict[str, Any] = {
        "ts": time.time(),
        "id": "req-0",
        "gateway": "default",
        "method": "POST",
        "path": "/v1/messages",
        "endpoint": "messages",
        "route": None,
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "client_model": None,
        "status": 200,
        "stream": False,
        "latency_ms": 12.5,
        "ttfb_ms": None,
        "input_tokens": None,
        "output_tokens": None,
        "cache_read_tokens": None,
        "cache_write_tokens": None,
        "token": None,
        "key": None,
        "cost_usd": None,
        "cache": None,
        "state_error": None,
        "config_version": "v1",
        "attempts": [],
        "error": None,
    }
    return RequestRecord(**{**defaults, **fields})


def attempt(
    target: str, status: int = 200, error: str | None = None, start_ms: float = 0.0, duration_ms: float = 1.0
) -> Attempt:
    return Attempt(target, status, error, start_ms, duration_ms)
