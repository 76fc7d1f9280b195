"""The fakes' embedding endpoints are as strict as the real APIs: auth, unknown fields, wrong dimensions,
wrong input; and deterministic, so tests can check order and encoding. Clients: the openai SDK, boto3
(SigV4) and raw HTTP with a minted Google token."""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.exceptions
import httpx
import openai
import pytest
from botocore.config import Config

from tests.fakes.bedrock_wire import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from tests.fakes.embeddings import tokens, vector
from tests.fakes.upstream import FakeUpstream


def runtime(fake: FakeUpstream) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=fake.url,
        region_name="us-east-1",
        aws_access_key_id=DEFAULT_ACCESS_KEY,
        aws_secret_access_key=DEFAULT_SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def test_openai_embeddings_fake(openai_up: FakeUpstream) -> None:
    client = openai.OpenAI(base_url=openai_up.base_url, api_key="k", max_retries=0)
    result = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=4)
    assert [d.embedding for d in result.data] == [vector("a", 4), vector("b", 4)]  # base64, decoded
    assert result.usage.prompt_tokens == tokens("a") + tokens("b")
    with pytest.raises(openai.BadRequestError, match="Unrecognized request argument"):
        client.embeddings.create(model="text-embedding-3-small", input="a", extra_body={"stream": True})
    with pytest.raises(openai.BadRequestError, match="does not support specifying dimensions"):
        client.embeddings.create(model="text-embedding-ada-002", input="a", dimensions=4)
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model="text-embedding-3-small", input="a", dimensions=99999)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="gpt-5", input="a")
    assert (
        httpx.post(openai_up.base_url + "/embeddings", json={"model": "x", "input": "a"}).status_code == 401
    )


def test_gemini_embedding_fake(gemini_up: FakeUpstream) -> None:
    base = gemini_up.base_url + "/models/gemini-embedding-001"
    key = {"x-goog-api-key": "k"}
    one = httpx.post(base + ":embedContent", json={"content": {"parts": [{"text": "a"}]}}, headers=key)
    assert one.json() == {"embedding": {"values": vector("a", 3072)}}
    request = {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "b"}]},
        "outputDimensionality": 8,
    }
    batch = httpx.post(base + ":batchEmbedContents", json={"requests": [request]}, headers=key)
    assert batch.json() == {"embeddings": [{"values": vector("b", 8)}]}
    unknown = httpx.post(
        base + ":embedContent", json={"content": {"parts": [{"text": "a"}]}, "dims": 3}, headers=key
    )
    assert unknown.status_code == 400 and "Unknown name" in unknown.text
    too_big = httpx.post(
        base + ":embedContent",
        json={"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 5000},
        headers=key,
    )
    assert too_big.status_code == 400
    wrong_model = {**request, "model": "models/other"}
    assert (
        httpx.post(base + ":batchEmbedContents", json={"requests": [wrong_model]}, headers=key).status_code
        == 400
    )
    assert httpx.post(base + ":embedContent", json={"content": {"parts": [{"text": "a"}]}}).status_code == 403
    chat = httpx.post(
        gemini_up.base_url + "/models/gemini-2.5-flash:embedContent",
        json={"content": {"parts": [{"text": "a"}]}},
        headers=key,
    )
    assert chat.status_code == 404


def test_vertex_predict_fake(vertex_up: FakeUpstream) -> None:
    token = vertex_up.settings.issue_token()
    path = "/v1/projects/test-project/locations/us-east5/publishers/google/models/{}:predict"

    def predict(model: str, body: Any, auth: str | None = token) -> httpx.Response:
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        return httpx.post(vertex_up.url + path.format(model), json=body, headers=headers)

    body = {"instances": [{"content": "a"}, {"content": "bb"}], "parameters": {"outputDimensionality": 16}}
    answer = predict("text-embedding-005", body).json()
    assert [p["embeddings"]["values"] for p in answer["predictions"]] == [vector("a", 16), vector("bb", 16)]
    assert predict("text-embedding-005", body, None).status_code == 401
    assert predict("gemini-embedding-001", body).status_code == 400  # one instance per request
    assert predict("text-embedding-005", {**body, "extra": 1}).status_code == 400
    assert predict("text-embedding-005", {"instances": [{"content": "a", "kind": "x"}]}).status_code == 400
    too_big = {"instances": [{"content": "a"}], "parameters": {"outputDimensionality": 769}}
    assert predict("text-embedding-005", too_big).status_code == 400


def test_bedrock_titan_and_cohere_fakes_through_boto3(bedrock_up: FakeUpstream) -> None:
    client = runtime(bedrock_up)
    titan = client.invoke_model(
        modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "hello", "dimensions": 256})
    )
    answer = json.loads(titan["body"].read())
    assert answer == {"embedding": vector("hello", 256), "inputTextTokenCount": tokens("hello")}
    with pytest.raises(botocore.exceptions.ClientError, match="dimensions"):
        client.invoke_model(
            modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "x", "dimensions": 300})
        )
    with pytest.raises(botocore.exceptions.ClientError, match="extraneous key"):
        client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"texts": ["x"]}))
    cohere = client.invoke_model(
        modelId="cohere.embed-english-v3",
        body=json.dumps({"texts": ["a", "b"], "input_type": "search_query", "embedding_types": ["float"]}),
    )
    headers = cohere["ResponseMetadata"]["HTTPHeaders"]
    assert json.loads(cohere["body"].read())["embeddings"]["float"] == [vector("a", 1024), vector("b", 1024)]
    assert headers["x-amzn-bedrock-input-token-count"] == str(tokens("a") + tokens("b"))
    with pytest.raises(botocore.exceptions.ClientError, match="input_type"):
        client.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["a"]}))
    with pytest.raises(botocore.exceptions.ClientError, match="extraneous key"):
        client.invoke_model(
            modelId="cohere.embed-english-v3",
            body=json.dumps({"texts": ["a"], "input_type": "search_query", "dimensions": 256}),
        )
    unsigned = httpx.post(bedrock_up.url + "/model/cohere.embed-english-v3/invoke", json={"texts": ["a"]})
    assert unsigned.status_code == 403
