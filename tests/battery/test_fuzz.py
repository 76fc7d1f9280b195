"""R5, malformed input: a property-based fuzzer driven by GET /openapi.json, and the committed corpus of
hostile requests replayed over a raw socket (what httpx cannot send).

Pass criteria (reliability.md R5): no 5xx (nothing scripts the fakes to fail here), every gateway-made
4xx in the envelope of its route, no rejected request reaching a fake, the gateway alive, p99 rejection
under 50 ms. Reduced: 2,000 cases; full (BATTERY=full): 20,000.
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.battery.conftest import scale
from tests.battery.inputs import error_in_envelope, three_formats_gateway
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer

CORPUS = Path(__file__).resolve().parent / "corpus" / "malformed" / "cases.json"
# ~8 ms a case on a quiet machine (client, gateway and fakes share one process): 2,000 fit the
# reduced tier's minute; FUZZ_CASES overrides for a longer local run.
CASES = int(os.environ.get("FUZZ_CASES", "0")) or scale(2000, 20000)
P99_REJECTION_S = 0.050
MODEL_PATHS = (
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/embeddings",
)
MODELS = [
    "claude-haiku-4-5",
    "gpt-4o",
    "gemini-2.5-flash",
    "fast",
    "no-such-model",
    "dynamic/none",
    "anthropic/claude-x",
    "",
    "claude-\u00e9\u4e2d",
]

# -- Generating bodies from the document's schemas ---------------------------------------------------

JUNK: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _valid(schema: dict[str, Any], schemas: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values the schema takes (mostly); `name` picks realistic values for a few fields."""
    if "$ref" in schema:
        return _valid(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas, name)
    if name == "model":
        return st.sampled_from(MODELS) | st.text(max_size=30)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type", "object")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    options = []
    for kind in kinds:
        if kind == "object":
            options.append(_object(schema, schemas))
        elif kind == "array":
            items = schema.get("items", {})
            least = schema.get("minItems", 0)
            options.append(
                st.lists(st.deferred(lambda items=items: _valid(items, schemas)), min_size=least, max_size=3)
            )
        elif kind == "string":
            options.append(st.sampled_from(["hi", "user", "text", "auto", "tool"]) | st.text(max_size=12))
        elif kind == "integer":
            options.append(st.integers(min_value=-2, max_value=4096) | st.integers(-(2**63), 2**63 - 1))
        elif kind == "number":
            options.append(st.floats(min_value=-2, max_value=2) | st.integers(min_value=0, max_value=2))
        elif kind == "boolean":
            options.append(st.booleans())
        else:
            options.append(st.none())
    return st.one_of(options)


def _object(schema: dict[str, Any], schemas: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    required = [k for k in schema.get("required", []) if k in props]
    optional = [k for k in props if k not in required]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        keys = required + draw(
            st.lists(st.sampled_from(optional), max_size=4, unique=True) if optional else st.just([])
        )
        for key in keys:
            if draw(st.integers(0, 9)) == 0:
                continue  # a required field missing, now and then
            # Now and then a wrong type: the mutation the gateway must answer with a 400.
            wrong = draw(st.integers(0, 11)) == 0
            out[key] = draw(JUNK if wrong else _valid(props[key], schemas, key))
        if draw(st.integers(0, 15)) == 0:
            out[draw(st.text(max_size=8))] = draw(JUNK)  # an unknown field
        return out

    return build()


# -- Raw body mutations orjson.dumps cannot make -----------------------------------------------------


def _raw_mutation(body: bytes, kind: int, n: int) -> bytes:
    if kind == 0:
        return body.replace(b"}", b',"x":NaN}', 1)
    if kind == 1:
        return body.replace(b"}", b',"x":1e309}', 1)
    if kind == 2:
        return body[:-1] + b',"model":"gpt-4o","model":"claude-haiku-4-5"}' if body.endswith(b"}") else body
    if kind == 3:
        return body[: max(0, n % (len(body) + 1))]  # truncated
    if kind == 4:
        return body.replace(b"}", b',"s":"\xff\xfe\xc3"}', 1)  # invalid UTF-8
    if kind == 5:
        depth = 1 + n % 1100
        return (
            body[:-1] + b',"metadata":' + b"[" * depth + b"]" * depth + b"}" if body.endswith(b"}") else body
        )
    if kind == 6:
        return b"\xef\xbb\xbf" + body  # a BOM
    if kind == 7:
        return b""
    if kind == 8:
        return body.replace(b'"', b"'")
    if kind == 9:  # an integer past 64 bits (orjson.dumps cannot write one, so it is made here)
        return body.replace(b"}", b',"max_tokens":123456789012345678901234567890}', 1)
    return body


ODD_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "content-type",
            "anthropic-version",
            "anthropic-beta",
            "x-gateway-timeout",
            "x-gateway-max-attempts",
            "x-gateway-cache-ttl",
            "x-gateway-cache-key",
            "authorization",
            "x-api-key",
            "x-gateway-key",
            "accept-encoding",
        ]
    ),
    st.sampled_from(
        ["", "0", "-1", "1e309", "NaN", "abc", "10s", "9" * 30, "text/plain", "Bearer", "\u00e9t\u00e9"]
    ),
    max_size=3,
)


