"""The compiled routing table: one immutable snapshot of the whole config, swapped in atomically."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from gateway.config.issues import Location
from gateway.core.formats import Format
from gateway.policy.guardrails import Guardrail

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 600.0  # a non-streaming answer arrives whole, so this bounds generation time
    idle: float = 300.0  # gap between body chunks; providers send pings well inside this
    total: float = 3600.0


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """The type-specific settings config gives a provider; which of them a type takes is its
    `ProviderType.settings` (checked against the schema), the rest stay empty."""

    # openai, azure-openai: globs of the models served only by the Responses API (None: the known ones)
    responses_models: tuple[str, ...] | None = None
    region: str = ""  # bedrock, vertex
    project: str = ""  # vertex
    api_version: str = ""  # azure-openai
    deployments: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({})
    )  # azure: model -> name
    auth: str = ""  # azure-openai: "entra-id" mints a token from the gateway's Azure identity
    # openai: whether the server serves the Responses API at /responses (None: the type's default)
    responses: bool | None = None
    account_id: str = ""  # workers-ai: the Cloudflare account its URL names


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    type: str
    base_url: str
    format: Format  # the wire format its calls speak (Vertex: per model, see providers.wire_format)
    timeouts: Timeouts
    max_connections: int
    headers: tuple[tuple[str, str], ...]
    settings: ProviderSettings
    location: Location


@dataclass(frozen=True, slots=True)
class StoredKey:
    name: str
    provider: str
    secret: str = field(repr=False)
    env_vars: tuple[str, ...]  # where the secret came from, to say what to set when it is empty
    location: Location
    # Cloud credentials instead of an API key: access_key_id, secret_access_key, session_token (Bedrock),
    # credentials_file (Vertex). Used to sign requests or mint tokens, never sent as they are.
    cloud: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def available(self) -> bool:
        if self.secret:
            return True
        if self.cloud.get("access_key_id") and self.cloud.get("secret_access_key"):
            return True
        return bool(self.cloud.get("credentials_file"))

    @property
    def masked(self) -> str:
        if not self.secret:
            key_id = self.cloud.get("access_key_id")
            if key_id and self.available:
                return f"{key_id[:4]}...{key_id[-4:]}" if len(key_id) > 12 else "****"
            if self.cloud.get("credentials_file"):
                return "(credentials file)"
            return "(empty)"
        return f"{self.secret[:4]}...{self.secret[-4:]}" if len(self.secret) > 12 else "****"


# Route nodes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leaf:
    provider: str
    model: str
    key: str | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    timeout: float | None = None
    retries: int = 0

    @property
    def target(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class RouteRef:
    route: str


@dataclass(frozen=True, slots=True)
class Fallback:
    on: tuple[str, ...]
    nodes: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Split:
    branches: tuple[tuple[float, Node], ...]
    sticky: str | None


@dataclass(frozen=True, slots=True)
class Matcher:
    op: str  # eq, in, not, gt, gte, lt, lte, matches, exists
    value: Any


@dataclass(frozen=True, slots=True)
class Switch:
    cases: tuple[tuple[tuple[tuple[str, Matcher], ...], Node], ...]
    default: Node | None


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate limit: `amount` requests or tokens per `per` seconds, one counter per value of `by`."""

    kind: str  # requests | tokens
    amount: int
    per: float
    per_text: str  # as written, e.g. "1m"
    by: str | None = None

    def describe(self) -> str:
        return f"{self.amount} {self.kind} per {self.per_text}" + (f" by {self.by}" if self.by else "")


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    usd: Decimal
    period: str  # day | week | month | total (calendar, UTC)
    by: str | None = None
    warn_at: float | None = None

    @property
    def units(self) -> int:
        """The limit in the stores' integer units (1e-10 USD)."""
        return int(self.usd * 10**10)  # = state.store.to_units (table.py imports nothing from stores)


