"""S2: SSRF. Canary listeners on 127.0.0.1..9 and [::1] (plain TCP servers that count connections) are
the oracle: whatever a client puts in a body field, a header, a model name or a passthrough path, and
whatever an upstream answers (a 30x to a canary), the gateway connects to no host but a configured
base URL. Each attempt is answered with a 4xx, or with the configured upstream's own answer when the
field is simply part of the body or a header the gateway forwards to the configured base URL (the
upstream then has the request: checked on the fake)."""

from __future__ import annotations

import errno
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from tests.battery.conftest import FULL, scale
from tests.battery.rawhttp import send
from tests.conftest import STORED_KEY, GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import free_port

CANARY_IPS = [f"127.0.0.{n}" for n in range(1, 10)]


class Canaries:
    """Plain TCP listeners on every canary address at one free port (and at 80 and 443 where this
    machine lets us bind them), counting connections and keeping the first bytes each one sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.hits: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.default_ports: list[int] = []

    def __enter__(self) -> Canaries:
        for ip in CANARY_IPS:
            self._listen(socket.AF_INET, ip, self.port, required=True)
        self._listen(socket.AF_INET6, "::1", self.port, required=True)
        # Port-less URLs (`http://2130706434/`) go to 80 or 443: listen there too when we may.
        for port in (80, 443):
            bound = [self._listen(socket.AF_INET, ip, port, required=False) for ip in CANARY_IPS[1:]]
            bound.append(self._listen(socket.AF_INET6, "::1", port, required=False))
            if all(bound):
                self.default_ports.append(port)
        return self

    def _listen(self, family: int, ip: str, port: int, *, required: bool) -> bool:
        try:
            server = socket.create_server((ip, port), family=family)
        except OSError as exc:
            if required or exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                raise
            return False
        self.sockets.append(server)
        threading.Thread(target=self._accept, args=(server, f"{ip}:{port}"), daemon=True).start()
        return True

    def _accept(self, server: socket.socket, where: str) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed
            conn.settimeout(1)
            try:
                first = conn.recv(4096)
            except OSError:
                first = b""
            with self.lock:
                self.hits.append((where, first))
            conn.close()

    def __exit__(self, *exc: object) -> None:
        for server in self.sockets:
            server.close()


@pytest.fixture(scope="module")
def canaries() -> Iterator[Canaries]:
    with Canaries() as found:
        yield found


def hosts(port: int, default_ports: list[int]) -> list[str]:
    """Spellings of canary hosts: plain, shortened and integer IPv4, IPv4-mapped IPv6, loopback names."""
    with_port = [
        f"127.0.0.2:{port}",
        f"127.0.2:{port}",
        f"127.1:{port}",
        f"2130706434:{port}",
        f"0x7f000002:{port}",
        f"0177.0.0.2:{port}",
        f"[::ffff:127.0.0.2]:{port}",
        f"[::ffff:7f00:3]:{port}",
        f"[::1]:{port}",
        f"localhost:{port}",
        f"127.0.0.9:{port}",
        f"127.0.0.4.:{port}",
    ]
    bare = ["127.0.0.2", "2130706435", "[::1]", "127.0.0.5"] if default_ports else []
    return with_port if FULL else with_port[:6] + with_port[8:10] + bare[:1] + with_port[6:7] + bare[1:2]


def urls(host: str) -> list[str]:
    full = [
        f"http://{host}",
        f"http://{host}/v1",
        f"https://{host}/v1",
        f"//{host}/v1",
        f"http://user:pass@{host}/",
        f"http://api.anthropic.com@{host}/v1",
        f"http://{host}#@api.openai.com/v1",
        f"{host}",
    ]
    return full if FULL else full[:2] + full[5:6]


BODY_FIELDS = [
    "api_base",
    "base_url",
    "baseURL",
    "custom_host",
    "url",
    "endpoint",
    "api_url",
    "host",
    "azure_endpoint",
    "proxy",
    "upstream",
    "target_url",
]
NESTS = ["", "metadata", "extra_body", "litellm_params", "provider", "config"]
HEADERS = [
    "x-portkey-custom-host",
    "x-portkey-base-url",
    "x-portkey-forward-headers",
    "x-portkey-config",
    "cf-aig-custom-host",
    "cf-aig-gateway-url",
    "x-gateway-base-url",
    "x-gateway-upstream",
    "x-forwarded-host",
    "x-original-host",
    "x-host",
    "x-base-url",
    "x-api-base",
    "x-litellm-api-base",
    "x-target-url",
    "x-upstream",
    "forwarded",
    "host",
]
ANTHROPIC = [("content-type", "application/json"), ("anthropic-version", "2023-06-01")]
OPENAI = [("content-type", "application/json")]


@dataclass
class Attempt:
    kind: str
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    # Whether the configured upstream may legitimately answer: the attempt is only body data or a
    # header that goes to the configured base URL. When False, only a 4xx will do.
    forwardable: bool


def anthropic_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


def openai_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-5.2", "messages": [{"role": "user", "content": "hi"}], **extra}


def attempts(port: int, default_ports: list[int]) -> Iterator[Attempt]:
    every_host = hosts(port, default_ports)
    every_url = [u for h in every_host for u in urls(h)]
    # Body fields, also nested, on both APIs and on a translated call.
    fields = BODY_FIELDS if FULL else BODY_FIELDS[:6]
    nests = NESTS if FULL else NESTS[:3]
    for i, (name, nest) in enumerate(itertools.product(fields, nests)):
        url = every_url[i % len(every_url)]
        extra = {name: url} if not nest else {nest: {name: url}}
        yield Attempt("body", "POST", "/v1/messages", ANTHROPIC, orjson.dumps(anthropic_body(**extra)), True)
        yield Attempt(
            "body", "POST", "/v1/chat/completions", OPENAI, orjson.dumps(openai_body(**extra)), True
        )
        translated = anthropic_body(**extra) | {"model": "gpt-5.2"}
        yield Attempt("body", "POST", "/v1/messages", ANTHROPIC, orjson.dumps(translated), True)
        gem = anthropic_body(**extra) | {"model": "gemini-2.5-flash"}
        yield Attempt("body", "POST", "/v1/messages", ANTHROPIC, orjson.dumps(gem), True)
    # Headers other gateways honour to pick the upstream host.
    for i, header in enumerate(HEADERS):
        for value in every_url[i % 3 :: 7] if FULL else every_url[i % 5 :: 17]:
            host = value.split("//")[-1].split("/")[0]
            header_value = (
                host if header in ("host", "x-forwarded-host", "x-original-host", "x-host") else value
            )
            if header == "forwarded":
                header_value = f"host={host};proto=http"
            if header == "host":  # no second Host: rawhttp leaves it out when one is given
                headers = [*ANTHROPIC, ("Host", header_value)]
            else:
                headers = [*ANTHROPIC, (header, header_value), ("x-portkey-provider", "anthropic")]
            yield Attempt("header", "POST", "/v1/messages", headers, orjson.dumps(anthropic_body()), True)
            yield Attempt(
                "header", "POST", "/anthropic/v1/messages", headers, orjson.dumps(anthropic_body()), True
            )
    # Model names carrying URLs, `#`, `@`, `..`; Gemini puts the model in its URL path.
    for host in every_host:
        for model in (
            f"http://{host}/v1",
            f"anthropic/http://{host}",
            f"@{host}/claude-haiku-4-5",
            f"claude-haiku-4-5@{host}",
            f"claude-x#@{host}",
            f"gemini-2.5-flash@{host}",
            f"gemini-x/../../../{host}/x",
            f"gemini-x%2F..%2F..%2F@{host}",
            f"gemini-x:generateContent?alt=@{host}#",
            f"google/..%2F..%2F{host}",
            f"openai/{host}/v1",
            f"gpt-x@{host}/v1/chat/completions",
            f"{host}/anthropic/claude",
        ):
            body = orjson.dumps(anthropic_body(model=model))
            yield Attempt("model", "POST", "/v1/messages", ANTHROPIC, body, True)
            if FULL:
                yield Attempt(
                    "model",
                    "POST",
                    "/v1/chat/completions",
                    OPENAI,
                    orjson.dumps(openai_body(model=model)),
                    True,
                )
    # Passthrough paths and request targets: `@`, `//host`, absolute URLs, encoded slashes.
    for host in every_host:
        for target in (
            f"/anthropic/@{host}/v1/messages",
            f"/anthropic//{host}/v1/messages",
            f"/anthropic/http://{host}/v1/messages",
            f"/anthropic/%2F%2F{host}/v1/messages",
            f"/anthropic/%252F%252F{host}/v1/messages",
            f"/anthropic/..%2F..%2F{host}/v1/messages",
            f"/anthropic/%2e%2e/%2e%2e/{host}/v1/messages",
            f"/anthropic%40{host}/v1/messages",
            f"/anthropic@{host}/v1/messages",
            f"/google/models/gemini-2.5-flash:generateContent@{host}",
            f"/openai/chat/completions?u=http://{host}&x=@{host}",
            f"/openai/@{host}",
            f"/g/default/../anthropic/@{host}/v1/messages",
            f"http://{host}/anthropic/v1/messages",
            f"http://{host}/v1/messages",
        ):
            # An absolute-form target's authority is not an upstream: the gateway is no forward proxy and
            # serves the path as its own, to the configured upstream.
            forwardable = target.startswith(
                ("/anthropic/@", "/anthropic//", "/anthropic/http", "/google/", "/openai/", "http:")
            )
            yield Attempt("path", "POST", target, ANTHROPIC, orjson.dumps(anthropic_body()), forwardable)


def test_ssrf_corpus(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    canaries: Canaries,
    figures: dict[str, Any],
) -> None:
    gw = make_gateway(ssrf_config(anthropic_up, openai_up, gemini_up))
    fakes = (anthropic_up, openai_up, gemini_up)
    canaries.hits.clear()
    sent = 0
    statuses: dict[str, dict[int, int]] = {}
    problems: list[str] = []
    started = time.monotonic()
    for attempt in attempts(canaries.port, canaries.default_ports):
        sent += 1
        before = [len(f.requests) for f in fakes]
        answer = send(gw.port, attempt.method, attempt.target, attempt.headers, attempt.body)
        arrived = [r for f, n in zip(fakes, before, strict=True) for r in f.requests[n:]]
        reached = len(arrived)
        by_kind = statuses.setdefault(attempt.kind, {})
        by_kind[answer.status] = by_kind.get(answer.status, 0) + 1
        if 400 <= answer.status < 500:
            continue
        # The configured upstream's own answer: it got the request and nothing else did; the gateway's
        # own headers (and other gateways' routing headers) stayed behind.
        leaked = [
            n for r in arrived for n in r.headers if n.startswith(("x-gateway-", "cf-aig-", "x-portkey-"))
        ]
        if answer.status < 300 and attempt.forwardable and reached == 1 and not leaked:
            continue
        problems.append(
            f"{attempt.kind} {attempt.target} {attempt.headers[-2:]} {attempt.body[:160]!r}: "
            f"{answer.status} (configured upstream reached {reached}x, got {leaked}) {answer.body[:200]!r}"
        )
    time.sleep(0.2)  # a connection made at the end still lands in the count
    figures.update(
        requests=sent,
        failures=len(problems) + len(canaries.hits),
        canary_connections=len(canaries.hits),
        statuses={kind: {str(k): v for k, v in sorted(found.items())} for kind, found in statuses.items()},
        canary_default_ports=canaries.default_ports,
        seconds=round(time.monotonic() - started, 2),
    )
    assert not canaries.hits, canaries.hits[:10]
    assert not problems, f"{len(problems)} of {sent}:\n" + "\n".join(problems[:30])
    assert sent >= scale(150, 500)
    assert_upstream_auth_stayed_home(fakes)
    # The oracle works: a provider whose base URL is a canary is connected to.
    control(make_gateway, canaries)


def ssrf_config(anthropic_up: FakeUpstream, openai_up: FakeUpstream, gemini_up: FakeUpstream) -> str:
    config = standard_config(anthropic_up, openai_up)
    config = config.replace(
        "providers:\n", f'providers:\n  google: {{ type: gemini, base_url: "{gemini_up.base_url}" }}\n', 1
    )
    config = config.replace(
        "keys:\n", f'keys:\n  google-main: {{ provider: google, secret: "{STORED_KEY}" }}\n', 1
    )
    return config.replace("models:\n", "models:\n  gemini-*: google/*\n", 1)


def assert_upstream_auth_stayed_home(fakes: tuple[FakeUpstream, ...]) -> None:
    """Every request that carried the stored key went to a configured fake (the only place it can be
    seen), on the fake's own host; none named another host."""
    for fake in fakes:
        for request in fake.requests:
            assert request.headers.get("host", "").startswith("127.0.0.1:"), request.headers.get("host")


