"""The live routing table: compile on the side, swap one reference; watch files and SIGHUP for edits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config.compiler import compile_config
from gateway.config.issues import ConfigError
from gateway.routing.table import RoutingTable

log = logging.getLogger("gateway.reload")


@dataclass(frozen=True, slots=True)
class ReloadResult:
    at: float
    ok: bool
    version: str | None
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "ok": self.ok, "version": self.version, "errors": list(self.errors)}


@dataclass(slots=True)
class LiveConfig:
    """Holds the live table. Requests read `table` once and use that snapshot to the end."""

    path: Path
    table: RoutingTable
    env: Mapping[str, str] | None = None
    loaded_at: float = field(default_factory=time.time)
    last_reload: ReloadResult | None = None
    listeners: list[Callable[[RoutingTable], None]] = field(default_factory=list)
    # Called with every reload's outcome, rejected ones too (listeners above only see swaps).
    reload_listeners: list[Callable[[ReloadResult], None]] = field(default_factory=list)
    reloads: dict[str, int] = field(default_factory=lambda: {"ok": 0, "rejected": 0})
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def compile(self) -> RoutingTable | ConfigError:
        """Compile the snapshot on disk (thread-safe: touches nothing live)."""
        try:
            return compile_config(self.path, self.env)
        except ConfigError as exc:
            return exc

    def apply(self, outcome: RoutingTable | ConfigError) -> ReloadResult:
        """Swap a compiled table in, or record why the edit was rejected and keep the current one."""
        result = self._apply(outcome)
        for listener in self.reload_listeners:
            listener(result)
        return result

    def _apply(self, outcome: RoutingTable | ConfigError) -> ReloadResult:
        if isinstance(outcome, ConfigError):
            self.reloads["rejected"] += 1
            errors = tuple(str(i) for i in outcome.errors)
            self.last_reload = ReloadResult(time.time(), False, self.table.version, errors)
            log.error(
                "config reload rejected; keeping version %s:\n%s", self.table.version, "\n".join(errors)
            )
            return self.last_reload
        changed = outcome.version != self.table.version
        if changed:
            self.table = outcome  # the swap: one reference assignment
            self.loaded_at = time.time()
            for listener in self.listeners:
                listener(outcome)
        self.reloads["ok"] += 1
        self.last_reload = ReloadResult(time.time(), True, outcome.version)
        log.warning("config reload ok: version %s%s", outcome.version, "" if changed else " (unchanged)")
        return self.last_reload

    async def reload(self) -> ReloadResult:
        """Compile off the event loop, swap on it; concurrent triggers run one after another."""
        async with self._lock:
            outcome = await asyncio.get_running_loop().run_in_executor(None, self.compile)
            return self.apply(outcome)

    def status(self) -> dict[str, Any]:
        return {
            "config_version": self.table.version,
            "loaded_at": _iso(self.loaded_at),
            "last_reload": self.last_reload.to_json() if self.last_reload else None,
        }


class Watcher:
    """Reloads on file changes (debounced, whole snapshot) and on SIGHUP."""

    def __init__(self, live: LiveConfig, files: bool = True, debounce_ms: int = 300) -> None:
        self.live = live
        self.files = files
        self.debounce_ms = debounce_ms
        self._task: asyncio.Task[None] | None = None
        self._pending: asyncio.Task[ReloadResult] | None = (
            None  # a SIGHUP reload, kept from garbage collection
        )
        self._stop = asyncio.Event()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Not possible outside the main thread (tests run the app in one) or without SIGHUP.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        if self.files:
            # Absolute: watchfiles reports absolute paths, and `--config gw.yaml` is relative to the
            # working directory (compared as given, an edit never matched).
            config = Path(os.path.abspath(self.live.path))
            self._task = asyncio.create_task(self._watch(config, config.is_dir()), name="config-watch")

    def _on_sighup(self) -> None:
        log.warning("SIGHUP: reloading config from %s", self.live.path)
        self._pending = asyncio.create_task(self.live.reload())

    async def _watch(self, config: Path, folder: bool) -> None:
        from watchfiles import awatch

        keep: Callable[[object, str], bool]
        if folder:
            # Every *.yaml under the folder is config, subfolders included.
            target, keep = config, self._yaml_file
        else:
            # One file: its folder, not recursively (a sibling subfolder may be busy, e.g. ./data/),
            # filtered to the file's name, so that an editor's write-then-rename over it still counts.
            target, keep = config.parent, self._the_file(config)
        try:
            async for changes in awatch(
                target,
                debounce=self.debounce_ms,
                stop_event=self._stop,
                recursive=folder,
                watch_filter=keep,
            ):
                log.info("config files changed: %s", sorted({p for _, p in changes}))
                await self.live.reload()
        except Exception:  # the watcher dying must not take the gateway down; SIGHUP and the API still work
            log.exception("config watcher stopped")

    @staticmethod
    def _yaml_file(_change: object, path: str) -> bool:
        return path.endswith((".yaml", ".yml"))

    @staticmethod
    def _the_file(config: Path) -> Callable[[object, str], bool]:
        wanted = str(config)
        return lambda _change, path: os.path.abspath(path) == wanted

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
