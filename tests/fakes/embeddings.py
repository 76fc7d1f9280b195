"""Embedding endpoints of the fakes, as strict as the real APIs: OpenAI's /v1/embeddings (and Azure's
deployment path), Gemini's embedContent / batchEmbedContents, Vertex's :predict, and Bedrock's
InvokeModel for Titan text embeddings and Cohere embed.

Vectors are deterministic (`vector(text, size)`): tests compute what each input must come back as, so
order, dimensions and the base64 encoding are checked exactly. Every value is a multiple of 1/256 in
[-0.5, 0.5), exact in float32, so a base64 round trip gives the same numbers.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from aiohttp import web

from .common import Rejection, json_response, new_id

# Default output size per model family (the real models' sizes).
SIZES = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "gemini-embedding-001": 3072,
    "text-embedding-004": 768,
    "text-embedding-005": 768,
    "text-multilingual-embedding-002": 768,
    "amazon.titan-embed-text-v2:0": 1024,
    "amazon.titan-embed-text-v1": 1536,
    "cohere.embed-english-v3": 1024,
    "cohere.embed-multilingual-v3": 1024,
}
TITAN_DIMENSIONS = (256, 512, 1024)


def vector(text: str, size: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(((digest[i % 32] + i) % 256) - 128) / 256 for i in range(size)]


def tokens(text: str) -> int:
    """The fakes' token count of one input: ~4 characters a token."""
    return max(1, len(text) // 4)


def size_of(model: str) -> int | None:
    base = model.split(".", 1)[1] if model.startswith(("us.", "eu.", "apac.", "global.")) else model
    return SIZES.get(base)


def _unknown(obj: dict[str, Any], allowed: set[str]) -> str | None:
    return next((k for k in obj if k not in allowed), None)


# -- OpenAI (and Azure, same body) ---------------------------------------------------------------------


def openai_answer(payload: dict[str, Any], model: str) -> web.Response:
    """OpenAI's checks and answer for an /embeddings body (auth checked by the caller)."""
    extra = _unknown(payload, {"model", "input", "dimensions", "encoding_format", "user"})
    if extra is not None:
        raise Rejection(400, f"Unrecognized request argument supplied: {extra}")
    size = size_of(model)
    if size is None:
        raise Rejection(
            404 if "embed" not in model else 400,
            f"The model `{model}` does not exist or you do not have access to it."
            if "embed" not in model
            else f"This model ({model}) is not supported by the fake.",
            code="model_not_found",
        )
    raw = payload.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        texts = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        texts = [str(raw)]
    elif isinstance(raw, list) and raw and all(isinstance(t, list) and t for t in raw):
        texts = [str(t) for t in raw]
    else:
        raise Rejection(400, "'$.input' is invalid. Please check the API reference.", param="input")
    if any(not t for t in texts):
        raise Rejection(400, "'$.input' is invalid. Please check the API reference.", param="input")
    dimensions = payload.get("dimensions")
    if dimensions is not None:
        if model == "text-embedding-ada-002":
            raise Rejection(400, "This model does not support specifying dimensions.", param="dimensions")
        if not isinstance(dimensions, int) or not 1 <= dimensions <= size:
            raise Rejection(400, f"Invalid value for 'dimensions' = {dimensions}.", param="dimensions")
        size = dimensions
    encoding = payload.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise Rejection(400, "Invalid value for 'encoding_format'.", param="encoding_format")
    data = []
    for i, text in enumerate(texts):
        values = vector(text, size)
        packed = base64.b64encode(struct.pack(f"<{size}f", *values)).decode()
        data.append(
            {"object": "embedding", "index": i, "embedding": packed if encoding == "base64" else values}
        )
    used = sum(tokens(t) for t in texts)
    body = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": used, "total_tokens": used},
    }
    return json_response(body, headers={"x-request-id": new_id("req_fake")})


