"""`GET /openapi.json`: an OpenAPI 3.1 document of every endpoint the gateway serves (http.md), built
from the code that serves them: the model endpoints (`MODEL_ENDPOINTS`), the request shapes the
translators check (`translate/shapes.py`), the log query's filters, the error envelopes. It holds no
secrets and no config (provider and gateway names are path parameters), so it is served to anyone."""

from __future__ import annotations

import functools
from typing import Any

from gateway.core.errors import KINDS
from gateway.dataplane.handler import MODEL_ENDPOINTS
from gateway.observe.logstore.query import FIELDS, GROUPS
from gateway.observe.record import ENDPOINT_KINDS
from gateway.translate import shapes

JSON = dict[str, Any]
VERSION = "3.1.0"

_ERROR_TYPES = sorted(KINDS)
ANTHROPIC_ERROR: JSON = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
        "request_id": {"type": "string"},
    },
}
OPENAI_ERROR: JSON = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
ADMIN_ERROR: JSON = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}

_SCHEMAS: JSON = {
    "AnthropicMessagesRequest": shapes.ANTHROPIC_REQUEST,
    "AnthropicCountTokensRequest": shapes.ANTHROPIC_COUNT_TOKENS,
    "OpenAIChatRequest": shapes.OPENAI_REQUEST,
    "OpenAIResponsesRequest": shapes.RESPONSES_REQUEST,
    "OpenAIEmbeddingsRequest": {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string"},
            "input": {
                "description": "a string, a list of strings (answered in order), or token arrays "
                "(OpenAI-format targets only)",
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                    {"type": "array", "minItems": 1, "items": {"type": "integer"}},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "array", "minItems": 1, "items": {"type": "integer"}},
                    },
                ],
            },
            "dimensions": {"type": "integer", "minimum": 1},
            "encoding_format": {"enum": ["float", "base64"]},
            "user": {"type": "string"},
        },
    },
    "AnthropicError": ANTHROPIC_ERROR,
    "OpenAIError": OPENAI_ERROR,
    "AdminError": ADMIN_ERROR,
    "Object": {"type": "object"},
}
_REQUEST_SCHEMA = {
    "messages": "AnthropicMessagesRequest",
    "count_tokens": "AnthropicCountTokensRequest",
    "chat": "OpenAIChatRequest",
    "responses": "OpenAIResponsesRequest",
    "input_tokens": "OpenAIResponsesRequest",
    "embeddings": "OpenAIEmbeddingsRequest",
}
# The statuses the gateway itself answers a model call with (http.md, Errors); an upstream's own error
# passes through with its status, in the same envelope.
_MODEL_ERRORS = {
    "400": "malformed JSON, a missing or wrongly typed field",
    "401": "no valid gateway token, or no provider key available",
    "403": "model outside the gateway's allow list, or unpriced under a budget",
    "404": "unknown model",
    "405": "wrong method",
    "413": "body over server.max_body",
    "429": "budget spent or rate limit reached",
    "502": "upstream unreachable or answered badly",
    "503": "state store unavailable (on_unavailable: closed)",
    "504": "upstream timeout",
}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(envelope: str, statuses: dict[str, str]) -> JSON:
    return {
        status: {"description": text, "content": {"application/json": {"schema": _ref(envelope)}}}
        for status, text in statuses.items()
    }


def _query(names: list[str] | tuple[str, ...], description: str = "") -> list[JSON]:
    return [
        {
            "name": n,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": description,
        }
        for n in names
    ]


def _path_param(name: str, description: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


GATEWAY_PARAM = _path_param("gateway", "a named gateway (gateways: in config); `default` is served at /")


def _model_operation(path: str, operation: str) -> JSON:
    openai_family = ("chat", "responses", "input_tokens", "embeddings")
    envelope = "OpenAIError" if operation in openai_family else "AnthropicError"
    answer = "the provider's answer in the client's format (JSON, or SSE with stream: true)"
    compat = path.startswith("/compat/")  # Cloudflare's spelling of the same operation
    summary = {
        "messages": "Anthropic Messages API",
        "count_tokens": "Anthropic token count",
        "chat": "OpenAI Chat Completions",
        "responses": "OpenAI Responses API",
        "input_tokens": "OpenAI Responses API token count",
        "embeddings": "OpenAI embeddings (to every provider kind that embeds)",
    }[operation]
    return {
        "post": {
            "operationId": f"{operation}_compat" if compat else operation,
            "summary": f"{summary} (Cloudflare AI Gateway's unified endpoint path)" if compat else summary,
            "security": [{}, {"gatewayKey": []}, {"bearer": []}, {"apiKey": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(_REQUEST_SCHEMA[operation])}},
            },
            "responses": {
                "200": {
                    "description": answer,
                    "content": {"application/json": {"schema": _ref("Object")}, "text/event-stream": {}},
                },
                **_errors(envelope, _MODEL_ERRORS),
            },
        }
    }


