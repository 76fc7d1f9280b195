"""GET /openapi.json: served without credentials, structurally OpenAPI 3.1, and truthful: every path it
documents answers on the live app (never an undocumented 404 or 5xx), and the bodies the gateway takes
are valid under its request schemas."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
import orjson
import pytest

from tests.battery.inputs import ANTHROPIC_HEADERS, three_formats_config
from tests.conftest import GatewayFactory
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

NAMED = """
gateways:
  default: { auth: none, provider_keys: [stored, request] }
  team: { auth: none, provider_keys: [stored, request] }
"""
ADMIN_TOKEN = "admin-token-0123456789"
METHODS = ("get", "post", "put", "patch", "delete")
USER = [{"role": "user", "content": "hi"}]
BODIES = {
    "/v1/messages": {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": USER},
    "/v1/messages/count_tokens": {"model": "claude-haiku-4-5", "messages": USER},
    "/v1/chat/completions": {"model": "gpt-4o", "messages": USER},
    "/api/explain": {"model": "claude-haiku-4-5"},
}
PARAMS = {
    "gateway": "team",
    "provider": "anthropic",
    "path": "v1/models",
    "id": "no-such-id",
    "response_id": "resp_no_such_id",
    "file_id": "file-no-such-id",
    "batch_id": "batch_no_such_id",
    "message_batch_id": "msgbatch_no_such_id",
    "upload_id": "upload_no_such_id",
    "prompt": "no-such-prompt",
}


@pytest.fixture
def gw(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, gemini_up: FakeUpstream
) -> GatewayServer:
    config = three_formats_config(anthropic_up, openai_up, gemini_up)
    config = config.replace("gateways:\n  default: { auth: none, provider_keys: [stored, request] }\n", NAMED)
    return make_gateway(config + f"\nserver: {{ admin_token: {ADMIN_TOKEN} }}\n")


def _document(gw: GatewayServer) -> dict[str, Any]:
    response = httpx.get(gw.url + "/openapi.json")  # no admin token: it holds no secrets
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_document_is_structurally_openapi_3_1(gw: GatewayServer) -> None:
    doc = _document(gw)
    assert doc["openapi"].startswith("3.1.")
    assert {"title", "version"} <= set(doc["info"])
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for ref in _refs(doc):
        _resolve(doc, ref)
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        for method, operation in item.items():
            assert method in METHODS, (path, method)
            assert operation["responses"], (path, method)
            for status in operation["responses"]:
                assert status == "default" or re.fullmatch(r"[1-5]\d\d", status), (path, status)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
            for scheme in operation.get("security", []):
                assert set(scheme) <= set(doc["components"]["securitySchemes"]), (path, scheme)
            if "operationId" in operation:
                operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids))
    # Every endpoint http.md lists, under the default base URL and a named one.
    for path in (
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/chat/completions",
        "/v1/models",
        "/v1/prompts",
        "/v1/prompts/{prompt}/messages",
        "/v1/prompts/{prompt}/chat/completions",
        "/v1/prompts/{prompt}/render",
    ):
        assert path in doc["paths"] and "/g/{gateway}" + path in doc["paths"]
    for path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/dashboard",
        "/api/logs",
        "/api/analytics",
    ):
        assert path in doc["paths"], path
    assert "/{provider}/{path}" in doc["paths"]
    log_params = {p["name"] for p in doc["paths"]["/api/logs"]["get"]["parameters"]}
    assert {"limit", "cursor", "since", "until", "gateway", "model", "status"} <= log_params


def test_every_documented_path_answers_on_the_live_app(gw: GatewayServer) -> None:
    doc = _document(gw)
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    checked = 0
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        for template, item in doc["paths"].items():
            path = re.sub(r"{(\w+)}", lambda m: PARAMS[m.group(1)], template)
            plain = re.sub(r"^/g/\w+", "", path)
            for method, operation in item.items():
                body = BODIES.get(plain)
                headers = {**ANTHROPIC_HEADERS, **(auth if operation.get("security") != [] else {})}
                content = orjson.dumps(body) if body is not None and method == "post" else None
                response = client.request(method.upper(), path, content=content, headers=headers)
                documented = set(operation["responses"])
                status = str(response.status_code)
                assert status != "404" or "404" in documented, (method, path, response.text[:200])
                assert response.status_code < 500 or status in documented, (method, path, response.text[:200])
                if body is not None and method == "post":
                    assert response.status_code == 200, (path, response.text[:200])
                checked += 1
    assert checked >= 30


def test_request_schemas_take_what_the_gateway_takes(gw: GatewayServer) -> None:
    doc = _document(gw)
    schemas = doc["components"]["schemas"]

    def validator(name: str) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator({**schemas[name], "components": {"schemas": schemas}})

    for name, body in [
        ("AnthropicMessagesRequest", BODIES["/v1/messages"]),
        ("AnthropicCountTokensRequest", BODIES["/v1/messages/count_tokens"]),
        ("OpenAIChatRequest", BODIES["/v1/chat/completions"]),
    ]:
        assert not list(validator(name).iter_errors(body)), name
    prompt_call = {"variables": {"q": "hi"}, "model": "gpt-4o", "messages": [], "stream": True}
    assert not list(validator("PromptCall").iter_errors(prompt_call))
    assert list(validator("PromptCall").iter_errors({**prompt_call, "messages": USER}))
    wrong = {"model": "gpt-4o", "max_tokens": 8, "messages": USER, "tools": "x"}
    assert list(validator("AnthropicMessagesRequest").iter_errors(wrong))
    envelope = validator("AnthropicError")
    answer = httpx.post(gw.url + "/v1/messages", content=orjson.dumps(wrong), headers=ANTHROPIC_HEADERS)
    assert answer.status_code == 400 and not list(envelope.iter_errors(answer.json()))
    answer = httpx.post(
        gw.url + "/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and not list(validator("OpenAIError").iter_errors(answer.json()))
