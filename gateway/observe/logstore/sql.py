"""The schema and the queries both databases run, written once with `?` placeholders; a backend says
how to run them (PostgreSQL swaps the placeholders and the JSON function)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gateway.observe.record import ENDPOINT_PREFIXES, ENDPOINTS

# A statement, or a function of the dialect ("sqlite" or "postgres") that writes it.
Statement = str | Callable[[str], str]

# Hourly rollups: the analytics dimensions other than the token (which has too many values to pay off).
# A dimension is never NULL in a rollup key (a key with NULL never conflicts, so an upsert would add a
# row): NULL is stored as '' and a value v as '=' + v, so that '' and NULL stay apart; a NULL status is -1.
DIMS = ("gateway", "route", "provider", "model", "status", "cache")
HOURLY_KEY = ("hour", *DIMS)
HOURLY_SUMS = ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost")
LATENCY_KEY = (*HOURLY_KEY, "bin")


def _hourly_tables(dialect: str) -> str:
    # SQLite sums costs as integer units of 1e-10 USD, PostgreSQL as NUMERIC (query.py says why).
    cost = "NUMERIC" if dialect == "postgres" else "INTEGER"
    clustered = "" if dialect == "postgres" else " WITHOUT ROWID"  # SQLite: rows stored in key order
    return f"""CREATE TABLE IF NOT EXISTS requests_hourly (
        hour BIGINT NOT NULL, gateway TEXT NOT NULL, route TEXT NOT NULL, provider TEXT NOT NULL,
        model TEXT NOT NULL, status INTEGER NOT NULL, cache TEXT NOT NULL,
        requests BIGINT NOT NULL, input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
        cache_read_tokens BIGINT NOT NULL, cache_write_tokens BIGINT NOT NULL, cost {cost} NOT NULL,
        PRIMARY KEY ({", ".join(HOURLY_KEY)})
    ){clustered}"""


def _latency_table(dialect: str) -> str:
    clustered = "" if dialect == "postgres" else " WITHOUT ROWID"
    return f"""CREATE TABLE IF NOT EXISTS requests_hourly_latency (
        hour BIGINT NOT NULL, gateway TEXT NOT NULL, route TEXT NOT NULL, provider TEXT NOT NULL,
        model TEXT NOT NULL, status INTEGER NOT NULL, cache TEXT NOT NULL, bin INTEGER NOT NULL,
        n BIGINT NOT NULL, largest DOUBLE PRECISION NOT NULL,
        PRIMARY KEY ({", ".join(LATENCY_KEY)})
    ){clustered}"""


def _latency_all_table(dialect: str) -> str:
    # The same bins over all dimensions: what an overview with no filter reads (a fifth of the rows).
    clustered = "" if dialect == "postgres" else " WITHOUT ROWID"
    return f"""CREATE TABLE IF NOT EXISTS requests_hourly_latency_all (
        hour BIGINT NOT NULL, bin INTEGER NOT NULL, n BIGINT NOT NULL, largest DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (hour, bin)
    ){clustered}"""


def _encoded(column: str) -> str:
    if column == "status":
        return "COALESCE(status, -1)"
    return f"CASE WHEN {column} IS NULL THEN '' ELSE '=' || {column} END"


def hour_of(dialect: str, expr: str = "ts") -> str:
    """The start of the UTC hour holding `expr`, in whole seconds, exactly as Python's `ts // 3600`: the
    division may round up to the next whole number just below an hour's end, which the CASE takes back."""
    h = (
        f"(FLOOR({expr} / 3600) * 3600)"
        if dialect == "postgres"
        else f"(CAST({expr} / 3600 AS INTEGER) * 3600)"
    )
    whole = f"({h} - CASE WHEN {h} > {expr} THEN 3600 ELSE 0 END)"
    return f"CAST({whole} AS BIGINT)" if dialect == "postgres" else whole


def trunc(dialect: str, expr: str) -> str:
    """Toward zero, as an integer: SQLite's CAST truncates, PostgreSQL's rounds."""
    return f"TRUNC({expr})" if dialect == "postgres" else f"CAST({expr} AS INTEGER)"