@pytest.fixture(scope="module")
def fuzz_gw(
    tmp_path_factory: pytest.TempPathFactory,
    _anthropic_upstream: FakeUpstream,
    _openai_upstream: FakeUpstream,
    _gemini_upstream: FakeUpstream,
) -> Iterator[GatewayServer]:
    extra = "\nserver: { admin_token: fuzz-admin-token-0123456789 }\n"
    ups = (_anthropic_upstream, _openai_upstream, _gemini_upstream)
    with three_formats_gateway(tmp_path_factory, *ups, extra) as server:
        yield server


class Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.rejections: list[float] = []
        self.failures: list[str] = []


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every documented operation the fuzzer drives: (method, path with parameters filled, operation)."""
    out = []
    fill = {
        "gateway": "default",
        "provider": "anthropic",
        "path": "v1/models",
        "id": "x",
        "response_id": "resp_x",
        "file_id": "file-x",
        "batch_id": "batch_x",
        "message_batch_id": "msgbatch_x",
        "upload_id": "upload_x",
        "prompt": "p",  # none configured: every prompt call is a 404 (after auth)
    }
    for template, item in doc["paths"].items():
        for method, operation in item.items():
            if template.startswith("/dashboard/log"):  # login throttling is the security helper's
                continue
            out.append((method, re.sub(r"{(\w+)}", lambda m: fill[m.group(1)], template), operation))
    return out


def _check(
    tally: Tally, method: str, path: str, headers: dict[str, str], response: httpx.Response, seconds: float
) -> None:
    tally.sent += 1
    status = response.status_code
    tally.statuses[status] = tally.statuses.get(status, 0) + 1
    where = f"{method} {path} -> {status}: {response.text[:160]!r}"
    if status >= 500:
        tally.failures.append(where)
        return
    plain = re.sub(r"^/g/[^/]+", "", path.split("?", 1)[0])
    gateway_made = "x-gateway-attempts" not in response.headers
    if 400 <= status < 500 and gateway_made:
        tally.rejections.append(seconds)
        route_known = plain in MODEL_PATHS or plain == "/v1/models"
        if route_known and error_in_envelope(plain, headers, response.content) is None:
            tally.failures.append("envelope: " + where)


@pytest.mark.timeout(600)
def test_fuzz_every_documented_operation(
    fuzz_gw: GatewayServer,
    _anthropic_upstream: FakeUpstream,
    _openai_upstream: FakeUpstream,
    _gemini_upstream: FakeUpstream,
    figures: dict[str, Any],
) -> None:
    doc = httpx.get(fuzz_gw.url + "/openapi.json").json()
    schemas = doc["components"]["schemas"]
    operations = _operations(doc)
    model_operations = [op for op in operations if op[1] in MODEL_PATHS or op[1].startswith("/g/")]
    validators = {
        path: jsonschema.Draft202012Validator(
            {
                **schemas[
                    doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"][
                        "$ref"
                    ].rsplit("/", 1)[1]
                ],
                "components": {"schemas": schemas},
            }
        )
        for path in MODEL_PATHS
    }
    fakes = (_anthropic_upstream, _openai_upstream, _gemini_upstream)
    tally = Tally()
    client = httpx.Client(base_url=fuzz_gw.url, timeout=30)

    @st.composite
    def case(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
        # Three cases in four are model calls: that is where the translators read bodies.
        pool = model_operations if draw(st.integers(0, 3)) else operations
        method, path, operation = draw(st.sampled_from(pool))
        if draw(st.integers(0, 19)) == 0:
            method = draw(st.sampled_from(["get", "put", "delete", "patch", "post"]))
        body = b""
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is not None:
            body = orjson.dumps(draw(_valid(content["schema"], schemas)))
            if draw(st.integers(0, 4)) == 0:
                body = _raw_mutation(body, draw(st.integers(0, 10)), draw(st.integers(0, 10**6)))
        headers = {"content-type": "application/json"}
        if path.endswith("/v1/messages") or "count_tokens" in path or draw(st.booleans()):
            headers["anthropic-version"] = "2023-06-01"
        admin = any("admin" in scheme for scheme in operation.get("security", []))
        if admin and draw(st.booleans()):
            headers["authorization"] = "Bearer fuzz-admin-token-0123456789"
        headers.update(draw(ODD_HEADERS))
        if draw(st.integers(0, 9)) == 0:
            path += draw(st.sampled_from(["?beta=true", "/", "?limit=-1", "?since=%ff", "?x=\u00e9", "//"]))
        return method, path, headers, body

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # failures are tallied, not raised: nothing to shrink
        suppress_health_check=list(HealthCheck),
    )
    @given(case())
    def run(one: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, body = one
        before = sum(len(f.requests) for f in fakes)
        started = time.perf_counter()
        try:
            raw_headers = {k: v.encode() for k, v in headers.items()}  # UTF-8 bytes: httpx takes them as sent
            response = client.request(method.upper(), path, content=body or None, headers=raw_headers)
        except httpx.HTTPError as exc:
            tally.sent += 1
            tally.failures.append(f"{method} {path}: no answer ({exc!r})")
            return
        seconds = time.perf_counter() - started
        _check(tally, method, path, headers, response, seconds)
        plain = re.sub(r"^/g/[^/]+", "", path.split("?", 1)[0])
        if (
            response.status_code == 200
            and method == "post"
            and plain in MODEL_PATHS
            and _translated(plain, response)
        ):
            # A translated call reads the body itself: one its own schema refuses must not pass.
            try:
                sent = orjson.loads(body)
            except orjson.JSONDecodeError:
                sent = None
            if sent is not None and any(True for _ in validators[plain].iter_errors(sent)):
                tally.failures.append(f"translated 200 for a body the schema refuses: {path} {body[:200]!r}")
        gateway_made = "x-gateway-attempts" not in response.headers
        if (
            400 <= response.status_code < 500
            and gateway_made
            and sum(len(f.requests) for f in fakes) != before
        ):
            tally.failures.append(f"a rejected request reached a fake: {method} {path}")
        if len(fakes[0].requests) > 500:  # keep the fakes' records small over 20,000 cases
            for fake in fakes:
                fake.reset()

    try:
        run()
    finally:
        client.close()
    alive = httpx.get(fuzz_gw.url + "/healthz").status_code == 200
    p99 = _p99(tally.rejections)
    figures.update(
        cases=tally.sent,
        statuses={str(k): v for k, v in sorted(tally.statuses.items())},
        rejections=len(tally.rejections),
        rejection_p99_ms=round(p99 * 1000, 2),
        failures=len(tally.failures),
        failure_examples=tally.failures[:20],
        alive=alive,
    )
    assert not tally.failures, tally.failures[:20]
    assert alive
    assert tally.sent >= CASES * 0.9
    assert p99 < P99_REJECTION_S, p99


def _translated(path: str, response: httpx.Response) -> bool:
    provider = response.headers.get("x-gateway-provider")
    client = "openai" if path in ("/v1/chat/completions", "/v1/responses") else "anthropic"
    return provider is not None and provider != client


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


# -- The committed corpus, over a raw socket ---------------------------------------------------------


def _corpus() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = orjson.loads(CORPUS.read_bytes())
    return cases


def _body(spec: dict[str, Any]) -> bytes:
    if "text" in spec:
        return str(spec["text"]).encode()
    if "b64" in spec:
        return base64.b64decode(spec["b64"])
    if "nest" in spec:  # {"model": ..., "nest": N}: N levels of arrays in metadata
        head = orjson.dumps({k: v for k, v in spec.items() if k != "nest"})[:-1]
        return head + b',"metadata":' + b"[" * spec["nest"] + b"]" * spec["nest"] + b"}"
    if "size" in spec:  # a generated body of `size` bytes (a 50 MB one is not committed)
        head = b'{"model":"claude-haiku-4-5","max_tokens":8,"messages":[{"role":"user","content":"'
        return head + b"a" * (spec["size"] - len(head) - 4) + b'"}]}'
    raise ValueError(spec)


def _request(case: dict[str, Any]) -> bytes:
    if "raw" in case:
        return base64.b64decode(case["raw"]) if case.get("raw_b64") else str(case["raw"]).encode("latin-1")
    body = _body(case["body"]) if "body" in case else b""
    lines = [f"{case.get('method', 'POST')} {case['path']} HTTP/1.1", "host: 127.0.0.1"]
    headers = {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        **case.get("headers", {}),
    }
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += [f"content-length: {len(body)}", "connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def _exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # A server that answers early (413) and closes may refuse the rest.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return out


def _status(answer: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(match.group(1)) if match else None


def test_corpus_replayed_over_a_raw_socket(
    fuzz_gw: GatewayServer,
    _anthropic_upstream: FakeUpstream,
    _openai_upstream: FakeUpstream,
    _gemini_upstream: FakeUpstream,
    figures: dict[str, Any],
) -> None:
    cases = _corpus()
    failures = []
    timings = []
    for case in cases:
        started = time.perf_counter()
        answer = _exchange(fuzz_gw.port, _request(case))
        timings.append(time.perf_counter() - started)
        status = _status(answer)
        # "4xx", "2xx", "413", "closed-or-4xx" (the HTTP parser may close), "closed-or-not-5xx"
        expect = case["expect"]
        ok = (
            (status is not None and str(status)[0] + "xx" == expect)
            or (status is not None and str(status) == expect)
            or (expect == "closed-or-4xx" and (status is None or 400 <= status < 500))
            or (expect == "closed-or-not-5xx" and (status is None or status < 500))
        )
        if ok and expect == "4xx" and status is not None and "path" in case:
            body = answer.partition(b"\r\n\r\n")[2]
            plain = re.sub(r"^/g/[^/]+", "", case["path"].split("?", 1)[0])
            if plain in MODEL_PATHS and error_in_envelope(plain, case.get("headers", {}), body) is None:
                ok = False
        if not ok:
            failures.append(f"{case['name']}: expected {expect}, got {answer[:200]!r}")
    generated = _generated_cases(fuzz_gw)
    alive = httpx.get(fuzz_gw.url + "/healthz").status_code == 200
    figures.update(
        corpus=len(cases),
        generated=len(generated),
        failures=len(failures) + sum(1 for g in generated.values() if not g),
        corpus_p99_ms=round(_p99(timings) * 1000, 2),
        generated_results=generated,
        alive=alive,
    )
    assert not failures, "\n".join(failures)
    assert all(generated.values()), generated
    assert alive


def _generated_cases(gw: GatewayServer) -> dict[str, bool]:
    """Cases too big to commit: a 50 MB body (over server.max_body: a 413 in the envelope) and a
    chunked body that never ends (the gateway keeps serving others meanwhile, and frees it on close)."""
    results = {}
    size = 50 * 1024 * 1024
    big = _request({"path": "/v1/messages", "body": {"size": size}})
    answer = _exchange(gw.port, big, timeout=30)
    results["50MB body -> 413"] = _status(answer) == 413
    head = (
        b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"anthropic-version: 2023-06-01\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as endless:
        endless.sendall(head)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            endless.sendall(b"400\r\n" + b"[" * 1024 + b"\r\n")
            time.sleep(0.01)
        # Meanwhile the gateway answers everyone else.
        results["others served during a never-ending chunked body"] = (
            httpx.get(gw.url + "/healthz", timeout=5).status_code == 200
        )
    return results
