"""S1: an auth-bypass corpus against a gateway with `auth: tokens` and an admin token. Path tricks,
missing, empty and garbage credentials, duplicate and conflicting auth headers, headers pretending to be
loopback, tokens in query strings: every attempt is refused (401, 403 or 404 in the right envelope, or
the dashboard's login redirect), none reaches an upstream and none reaches the admin API. Requests go
over raw sockets so the paths and headers arrive exactly as written."""

from __future__ import annotations

import base64
import inspect
import itertools
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from gateway.config.compiler import compile_config
from gateway.config.serving import open_gateways
from tests.battery.conftest import FULL, scale
from tests.battery.rawhttp import Answer, send
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_server import GatewayServer, free_port

TOKEN = "gw-token-canary-5a7c1e9d"
TEAM_TOKEN = "team-token-canary-77b3"
ADMIN = "admin-token-canary-c0ffee42"
GATEWAYS = f"""
gateways:
  default:
    auth: tokens
    tokens: [{{ name: app, secret: "{TOKEN}" }}]
    provider_keys: [stored]
  team:
    auth: tokens
    tokens: [{{ name: team, secret: "{TEAM_TOKEN}" }}]
    provider_keys: [stored, request]
"""
ANTHROPIC_BODY = orjson.dumps(
    {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
)
OPENAI_BODY = orjson.dumps({"model": "gpt-5.2", "messages": [{"role": "user", "content": "hi"}]})

# (method, path, body): the data plane of both gateways, passthrough included, and the admin surface.
DATA_PLANE = [
    ("POST", "/v1/messages", ANTHROPIC_BODY),
    ("POST", "/v1/messages?beta=true", ANTHROPIC_BODY),
    ("POST", "/v1/messages/count_tokens", ANTHROPIC_BODY),
    ("POST", "/v1/chat/completions", OPENAI_BODY),
    ("GET", "/v1/models", b""),
    ("POST", "/anthropic/v1/messages", ANTHROPIC_BODY),
    ("POST", "/openai/chat/completions", OPENAI_BODY),
    ("GET", "/openai/models", b""),
    ("POST", "/g/team/v1/messages", ANTHROPIC_BODY),
    ("POST", "/g/team/v1/chat/completions", OPENAI_BODY),
    ("POST", "/g/team/anthropic/v1/messages", ANTHROPIC_BODY),
]
ADMIN_API = [
    ("GET", "/api/config", b""),
    ("GET", "/api/logs", b""),
    ("GET", "/api/budgets", b""),
    ("GET", "/api/limits", b""),
    ("POST", "/api/reload", b""),
    ("POST", "/api/explain", orjson.dumps({"model": "fast"})),
    ("GET", "/metrics", b""),
]
DASHBOARD = [("GET", "/dashboard", b""), ("GET", "/dashboard/config", b""), ("GET", "/dashboard/logs", b"")]
# Out of the static files' folder: the package's own code and the system's files stay unreadable.
TRAVERSALS = [
    "/dashboard/static/../../../../../../etc/passwd",
    "/dashboard/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/dashboard/static/..%2f..%2f..%2fcli.py",
    "/dashboard/static/../../../cli.py",
    "/dashboard/static/%2e%2e%2f%2e%2e%2fauth.py",
    "/dashboard/static/....//....//cli.py",
    "/dashboard/static//etc/passwd",
    "/dashboard/static/%252e%252e/%252e%252e/cli.py",
    "/dashboard/static/..\\..\\cli.py",
    "/dashboard/static/../templates/login.html",
]


def path_tricks(path: str) -> list[str]:
    """Spellings of `path` that a lax router, a normalising proxy or a prefix check could confuse."""
    bare, sep, query = path.partition("?")
    q = sep + query
    first, _, tail = bare[1:].partition("/")
    return [
        bare + q,
        "/" + bare + q,  # //v1/messages
        bare + "/" + q,
        bare + "//" + q,
        bare.upper() + q,
        bare.title() + q,
        bare + ";jsessionid=1" + q,
        f"/{first};x=1/{tail}{q}",
        bare + "%00" + q,
        bare + "%20" + q,
        bare + "/." + q,
        bare + "/.." + q,
        "/." + bare + q,
        "/v1/.." + bare + q,
        "/v1/%2e%2e" + bare + q,
        "/v1/%2E%2E" + bare + q,
        "/x/%2e%2e/" + bare[1:] + q,
        "/" + bare[1:].replace("/", "%2F") + q,
        "/" + bare[1:].replace("/", "%2f", 1) + q,
        "/%2F" + bare[1:] + q,
        bare.replace("/", "\\") + q,
        "/g/team/.." + bare + q,
        "/g/team/%2e%2e" + bare + q,
        "/g/nope" + bare + q,
        "/g//" + bare[1:] + q,
        "/healthz/.." + bare + q,
        "/dashboard/static/.." + bare + q,
        "/dashboard/login/../.." + bare + q,
        "http://127.0.0.1" + bare + q,  # an absolute-form request target
        bare + "#fragment",
    ]


def credentials(token: str = TOKEN, other: str = TEAM_TOKEN) -> list[list[tuple[str, str]]]:
    """Header sets that carry no valid credential for the gateway whose token is `token` (`other` is
    another gateway's), nor for the admin API."""
    basic = base64.b64encode(f"{token}:".encode()).decode()
    return [
        [],
        [("Authorization", "Bearer")],
        [("Authorization", "Bearer ")],
        [("Authorization", "Bearer ' OR '1'='1")],
        [("Authorization", 'Bearer " OR ""="')],
        [("Authorization", "Bearer *")],
        [("Authorization", "Bearer null")],
        [("Authorization", "bearer wrong-token")],
        [("Authorization", "Bearer\twrong-token")],
        [("Authorization", "Bearer  " + token[:-1])],
        [("Authorization", "Bearer " + token.upper())],
        [("Authorization", "Bearer " + token + "x")],
        [("Authorization", f"Basic {basic}")],  # the right token in the wrong scheme
        [("Authorization", token)],  # no scheme at all
        [("Authorization", "Bearer wrong-1"), ("Authorization", "Bearer wrong-2")],
        [("Authorization", "Bearer wrong"), ("x-api-key", "also-wrong")],
        [("x-api-key", "")],
        [("x-api-key", "sk-ant-wrong")],
        [("x-gateway-key", "")],
        [("x-gateway-key", "wrong"), ("Authorization", "Bearer also-wrong")],
        [("X-Gateway-Key", token[::-1])],
        [("cf-aig-authorization", "Bearer wrong")],
        [("x-portkey-api-key", token)],  # a header the gateway does not take tokens from
        [("api-key", token)],  # Azure's client key header: never a gateway token
        [("Cookie", f"gateway_dashboard={token}")],
        [("Authorization", f"Bearer {ADMIN}")],  # the admin token is no gateway token
        [("Authorization", f"Bearer {other}")],  # another gateway's token
        [("x-gateway-key", other), ("x-api-key", "sk-mine")],
    ]


def admin_credentials() -> list[list[tuple[str, str]]]:
    """Header sets that must not open the admin API: gateway tokens, spoofed loopback, cookies."""
    pretend = [
        ("Host", "localhost"),
        ("Host", "127.0.0.1"),
        ("Host", "[::1]"),
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Forwarded-For", "::1"),
        ("X-Forwarded-Host", "localhost"),
        ("X-Forwarded-Proto", "https"),
        ("X-Real-IP", "127.0.0.1"),
        ("Forwarded", "for=127.0.0.1;host=localhost;proto=https"),
        ("X-Original-URL", "/healthz"),
        ("X-Rewrite-URL", "/healthz"),
        ("X-Client-IP", "127.0.0.1"),
    ]
    admin = [("Authorization", f"Bearer {ADMIN}")]
    return [
        *(c for c in credentials(TOKEN.upper(), TEAM_TOKEN) if c != admin),
        [("Authorization", f"Bearer {TOKEN}")],  # a gateway token is not the admin token
        [("Authorization", f"Bearer {ADMIN[:-1]}")],
        [("Authorization", f"Bearer {ADMIN}x")],
        [("Authorization", f"Basic {base64.b64encode(f'admin:{ADMIN}'.encode()).decode()}")],
        [("x-api-key", ADMIN)],
        [("x-gateway-key", ADMIN)],
        [("Authorization", ADMIN)],
        *([h] for h in pretend),
        pretend,
    ]


QUERY_TOKENS = ["key", "api_key", "token", "access_token", "x-gateway-key", "auth", "admin_token"]


def with_query(path: str, name: str, value: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{name}={value}"


PLAIN = {path.partition("?")[0] for _, path, _ in DATA_PLANE}


def envelope(target: str) -> str | None:
    """The error envelope an untricked data-plane path answers in (None: a tricked path, either)."""
    path = target.partition("?")[0]
    if path not in PLAIN:
        return None
    return "openai" if "chat/completions" in path or "/openai/" in path else "anthropic"


def refused(answer: Answer, area: str, target: str) -> str | None:
    """Why `answer` is not a proper refusal for `area`, or None when it is."""
    if area == "dashboard" and answer.status == 303:
        where = answer.header("location") or ""
        return None if where.startswith("/dashboard/login") else f"303 to {where!r}"
    if answer.status == 400 and not target.startswith(("/", "http://")):
        # Not an origin-form request target (`\\v1\\messages`): the HTTP server refuses the request line
        # before the app sees it.
        return None if answer.body == b"Invalid HTTP request received." else f"400 {answer.body[:200]!r}"
    if answer.status == 405 and target.startswith("/dashboard/static/"):
        return None  # the static files answer GET only; nothing there is behind auth
    if answer.status not in (401, 403, 404):
        return f"status {answer.status}: {answer.body[:200]!r}"
    if "json" in (answer.header("content-type") or ""):
        body = answer.json()
        if not isinstance(body, dict) or "error" not in body:
            return f"no error envelope: {answer.body[:200]!r}"
        error = body["error"]
        if isinstance(error, dict):  # the data plane: Anthropic's or OpenAI's envelope
            expected = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
            if error.get("type") != expected[answer.status]:
                return f"{answer.status} with error type {error.get('type')!r}"
            if body.get("type") not in (None, "error"):
                return f"odd envelope {answer.body[:200]!r}"
            want = envelope(target)
            if want == "openai" and ("type" in body or "code" not in error or "message" not in error):
                return f"not OpenAI's envelope: {answer.body[:200]!r}"
            if want == "anthropic" and (body.get("type") != "error" or "message" not in error):
                return f"not Anthropic's envelope: {answer.body[:200]!r}"
        elif not isinstance(error, str):
            return f"odd admin envelope {answer.body[:200]!r}"
    elif area != "dashboard" and answer.status != 404:
        return f"{answer.status} not in JSON: {answer.body[:200]!r}"
    for secret in (TOKEN, TEAM_TOKEN, ADMIN):
        if secret.encode() in answer.body:
            return "a secret echoed in the refusal"
    if area == "static" and (b"root:" in answer.body or b"import" in answer.body or b"<form" in answer.body):
        return "a file outside the static folder was served"
    return None


def corpus() -> Iterator[tuple[str, str, str, list[tuple[str, str]], bytes]]:
    """(area, method, target, headers, body) for every attempt; reduced: each trick and each credential
    set once; full: every trick with every credential set."""
    content = [("content-type", "application/json"), ("anthropic-version", "2023-06-01")]
    surfaces = [("data", *s) for s in DATA_PLANE] + [("admin", *s) for s in ADMIN_API]
    surfaces += [("dashboard", *s) for s in DASHBOARD]
    for target in TRAVERSALS:
        yield "static", "GET", target, [], b""
    for area, method, path, body in surfaces:
        team = path.startswith("/g/team/")
        if area != "data":
            creds = admin_credentials()
        else:
            creds = credentials(TEAM_TOKEN, TOKEN) if team else credentials()
        tricks = path_tricks(path)
        if FULL:
            pairs: Iterator[tuple[str, list[tuple[str, str]]]] = itertools.product(tricks, creds)
        else:  # every trick with no credential, every credential on the plain path
            pairs = itertools.chain(((t, []) for t in tricks), ((path, c) for c in creds[1:]))
        for target, headers in pairs:
            yield area, method, target, [*content, *headers], body
        for name in QUERY_TOKENS:  # tokens are taken from headers only
            for secret in (TEAM_TOKEN if team else TOKEN, ADMIN):
                yield area, method, with_query(path, name, secret), content, body


@pytest.fixture
def guarded(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> GatewayServer:
    extra = f"server: {{ admin_token: {ADMIN} }}\n"
    return make_gateway(standard_config(anthropic_up, openai_up, extra, gateway=GATEWAYS))


def test_auth_bypass_corpus(
    guarded: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    # The oracle works: the right credentials do get through (else every refusal below proves nothing).
    ok = send(guarded.port, "GET", "/api/config", [("Authorization", f"Bearer {ADMIN}")])
    assert ok.status == 200
    sent = failures = 0
    problems: list[str] = []
    started = time.monotonic()
    for area, method, target, headers, body in corpus():
        sent += 1
        try:
            answer = send(guarded.port, method, target, headers, body)
        except ConnectionError as exc:  # no answer at all is no refusal in an envelope either
            problems.append(f"{method} {target} {headers}: {exc}")
            continue
        why = refused(answer, area, target)
        if why is not None:
            failures += 1
            problems.append(f"{area} {method} {target} {headers[2:]}: {why}")
    reached = len(anthropic_up.requests) + len(openai_up.requests)
    figures.update(
        requests=sent,
        failures=failures + reached,
        reached_upstream=reached,
        seconds=round(time.monotonic() - started, 2),
    )
    assert not problems, f"{len(problems)} of {sent} not refused:\n" + "\n".join(problems[:40])
    assert reached == 0, [r.path for r in anthropic_up.requests + openai_up.requests]
    assert sent >= scale(400, 5000)
    # The control: a valid token does reach the upstream, so "0 reached" above is a real count.
    version = [("content-type", "application/json"), ("anthropic-version", "2023-06-01")]
    good = send(guarded.port, "POST", "/v1/messages", [*version, ("x-gateway-key", TOKEN)], ANTHROPIC_BODY)
    assert good.status == 200 and len(anthropic_up.requests) == 1


def non_loopback_address() -> str | None:
    """This machine's address on its default route, when it has one: a client connecting to it is not
    on loopback, as a remote client would not be."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.200", 9))  # no packet is sent: this only picks a route
            address: str = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_no_admin_token_means_loopback_only_whatever_the_headers_say(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    """With no admin token the admin API answers loopback clients only; a remote client claiming to be
    loopback through Host, X-Forwarded-* or X-Real-IP is still remote. Served by uvicorn as `gateway
    serve` configures it (proxy headers trusted from 127.0.0.1 only), reached on a non-loopback address."""
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to connect from")
    gw = make_gateway(standard_config(anthropic_up, openai_up, gateway=GATEWAYS))
    port = free_port()
    config = uvicorn.Config(gw.app, host=address, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "second listener did not start"
            time.sleep(0.01)
        # From loopback it answers (the rule), from the other address it does not (the corpus).
        assert send(gw.port, "GET", "/api/config").status == 200
        sent = 0
        problems = []
        for method, path, body in ADMIN_API + DASHBOARD:
            area = "dashboard" if path.startswith("/dashboard") else "admin"
            for headers in admin_credentials():
                sent += 1
                answer = send(port, method, path, headers, body, host=address)
                if answer.status != 403 if area == "dashboard" else answer.status != 401:
                    problems.append(f"{method} {path} {headers}: {answer.status} {answer.body[:120]!r}")
        figures.update(requests=sent, failures=len(problems))
        assert not problems, "\n".join(problems[:40])
    finally:
        server.should_exit = True
        thread.join(10)


GATEWAY_PY = [sys.executable, "-m", "gateway.cli", "serve", "--no-watch", "--log-level", "warning"]


def serve(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*GATEWAY_PY, "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=config.parent,
    )


def serves(proc: subprocess.Popen[str], port: int, host: str = "127.0.0.1") -> bool:
    """True once the process answers /healthz; False if it exits first."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return httpx.get(f"http://{host}:{port}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(15)


def test_refuses_to_start_open_on_a_non_loopback_address(tmp_path: Path) -> None:
    open_config = tmp_path / "open.yaml"
    open_config.write_text(
        "providers:\n  anthropic: { type: anthropic }\n"
        "gateways:\n  default: { auth: none }\n"
        f"  team: {{ auth: tokens, tokens: [{{ name: t, secret: {TOKEN} }}] }}\n"
    )
    table = compile_config(open_config)
    for host in ("0.0.0.0", "::", "[::]", "192.0.2.10", "10.0.0.1", "gateway.example", "localhost.example"):
        assert open_gateways(table, host) == ["default"], host
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert open_gateways(table, host) == [], host
    proc = serve(open_config, "--host", "0.0.0.0", "--port", str(free_port()))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert (
        "refusing to start" in err and "gateways.default.auth: `auth: none` while serving on 0.0.0.0" in err
    )
    assert f"{open_config}:4:" in err and "team" not in err  # the open gateway's place, only it
    assert "--allow-unauthenticated" in err and "gateway: serving" not in err
    # An explicit opt-in (something in front authenticates) starts it.
    port = free_port()
    proc = serve(open_config, "--host", "0.0.0.0", "--allow-unauthenticated", "--port", str(port))
    try:
        assert serves(proc, port)
    finally:
        stop(proc)
    # With tokens on every gateway, any address will do.
    closed = tmp_path / "closed.yaml"
    closed.write_text(
        "providers:\n  anthropic: { type: anthropic }\n"
        f"gateways:\n  default: {{ auth: tokens, tokens: [{{ name: t, secret: {TOKEN} }}] }}\n"
    )
    assert open_gateways(compile_config(closed), "0.0.0.0") == []
    port = free_port()
    proc = serve(closed, "--host", "0.0.0.0", "--port", str(port))
    try:
        assert serves(proc, port)
        # An edit that opens it is a reload the start would have refused: rejected, the table stays.
        version = httpx.get(f"http://127.0.0.1:{port}/readyz").json()["config_version"]
        closed.write_text(open_config.read_text())
        reload = httpx.post(f"http://127.0.0.1:{port}/api/reload").json()
        assert reload["ok"] is False and reload["version"] == version, reload
        assert "gateways.default.auth: `auth: none` while serving on 0.0.0.0" in reload["errors"][0]
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401
    finally:
        stop(proc)


def test_tokens_are_compared_in_constant_time() -> None:
    """Gateway tokens are kept as sha256 digests only and compared with hmac.compare_digest, every
    token without an early exit; the admin token and the dashboard cookie likewise (digests of one
    length, so not even the length of a guess shows in the timing)."""
    from dataclasses import fields

    from gateway.admin import guard
    from gateway.admin.dashboard import auth as dashboard_auth
    from gateway.dataplane import auth
    from gateway.routing.table import Token

    assert "digest" in {f.name for f in fields(Token)}
    assert not {"secret", "token", "value"} & {f.name for f in fields(Token)}
    matcher = inspect.getsource(auth._match_token)
    assert "hmac.compare_digest" in matcher and "hashlib.sha256" in matcher
    assert "break" not in matcher and "return token" not in matcher  # no early exit
    assert "hmac.compare_digest" in inspect.getsource(guard.same_secret)
    assert "sha256" in inspect.getsource(guard.same_secret)
    for checker in (guard.authorized, guard.dashboard_access, dashboard_auth.token_matches):
        source = inspect.getsource(checker)
        assert "same_secret" in source and "==" not in source.replace("scheme.lower() ==", ""), checker
    # And they do match what they should, whichever token of several it is.
    table = compile_config_text(
        "gateways:\n  default:\n    auth: tokens\n    tokens:\n"
        + "".join(f"      - {{ name: t{n}, secret: tok-{n}-secret }}\n" for n in range(5))
    )
    gateway = table.gateways["default"]
    for n in range(5):
        assert auth._match_token(gateway.tokens, f"tok-{n}-secret".encode()) is gateway.tokens[n]
    assert auth._match_token(gateway.tokens, b"tok-5-secret") is None


def compile_config_text(text: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gateway.yaml"
        path.write_text("providers:\n  anthropic: { type: anthropic }\n" + text)
        return compile_config(path)
