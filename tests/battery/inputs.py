"""What the hostile-input tests share: a gateway config reaching all three wire formats (so every call
can be same-format or translated), and the error envelopes an answer must match for its route."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
JSON_HEADERS = {"content-type": "application/json"}


def three_formats_config(
    anthropic: FakeUpstream, openai: FakeUpstream, gemini: FakeUpstream, extra: str = ""
) -> str:
    """standard_config plus a Gemini provider (`gemini-*` names) with a stored key."""
    config = standard_config(anthropic, openai, extra)
    config = config.replace(
        "providers:\n", f'providers:\n  google: {{ type: gemini, base_url: "{gemini.base_url}" }}\n', 1
    )
    config = config.replace(
        "keys:\n", "keys:\n  google-main: { provider: google, secret: sk-gemini-0123456789 }\n", 1
    )
    return config.replace("models:\n", "models:\n  gemini-*: google/*\n", 1)


@contextmanager
def three_formats_gateway(
    tmp: pytest.TempPathFactory,
    anthropic: FakeUpstream,
    openai: FakeUpstream,
    gemini: FakeUpstream,
    extra: str = "",
) -> Iterator[GatewayServer]:
    """One in-process gateway on three_formats_config, for a module whose tests only send requests."""
    folder = tmp.mktemp("gateway") / "config"
    folder.mkdir()
    (folder / "gateway.yaml").write_text(
        textwrap.dedent(three_formats_config(anthropic, openai, gemini, extra))
    )
    server = GatewayServer(folder).start()
    try:
        yield server
    finally:
        server.stop()


def anthropic_error(body: bytes) -> dict[str, Any] | None:
    """The `error` object of an Anthropic error envelope, or None when `body` is not one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not (isinstance(obj, dict) and obj.get("type") == "error" and isinstance(obj.get("error"), dict)):
        return None
    err = obj["error"]
    ok = isinstance(err.get("type"), str) and isinstance(err.get("message"), str)
    return err if ok and isinstance(obj.get("request_id"), str) else None


def openai_error(body: bytes) -> dict[str, Any] | None:
    """The `error` object of an OpenAI error envelope, or None when `body` is not one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not (isinstance(obj, dict) and isinstance(obj.get("error"), dict)):
        return None
    err = obj["error"]
    keys_ok = {"message", "type", "param", "code"} <= set(err)
    return err if keys_ok and isinstance(err["message"], str) and isinstance(err["type"], str) else None


def error_in_envelope(route: str, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
    """The error object when `body` is the error envelope `route` must answer with (http.md, Errors)."""
    if route.endswith(("/v1/chat/completions", "/v1/responses", "/v1/embeddings")):
        return openai_error(body)
    if route.endswith(("/v1/messages", "/v1/messages/count_tokens")):
        return anthropic_error(body)
    # Elsewhere (model list, passthrough) the client's format is read from anthropic-version.
    lowered = {k.lower() for k in headers}
    return anthropic_error(body) if "anthropic-version" in lowered else openai_error(body)