def control(make_gateway: GatewayFactory, canaries: Canaries) -> None:
    gw = make_gateway(
        f"""
providers:
  trap: {{ type: anthropic, base_url: "http://127.0.0.2:{canaries.port}" }}
keys:
  trap-key: {{ provider: trap, secret: "{STORED_KEY}" }}
models:
  trap: trap/claude
"""
    )
    answer = send(gw.port, "POST", "/v1/messages", ANTHROPIC, orjson.dumps(anthropic_body(model="trap")))
    assert answer.status >= 500
    deadline = time.monotonic() + 5
    while not canaries.hits and time.monotonic() < deadline:
        time.sleep(0.05)
    assert canaries.hits and canaries.hits[0][0] == f"127.0.0.2:{canaries.port}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_an_upstream_redirect_to_a_canary_is_not_followed(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    canaries: Canaries,
    status: int,
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up))
    canaries.hits.clear()
    location = f"http://127.0.0.2:{canaries.port}/v1/messages"
    calls = [
        ("/v1/messages", ANTHROPIC, anthropic_body(), anthropic_up),
        ("/v1/chat/completions", OPENAI, openai_body(), openai_up),
        ("/v1/messages", ANTHROPIC, anthropic_body(model="gpt-5.2"), openai_up),  # translated
        ("/anthropic/v1/messages", ANTHROPIC, anthropic_body(), anthropic_up),  # passthrough
        ("/v1/messages", ANTHROPIC, anthropic_body(stream=True), anthropic_up),
    ]
    for path, headers, body, fake in calls:
        fake.push(Script(status=status, body=b"", headers={"Location": location}))
        answer = send(gw.port, "POST", path, headers, orjson.dumps(body))
        # A 502 in the client's envelope: the upstream gave no usable answer, and its Location (a host
        # outside config) is not handed to the client, whose SDK would follow it with its credentials.
        assert answer.status == 502 and answer.header("location") is None, (path, answer.status)
        error = orjson.loads(answer.body)["error"]
        assert error["type"] == "api_error" and "redirect" in error["message"], error
        assert str(canaries.port) not in answer.body.decode()
    time.sleep(0.2)
    assert not canaries.hits, canaries.hits