def _response_id_operations() -> JSON:
    """GET/DELETE /v1/responses/{response_id}, its cancel and input_items: at the provider that owns the
    id, or from the gateway's own store for `resp_gw` ids."""
    param = _path_param("response_id", "a Responses API id (one path segment)")
    security: list[JSON] = [{}, {"gatewayKey": []}, {"bearer": []}, {"apiKey": []}]

    def op(summary: str, operation_id: str) -> JSON:
        return {
            "operationId": operation_id,
            "summary": summary,
            "security": security,
            "parameters": [param],
            "responses": {
                "200": {"description": summary, "content": {"application/json": {"schema": _ref("Object")}}},
                **_errors("OpenAIError", {"400": "not cancellable", "404": "unknown or expired id"}),
            },
        }

    base = "/v1/responses/{response_id}"
    return {
        base: {
            "get": op("a stored response", "response_get"),
            "delete": op("delete a stored response", "response_delete"),
        },
        base + "/cancel": {"post": op("cancel a background response", "response_cancel")},
        base + "/input_items": {"get": op("a stored response's input items", "response_input_items")},
    }


def _files_operations() -> JSON:
    """Files, batches and uploads at the SDKs' paths (dataplane/files.py): Anthropic's with
    anthropic-version (Message Batches always), OpenAI's otherwise; x-gateway-provider picks another
    provider of a matching type. Multipart uploads stream through; downloads stream back."""
    security: list[JSON] = [{}, {"gatewayKey": []}, {"bearer": []}, {"apiKey": []}]
    provider = {
        "name": "x-gateway-provider",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "another provider of the matching type (anthropic; openai or azure-openai)",
    }
    multipart = {"multipart/form-data": {"schema": _ref("Object")}}
    json_body = {"application/json": {"schema": _ref("Object")}}
    errors = {
        "400": "refused by the provider, or x-gateway-provider of the wrong type",
        "401": "no valid gateway token or provider key",
        "404": "unknown id, or no provider of the type",
        "413": "the body is over server.max_body",
        "429": "a gateway rate limit",
    }

    def op(operation_id: str, summary: str, ids: tuple[str, ...] = (), body: JSON | None = None) -> JSON:
        media = (
            {"application/octet-stream": {}}
            if operation_id in ("file_content", "message_batch_results")
            else {"application/json": {"schema": _ref("Object")}}
        )
        out: JSON = {
            "operationId": operation_id,
            "summary": summary,
            "security": security,
            "parameters": [*(_path_param(i, "an id the provider gave") for i in ids), provider],
            "responses": {
                "200": {"description": summary, "content": media},
                **_errors("OpenAIError", errors),
            },
        }
        if body is not None:
            out["requestBody"] = {"required": True, "content": body}
        return out

    file, batch, msg, upload = ("file_id",), ("batch_id",), ("message_batch_id",), ("upload_id",)
    return {
        "/v1/files": {
            "get": op("files_list", "list files"),
            "post": op(
                "file_upload", "upload a file (multipart `file`; OpenAI: and `purpose`)", body=multipart
            ),
        },
        "/v1/files/{file_id}": {
            "get": op("file_get", "a file's metadata", file),
            "delete": op("file_delete", "delete a file", file),
        },
        "/v1/files/{file_id}/content": {"get": op("file_content", "a file's content, streamed", file)},
        "/v1/messages/batches": {
            "get": op("message_batches_list", "list Anthropic message batches"),
            "post": op("message_batch_create", "create an Anthropic message batch", body=json_body),
        },
        "/v1/messages/batches/{message_batch_id}": {
            "get": op("message_batch_get", "a message batch (results_url through the gateway)", msg),
            "delete": op("message_batch_delete", "delete an ended message batch", msg),
        },
        "/v1/messages/batches/{message_batch_id}/cancel": {
            "post": op("message_batch_cancel", "cancel a message batch", msg)
        },
        "/v1/messages/batches/{message_batch_id}/results": {
            "get": op("message_batch_results", "a message batch's results, JSONL streamed", msg)
        },
        "/v1/batches": {
            "get": op("batches_list", "list OpenAI batches"),
            "post": op("batch_create", "create an OpenAI batch", body=json_body),
        },
        "/v1/batches/{batch_id}": {"get": op("batch_get", "an OpenAI batch", batch)},
        "/v1/batches/{batch_id}/cancel": {"post": op("batch_cancel", "cancel an OpenAI batch", batch)},
        "/v1/uploads": {"post": op("upload_create", "start an OpenAI upload", body=json_body)},
        "/v1/uploads/{upload_id}/parts": {
            "post": op("upload_part", "add a part (multipart `data`), streamed", upload, multipart)
        },
        "/v1/uploads/{upload_id}/complete": {
            "post": op("upload_complete", "complete an upload (part_ids in order)", upload, json_body)
        },
        "/v1/uploads/{upload_id}/cancel": {"post": op("upload_cancel", "cancel an upload", upload)},
    }