# -- Gemini (AI Studio) --------------------------------------------------------------------------------

_GEMINI_FIELDS = {"model", "content", "taskType", "title", "outputDimensionality"}


def _gemini_content(one: Any, where: str, model: str) -> list[float]:
    if not isinstance(one, dict):
        raise Rejection(400, f"Invalid JSON payload received. {where}: expected an object.")
    extra = _unknown(one, _GEMINI_FIELDS)
    if extra is not None:
        raise Rejection(
            400, f"Invalid JSON payload received. Unknown name \"{extra}\" at '{where}': Cannot find field."
        )
    parts = (one.get("content") or {}).get("parts") if isinstance(one.get("content"), dict) else None
    if (
        not isinstance(parts, list)
        or not parts
        or not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts)
    ):
        raise Rejection(400, f"* {where}.content: contents is not specified")
    text = "".join(p["text"] for p in parts)
    size = size_of(model)
    assert size is not None
    dims = one.get("outputDimensionality")
    if dims is not None:
        if not isinstance(dims, int) or not 1 <= dims <= size:
            raise Rejection(400, f"* {where}.output_dimensionality: must be between 1 and {size}")
        size = dims
    return vector(text, size)


def gemini_embed(payload: dict[str, Any], model: str, *, batch: bool) -> web.Response:
    if size_of(model) is None:
        method = "batchEmbedContents" if batch else "embedContent"
        raise Rejection(
            404, f"models/{model} is not found for API version v1beta, or is not supported for {method}."
        )
    if not batch:
        if "model" in payload and payload["model"] != f"models/{model}":
            raise Rejection(400, "* EmbedContentRequest.model: model does not match the URL")
        return json_response(
            {"embedding": {"values": _gemini_content(payload, "EmbedContentRequest", model)}}
        )
    extra = _unknown(payload, {"requests"})
    if extra is not None:
        raise Rejection(400, f'Invalid JSON payload received. Unknown name "{extra}": Cannot find field.')
    requests = payload.get("requests")
    if not isinstance(requests, list) or not requests or len(requests) > 100:
        raise Rejection(400, "* BatchEmbedContentsRequest.requests: between 1 and 100 requests")
    out = []
    for i, one in enumerate(requests):
        if not isinstance(one, dict) or one.get("model") != f"models/{model}":
            raise Rejection(400, f"* BatchEmbedContentsRequest.requests[{i}].model: must be models/{model}")
        out.append({"values": _gemini_content(one, f"BatchEmbedContentsRequest.requests[{i}]", model)})
    return json_response({"embeddings": out})


# -- Vertex :predict -----------------------------------------------------------------------------------


def vertex_predict(payload: dict[str, Any], model: str) -> web.Response:
    size = size_of(model)
    if size is None:
        raise Rejection(400, f"Model {model} does not support :predict for embeddings in the fake.")
    extra = _unknown(payload, {"instances", "parameters"})
    if extra is not None:
        raise Rejection(400, f'Invalid JSON payload received. Unknown name "{extra}": Cannot find field.')
    instances = payload.get("instances")
    limit = 1 if model.startswith("gemini-") else 250
    if not isinstance(instances, list) or not instances:
        raise Rejection(400, "instances: at least one instance is required")
    if len(instances) > limit:
        raise Rejection(
            400, f"Unable to submit request because {model} takes at most {limit} instances per request."
        )
    params = payload.get("parameters") or {}
    if not isinstance(params, dict) or _unknown(params, {"outputDimensionality", "autoTruncate"}):
        raise Rejection(
            400, f"parameters: unknown field {_unknown(params, {'outputDimensionality', 'autoTruncate'})}"
        )
    dims = params.get("outputDimensionality")
    if dims is not None:
        if not isinstance(dims, int) or not 1 <= dims <= size:
            raise Rejection(400, f"outputDimensionality must be between 1 and {size}")
        size = dims
    predictions = []
    characters = 0
    for i, one in enumerate(instances):
        if (
            not isinstance(one, dict)
            or _unknown(one, {"content", "task_type", "title"})
            or not isinstance(one.get("content"), str)
        ):
            raise Rejection(400, f"instances[{i}]: expected {{content, task_type?, title?}}")
        text = one["content"]
        characters += len(text)
        predictions.append(
            {
                "embeddings": {
                    "values": vector(text, size),
                    "statistics": {"token_count": tokens(text), "truncated": False},
                }
            }
        )
    return json_response({"predictions": predictions, "metadata": {"billableCharacterCount": characters}})


