"""Compile a config snapshot (a file or a folder of YAML files) into one immutable RoutingTable.

Pipeline: read every file -> schema-validate each -> merge sections -> check references -> build frozen
dataclasses. Every problem found is reported at once, each with file, line and key path.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import orjson
from jinja2 import Template

from gateway.config import prompts as templates
from gateway.config import schema
from gateway.config.issues import ConfigError, Issue, KeyPath, Location
from gateway.config.source import SourceFile, config_files, load_file
from gateway.config.units import parse_duration, parse_size
from gateway.core.errors import GatewayError
from gateway.policy.guardrails import BUILTINS, Guardrail, PatternError, Webhook, check_pattern, matcher_of
from gateway.providers.registry import TYPES
from gateway.routing import resolve
from gateway.routing.table import (
    EMPTY,
    Budget,
    Fallback,
    Gateway,
    Leaf,
    Limit,
    Logs,
    Matcher,
    ModelMap,
    Node,
    Provider,
    ProviderSettings,
    Rate,
    Route,
    RouteRef,
    RoutingTable,
    Server,
    Split,
    State,
    StoredKey,
    Switch,
    Timeouts,
    Token,
)

NAMED_SECTIONS = (
    "providers", "keys", "models", "gateways", "routes", "budgets", "pricing", "prompts", "guardrails",
)  # fmt: skip
SINGLE_SECTIONS = ("server", "state", "logs")
SHARED_STORES = (
    "set state.store to sqlite:///./data/state.db (the workers of one machine; the default when "
    "state.store is left out) or redis://host:6379/0 (replicas on several machines)"
)
# The gateway's own first path segments (design/http.md): a provider of that name would lose its
# passthrough `/<provider>/...` to them.
RESERVED_PATH_NAMES = frozenset(
    {"v1", "g", "api", "dashboard", "metrics", "healthz", "readyz", "compat", "openapi.json"}
)
# `dynamic` too: `dynamic/<route>` names a route, so a provider `dynamic` could never be reached by model.
RESERVED_PROVIDER_NAMES = RESERVED_PATH_NAMES | {"dynamic"}
# Key fields that are cloud credentials rather than an API key (each type says which are its own).
CLOUD_KEY_FIELDS = tuple(dict.fromkeys(f for t in TYPES.values() for f in t.key_fields))
DEFAULT_FALLBACK_ON = ("429", "5xx", "timeout", "connect")


@dataclass(frozen=True, slots=True)
class Entry:
    """One named entry of a merged section, with the file it came from."""

    value: Any
    source: SourceFile
    path: KeyPath

    @property
    def location(self) -> Location:
        return self.source.locate(self.path)


def compile_config(
    config: Path | str, env: Mapping[str, str] | None = None, *, strict_env: bool = True
) -> RoutingTable:
    """Compile the snapshot at `config`. Raises ConfigError listing every error (and warning)."""
    issues: list[Issue] = []
    env = os.environ if env is None else env
    root = Path(config)
    if not root.exists():
        raise ConfigError([Issue(Location(str(root), 1, 1), (), "no such file or folder")])
    paths = config_files(root)
    if not paths:
        raise ConfigError([Issue(Location(str(root), 1, 1), (), "no *.yaml or *.yml files in this folder")])

    sources: list[SourceFile] = []
    for path in paths:
        source = load_file(path, env, issues, strict_env)
        if source.data is None:
            continue
        if not isinstance(source.data, dict):
            issues.append(Issue(source.locate(()), (), "a config file must be a mapping of sections"))
            continue
        issues.extend(schema.validate(source))
        sources.append(source)
    if any(not i.warning for i in issues):
        raise ConfigError(issues)

    compiler = _Compiler(sources, issues)
    table = compiler.build()
    if any(not i.warning for i in issues):
        raise ConfigError(issues)
    return table


class _Compiler:
    def __init__(self, sources: list[SourceFile], issues: list[Issue]):
        self.sources = sources
        self.issues = issues
        self.sections: dict[str, dict[str, Entry]] = {s: {} for s in (*NAMED_SECTIONS, *SINGLE_SECTIONS)}
        self._merge()

    # -- helpers ------------------------------------------------------------------------------------------

    def error(self, entry: Entry, sub: KeyPath, message: str, warning: bool = False) -> None:
        path = (*entry.path, *sub)
        self.issues.append(Issue(entry.source.locate(path), path, message, warning))

    def _merge(self) -> None:
        for source in self.sources:
            for section, body in source.data.items():
                if section == "version" or not isinstance(body, dict):
                    continue
                merged = self.sections[section]
                for name, value in body.items():
                    entry = Entry(value, source, (section, name))
                    if name in merged:
                        first = merged[name].location
                        self.error(entry, (), f"{section}.{name} is defined twice (first at {first})")
                        continue
                    merged[name] = entry

    # -- build --------------------------------------------------------------------------------------------

    def build(self) -> RoutingTable:
        providers = self.providers()
        keys = self.keys(providers)
        routes_raw = self.sections["routes"]
        self.route_names = set(routes_raw)
        self.providers_by_name = providers
        self.keys_by_name = keys
        self.budget_names = set(self.sections["budgets"])
        self.guardrails_by_name = self.guardrails()
        routes = {name: Route(name, self.node(e, (), e.value), e.location) for name, e in routes_raw.items()}
        self.check_cycles(routes)
        models = self.models()
        self.prompt_table = self.prompts()
        concrete = self.concrete_models(models, routes)
        gateways = self.gateways(models, concrete)
        keys_by_provider: dict[str, list[StoredKey]] = {}
        for key in keys.values():
            keys_by_provider.setdefault(key.provider, []).append(key)
        server = self.server()
        state = self.state(gateways, server)
        table = RoutingTable(
            version=self.version(),
            files=tuple(s.path for s in self.sources),
            server=server,
            providers=MappingProxyType(providers),
            keys=MappingProxyType(keys),
            keys_by_provider=MappingProxyType({p: tuple(k) for p, k in keys_by_provider.items()}),
            models=models,
            gateways=MappingProxyType(gateways),
            routes=MappingProxyType(routes),
            extra=MappingProxyType(
                {
                    "budgets": {n: e.value for n, e in self.sections["budgets"].items()},
                    "pricing": {n: e.value for n, e in self.sections["pricing"].items()},
                    "state": {n: e.value for n, e in self.sections["state"].items()},
                    "logs": {n: e.value for n, e in self.sections["logs"].items()},
                }
            ),
            warnings=tuple(str(i) for i in self.issues if i.warning),
            budgets=MappingProxyType(self.budgets()),
            state=state,
            logs=self.logs(),
            prompts=MappingProxyType(self.prompt_table),
            guardrails=MappingProxyType(self.guardrails_by_name),
        )
        warned = len(table.warnings)
        self.check_prompt_models(table)
        if sum(1 for i in self.issues if i.warning) != warned:
            table = dataclasses.replace(table, warnings=tuple(str(i) for i in self.issues if i.warning))
        return table

    def version(self) -> str:
        """A content hash of the merged, interpolated snapshot: equal configs have equal versions."""
        merged = {s: {n: e.value for n, e in entries.items()} for s, entries in self.sections.items()}
        return hashlib.sha256(orjson.dumps(merged, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]

    def server(self) -> Server:
        s = {n: e for n, e in self.sections["server"].items()}
        kwargs: dict[str, Any] = {}
        if "listen" in s:
            host, _, port = str(s["listen"].value).rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                self.error(s["listen"], (), "listen must be host:port, e.g. 127.0.0.1:8787")
            else:
                kwargs["host"], kwargs["port"] = host.strip("[]"), int(port)
        if "admin_token" in s:
            kwargs["admin_token"] = str(s["admin_token"].value or "")
        if "max_body" in s:
            kwargs["max_body"] = self.parse(s["max_body"], (), parse_size, 0)
        if "workers" in s:
            kwargs["workers"] = int(s["workers"].value)
        if "access_log" in s:
            kwargs["access_log"] = bool(s["access_log"].value)
        if "drain" in s:
            kwargs["drain"] = self.parse(s["drain"], (), parse_duration, 30.0)
        if "max_in_flight" in s:
            kwargs["max_in_flight"] = int(s["max_in_flight"].value)
        if "stream_keepalive" in s:
            every = s["stream_keepalive"]
            off = every.value in (0, "0")
            kwargs["stream_keepalive"] = 0.0 if off else self.parse(every, (), parse_duration, 15.0)
        if "responses_ttl" in s:
            kwargs["responses_ttl"] = self.parse(s["responses_ttl"], (), parse_duration, 3600.0)
        return Server(**kwargs)

    def parse(self, entry: Entry, sub: KeyPath, fn: Any, default: Any) -> Any:
        value = entry.value
        for part in sub:
            value = value[part]
        try:
            return fn(value)
        except ValueError as exc:
            self.error(entry, sub, str(exc))
            return default

    def rate(self, entry: Entry, sub: KeyPath, spec: Mapping[str, Any]) -> Rate:
        kind = "tokens" if "tokens" in spec else "requests"
        per = self.parse(entry, (*sub, "per"), parse_duration, 1.0)
        if per <= 0:
            self.error(entry, (*sub, "per"), "a rate window must be longer than 0")
        return Rate(kind, int(spec[kind]), per or 1.0, str(spec["per"]), spec.get("by"))

    def budgets(self) -> dict[str, Budget]:
        return {
            name: Budget(
                name,
                Decimal(str(e.value["usd"])),
                e.value["period"],
                e.value.get("by"),
                e.value.get("warn_at"),
            )
            for name, e in self.sections["budgets"].items()
        }

    def logs(self) -> Logs:
        s = self.sections["logs"]
        retention = self.parse(s["retention"], (), parse_duration, None) if "retention" in s else None
        return Logs(
            str(s["store"].value) if "store" in s else None,
            bool(s["bodies"].value) if "bodies" in s else False,
            retention,
        )

    def state(self, gateways: Mapping[str, Gateway], server: Server) -> State:
        state = State(**{k: str(e.value) for k, e in self.sections["state"].items()})
        # Left out, the store of several workers is an SQLite file they share; `memory` said outright
        # cannot be shared, and `gateway serve` refuses it with more than one worker (a warning here:
        # `--workers` may still say 1).
        if server.workers > 1 and state.store == "memory":
            self.error(
                self.sections["state"]["store"],
                (),
                f"server.workers is {server.workers} but state.store is memory, which each worker would "
                f"keep apart (budgets, limits, cache): gateway serve refuses it; {SHARED_STORES}",
                warning=True,
            )
        return state

    def providers(self) -> dict[str, Provider]:
        result: dict[str, Provider] = {}
        for name, e in self.sections["providers"].items():
            spec = e.value
            if name in RESERVED_PROVIDER_NAMES:
                self.error(e, (), f"provider name {name!r} is reserved (it is a gateway path or prefix)")
            ptype = TYPES[spec["type"]]  # the schema admits only the registry's types
            for path, message in ptype.check(spec):
                self.error(e, path, message)
            t = spec.get("timeouts", {})
            defaults = Timeouts()
            timeouts = Timeouts(
                **{
                    f: self.parse(e, ("timeouts", f), parse_duration, getattr(defaults, f))
                    for f in ("connect", "first_byte", "idle", "total")
                    if f in t
                }
            )
            result[name] = Provider(
                name=name,
                type=ptype.name,
                base_url=ptype.base_url(spec).rstrip("/"),
                format=ptype.format,
                timeouts=timeouts,
                max_connections=int(spec.get("max_connections", 1000)),
                headers=tuple((k.lower(), str(v)) for k, v in spec.get("headers", {}).items()),
                settings=_settings(ptype.settings, spec),
                location=e.location,
            )
        return result

    def keys(self, providers: Mapping[str, Provider]) -> dict[str, StoredKey]:
        result: dict[str, StoredKey] = {}
        for name, e in self.sections["keys"].items():
            provider = e.value["provider"]
            if provider not in providers:
                self.error(e, ("provider",), f"unknown provider {provider!r}{self.known('providers')}")
            secret = str(e.value.get("secret") or "")
            cloud = {f: str(e.value[f]) for f in CLOUD_KEY_FIELDS if e.value.get(f)}
            refs = tuple(
                ref for f in ("secret", *CLOUD_KEY_FIELDS) for ref in e.source.env_refs.get((*e.path, f), ())
            )
            ptype = providers[provider].type if provider in providers else None
            if ptype == "azure-openai" and providers[provider].settings.auth == "entra-id":
                self.error(
                    e,
                    ("provider",),
                    f"provider {provider!r} has auth: entra-id, so its calls carry the gateway's Entra ID "
                    "token and take no stored key (remove this key, or the provider's auth setting)",
                )
            wrong = [f for f in cloud if ptype is not None and f not in TYPES[ptype].key_fields]
            if wrong:
                owners = [t.name for t in TYPES.values() if wrong[0] in t.key_fields]
                self.error(
                    e,
                    (wrong[0],),
                    f"{wrong[0]} is for {' or '.join(owners)} providers; provider "
                    f"{provider!r} has type {ptype!r} (give it a `secret`)",
                )
            result[name] = StoredKey(name, provider, secret, refs, e.location, MappingProxyType(cloud))
        return result

    def known(self, section: str) -> str:
        names = sorted(self.sections[section])
        return f" (defined: {', '.join(names)})" if names else f" (no {section} are defined)"

    # -- models and targets -------------------------------------------------------------------------------

    def target(self, entry: Entry, sub: KeyPath, text: str) -> Node | None:
        """A target string: provider/model or dynamic/<route>. None (with an error) when unknown."""
        provider, _, model = text.lstrip("@").partition("/")
        if provider == "dynamic":
            if model not in self.route_names:
                self.error(entry, sub, f"unknown route {model!r}{self.known('routes')}")
                return None
            return RouteRef(model)
        if provider not in self.providers_by_name:
            self.error(entry, sub, f"unknown provider {provider!r} in {text!r}{self.known('providers')}")
            return None
        return Leaf(provider, model)

    def models(self) -> ModelMap:
        exact: dict[str, str] = {}
        globs: list[tuple[str, re.Pattern[str], str]] = []
        for name, e in self.sections["models"].items():
            self.target(e, (), e.value)
            if any(c in name for c in "*?["):
                globs.append((name, re.compile(fnmatch.translate(name)), e.value))
            else:
                exact[name] = e.value
        return ModelMap(MappingProxyType(exact), tuple(globs))

    # -- route nodes --------------------------------------------------------------------------------------

    def node(self, entry: Entry, sub: KeyPath, spec: Any) -> Node:
        if isinstance(spec, str):
            return self.target(entry, sub, spec) or Leaf("", spec)
        if "model" in spec:
            return self.leaf(entry, sub, spec)
        if "fallback" in spec:
            fb = spec["fallback"]
            items, on = (fb, DEFAULT_FALLBACK_ON) if isinstance(fb, list) else (fb["to"], fb.get("on"))
            inner = (*sub, "fallback") if isinstance(fb, list) else (*sub, "fallback", "to")
            nodes = tuple(self.node(entry, (*inner, i), n) for i, n in enumerate(items))
            return Fallback(tuple(str(x) for x in (on or DEFAULT_FALLBACK_ON)), nodes)
        if "split" in spec:
            branches = []
            for i, b in enumerate(spec["split"]):
                if b["weight"] <= 0:
                    self.error(entry, (*sub, "split", i, "weight"), "weights must be positive numbers")
                branches.append((float(b["weight"]), self.node(entry, (*sub, "split", i, "to"), b["to"])))
            return Split(tuple(branches), spec.get("sticky"))
        if "switch" in spec:
            cases = []
            for i, case in enumerate(spec["switch"]):
                when = tuple((f, _matcher(m)) for f, m in case["when"].items())
                for f, m in when:
                    if m.op == "matches":
                        try:
                            re.compile(m.value)
                        except re.error as exc:
                            self.error(entry, (*sub, "switch", i, "when", f), f"bad regex: {exc}")
                cases.append((when, self.node(entry, (*sub, "switch", i, "to"), case["to"])))
            default = spec.get("default")
            default_node = self.node(entry, (*sub, "default"), default) if default is not None else None
            return Switch(tuple(cases), default_node)
        if "limit" in spec:
            lim = spec["limit"]
            budget = lim.get("budget")
            if budget is not None and budget not in self.budget_names:
                self.error(
                    entry, (*sub, "limit", "budget"), f"unknown budget {budget!r}{self.known('budgets')}"
                )
            rate = lim.get("rate")
            otherwise = spec.get("otherwise")
            return Limit(
                budget,
                self.rate(entry, (*sub, "limit", "rate"), rate) if rate else None,
                self.node(entry, (*sub, "to"), spec["to"]),
                self.node(entry, (*sub, "otherwise"), otherwise) if otherwise is not None else None,
            )
        self.error(entry, sub, "a route node needs one of: model, fallback, split, switch, limit")
        return Leaf("", "")

    def leaf(self, entry: Entry, sub: KeyPath, spec: Mapping[str, Any]) -> Node:
        target = self.target(entry, (*sub, "model"), spec["model"])
        if not isinstance(target, Leaf):
            if target is not None:
                self.error(entry, (*sub, "model"), "a leaf's model must be provider/model, not a route")
            return Leaf("", str(spec["model"]))
        key = spec.get("key")
        if key is not None:
            stored = self.keys_by_name.get(key)
            if stored is None:
                self.error(entry, (*sub, "key"), f"unknown key {key!r}{self.known('keys')}")
            elif stored.provider != target.provider:
                self.error(
                    entry,
                    (*sub, "key"),
                    f"key {key!r} belongs to provider {stored.provider!r}, not {target.provider!r}",
                )
        timeout = spec.get("timeout")
        return Leaf(
            target.provider,
            target.model,
            key=key,
            params=MappingProxyType(dict(spec.get("params", {}))),
            timeout=self.parse(entry, (*sub, "timeout"), parse_duration, None)
            if timeout is not None
            else None,
            retries=int(spec.get("retries", 0)),
        )

    def check_cycles(self, routes: Mapping[str, Route]) -> None:
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        for name in routes:
            self._visit(name, [], routes, state)

    def _visit(self, name: str, trail: list[str], routes: Mapping[str, Route], state: dict[str, int]) -> None:
        # A method, not a closure: a closure calling itself is a reference cycle (through its cell), and
        # it would hold this compiler, with every source file, until the cyclic collector ran.
        if state.get(name) == 2 or name not in routes:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*trail[trail.index(name) :], name])
            self.error(self.sections["routes"][name], (), f"route cycle: {cycle}")
            return
        state[name] = 1
        for ref in _route_refs(routes[name].node):
            self._visit(ref, [*trail, name], routes, state)
        state[name] = 2

    # -- prompts ------------------------------------------------------------------------------------------

    def prompts(self) -> dict[str, templates.Prompt]:
        """Each prompt's templates parsed once; what the sandbox would refuse and variables used but not
        declared are errors at the template's key."""
        out: dict[str, templates.Prompt] = {}
        for name, e in self.sections["prompts"].items():
            spec = e.value
            declared = spec.get("variables") or {}
            for var, v in declared.items():
                if isinstance(v, dict) and v.get("required") and "default" in v:
                    self.error(
                        e, ("variables", var), "required and default together: the default is never used"
                    )
            for key in sorted(set(spec.get("params") or {}) & {"model", "messages", "system"}):
                self.error(
                    e, ("params", key), f"{key} is the prompt's own key, not a request param: set it there"
                )
            sources: list[tuple[KeyPath, str]] = []
            if spec.get("system") is not None:
                sources.append((("system",), spec["system"]))
            sources += [(("messages", i, "content"), m["content"]) for i, m in enumerate(spec["messages"])]
            compiled: list[Template] = []
            for sub, text in sources:
                ast, problem = templates.parse(text)
                if ast is None:
                    self.error(e, sub, str(problem))
                    compiled.append(templates.compile_template(None))  # the config is rejected anyway
                    continue
                for problem in templates.check(ast, declared):
                    self.error(e, sub, problem)
                compiled.append(templates.compile_template(ast))
            system = compiled.pop(0) if spec.get("system") is not None else None
            out[name] = templates.Prompt(
                name=name,
                model=spec["model"],
                system=system,
                messages=tuple((m["role"], t) for m, t in zip(spec["messages"], compiled, strict=True)),
                variables=templates.variables(declared),
                params=MappingProxyType(dict(spec.get("params") or {})),
            )
        return out

    def prompt_names(self, entry: Entry, names: list[str]) -> tuple[str, ...]:
        """A gateway's `prompts:`: names under prompts:, or ['*'] for all of them."""
        if "*" in names:
            if len(names) > 1:
                self.error(entry, ("prompts",), "'*' already lists every prompt: give it alone")
            return tuple(self.sections["prompts"])
        for i, n in enumerate(names):
            if n not in self.sections["prompts"]:
                self.error(entry, ("prompts", i), f"unknown prompt {n!r}{self.known('prompts')}")
        return tuple(n for n in names if n in self.sections["prompts"])

    def check_prompt_models(self, table: RoutingTable) -> None:
        """A prompt's default model must resolve (an error, like any reference); a gateway that serves
        the prompt without allowing that model is a warning: its callers must name an allowed model."""
        for name, e in self.sections["prompts"].items():
            model = e.value["model"]
            try:
                resolve.lookup(table, model)
            except GatewayError:
                self.error(e, ("model",), f"model {model!r} does not resolve ({resolve.HOW_NAMES_RESOLVE})")
                continue
            for gw in table.gateways.values():
                if name in gw.prompts and not gw.allows(model):
                    self.error(
                        e,
                        ("model",),
                        f"gateway {gw.name!r} serves this prompt but does not allow its model {model!r}: "
                        "every call through it must name an allowed model",
                        warning=True,
                    )

    # -- gateways -----------------------------------------------------------------------------------------

    def concrete_models(self, models: ModelMap, routes: Mapping[str, Route]) -> list[tuple[str, str]]:
        """(id, owner) pairs for GET /v1/models: exact aliases, routes, provider/model names in config."""
        out: dict[str, str] = {}
        for alias, target in models.exact.items():
            out.setdefault(alias, target.lstrip("@").partition("/")[0])
        for name in routes:
            out.setdefault(f"dynamic/{name}", "gateway")

        for target in models.exact.values():
            p, _, m = target.lstrip("@").partition("/")
            if p != "dynamic" and "*" not in m:
                out.setdefault(f"{p}/{m}", p)
        for route in routes.values():
            _leaves(route.node, out)
        return list(out.items())

    def gateways(self, models: ModelMap, concrete: list[tuple[str, str]]) -> dict[str, Gateway]:
        entries = self.sections["gateways"]
        if not entries:
            return {"default": self.gateway("default", {}, None, concrete)}
        return {name: self.gateway(name, e.value, e, concrete) for name, e in entries.items()}

    def gateway(
        self, name: str, spec: Mapping[str, Any], entry: Entry | None, concrete: list[tuple[str, str]]
    ) -> Gateway:
        auth = spec.get("auth", "none")
        tokens: list[Token] = []
        seen_digests: dict[bytes, str] = {}
        for i, t in enumerate(spec.get("tokens", [])):
            assert entry is not None
            if "sha256" in t:
                digest = bytes.fromhex(t["sha256"])
            elif t.get("secret"):
                digest = hashlib.sha256(str(t["secret"]).encode()).digest()
            else:
                self.error(entry, ("tokens", i, "secret"), "empty token secret: this token is disabled", True)
                continue
            if digest in seen_digests:
                self.error(entry, ("tokens", i), f"same secret as token {seen_digests[digest]!r}")
            seen_digests[digest] = t["name"]
            for b in t.get("budgets", []):
                if b not in self.budget_names:
                    self.error(
                        entry, ("tokens", i, "budgets"), f"unknown budget {b!r}{self.known('budgets')}"
                    )
            tokens.append(
                Token(
                    t["name"],
                    digest,
                    MappingProxyType(dict(t.get("metadata", {}))),
                    tuple(t.get("budgets", ())),
                )
            )
        names = [t["name"] for t in spec.get("tokens", [])]
        if entry is not None:
            for dup in {n for n in names if names.count(n) > 1}:
                self.error(entry, ("tokens",), f"token name {dup!r} is used twice")
            if auth != "tokens" and spec.get("tokens"):
                self.error(
                    entry,
                    ("tokens",),
                    "tokens are listed but auth is not `tokens`: this gateway is open to anyone",
                    warning=True,
                )
            if auth == "tokens" and not spec.get("tokens"):
                self.error(entry, ("auth",), "auth: tokens needs at least one entry under tokens")
            for b in spec.get("budgets", []):
                if b not in self.budget_names:
                    self.error(entry, ("budgets",), f"unknown budget {b!r}{self.known('budgets')}")
            for i, g in enumerate(spec.get("guardrails", [])):
                if g not in self.sections["guardrails"]:
                    self.error(entry, ("guardrails", i), f"unknown guardrail {g!r}{self.known('guardrails')}")
        allow_text = tuple(spec["allow"]) if "allow" in spec else None
        allow = (
            tuple(re.compile(fnmatch.translate(p)) for p in allow_text) if allow_text is not None else None
        )
        settings = {k: spec[k] for k in ("cache", "rate_limits", "budgets", "logs") if k in spec}
        listed = [(m, owner) for m, owner in concrete if allow is None or any(p.fullmatch(m) for p in allow)]
        return Gateway(
            name=name,
            auth=auth,
            tokens=tuple(tokens),
            allow=allow,
            allow_text=allow_text,
            provider_keys=tuple(spec.get("provider_keys", ("stored", "request"))),
            settings=MappingProxyType(settings) if settings else EMPTY,
            location=entry.location if entry else Location("(built-in)", 1, 1),
            rate_limits=tuple(
                self.rate(entry, ("rate_limits", i), r) for i, r in enumerate(spec.get("rate_limits", ()))
            )
            if entry is not None
            else (),
            budgets=tuple(spec.get("budgets", ())),
            cache_ttl=self.cache_ttl(entry, spec.get("cache")),
            log_bodies=spec["logs"].get("bodies") if isinstance(spec.get("logs"), dict) else None,
            listed=tuple(listed),
            prompts=self.prompt_names(entry, list(spec.get("prompts", ()))) if entry is not None else (),
            guardrails=tuple(
                self.guardrails_by_name[g] for g in spec.get("guardrails", ()) if g in self.guardrails_by_name
            ),
        )

    def guardrails(self) -> dict[str, Guardrail]:
        return {name: self.guardrail(name, e) for name, e in self.sections["guardrails"].items()}

    def guardrail(self, name: str, entry: Entry) -> Guardrail:
        """One guardrail; every pattern, builtin and URL checked (with its line) before anything runs."""
        spec = entry.value
        check = spec["check"]
        patterns: list[str] = []
        for i, pattern in enumerate(check.get("regex", ())):
            try:
                check_pattern(pattern)
            except PatternError as exc:
                self.error(entry, ("check", "regex", i), f"{pattern!r}: {exc}")
                continue
            patterns.append(pattern)
        builtins: list[str] = []
        for i, b in enumerate(check.get("builtin", ())):
            if b in BUILTINS:
                builtins.append(b)
            else:
                self.error(
                    entry, ("check", "builtin", i), f"unknown builtin {b!r} (known: {', '.join(BUILTINS)})"
                )
        webhook = None
        if "webhook" in check:
            hook = check["webhook"]
            url = str(hook["url"])
            parsed = urlsplit(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                self.error(
                    entry, ("check", "webhook", "url"), f"{url!r}: a webhook URL must be http:// or https://"
                )
            timeout = (
                self.parse(entry, ("check", "webhook", "timeout"), parse_duration, 2.0)
                if "timeout" in hook
                else 2.0
            )
            webhook = Webhook(
                url,
                timeout,  # parse_duration refuses 0 and negatives
                tuple((str(k).lower(), str(v)) for k, v in hook.get("headers", {}).items()),
                spec.get("on_error", "allow"),
            )
        action = spec["action"]
        if action == "redact" and ("max_input_tokens" in check or "webhook" in check):
            self.error(
                entry,
                ("action",),
                "redact replaces what regex or builtin matched: a max_input_tokens or webhook check can only "
                "block or flag (put it in a guardrail of its own)",
            )
        on = spec.get("on", "input")
        if on == "output" and "max_input_tokens" in check:
            self.error(
                entry,
                ("check", "max_input_tokens"),
                "max_input_tokens looks at the input: `on` must include input",
            )
        if on != "input" and "webhook" in check:
            # Only input is sent to a webhook: an answer would have to be held whole (or a stream paused)
            # for a round trip, so a webhook on output would silently check nothing.
            self.error(
                entry,
                ("on",),
                "a webhook checks input only: set `on: input` (output checks go in a guardrail of their own)",
            )
        return Guardrail(
            name,
            on,
            action,
            matcher_of(name, patterns, builtins),
            check.get("max_input_tokens"),
            webhook,
        )

    def cache_ttl(self, entry: Entry | None, spec: Mapping[str, Any] | None) -> float | None:
        if entry is None or not spec or spec.get("enabled") is False:
            return None
        ttl: float | None = self.parse(entry, ("cache", "ttl"), parse_duration, None)
        return ttl if ttl and ttl > 0 else None


def _matcher(spec: Any) -> Matcher:
    if isinstance(spec, dict) and len(spec) == 1:
        op, value = next(iter(spec.items()))
        if op == "not":
            return Matcher("not", _matcher(value))
        if op == "in":
            return Matcher("in", tuple(value))
        return Matcher(op, value)
    return Matcher("eq", spec)


def _settings(names: tuple[str, ...], spec: Mapping[str, Any]) -> ProviderSettings:
    """The settings a provider's type takes, typed (the schema has checked their shapes)."""
    taken = {name: spec[name] for name in names if name in spec}
    globs = taken.pop("responses_models", None)
    deployments = taken.pop("deployments", None) or {}
    responses = taken.pop("responses", None)
    return ProviderSettings(
        **{name: str(value) for name, value in taken.items()},
        responses=bool(responses) if responses is not None else None,
        deployments=MappingProxyType({str(m): str(d) for m, d in deployments.items()}),
        responses_models=tuple(str(g) for g in globs) if globs is not None else None,
    )


# Module functions rather than closures: a closure that calls itself is a reference cycle (through its
# cell), left to the cyclic collector with everything it closes over (see _Compiler._visit).


def _route_refs(node: Node) -> list[str]:
    """The routes a route's node refers to."""
    match node:
        case RouteRef(route=r):
            return [r]
        case Fallback(nodes=nodes):
            return [r for n in nodes for r in _route_refs(n)]
        case Split(branches=branches):
            return [r for _, n in branches for r in _route_refs(n)]
        case Switch(cases=cases, default=default):
            out = [r for _, n in cases for r in _route_refs(n)]
            return out + (_route_refs(default) if default else [])
        case Limit(to=to, otherwise=otherwise):
            return _route_refs(to) + (_route_refs(otherwise) if otherwise else [])
    return []


def _leaves(node: Node | None, out: dict[str, str]) -> None:
    """Adds the concrete provider/model leaves under `node` to `out` (id -> owner)."""
    match node:
        case Leaf(provider=p, model=m) if p and "*" not in m:
            out.setdefault(f"{p}/{m}", p)
        case Fallback(nodes=nodes):
            for n in nodes:
                _leaves(n, out)
        case Split(branches=branches):
            for _, n in branches:
                _leaves(n, out)
        case Switch(cases=cases, default=default):
            for _, n in cases:
                _leaves(n, out)
            _leaves(default, out)
        case Limit(to=to, otherwise=otherwise):
            _leaves(to, out)
            _leaves(otherwise, out)