def test_a_model_name_stays_one_segment_of_the_upstream_path(
    make_gateway: GatewayFactory,
    anthropic_up: FakeUpstream,
    openai_up: FakeUpstream,
    gemini_up: FakeUpstream,
    canaries: Canaries,
) -> None:
    """Gemini puts the model in the URL path: a client's model name must not climb out of
    `/models/<name>` to another endpoint of the provider (called with the stored key), nor add a query."""
    gw = make_gateway(ssrf_config(anthropic_up, openai_up, gemini_up))
    base = gemini_up.base_url.split("//", 1)[1].partition("/")[2]
    names = [
        "gemini-x/../../files",
        "gemini-x/../../../v1/cachedContents",
        "gemini-x%2F..%2F..%2Ffiles",
        "gemini-x:generateContent?key=abc&alt=",
        "gemini-x#fragment",
        f"gemini-x@127.0.0.2:{canaries.port}",
        "gemini-x/./y",
        "gemini-x\\..\\files",
    ]
    calls = [("/v1/messages", False), ("/v1/messages", True), ("/v1/messages/count_tokens", False)]
    for name in names:
        for path, stream in calls:
            gemini_up.reset()
            body = orjson.dumps(anthropic_body(model=name, stream=stream))
            answer = send(gw.port, "POST", path, ANTHROPIC, body)
            assert gemini_up.requests or answer.status == 404, (name, path, answer.status)
            for request in gemini_up.requests:
                segment = request.raw_path.partition("/models/")[2]
                assert request.raw_path.startswith(f"/{base}/models/") and "/" not in segment, (
                    name,
                    request.raw_path,
                )
                assert request.query in ("", "alt=sse"), (name, request.query)
            assert answer.status < 500 or not gemini_up.requests, (name, answer.status)
