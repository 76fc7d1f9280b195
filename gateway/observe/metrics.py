"""Prometheus metrics for `GET /metrics`.

Per-request series are fed from the request record (`Metrics.observe`, a data-plane observer);
process state (log queue, circuits, config, budgets) is read at scrape time through functions given at
construction, so this module imports nothing of the app. Every instance owns its registry: two gateways
in one process (the tests) never share series.

`observe` runs on the event loop for every request, so it only adds to plain ints and floats (the
scrape runs on the same loop): prometheus_client's own Counter and Histogram take a lock per update and
cost several times more. One collector turns the sums into families when Prometheus scrapes.

Labels stay bounded: gateways, routes and providers come from config, statuses are numbers, and model
names, which clients choose through globs, are capped per instance (past the cap: "other"). Nothing that
identifies a caller (tokens, keys, metadata, request ids) is ever a label.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from gateway.observe.record import Attempt, RequestRecord

if TYPE_CHECKING:
    from gateway.config.reload import ReloadResult

log = logging.getLogger("gateway.metrics")

# The classic text format: every name and label here is a legacy-valid one, and every scraper reads it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# From a cache hit (a few ms) to a long agent turn or stream (first_byte alone may take 10 min).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
_LE = (*(str(float(b)) for b in BUCKETS), "+Inf")  # "1.0", as prometheus_client writes `le`
MAX_MODELS = 500
MAX_MODEL_LENGTH = 200  # a client-chosen name longer than this is "other" too
MAX_CIRCUITS = 500  # breaker targets follow model names; open ones are exported first
OTHER = "other"
BUDGET_TIMEOUT = 1.0  # seconds: a slow store must not hold the scrape

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write")
SERIES_LABELS = ("gateway", "route", "provider", "model")
UPSTREAM_LABELS = ("gateway", "provider", "model", "status")

SeriesKey = tuple[str, str, str, str]  # gateway, route, provider, model
UpstreamKey = tuple[str, str, str, int]  # gateway, provider, model, status


@dataclass(frozen=True, slots=True)
class Readers:
    """Where scrape-time values come from; a reader left out leaves its metrics out."""

    log_depth: Callable[[], int] | None = None
    log_dropped: Callable[[], int] | None = None
    circuits: Callable[[], list[dict[str, Any]]] | None = None  # Breakers.snapshot
    config_version: Callable[[], str] | None = None
    budgets: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None  # state_views.budgets shape
    in_flight: Callable[[], int] | None = None  # model and passthrough calls being answered
    shed: Callable[[], int] | None = None  # calls refused past server.max_in_flight


class _Histogram:
    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # per bucket, not cumulative; the last one is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1  # the first bound >= seconds: `le` semantics
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for le, count in zip(_LE, self.counts, strict=True):
            running += count
            out.append((le, float(running)))
        return out


class _Series:
    """What one (gateway, route, provider, model) has counted."""

    __slots__ = ("cost", "duration", "requests", "tokens", "ttfb")

    def __init__(self) -> None:
        self.requests: dict[int, int] = {}  # by status
        self.duration = _Histogram()
        self.ttfb = _Histogram()
        self.tokens = [0] * len(TOKEN_TYPES)
        self.cost = 0.0


class Metrics:
    """Counts finished requests and renders them, with what the readers say at scrape time."""

    def __init__(self, readers: Readers | None = None, *, max_models: int = MAX_MODELS) -> None:
        self.readers = readers or Readers()
        self.max_models = max_models
        self._models: set[str] = set()
        self._series: dict[SeriesKey, _Series] = {}
        self._upstream: dict[UpstreamKey, list[int]] = {}  # [attempts, failures]
        self._cache: dict[tuple[str, str], int] = {}
        self._reloads = {"ok": 0, "error": 0}
        self._budgets: list[dict[str, Any]] | None = None  # set by render() around one scrape
        self._failed_once = False
        self.registry = CollectorRegistry()
        self.registry.register(self)

    # -- per request (on the event loop) -------------------------------------------------------------

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request from its record. Never raises into the data plane."""
        try:
            self._observe(record)
        except Exception:  # a malformed record must not fail the request that produced it
            if not self._failed_once:
                self._failed_once = True
                log.exception("metrics: could not count a request record")

    def _observe(self, record: RequestRecord) -> None:
        gateway = record.gateway
        key = (gateway, record.route or "", record.provider or "", self.model(record.model))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        status = record.status
        series.requests[status] = series.requests.get(status, 0) + 1
        series.duration.observe(record.latency_ms / 1000)
        ttfb = record.ttfb_ms
        if ttfb is not None:
            series.ttfb.observe(ttfb / 1000)
        cache = record.cache
        if cache != "HIT":  # a hit used no upstream tokens and cost nothing
            _add_usage(series, record)
        if cache:
            self._cache[(gateway, cache)] = self._cache.get((gateway, cache), 0) + 1
        if record.attempts:
            self._count_attempts(gateway, record.attempts)

    def model(self, name: str | None) -> str:
        """The model label: the name while fewer than `max_models` are known, then "other"."""
        if not name:
            return ""
        if name in self._models:
            return name
        if len(self._models) >= self.max_models or len(name) > MAX_MODEL_LENGTH:
            return OTHER
        self._models.add(name)
        return name

    def _count_attempts(self, gateway: str, attempts: list[Attempt]) -> None:
        for attempt in attempts:
            provider, _, model = attempt.target.partition("/")
            status = attempt.status
            key = (gateway, provider, self.model(model), status)
            counts = self._upstream.get(key)
            if counts is None:
                counts = self._upstream[key] = [0, 0]
            counts[0] += 1
            if status >= 500 or status == 429 or (status == 0 and attempt.error):
                counts[1] += 1

    # -- config reloads (LiveConfig.reload_listeners) ------------------------------------------------

    def on_reload(self, result: ReloadResult) -> None:
        self._reloads["ok" if result.ok else "error"] += 1

    # -- scrape --------------------------------------------------------------------------------------

    async def render(self) -> bytes:
        """The exposition text; budgets are read from the state store first, when it answers in time."""
        self._budgets = await self._read_budgets()
        try:
            return generate_latest(self.registry)  # synchronous: nothing else runs on the loop meanwhile
        finally:
            self._budgets = None

    async def _read_budgets(self) -> list[dict[str, Any]] | None:
        reader = self.readers.budgets
        if reader is None:
            return None
        try:
            async with asyncio.timeout(BUDGET_TIMEOUT):
                return await reader()
        except Exception as exc:  # an unreachable store leaves the budget gauges out, never the scrape
            log.debug("metrics: budgets unavailable: %s", exc)
            return None

    def collect(self) -> Iterator[Metric]:
        """The registry's one collector: the request counts, then what the readers say now."""
        r = self.readers
        parts: list[Callable[[], Iterable[Metric]]] = [
            self._request_families,
            self._upstream_families,
            self._cache_and_reload_families,
            lambda: _log_families(r),
            lambda: _circuit_families(r),
            lambda: _config_families(r),
            lambda: _load_families(r),
            lambda: _budget_families(self._budgets),
        ]
        for part in parts:
            try:
                yield from part()
            except Exception:  # one broken reader must not cost the whole scrape
                log.exception("metrics: a scrape-time reader failed")

    def _request_families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "gateway_requests_total", "Requests answered", labels=[*SERIES_LABELS, "status"]
        )
        duration = HistogramMetricFamily(
            "gateway_request_duration_seconds", "Request latency, to the last byte", labels=SERIES_LABELS
        )
        ttfb = HistogramMetricFamily(
            "gateway_ttfb_seconds", "Time to the upstream's first byte", labels=SERIES_LABELS
        )
        tokens = CounterMetricFamily(
            "gateway_tokens_total", "Upstream tokens (cache hits excluded)", labels=[*SERIES_LABELS, "type"]
        )
        cost = CounterMetricFamily(
            "gateway_cost_usd_total", "Upstream cost in USD (cache hits cost 0)", labels=SERIES_LABELS
        )
        for key, series in list(self._series.items()):
            labels = list(key)
            for status, count in list(series.requests.items()):
                requests.add_metric([*labels, str(status)], count)
            duration.add_metric(labels, series.duration.buckets(), series.duration.total)
            ttfb.add_metric(labels, series.ttfb.buckets(), series.ttfb.total)
            for kind, count in zip(TOKEN_TYPES, series.tokens, strict=True):
                tokens.add_metric([*labels, kind], count)
            cost.add_metric(labels, series.cost)
        yield from (requests, duration, ttfb, tokens, cost)

    def _upstream_families(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "gateway_upstream_attempts_total", "Upstream attempts", labels=UPSTREAM_LABELS
        )
        failures = CounterMetricFamily(
            "gateway_upstream_failures_total",
            "Upstream attempts that failed: 5xx, 429, or no answer",
            labels=UPSTREAM_LABELS,
        )
        for (gateway, provider, model, status), (tried, failed) in list(self._upstream.items()):
            labels = [gateway, provider, model, str(status)]
            attempts.add_metric(labels, tried)
            if failed:
                failures.add_metric(labels, failed)
        yield from (attempts, failures)

    def _cache_and_reload_families(self) -> Iterator[Metric]:
        cache = CounterMetricFamily(
            "gateway_cache_total", "Response cache lookups", labels=["gateway", "result"]
        )
        for (gateway, result), count in list(self._cache.items()):
            cache.add_metric([gateway, result], count)
        reloads = CounterMetricFamily("gateway_config_reloads_total", "Config reloads", labels=["result"])
        for result, count in self._reloads.items():
            reloads.add_metric([result], count)
        yield from (cache, reloads)