def latency_bin(dialect: str) -> str:
    """A bin number that grows with latency_ms: 180 bins per decade from 1 ms up (the bin width is 5% of
    the value at the start of a decade, 0.5% at its end), 0.05 ms bins below 1 ms. rollup.latency_bin is
    the same function in Python (same IEEE operations, so the same bin)."""

    def t(expr: str) -> str:
        return trunc(dialect, expr)

    return (
        "CASE WHEN latency_ms IS NULL THEN NULL "
        f"WHEN latency_ms < 1 THEN {t('latency_ms * 20')} "
        f"WHEN latency_ms < 10 THEN 200 + {t('latency_ms * 20')} "
        f"WHEN latency_ms < 100 THEN 400 + {t('latency_ms * 2')} "
        f"WHEN latency_ms < 1000 THEN 600 + {t('latency_ms / 5')} "
        f"WHEN latency_ms < 10000 THEN 800 + {t('latency_ms / 50')} "
        f"WHEN latency_ms < 100000 THEN 1000 + {t('latency_ms / 500')} "
        f"ELSE 1200 + {t('latency_ms / 5000')} END"
    )


def cost_units(dialect: str) -> str:
    """One record's cost_usd as the rollups and sums keep it: NUMERIC on PostgreSQL; on SQLite integer
    units of 1e-10 USD (a 10-decimal value survives the round trip through a double exactly below
    ~$100,000)."""
    if dialect == "postgres":
        return "CAST(NULLIF(cost_usd, '') AS NUMERIC)"
    return "CAST(ROUND(CAST(NULLIF(cost_usd, '') AS REAL) * 1e10) AS INTEGER)"


def _backfill_hourly(dialect: str) -> str:
    keys = ", ".join(f"{_encoded(c)} AS {c}" for c in DIMS)
    return f"""INSERT INTO requests_hourly ({", ".join(HOURLY_KEY + HOURLY_SUMS)})
        SELECT {hour_of(dialect)} AS hour, {keys}, COUNT(*), COALESCE(SUM(input_tokens), 0),
            COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cache_read_tokens), 0),
            COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM({cost_units(dialect)}), 0)
        FROM requests GROUP BY {", ".join(str(i + 1) for i in range(len(HOURLY_KEY)))}"""  # noqa: S608


def _backfill_latency(dialect: str) -> str:
    keys = ", ".join(f"{_encoded(c)} AS {c}" for c in DIMS)
    return f"""INSERT INTO requests_hourly_latency ({", ".join(LATENCY_KEY)}, n, largest)
        SELECT {hour_of(dialect)} AS hour, {keys}, {latency_bin(dialect)} AS bin, COUNT(*), MAX(latency_ms)
        FROM requests WHERE latency_ms IS NOT NULL
        GROUP BY {", ".join(str(i + 1) for i in range(len(LATENCY_KEY)))}"""  # noqa: S608


_BACKFILL_LATENCY_ALL = """INSERT INTO requests_hourly_latency_all (hour, bin, n, largest)
    SELECT hour, bin, SUM(n), MAX(largest) FROM requests_hourly_latency GROUP BY hour, bin"""


def _backfill_endpoint(dialect: str) -> str:
    """Records stored before the column existed get their endpoint from their path, as endpoint_of
    reads it: the path below the base URL (`/g/<gateway>` taken off), exact paths first, then families."""
    # substr comparisons rather than LIKE: case-sensitive on both databases, as the data plane's routing.
    rel = "(CASE WHEN substr(path, 1, 3) = '/g/' THEN substr(path, length(gateway) + 4) ELSE path END)"
    exact = " ".join(f"WHEN '{p}' THEN '{k}'" for p, k in ENDPOINTS.items())
    families = " ".join(
        f"WHEN {rel} = '{p}' OR substr({rel}, 1, {len(p) + 1}) = '{p}/' THEN '{k}'"
        for p, k in ENDPOINT_PREFIXES
    )
    return (
        f"UPDATE requests SET endpoint = CASE {rel} {exact} ELSE "  # noqa: S608
        f"CASE {families} ELSE 'passthrough' END END WHERE endpoint IS NULL AND path IS NOT NULL"
    )