# -- Bedrock InvokeModel: Titan and Cohere --------------------------------------------------------------


def is_bedrock_embedding(model_id: str) -> bool:
    base = model_id.split(".", 1)[1] if model_id.startswith(("us.", "eu.", "apac.", "global.")) else model_id
    return base.startswith(("amazon.titan-embed-text", "cohere.embed-"))


def _extraneous(key: str) -> Rejection:
    return Rejection(
        400,
        f"Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your "
        "input and try again.",
        code="ValidationException",
    )


def bedrock_embed(payload: dict[str, Any], model_id: str, request_id: str) -> web.Response:
    base = model_id.split(".", 1)[1] if model_id.startswith(("us.", "eu.", "apac.", "global.")) else model_id
    size = size_of(base)
    assert size is not None
    if base.startswith("amazon.titan"):
        allowed = (
            {"inputText", "dimensions", "normalize", "embeddingTypes"}
            if base.endswith("v2:0")
            else {"inputText"}
        )
        extra = _unknown(payload, allowed)
        if extra is not None:
            raise _extraneous(extra)
        text = payload.get("inputText")
        if not isinstance(text, str) or not text:
            raise Rejection(
                400, "Malformed input request: #/inputText: expected minLength: 1", code="ValidationException"
            )
        dims = payload.get("dimensions")
        if dims is not None:
            if dims not in TITAN_DIMENSIONS:
                raise Rejection(
                    400,
                    f"Malformed input request: #/dimensions: {dims} is not a valid enum value",
                    code="ValidationException",
                )
            size = dims
        used = tokens(text)
        body: dict[str, Any] = {"embedding": vector(text, size), "inputTextTokenCount": used}
        return json_response(
            body, headers={"x-amzn-RequestId": request_id, "X-Amzn-Bedrock-Input-Token-Count": str(used)}
        )
    extra = _unknown(payload, {"texts", "input_type", "truncate", "embedding_types", "images"})
    if extra is not None:
        raise _extraneous(extra)
    texts = payload.get("texts")
    if (
        not isinstance(texts, list)
        or not texts
        or len(texts) > 96
        or not all(isinstance(t, str) and t for t in texts)
    ):
        raise Rejection(
            400,
            "Malformed input request: #/texts: expected 1 to 96 non-empty strings",
            code="ValidationException",
        )
    if payload.get("input_type") not in ("search_document", "search_query", "classification", "clustering"):
        raise Rejection(
            400,
            "Malformed input request: #/input_type: required, one of search_document, search_query, "
            "classification, clustering",
            code="ValidationException",
        )
    types = payload.get("embedding_types")
    vectors = [vector(t, size) for t in texts]
    cohere: dict[str, Any] = {"id": new_id(""), "texts": texts}
    if types is None:
        cohere.update(embeddings=vectors, response_type="embeddings_floats")
    else:
        if types != ["float"]:
            raise Rejection(
                400,
                'Malformed input request: the fake answers embedding_types ["float"] only',
                code="ValidationException",
            )
        cohere.update(embeddings={"float": vectors}, response_type="embeddings_by_type")
    used = sum(tokens(t) for t in texts)
    return json_response(
        cohere, headers={"x-amzn-RequestId": request_id, "X-Amzn-Bedrock-Input-Token-Count": str(used)}
    )
