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

Several workers (`gateway serve --workers N`) answer as one gateway: each publishes a snapshot of its
counts and process gauges to a directory they share (`<pid>.json`, rewritten every second and at every
scrape it answers), and the worker that answers a scrape sums every snapshot, Prometheus' multi-process
convention done on our own plain counts: counters and histograms are summed over every worker that ever
ran in this serve (a worker that died keeps its last counts, so no total goes down), gauges over the
live ones (queue depth summed, a circuit open when it is open in any worker, each live config version).
A scrape may miss at most the last second of another worker's requests; never the answering worker's.
"""

from __future__ import annotations

import asyncio
import logging
import os
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
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
SHARE_EVERY = 1.0  # seconds between a worker's snapshots in the shared directory

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

    def __init__(
        self,
        readers: Readers | None = None,
        *,
        max_models: int = MAX_MODELS,
        shared_dir: str | None = None,
        worker: str | None = None,
    ) -> None:
        self.readers = readers or Readers()
        self.max_models = max_models
        self.shared_dir = shared_dir  # the workers' snapshots; None: this process is the gateway
        self.worker = worker or str(os.getpid())  # this worker's snapshot file name
        self._models: set[str] = set()
        self._series: dict[SeriesKey, _Series] = {}
        self._upstream: dict[UpstreamKey, list[int]] = {}  # [attempts, failures]
        self._cache: dict[tuple[str, str], int] = {}
        self._guardrails: dict[tuple[str, str], int] = {}  # (guardrail, action) -> hits
        self._reloads = {"ok": 0, "error": 0}
        self._budgets: list[dict[str, Any]] | None = None  # set by render() around one scrape
        self._whole: _Whole | None = None  # likewise: every worker's counts, summed
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
        if record.guardrails:
            for hit in record.guardrails:
                label = (hit["name"], hit["action"])
                self._guardrails[label] = self._guardrails.get(label, 0) + 1

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
            if attempt.skipped:
                continue  # never sent upstream
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
            self._whole = self.whole()
            return generate_latest(self.registry)  # synchronous: nothing else runs on the loop meanwhile
        finally:
            self._budgets = None
            self._whole = None

    # -- workers -------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """This worker's counts and process gauges as plain data (what the shared directory holds)."""
        r = self.readers
        return {
            "pid": os.getpid(),
            "series": [
                [
                    *key,
                    list(s.requests.items()),
                    s.duration.counts,
                    s.duration.total,
                    s.ttfb.counts,
                    s.ttfb.total,
                    s.tokens,
                    s.cost,
                ]
                for key, s in list(self._series.items())
            ],
            "upstream": [[*key, *counts] for key, counts in list(self._upstream.items())],
            "cache": [[*key, count] for key, count in list(self._cache.items())],
            "guardrails": [[*key, count] for key, count in list(self._guardrails.items())],
            "reloads": dict(self._reloads),
            "log_depth": _read(r.log_depth),
            "log_dropped": _read(r.log_dropped),
            "circuits": _read(None if r.circuits is None else lambda: _circuits(r)),
            "config_version": _read(r.config_version),
            "in_flight": _read(r.in_flight),
            "shed": _read(r.shed),
        }

    def publish(self) -> None:
        """Write this worker's snapshot for the others (atomically: a reader sees the old or the new)."""
        if self.shared_dir is None:
            return
        path = os.path.join(self.shared_dir, self.worker + ".json")
        temporary = path + ".tmp"
        with open(temporary, "wb") as out:
            out.write(orjson.dumps(self.snapshot()))
        os.replace(temporary, path)

    async def share(self, every: float = SHARE_EVERY) -> None:
        """Publish this worker's snapshot every `every` seconds, until cancelled (then once more)."""
        try:
            while True:
                self._publish_quietly()
                await asyncio.sleep(every)
        finally:
            self._publish_quietly()  # a worker that stops leaves its final counts

    def _publish_quietly(self) -> None:
        try:
            self.publish()
        except Exception:
            if not self._failed_once:
                self._failed_once = True
                log.exception("metrics: could not publish this worker's snapshot")

    def whole(self) -> _Whole:
        """Every worker's snapshot summed (only this one when the process is the whole gateway)."""
        whole = _Whole()
        if self.shared_dir is None:
            whole.add(self.snapshot(), live=True)
            return whole
        self.publish()  # this worker's counts are exact in the answer it gives, and stay in the sum
        for name in sorted(os.listdir(self.shared_dir)):
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(self.shared_dir, name), "rb") as f:
                    snap = orjson.loads(f.read())
            except (OSError, orjson.JSONDecodeError):
                continue  # removed meanwhile
            whole.add(snap, live=name == self.worker + ".json" or _alive(snap.get("pid")))
        return whole

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
        w = self._whole or self.whole()  # collect() alone (registry tools) reads the counts now
        parts: list[Callable[[], Iterable[Metric]]] = [
            lambda: _request_families(w),
            lambda: _upstream_families(w),
            lambda: _cache_and_reload_families(w),
            lambda: _log_families(w),
            lambda: _circuit_families(w),
            lambda: _config_families(w),
            lambda: _load_families(w),
            lambda: _budget_families(self._budgets),
        ]
        for part in parts:
            try:
                yield from part()
            except Exception:  # one broken reader must not cost the whole scrape
                log.exception("metrics: a scrape-time reader failed")


