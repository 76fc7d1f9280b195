"""Synthetic request-log records for `bench/logscale.py`: N records spread over D days (busier by day
than by night), over several gateways, routes, providers, models, tokens and statuses, with streams,
cache hits, metadata, attempts, costs and a few bodies; written in bulk (executemany in big
transactions for SQLite, COPY for PostgreSQL). Deterministic for a given seed."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

# The columns of the `requests` table as schema version 1 defines them; later versions only add
# columns with defaults, so these rows load into every version.
COLUMNS = (
    "id", "ts", "gateway", "route", "provider", "model", "client_model", "method", "path", "status",
    "stream", "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "cache", "token", "key", "config_version", "error", "metadata",
    "attempts", "request_body", "response_body",
)  # fmt: skip

# (provider, model, input $/M, output $/M, share of traffic, typical latency ms)
MODELS = (
    ("anthropic", "claude-sonnet-4-6", 3, 15, 0.30, 4000),
    ("anthropic", "claude-haiku-4-5", 1, 5, 0.20, 1200),
    ("anthropic", "claude-opus-4-8", 5, 25, 0.05, 9000),
    ("openai", "gpt-5.2", 1.75, 14, 0.15, 5000),
    ("openai", "gpt-5-mini", 0.25, 2, 0.12, 1500),
    ("google", "gemini-2.5-flash", 0.3, 2.5, 0.10, 1100),
    ("google", "gemini-2.5-pro", 1.25, 10, 0.04, 7000),
    ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", 3, 15, 0.03, 4500),
    ("ollama", "llama3.3", 0, 0, 0.01, 3000),  # no price: no cost
)
GATEWAYS = (("default", 0.45), ("support", 0.25), ("platform", 0.2), ("batch", 0.07), ("research", 0.03))
ROUTES = ((None, 0.7), ("coding", 0.15), ("cheap", 0.1), ("fallback-chain", 0.05))
# 40 tokens with a long tail: token-39 sends about one request in 10,000.
TOKENS = (*((f"token-{i:02d}", 1 / (i + 1) ** 1.3) for i in range(40)), (None, 0.6))
STATUSES = ((200, 0.955), (429, 0.02), (400, 0.008), (500, 0.006), (502, 0.005), (529, 0.004), (504, 0.002))
TEAMS = ("red", "blue", "green", "ops", "data", "sales")
PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}
USD = Decimal("1e-10")


def _picker(rng: random.Random, options: Sequence[tuple[Any, float]]) -> Any:
    values = [o[0] for o in options]
    weights = [o[1] for o in options]
    cum = [sum(weights[: i + 1]) for i in range(len(weights))]
    return lambda: rng.choices(values, cum_weights=cum)[0]


def _timestamps(rng: random.Random, n: int, until: float, days: float) -> list[float]:
    """n times in [until - days, until), denser in daytime (UTC), ascending (the order they arrive in)."""
    since = until - days * 86400
    out: list[float] = []
    while len(out) < n:
        t = rng.uniform(since, until)
        hour = (t % 86400) / 3600
        if rng.random() < 0.35 + 0.65 * math.sin(math.pi * hour / 24) ** 2:
            out.append(t)
    out.sort()
    return out


def records(n: int, until: float, days: float, seed: int = 1) -> Iterator[tuple[Any, ...]]:
    """Rows in `COLUMNS` order, oldest first."""
    rng = random.Random(seed)
    model = _picker(rng, [(m, m[4]) for m in MODELS])
    gateway = _picker(rng, GATEWAYS)
    route = _picker(rng, ROUTES)
    token = _picker(rng, TOKENS)
    status = _picker(rng, STATUSES)
    body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "lorem ipsum " * 80}]})
    for i, ts in enumerate(_timestamps(rng, n, until, days)):
        provider, name, price_in, price_out, _, typical = model()
        code = status()
        ok = code == 200
        stream = rng.random() < 0.6
        latency = (
            round(rng.lognormvariate(math.log(typical), 0.6), 3) if ok else round(rng.uniform(5, 900), 3)
        )
        ttfb = round(latency * rng.uniform(0.05, 0.3), 3) if stream else latency
        cache = None
        if rng.random() < 0.2:
            cache = "HIT" if rng.random() < 0.3 else "MISS"
        hit = cache == "HIT"
        inp = out = cread = cwrite = None
        cost: str | None = None
        if ok:
            inp = int(rng.lognormvariate(7, 1.2))
            out = int(rng.lognormvariate(5.5, 1))
            cread = int(inp * rng.uniform(0, 3)) if provider == "anthropic" and rng.random() < 0.4 else 0
            cwrite = int(inp * 0.5) if cread and rng.random() < 0.2 else 0
            if hit:
                cost = "0"
            elif price_in:
                usd = (Decimal(inp + cwrite) * Decimal(str(price_in)) + Decimal(out) * Decimal(str(price_out))
                       + Decimal(cread) * Decimal(str(price_in)) / 10) / 1_000_000  # fmt: skip
                cost = f"{usd.quantize(USD).normalize():f}"
        path = PATHS.get(provider, "/v1/messages") if rng.random() < 0.9 else "/v1/chat/completions"
        target = f"{provider}/{name}"
        attempts = [
            {"target": target, "status": code, "error": None, "start_ms": 0.0, "duration_ms": latency}
        ]
        if code in (500, 502, 529) and rng.random() < 0.5:
            attempts.append(
                {"target": "openai/gpt-5.2", "status": 502, "error": "upstream", "start_ms": latency,
                 "duration_ms": 3.0}
            )  # fmt: skip
        metadata = None
        if rng.random() < 0.5:
            metadata = json.dumps({"user": f"u{rng.randrange(500)}", "team": rng.choice(TEAMS)})
        bodies = rng.random() < 0.01
        yield (
            f"{rng.getrandbits(96):024x}", ts, gateway(), route(), provider, name, None if rng.random() < 0.7
            else name.split("-")[0], "POST", path, code, stream, latency, ttfb, inp, out, cread, cwrite, cost,
            cache, token(), "request" if rng.random() < 0.05 else f"{provider}-main", f"v1-{i // 200_000}",
            None if ok else f"upstream answered {code}", metadata, json.dumps(attempts),
            body if bodies else None, '{"content": "ok"}' if bodies and ok else None,
        )  # fmt: skip


def chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_sqlite(path: str, rows: Iterator[tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")  # a bench fill: a crash just means filling again
        sql = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"  # noqa: S608
        for batch in chunks(rows, 50_000):
            with conn:
                conn.executemany(sql, batch)
        # No ANALYZE: the planner sees what a gateway's own database gives it.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def load_postgres(url: str, rows: Iterator[tuple[Any, ...]]) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        for batch in chunks(rows, 100_000):
            sql = f"COPY requests ({', '.join(COLUMNS)}) FROM STDIN"
            with conn.transaction(), conn.cursor() as cur, cur.copy(sql) as copy:
                for row in batch:
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE requests")
