"""The ASGI application: dispatches each request to a gateway's data plane or to the admin endpoints."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from gateway.admin import state_views
from gateway.admin.paths import area
from gateway.admin.site import admin_app
from gateway.admin.sources import AdminSources
from gateway.config.reload import LiveConfig, Siblings, Watcher
from gateway.core.errors import GatewayError
from gateway.core.formats import Format
from gateway.core.http import Receive, Scope, Send, send_response
from gateway.dataplane.handler import DataPlane
from gateway.dataplane.upstream import UpstreamPool
from gateway.observe import tracing
from gateway.observe.accesslog import AccessLog
from gateway.observe.logstore.service import DEFAULT_STORE, RequestLog
from gateway.observe.metrics import Metrics, Readers
from gateway.observe.tracing import Tracing
from gateway.providers.registry import type_of
from gateway.routing.table import RoutingTable

log = logging.getLogger("gateway")


class Gateway:
    """One process's gateway: the live table, the upstream pool, the access log and the watcher."""

    def __init__(
        self,
        live: LiveConfig,
        *,
        watch: bool = True,
        access_log: AccessLog | None = None,
        default_log_store: str = DEFAULT_STORE,
        tune_gc: bool = False,
        state_store: str = "memory",
        metrics_dir: str | None = None,
        reloads_file: str | None = None,
    ) -> None:
        self.live = live
        if reloads_file is not None:  # `gateway serve --workers N`: a reload asked of one reaches all
            live.siblings = Siblings(reloads_file)
        self.tune_gc = tune_gc  # a served process (`gateway serve`), not one embedded in tests
        self.pool = UpstreamPool()
        self.log = access_log or AccessLog(enabled=live.table.server.access_log)
        self.data = DataPlane(self.pool)
        self.data.admission.default_store = state_store  # for a config whose `state.store` is left out
        self.data.observers.append(self.log.write)  # the access log (stdout) first, as it always was
        self.requests = RequestLog(live.table, default_log_store)  # the durable log behind /api/logs
        self.data.observers.append(self.requests.observe)
        live.listeners.append(self.requests.on_swap)
        self.tracing = Tracing(self._provider_system) if tracing.enabled() else None  # OpenTelemetry
        if self.tracing is not None:
            self.data.observers.append(self.tracing.observe)
        self.metrics = Metrics(
            Readers(
                # Both logs: the access log (stdout) and the request log (the store).
                log_depth=lambda: self.log.depth() + self.requests.writer.depth(),
                log_dropped=lambda: self.log.dropped + self.requests.writer.dropped,
                circuits=self.data.breakers.snapshot,
                config_version=lambda: self.live.table.version,
                budgets=self._budget_views,
                in_flight=lambda: self.data.in_flight,
                shed=lambda: self.data.shed,
            ),
            shared_dir=metrics_dir,  # `gateway serve --workers N`: every worker's counts in each scrape
        )
        self._sharing: asyncio.Task[None] | None = None
        self.data.observers.append(self.metrics.observe)
        live.reload_listeners.append(self.metrics.on_reload)
        self.admin = admin_app(
            AdminSources(
                live=live,
                requests=self.requests,
                store=self.data.admission.store,
                circuits=self.data.breakers.snapshot,
                metrics=self.metrics.render,
                draining=lambda: self.draining,
            )
        )
        self.watcher = Watcher(live, files=watch)
        self.draining = False
        live.listeners.append(self._on_swap)

    async def _budget_views(self) -> list[dict[str, Any]]:
        table = self.live.table  # one snapshot for the store and the budgets
        return await state_views.budgets(self.data.admission.store(table), table)

    def _provider_system(self, name: str) -> str | None:
        """OpenTelemetry's gen_ai.system for a provider, from its type (the registry)."""
        provider = self.live.table.providers.get(name)
        return type_of(provider).system() if provider is not None else None

    def _on_swap(self, table: RoutingTable) -> None:
        self.log.enabled = table.server.access_log
        self.pool.retain(list(table.providers.values()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]  # authorize and route on the raw ASGI path, never a rebuilt URL
        table = self.live.table  # this request's snapshot, kept to its end
        if path.startswith("/g/"):
            name, _, rest = path[3:].partition("/")
            gateway = table.gateways.get(name)
            if gateway is None:
                await self._not_found(scope, send, f"no gateway named {name!r}", table)
                return
            await self.data.handle(scope, receive, send, table, gateway, "/" + rest)
            return
        if area(path) is not None:  # by first segment: `/apis/...` is a provider's passthrough
            await self.admin(scope, receive, send)
            return
        gateway = table.gateways.get("default")
        if gateway is None:
            names = ", ".join(f"/g/{n}" for n in table.gateways)
            await self._not_found(
                scope, send, f"no gateway named 'default' serves the root; use {names}", table
            )
            return
        await self.data.handle(scope, receive, send, table, gateway, path)

    async def _not_found(self, scope: Scope, send: Send, message: str, table: RoutingTable) -> None:
        fmt = (
            Format.ANTHROPIC if any(k == b"anthropic-version" for k, _ in scope["headers"]) else Format.OPENAI
        )
        err = GatewayError("not_found_error", message, code="not_found")
        await send_response(
            send, 404, err.body(fmt, ""), [(b"x-gateway-config-version", table.version.encode())]
        )

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.log.start()
                self.requests.start()
                if self.tune_gc:
                    tune_collector()
                self.watcher.start()
                if self.metrics.shared_dir is not None:
                    self._sharing = asyncio.create_task(self.metrics.share())
                self._mark_draining_on_exit_signals()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.draining = True
                self.data.stopping = True
                # Requests the drain window's end cancelled record themselves on their way out: let
                # them, before the request log's last flush.
                await asyncio.sleep(0)
                await self.watcher.stop()
                await self.data.admission.drain()
                await self.pool.close()
                self.data.model_call.webhooks.close()  # guardrail webhooks' connections
                self.log.stop()
                await asyncio.to_thread(self.requests.stop)  # every queued record is written
                if self._sharing is not None:
                    self._sharing.cancel()  # it publishes this worker's final counts as it ends
                    await asyncio.gather(self._sharing, return_exceptions=True)
                if self.tracing is not None:
                    await asyncio.to_thread(self.tracing.shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _mark_draining_on_exit_signals(self) -> None:
        """/readyz answers 503 from the moment a stop is asked for, while in-flight requests finish.

        The server (uvicorn) has installed its own handlers by now; ours runs first, then defers to it.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(
                signum: int, frame: FrameType | None, previous: Callable[..., Any] = previous
            ) -> None:
                self.draining = True
                self.data.stopping = True
                previous(signum, frame)

            signal.signal(sig, handler)


def create_app(
    config: str | Path,
    *,
    watch: bool = True,
    tune_gc: bool = False,
    state_store: str = "memory",
    metrics_dir: str | None = None,
    reloads_file: str | None = None,
    exposed_host: str | None = None,
) -> Gateway:
    """Compile `config` (raises ConfigError when invalid) and build the app around it. `exposed_host`:
    the address served on, when reloads must refuse gateways open to anyone there."""
    from gateway.config.compiler import compile_config

    path = Path(config)
    return Gateway(
        LiveConfig(path, compile_config(path), exposed_host=exposed_host),
        watch=watch,
        tune_gc=tune_gc,
        state_store=state_store,
        metrics_dir=metrics_dir,
        reloads_file=reloads_file,
    )


# Allocations (net) between young-generation collections; CPython's default is 700.
GC_YOUNG_THRESHOLD = 10_000


def tune_collector() -> None:
    """The cyclic garbage collector, set for a server that allocates many short-lived objects per
    request and keeps a large, long-lived heap (the routing table, price tables, libraries).

    Profiles under load showed the collector costing ~10% of the CPU: every 700 net allocations (a few
    requests) a young collection, and full collections walking the whole startup heap. Everything alive
    once started moves to the permanent generation (`gc.freeze`: never scanned again), and young
    collections run every 10,000 net allocations. Request objects are freed by reference counting as
    before; only reference cycles wait longer, which bounds the extra memory to a few hundred requests'.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
