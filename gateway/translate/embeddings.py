"""OpenAI's embeddings request (`POST /v1/embeddings`) checked once, and translated to the embedding APIs
of the other provider kinds; their answers back into OpenAI's `{"object": "list", "data": [...]}`.

Pure converters (the package contract): a request a target cannot take raises `Untranslatable`, which
the data plane answers with a 400 naming the field.

Which API a target embeds with (`api_of`), by provider type and model name, since no provider lists
its models' kinds in a way the gateway could ask offline:

- OpenAI-format types (openai, azure-openai, presets): a model whose name holds `embed`
  (`text-embedding-3-small`, `mistral-embed`, `nomic-embed-text`). The local presets (ollama, vllm,
  lmstudio, llamacpp) serve whatever their operator loaded (a `bge-m3`): their calls are forwarded
  whatever the model, and the server decides.
- gemini: a model whose name holds `embedding` (`gemini-embedding-001`, `text-embedding-004`):
  `embedContent` for one input, `batchEmbedContents` for a list.
- vertex: likewise, through `:predict` (instances[]).
- bedrock: `amazon.titan-embed-text-*` (one `inputText` per call) and `cohere.embed-*` (`texts`), a
  cross-region prefix (`us.`) allowed.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from gateway.translate import Untranslatable

# What an OpenAI embeddings request may carry; a translated target refuses anything else by name.
KNOWN_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})
# Cohere's own request fields, taken from the client's body on a Cohere target (extra_body in the SDK).
COHERE_FIELDS = frozenset({"input_type", "truncate"})
COHERE_INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering"})
ENCODINGS = ("float", "base64")
# Per upstream call, as each API documents its limit: Gemini's batchEmbedContents takes 100 requests,
# Vertex's text-embedding models 250 instances (gemini-embedding-001 one), Cohere on Bedrock 96 texts,
# Titan one inputText.
BATCH = {"gemini": 100, "vertex": 250, "vertex-gemini": 1, "cohere": 96, "titan": 1}
# Models with one fixed output size: `dimensions` there is a 400, never a silent mismatch.
FIXED_SIZE = ("text-embedding-ada-002", "cohere.embed-", "amazon.titan-embed-text-v1", "embedding-001")
# Local and self-hosted OpenAI-compatible servers: what they serve is the operator's choice.
OPEN_PRESETS = frozenset({"ollama", "vllm", "lmstudio", "llamacpp"})


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """The client's request, checked: its texts (or token arrays), their number, and the options."""

    texts: tuple[str, ...]  # empty when the input is token arrays
    tokens: bool  # the input is token ids (OpenAI-format targets only)
    dimensions: int | None
    encoding: str  # float | base64
    extras: Mapping[str, Any] = field(default_factory=dict)  # fields beyond OpenAI's (input_type)


def _bad_input(what: str) -> Untranslatable:
    return Untranslatable(
        f"input: {what}; expected a non-empty string, a non-empty list of non-empty strings, "
        "or token arrays (lists of integers)",
        "input",
    )


def check_request(obj: Mapping[str, Any]) -> EmbedRequest:
    """The request as OpenAI's API checks it: `input`, `dimensions`, `encoding_format`, `user`."""
    if "input" not in obj:
        raise Untranslatable("input: required (a string or a list of strings)", "input")
    raw = obj["input"]
    texts: tuple[str, ...] = ()
    tokens = False
    if isinstance(raw, str):
        if not raw:
            raise _bad_input("an empty string")
        texts = (raw,)
    elif isinstance(raw, list):
        if not raw:
            raise _bad_input("an empty list")
        if all(isinstance(x, str) for x in raw):
            if any(not x for x in raw):
                raise _bad_input(f"item {next(i for i, x in enumerate(raw) if not x)} is an empty string")
            texts = tuple(raw)
        elif all(_is_int(x) for x in raw) or all(
            isinstance(x, list) and x and all(_is_int(t) for t in x) for x in raw
        ):
            tokens = True
        else:
            bad = next(i for i, x in enumerate(raw) if not isinstance(x, str))
            raise _bad_input(f"item {bad} is {_json_type(raw[bad])}, not a string")
    else:
        raise _bad_input(f"got {_json_type(raw)}")
    dimensions = obj.get("dimensions")
    if dimensions is not None and (not _is_int(dimensions) or dimensions < 1):
        raise Untranslatable("dimensions: must be an integer of at least 1", "dimensions")
    encoding = obj.get("encoding_format", "float")
    if encoding is None:
        encoding = "float"
    if encoding not in ENCODINGS:
        raise Untranslatable("encoding_format: must be 'float' or 'base64'", "encoding_format")
    user = obj.get("user")
    if user is not None and not isinstance(user, str):
        raise Untranslatable("user: must be a string", "user")
    extras = {k: obj[k] for k in COHERE_FIELDS if k in obj}
    return EmbedRequest(texts, tokens, dimensions, str(encoding), extras)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string"


# -- which targets embed ---------------------------------------------------------------------------------


def bedrock_model(model: str) -> str:
    """A Bedrock model id without its cross-region prefix (`us.cohere.embed-v4:0` -> `cohere.embed-v4:0`)."""
    head, _, rest = model.partition(".")
    return rest if head in ("us", "eu", "apac", "global", "us-gov") and rest else model