class _Whole:
    """Snapshots of workers summed: counters over all of them, gauges over the live ones."""

    def __init__(self) -> None:
        self.series: dict[SeriesKey, _Series] = {}
        self.upstream: dict[UpstreamKey, list[int]] = {}
        self.cache: dict[tuple[str, str], int] = {}
        self.guardrails: dict[tuple[str, str], int] = {}
        self.reloads = {"ok": 0, "error": 0}
        self.log_depth: int | None = None
        self.log_dropped: int | None = None
        self.circuits: dict[str, bool] | None = None  # target -> open in some live worker
        self.versions: list[str] = []
        self.in_flight: int | None = None
        self.shed: int | None = None

    def add(self, snap: dict[str, Any], *, live: bool) -> None:
        for gateway, route, provider, model, requests, dcounts, dtotal, tcounts, ttotal, tokens, cost in snap[
            "series"
        ]:
            key = (gateway, route, provider, model)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = _Series()
            for status, count in requests:
                series.requests[int(status)] = series.requests.get(int(status), 0) + count
            _merge(series.duration, dcounts, dtotal)
            _merge(series.ttfb, tcounts, ttotal)
            series.tokens = [a + b for a, b in zip(series.tokens, tokens, strict=True)]
            series.cost += cost
        for gateway, provider, model, status, tried, failed in snap["upstream"]:
            counts = self.upstream.setdefault((gateway, provider, model, status), [0, 0])
            counts[0] += tried
            counts[1] += failed
        for gateway, result, count in snap["cache"]:
            self.cache[(gateway, result)] = self.cache.get((gateway, result), 0) + count
        for name, action, count in snap.get("guardrails", ()):
            self.guardrails[(name, action)] = self.guardrails.get((name, action), 0) + count
        for result, count in snap["reloads"].items():
            self.reloads[result] = self.reloads.get(result, 0) + count
        if snap["log_dropped"] is not None:
            self.log_dropped = (self.log_dropped or 0) + snap["log_dropped"]
        if snap.get("shed") is not None:
            self.shed = (self.shed or 0) + snap["shed"]
        if not live:  # a worker that is gone holds no queue, no circuits and no config
            return
        if snap["log_depth"] is not None:
            self.log_depth = (self.log_depth or 0) + snap["log_depth"]
        if snap.get("in_flight") is not None:
            self.in_flight = (self.in_flight or 0) + snap["in_flight"]
        if snap["circuits"] is not None:
            circuits = self.circuits = self.circuits or {}
            for target, is_open in snap["circuits"]:
                circuits[target] = circuits.get(target, False) or is_open
        version = snap["config_version"]
        if version is not None and version not in self.versions:
            self.versions.append(version)


def _circuits(r: Readers) -> list[list[Any]]:
    assert r.circuits is not None
    return [[c["target"], c["state"] == "open"] for c in r.circuits()]


def _merge(histogram: _Histogram, counts: list[int], total: float) -> None:
    histogram.counts = [a + b for a, b in zip(histogram.counts, counts, strict=True)]
    histogram.total += total