# (version, statements). The gateway applies what a database lacks at startup, in order, each version in
# one transaction with its row in gateway_schema (so a backfill that is stopped half way is redone).
MIGRATIONS: tuple[tuple[int, tuple[Statement, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE IF NOT EXISTS requests (
                id TEXT PRIMARY KEY,
                ts DOUBLE PRECISION NOT NULL,
                gateway TEXT, route TEXT, provider TEXT, model TEXT, client_model TEXT,
                method TEXT, path TEXT, status INTEGER, stream BOOLEAN,
                latency_ms DOUBLE PRECISION, ttfb_ms DOUBLE PRECISION,
                input_tokens BIGINT, output_tokens BIGINT,
                cache_read_tokens BIGINT, cache_write_tokens BIGINT,
                cost_usd TEXT, cache TEXT, token TEXT, key TEXT, config_version TEXT, error TEXT,
                metadata TEXT, attempts TEXT, request_body TEXT, response_body TEXT
            )""",
            "CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts, id)",
            "CREATE INDEX IF NOT EXISTS requests_gateway_ts ON requests (gateway, ts)",
            "CREATE INDEX IF NOT EXISTS requests_model_ts ON requests (model, ts)",
        ),
    ),
    (
        2,
        # A token filter names one client of many, often an idle one: without an index the newest-first
        # scan reads the whole table before it can say "nothing". Schema only; the writer is unchanged.
        ("CREATE INDEX IF NOT EXISTS requests_token_ts ON requests (token, ts)",),
    ),
    (
        3,
        # Hourly rollups for analytics, filled from the records already stored (a scan of the table).
        (
            _hourly_tables,
            _latency_table,
            _latency_all_table,
            _backfill_hourly,
            _backfill_latency,
            _BACKFILL_LATENCY_ALL,
        ),
    ),
    (
        4,
        # The endpoint kind of each record (observe.record.endpoint_of), for the endpoint filter and
        # group_by; the records already stored get theirs from their path.
        (
            "ALTER TABLE requests ADD COLUMN endpoint TEXT",
            _backfill_endpoint,
            "CREATE INDEX IF NOT EXISTS requests_endpoint_ts ON requests (endpoint, ts)",
        ),
    ),
    (
        5,
        # Guardrail hits (JSON [{name, on, action}], for the guardrail filter) and the prompt template a
        # request was rendered from (filter and group_by). Older records have neither: NULL.
        (
            "ALTER TABLE requests ADD COLUMN guardrails TEXT",
            "ALTER TABLE requests ADD COLUMN prompt TEXT",
            "CREATE INDEX IF NOT EXISTS requests_prompt_ts ON requests (prompt, ts)",
        ),
    ),
)

COLUMNS = (
    "id", "ts", "gateway", "route", "provider", "model", "client_model", "method", "path", "status",
    "stream", "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "cache", "token", "key", "config_version", "error", "metadata",
    "attempts", "request_body", "response_body", "endpoint", "guardrails", "prompt",
)  # fmt: skip

_VALUES = ", ".join("?" for _ in COLUMNS)
# Fixed column names only; values always go as parameters.
INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({_VALUES}) ON CONFLICT (id) DO NOTHING"  # noqa: S608
DELETE_BEFORE = "DELETE FROM requests WHERE ts < ?"
# Retention removes whole hours (backends round the cutoff down to the hour), so the rollups always hold
# exactly the records that are left.
ROLLUP_TABLES = ("requests_hourly", "requests_hourly_latency", "requests_hourly_latency_all")
DELETE_ROLLUPS_BEFORE = tuple(f"DELETE FROM {t} WHERE hour < ?" for t in ROLLUP_TABLES)  # noqa: S608


def _upsert(table: str, key: tuple[str, ...], adds: tuple[str, ...], maxes: tuple[str, ...] = ()) -> str:
    columns = key + adds + maxes
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in adds]
    sets += [
        f"{c} = CASE WHEN excluded.{c} > {table}.{c} THEN excluded.{c} ELSE {table}.{c} END" for c in maxes
    ]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}"
    )


UPSERT_HOURLY = _upsert("requests_hourly", HOURLY_KEY, HOURLY_SUMS)
UPSERT_LATENCY = _upsert("requests_hourly_latency", LATENCY_KEY, ("n",), ("largest",))
UPSERT_LATENCY_ALL = _upsert("requests_hourly_latency_all", ("hour", "bin"), ("n",), ("largest",))


class Backend(Protocol):
    """One database. Writes happen on the writer thread; reads run in worker threads."""

    name: str  # for /readyz and errors; never holds a password
    dialect: str  # "sqlite" or "postgres": the few SQL functions that differ
    # Set once this process has run the migrations: before that (an upgrade filling its rollups from the
    # records for a few seconds) analytics read the records.
    migrated: bool

    def migrate(self) -> None: ...

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store new records and add them to the rollups, in one transaction; ids already stored are
        skipped (and not counted again)."""

    def delete_before(self, ts: float) -> int:
        """Delete the records older than `ts` rounded down to a whole hour (and those hours' rollups);
        returns how many records."""

    def select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a read query written with `?` placeholders and `json_field(metadata, ?)`."""

    def close(self) -> None: ...