@dataclass(frozen=True, slots=True)
class State:
    # memory | sqlite:///path | redis://...; None (not in config): memory, or with `--workers N` an
    # SQLite file the workers share (the process's default, given to the data plane by `gateway serve`)
    store: str | None = None
    on_unavailable: str = "closed"  # closed | open


@dataclass(frozen=True, slots=True)
class Logs:
    store: str | None = None  # None: the app's default (sqlite:///./data/gateway.db)
    bodies: bool = False  # for gateways that don't say
    retention: float | None = None  # seconds; None: kept until deleted by hand


@dataclass(frozen=True, slots=True)
class Limit:
    budget: str | None
    rate: Rate | None
    to: Node
    otherwise: Node | None


Node = Leaf | RouteRef | Fallback | Split | Switch | Limit


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    node: Node
    location: Location


# Gateways --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    digest: bytes = field(repr=False)  # sha256 of the secret; the secret itself is never kept
    metadata: Mapping[str, Any]
    budgets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Gateway:
    name: str
    auth: str  # none | tokens
    tokens: tuple[Token, ...]
    allow: tuple[re.Pattern[str], ...] | None  # None: every model and route
    allow_text: tuple[str, ...] | None
    provider_keys: tuple[str, ...]  # stored / request, in order of preference
    settings: Mapping[str, Any]  # cache, rate_limits, budgets, logs: executed by later stages
    location: Location
    rate_limits: tuple[Rate, ...] = ()
    budgets: tuple[str, ...] = ()
    cache_ttl: float | None = None  # seconds; None: the cache is off unless a request asks for it
    log_bodies: bool | None = None  # None: logs.bodies decides
    # (name, owner) of every name config gives this gateway, in GET /v1/models order (gateway.catalogue)
    listed: tuple[tuple[str, str], ...] = ()
    guardrails: tuple[Guardrail, ...] = ()  # in the order the gateway lists them

    def allows(self, model: str) -> bool:
        return self.allow is None or any(p.fullmatch(model) for p in self.allow)


@dataclass(frozen=True, slots=True)
class ModelMap:
    exact: Mapping[str, str]
    globs: tuple[tuple[str, re.Pattern[str], str], ...]  # (glob, regex, target), in file order


@dataclass(frozen=True, slots=True)
class Server:
    host: str = "127.0.0.1"
    port: int = 8787
    admin_token: str = field(default="", repr=False)
    max_body: int = 32 * 1024 * 1024
    workers: int = 1
    access_log: bool = True
    drain: float = 30.0
    max_in_flight: int = 1000  # model calls per worker; past it, new ones are shed with 503 at once
    stream_keepalive: float = 15.0  # seconds between keepalive comments on an idle stream; 0: never
    # seconds the Responses API state lives: the gateway's own responses, and which provider owns an id
    responses_ttl: float = 3600.0


@dataclass(frozen=True, slots=True)
class RoutingTable:
    version: str
    files: tuple[str, ...]
    server: Server
    providers: Mapping[str, Provider]
    keys: Mapping[str, StoredKey]
    keys_by_provider: Mapping[str, tuple[StoredKey, ...]]  # file order: the first available one is used
    models: ModelMap
    gateways: Mapping[str, Gateway]
    routes: Mapping[str, Route]
    # Sections executed by later stages (budgets, pricing, state, logs), validated and kept as data.
    extra: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    budgets: Mapping[str, Budget] = field(default_factory=dict)
    state: State = State()
    logs: Logs = Logs()
    guardrails: Mapping[str, Guardrail] = field(default_factory=dict)  # every one config defines, by name
    # resolve.lookup's answers by model name: resolving builds a node per call, which is measurable on
    # the hot path. The only mutable part of a table; bounded (resolve.MEMO_SIZE), never iterated.
    lookups: dict[str, tuple[str | None, Node]] = field(default_factory=dict, compare=False, repr=False)
    # Views of the whole table built on first use and kept with it (gateway.catalogue's model catalogue),
    # so a reload (a new table) rebuilds them and requests never do.
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