def _models_operation() -> JSON:
    return {
        "get": {
            "operationId": "models",
            "summary": "the models this gateway serves (Anthropic's list shape with anthropic-version)",
            "parameters": [
                *_query(["provider"], "keep one provider's entries"),
                *_query(["limit", "after_id", "before_id"], "Anthropic shape paging"),
            ],
            "responses": {
                "200": {
                    "description": "the model list",
                    "content": {"application/json": {"schema": _ref("Object")}},
                },
                **_errors("OpenAIError", {"401": "no valid gateway token"}),
            },
        }
    }


def _passthrough() -> JSON:
    operation = {
        "summary": "native passthrough to a provider's base_url + path, with its stored key",
        "description": "`path` may hold slashes; `..`, `.` and encoded slashes are refused.",
        "parameters": [
            _path_param("provider", "a provider name from config"),
            _path_param("path", "the rest of the provider's URL"),
        ],
        "responses": {
            "default": {"description": "the provider's answer, as it sent it"},
            **_errors(
                "OpenAIError", {"400": "a path that climbs out of base_url", "404": "no such provider"}
            ),
        },
    }
    methods = ("get", "post", "put", "patch", "delete")
    return {m: {**operation, "operationId": f"passthrough_{m}"} for m in methods}


def _admin(summary: str, params: list[JSON] | None = None, method: str = "get", **more: Any) -> JSON:
    responses = more.pop("responses", None) or {
        "200": {"description": summary, "content": {"application/json": {"schema": _ref("Object")}}}
    }
    responses.update(_errors("AdminError", {"401": "no or a wrong admin token"}))
    return {
        method: {
            "summary": summary,
            "security": [{"admin": []}],
            "parameters": params or [],
            "responses": responses,
            **more,
        }
    }


def _open(summary: str, status: dict[str, str], media: str = "application/json") -> JSON:
    return {
        "get": {
            "summary": summary,
            "security": [],
            "responses": {
                code: {"description": text, "content": {media: {}}} for code, text in status.items()
            },
        }
    }


def _html(summary: str, params: list[JSON] | None = None) -> JSON:
    return {
        "get": {
            "summary": summary,
            "security": [{"admin": []}, {"dashboardSession": []}],
            "parameters": params or [],
            "responses": {"200": {"description": "an HTML page", "content": {"text/html": {}}}},
        }
    }


def _log_filters() -> list[JSON]:
    return [
        *_query(["limit", "cursor"], "paging"),
        *_query(["since", "until"], "ISO 8601 time or a duration back from now (e.g. 1h)"),
        *_filters(),
        *_query(["guardrail"], "records with a hit of this guardrail (README: Guardrails)"),
    ]


def _filters() -> list[JSON]:
    """Equality filters; `endpoint` with its kinds (what each record's endpoint can be)."""
    out = _query([f for f in FIELDS if f != "endpoint"] + ["status"], "equals")
    out.append(
        {
            "name": "endpoint",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(ENDPOINT_KINDS)},
            "description": "the kind of call, from its path (README: Request log)",
        }
    )
    return out