def api_of(ptype: str, model: str, *, open_server: bool = False) -> str | None:
    """The embedding API a target uses: `openai` (same format, forwarded), `gemini`, `vertex`,
    `vertex-gemini`, `titan`, `cohere`; None when the model does not embed. `open_server`: an
    OpenAI-compatible server whose models are its operator's (forwarded, the server decides)."""
    name = model.lower()
    if ptype == "gemini":
        return "gemini" if "embedding" in name else None
    if ptype == "vertex":
        if "embedding" not in name or name.startswith("claude"):
            return None
        return "vertex-gemini" if name.startswith("gemini-") else "vertex"
    if ptype == "bedrock":
        base = bedrock_model(name)
        if base.startswith("amazon.titan-embed-text"):
            return "titan"
        if base.startswith("cohere.embed-"):
            return "cohere"
        return None
    if ptype == "anthropic":
        return None  # Anthropic has no embeddings API
    return "openai" if open_server or "embed" in name else None


def fixed_size(model: str) -> bool:
    name = bedrock_model(model.lower())
    return any(name.startswith(prefix) for prefix in FIXED_SIZE)


def check_target(api: str, model: str, request: EmbedRequest, obj: Mapping[str, Any]) -> None:
    """What this target cannot take, as a 400 naming the field, before any upstream call."""
    if request.dimensions is not None and fixed_size(model):
        raise Untranslatable(
            f"dimensions: model {model!r} returns embeddings of one fixed size and cannot take "
            "`dimensions`; leave it out",
            "dimensions",
        )
    if api == "openai":
        return  # forwarded as is: the server checks the rest
    if request.tokens:
        raise Untranslatable(
            f"input: token arrays are OpenAI's; model {model!r} takes text only (send strings)", "input"
        )
    allowed = KNOWN_FIELDS | (COHERE_FIELDS if api == "cohere" else frozenset())
    for key in obj:
        if key not in allowed:
            raise Untranslatable(f"{key}: not supported by the embeddings of model {model!r}", key)
    if api == "cohere":
        kind = request.extras.get("input_type")
        if kind is not None and kind not in COHERE_INPUT_TYPES:
            raise Untranslatable(
                "input_type: must be one of " + ", ".join(sorted(COHERE_INPUT_TYPES)), "input_type"
            )


# -- requests --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """One upstream call: the path below the provider's base (the type places it), its body, and the
    index of its first input in the client's list."""

    path: str
    body: bytes
    start: int
    count: int


def batches(api: str, model: str, request: EmbedRequest) -> list[Batch]:
    """The upstream calls for `request`, in input order."""
    size = BATCH[api]
    texts = request.texts
    out = []
    for start in range(0, len(texts), size):
        chunk = texts[start : start + size]
        path, body = _one(api, model, chunk, request, single=len(texts) == 1)
        out.append(Batch(path, orjson.dumps(body), start, len(chunk)))
    return out


def _one(
    api: str, model: str, texts: tuple[str, ...], request: EmbedRequest, *, single: bool
) -> tuple[str, dict[str, Any]]:
    dims = request.dimensions
    quoted = quote(model, safe="@")
    if api == "gemini":
        name = f"models/{model}"

        def content(text: str) -> dict[str, Any]:
            one: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
            if dims is not None:
                one["outputDimensionality"] = dims
            return one

        if single:
            body = content(texts[0])
            del body["model"]  # the URL names it
            return f"/models/{quoted}:embedContent", body
        return f"/models/{quoted}:batchEmbedContents", {"requests": [content(t) for t in texts]}
    if api in ("vertex", "vertex-gemini"):
        body = {"instances": [{"content": t} for t in texts]}
        if dims is not None:
            body["parameters"] = {"outputDimensionality": dims}
        return f"/models/{quoted}:predict", body
    if api == "titan":
        body = {"inputText": texts[0]}
        if dims is not None:
            body["dimensions"] = dims
        return "", body
    # cohere
    body = {
        "texts": list(texts),
        "input_type": request.extras.get("input_type", "search_document"),
        "embedding_types": ["float"],
    }
    if "truncate" in request.extras:
        body["truncate"] = request.extras["truncate"]
    return "", body


# -- answers ---------------------------------------------------------------------------------------------


class BadAnswer(ValueError):
    """An upstream 200 whose body is not the embedding answer its API documents."""


def vectors(api: str, answer: Any, count: int) -> tuple[list[list[float]], int | None]:
    """(one vector per input of the call, in order; the input tokens the answer reports, if any)."""
    try:
        if api == "gemini":
            if "embedding" in answer:
                found = [answer["embedding"]["values"]]
            else:
                found = [e["values"] for e in answer["embeddings"]]
            tokens = None
        elif api in ("vertex", "vertex-gemini"):
            preds = answer["predictions"]
            found = [p["embeddings"]["values"] for p in preds]
            counts = [p["embeddings"].get("statistics", {}).get("token_count") for p in preds]
            tokens = int(sum(counts)) if all(isinstance(c, int | float) for c in counts) else None
        elif api == "titan":
            found = [answer["embedding"]]
            tokens = int(answer["inputTextTokenCount"]) if "inputTextTokenCount" in answer else None
        else:  # cohere: a list, or by type with embedding_types
            embeddings = answer["embeddings"]
            found = embeddings["float"] if isinstance(embeddings, dict) else embeddings
            tokens = None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise BadAnswer(f"the embeddings answer lacks {exc}") from None
    if len(found) != count or not all(isinstance(v, list) for v in found):
        raise BadAnswer(f"the embeddings answer has {len(found)} vectors for {count} inputs")
    return found, tokens


def encode(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the vector as little-endian float32, base64'd."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def answer(model: str, found: list[list[float]], encoding: str, input_tokens: int) -> bytes:
    """OpenAI's embeddings answer for the client's model name."""
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": encode(vector) if encoding == "base64" else vector,
        }
        for i, vector in enumerate(found)
    ]
    usage = {"prompt_tokens": input_tokens, "total_tokens": input_tokens}
    return orjson.dumps({"object": "list", "data": data, "model": model, "usage": usage})