def _add_usage(series: _Series, record: RequestRecord) -> None:
    tokens = series.tokens
    counts = (record.input_tokens, record.output_tokens, record.cache_read_tokens, record.cache_write_tokens)
    for i, count in enumerate(counts):  # in TOKEN_TYPES order
        if count:
            tokens[i] += count
    cost = record.cost_usd
    if cost and cost != "0":
        series.cost += float(cost)  # a plain decimal string; float is what the exposition carries


def _log_families(r: Readers) -> Iterator[Metric]:
    if r.log_depth is not None:
        yield GaugeMetricFamily(
            "gateway_log_queue_depth", "Access-log records not yet written", r.log_depth()
        )
    if r.log_dropped is not None:
        yield CounterMetricFamily(
            "gateway_log_dropped_total",
            "Access-log records dropped (queue full or write error)",
            r.log_dropped(),
        )


def _circuit_families(r: Readers) -> Iterator[Metric]:
    if r.circuits is None:
        return
    family = GaugeMetricFamily("gateway_circuit_open", "1 while a target is ejected", labels=["target"])
    circuits = sorted(r.circuits(), key=lambda c: c["state"] != "open")[:MAX_CIRCUITS]
    for circuit in circuits:
        family.add_metric([circuit["target"]], 1.0 if circuit["state"] == "open" else 0.0)
    yield family