@functools.cache
def document() -> JSON:
    """The whole document; built once (it depends on code, not on config)."""
    paths: JSON = {}
    for path, (_, operation) in MODEL_ENDPOINTS.items():
        paths[path] = _model_operation(path, operation)
        named = _model_operation(path, operation)
        op_id = named["post"]["operationId"]
        named["post"] = {**named["post"], "operationId": f"{op_id}_named", "parameters": [GATEWAY_PARAM]}
        paths["/g/{gateway}" + path] = named
    for path, operation in _response_id_operations().items():
        paths[path] = operation
    for path, methods in _files_operations().items():
        paths[path] = methods
        paths["/g/{gateway}" + path] = {
            method: {
                **op,
                "operationId": op["operationId"] + "_named",
                "parameters": [GATEWAY_PARAM, *op["parameters"]],
            }
            for method, op in methods.items()
        }
    paths["/v1/models"] = _models_operation()
    named_models = _models_operation()
    named_models["get"] = {
        **named_models["get"],
        "operationId": "models_named",
        "parameters": [GATEWAY_PARAM, *named_models["get"]["parameters"]],
    }
    paths["/g/{gateway}/v1/models"] = named_models
    paths["/{provider}/{path}"] = _passthrough()
    paths["/healthz"] = _open("alive", {"200": "ok"})
    paths["/readyz"] = _open(
        "ready: config version, last reload, circuits, state store", {"200": "ready", "503": "draining"}
    )
    paths["/openapi.json"] = _open("this document", {"200": "OpenAPI 3.1"})
    paths["/metrics"] = _admin(
        "Prometheus metrics",
        responses={"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
    )
    paths["/api/reload"] = _admin(
        "reload the config now",
        method="post",
        responses={
            "200": {"description": "reloaded", "content": {"application/json": {"schema": _ref("Object")}}},
            "422": {"description": "rejected; the last good config stays live"},
        },
    )
    paths["/api/config"] = _admin("the compiled table, secrets masked")
    paths["/api/explain"] = _admin(
        "how a model name would be routed",
        method="post",
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"model": {"type": "string"}}}
                }
            },
        },
    )
    paths["/api/explain"]["post"]["responses"].update(
        _errors("AdminError", {"400": "not a JSON object with a model"})
    )
    paths["/api/budgets"] = _admin("budgets: spent, limit, window")
    paths["/api/limits"] = _admin("rate limits and their windows")
    paths["/api/logs"] = _admin("request log records, newest first", _log_filters())
    paths["/api/logs"]["get"]["responses"].update(_errors("AdminError", {"400": "a bad filter"}))
    paths["/api/logs/{id}"] = _admin("one request log record", [_path_param("id", "x-gateway-request-id")])
    paths["/api/logs/{id}"]["get"]["responses"].update(_errors("AdminError", {"404": "no such record"}))
    paths["/api/analytics"] = _admin(
        "totals and time buckets",
        [
            *_query(["since", "until"], "ISO 8601 time or a duration back from now"),
            *_query(["bucket"], "bucket width, e.g. 1h"),
            {
                "name": "group_by",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(GROUPS)},
            },
            *_filters(),
        ],
    )
    paths["/api/analytics"]["get"]["responses"].update(_errors("AdminError", {"400": "a bad filter"}))
    paths["/dashboard"] = _html("overview", _query(["range"]))
    paths["/dashboard/logs"] = _html("request log", [*_query(["limit", "cursor"]), *_filters()])
    paths["/dashboard/logs/{id}"] = _html("one request", [_path_param("id", "x-gateway-request-id")])
    paths["/dashboard/logs/{id}"]["get"]["responses"]["404"] = {"description": "no such record"}
    paths["/dashboard/config"] = _html("the compiled config")
    paths["/dashboard/models"] = _html("the model catalogue")
    paths["/dashboard/login"] = {
        "get": {"summary": "login form", "security": [], "responses": {"200": {"description": "HTML"}}},
        "post": {
            "summary": "log in with the admin token",
            "security": [],
            "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
            "responses": {"303": {"description": "logged in"}, "200": {"description": "the form again"}},
        },
    }
    paths["/dashboard/logout"] = {
        "post": {"summary": "log out", "security": [], "responses": {"303": {"description": "logged out"}}}
    }
    return {
        "openapi": VERSION,
        "info": {
            "title": "llm-gateway",
            "version": "1",
            "description": "Anthropic, OpenAI and native provider APIs in front of many providers; "
            "errors use the envelope of the API called. Error types: " + ", ".join(_ERROR_TYPES),
        },
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "gatewayKey": {"type": "apiKey", "in": "header", "name": "x-gateway-key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "admin": {"type": "http", "scheme": "bearer", "description": "server.admin_token"},
                "dashboardSession": {"type": "apiKey", "in": "cookie", "name": "gateway_dashboard"},
            },
        },
    }