def _read(reader: Callable[[], Any] | None) -> Any:
    """A scrape-time reader's value; None when there is none or it failed (its metrics are left out)."""
    if reader is None:
        return None
    try:
        return reader()
    except Exception:  # one broken reader must not cost the whole scrape
        log.exception("metrics: a scrape-time reader failed")
        return None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: the pid was reused, the worker is gone
        return False
    return True


def _request_families(w: _Whole) -> Iterator[Metric]:
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
    for key, series in w.series.items():
        labels = list(key)
        for status, count in series.requests.items():
            requests.add_metric([*labels, str(status)], count)
        duration.add_metric(labels, series.duration.buckets(), series.duration.total)
        ttfb.add_metric(labels, series.ttfb.buckets(), series.ttfb.total)
        for kind, count in zip(TOKEN_TYPES, series.tokens, strict=True):
            tokens.add_metric([*labels, kind], count)
        cost.add_metric(labels, series.cost)
    yield from (requests, duration, ttfb, tokens, cost)


def _upstream_families(w: _Whole) -> Iterator[Metric]:
    attempts = CounterMetricFamily(
        "gateway_upstream_attempts_total", "Upstream attempts", labels=UPSTREAM_LABELS
    )
    failures = CounterMetricFamily(
        "gateway_upstream_failures_total",
        "Upstream attempts that failed: 5xx, 429, or no answer",
        labels=UPSTREAM_LABELS,
    )
    for (gateway, provider, model, status), (tried, failed) in w.upstream.items():
        labels = [gateway, provider, model, str(status)]
        attempts.add_metric(labels, tried)
        if failed:
            failures.add_metric(labels, failed)
    yield from (attempts, failures)


def _cache_and_reload_families(w: _Whole) -> Iterator[Metric]:
    cache = CounterMetricFamily("gateway_cache_total", "Response cache lookups", labels=["gateway", "result"])
    for (gateway, result), count in w.cache.items():
        cache.add_metric([gateway, result], count)
    reloads = CounterMetricFamily(
        "gateway_config_reloads_total", "Config reloads (each worker reloads itself)", labels=["result"]
    )
    for result, count in w.reloads.items():
        reloads.add_metric([result], count)
    hits = CounterMetricFamily(
        "gateway_guardrail_hits_total", "Guardrail hits, by what they did", labels=["guardrail", "action"]
    )
    for (name, action), count in w.guardrails.items():
        hits.add_metric([name, action], count)
    yield from (cache, reloads, hits)


def _add_usage(series: _Series, record: RequestRecord) -> None:
    tokens = series.tokens
    counts = (record.input_tokens, record.output_tokens, record.cache_read_tokens, record.cache_write_tokens)
    for i, count in enumerate(counts):  # in TOKEN_TYPES order
        if count:
            tokens[i] += count
    cost = record.cost_usd
    if cost and cost != "0":
        series.cost += float(cost)  # a plain decimal string; float is what the exposition carries


def _log_families(w: _Whole) -> Iterator[Metric]:
    if w.log_depth is not None:
        yield GaugeMetricFamily("gateway_log_queue_depth", "Access-log records not yet written", w.log_depth)
    if w.log_dropped is not None:
        yield CounterMetricFamily(
            "gateway_log_dropped_total",
            "Access-log records dropped (queue full or write error)",
            w.log_dropped,
        )


def _circuit_families(w: _Whole) -> Iterator[Metric]:
    if w.circuits is None:
        return
    family = GaugeMetricFamily("gateway_circuit_open", "1 while a target is ejected", labels=["target"])
    circuits = sorted(w.circuits.items(), key=lambda c: not c[1])[:MAX_CIRCUITS]
    for target, is_open in circuits:
        family.add_metric([target], 1.0 if is_open else 0.0)
    yield family


def _config_families(w: _Whole) -> Iterator[Metric]:
    if w.versions:
        family = GaugeMetricFamily("gateway_config_info", "The live config version", labels=["version"])
        for version in w.versions:  # more than one while the workers' reloads of one edit interleave
            family.add_metric([version], 1.0)
        yield family


def _load_families(w: _Whole) -> Iterator[Metric]:
    if w.in_flight is not None:
        yield GaugeMetricFamily("gateway_in_flight", "Model and passthrough calls in flight", w.in_flight)
    if w.shed is not None:
        yield CounterMetricFamily(
            "gateway_shed_total", "Calls refused with 503 past server.max_in_flight", w.shed
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