def _config_families(r: Readers) -> Iterator[Metric]:
    if r.config_version is not None:
        family = GaugeMetricFamily("gateway_config_info", "The live config version", labels=["version"])
        family.add_metric([r.config_version()], 1.0)
        yield family


def _load_families(r: Readers) -> Iterator[Metric]:
    if r.in_flight is not None:
        yield GaugeMetricFamily(
            "gateway_in_flight", "Model and passthrough calls being answered", r.in_flight()
        )
    if r.shed is not None:
        yield CounterMetricFamily(
            "gateway_shed_total", "Calls refused with 503 past server.max_in_flight", r.shed()
        )


def _budget_families(budgets: list[dict[str, Any]] | None) -> Iterator[Metric]:
    """Per budget, summed over its `by` values (one series per value would be unbounded)."""
    if budgets is None:
        return
    labels = ["budget"]
    limit = GaugeMetricFamily("gateway_budget_limit_usd", "Budget limit per period", labels=labels)
    spent = GaugeMetricFamily("gateway_budget_spent_usd", "Spent this period", labels=labels)
    reserved = GaugeMetricFamily("gateway_budget_reserved_usd", "Held by requests in flight", labels=labels)
    remaining = GaugeMetricFamily(
        "gateway_budget_remaining_usd", "Limit minus spent, for budgets without `by`", labels=labels
    )
    for budget in budgets:
        name, counters = [budget["name"]], budget["counters"]
        cap, total = _decimal(budget["limit_usd"]), _sum(c["spent_usd"] for c in counters)
        limit.add_metric(name, float(cap))
        spent.add_metric(name, float(total))
        reserved.add_metric(name, float(_sum(c["reserved_usd"] for c in counters)))
        if budget.get("by") is None:
            remaining.add_metric(name, float(max(Decimal(0), cap - total)))
    yield from (limit, spent, reserved, remaining)


def _decimal(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return Decimal(0)


def _sum(values: Iterable[Any]) -> Decimal:
    return sum((_decimal(v) for v in values), Decimal(0))
