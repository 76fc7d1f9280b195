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
from gateway.config.serving import refusals
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


class Siblings:
    """The other workers of `gateway serve --workers N`. A reload asked of one worker (POST /api/reload,
    SIGHUP to it) is announced in a file they share: the asker appends a byte (O_APPEND writes never
    interleave), and every worker reloads when it sees the file grow. File edits need no announcement:
    every worker watches the files itself."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen = self._size()

    def _size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def announce(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)

    def grew(self) -> bool:
        """Whether a reload was announced since the last look (the announcer sees its own too, and
        reloads once more: unchanged, it swaps nothing)."""
        size = self._size()
        if size == self.seen:
            return False
        self.seen = size
        return True


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
    siblings: Siblings | None = None  # the other workers of this serve, if any
    # The address served on, when a gateway open to anyone there is refused (see serving.refusals).
    exposed_host: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def compile(self) -> RoutingTable | ConfigError:
        """Compile the snapshot on disk (thread-safe: touches nothing live); what `gateway serve` would
        refuse at start is refused here too."""
        try:
            table = compile_config(self.path, self.env)
        except ConfigError as exc:
            # Kept as a value, not raised again: without its traceback, whose frames (this one holding
            # `exc`, the compiler's holding every source) would make a cycle for the collector.
            return exc.with_traceback(None)
        workers = 1 if self.siblings is None else 2  # several: how many does not matter to the checks
        environ = os.environ if self.env is None else self.env
        refused = refusals(table, self.path, workers, environ, self.exposed_host)
        return ConfigError(refused) if refused else table

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

    async def reload_everywhere(self) -> ReloadResult:
        """Reload here, then in every other worker of this serve (what an operator asks for)."""
        result = await self.reload()
        if self.siblings is not None:
            self.siblings.announce()
        return result

    def status(self) -> dict[str, Any]:
        return {
            "config_version": self.table.version,
            "loaded_at": _iso(self.loaded_at),
            "last_reload": self.last_reload.to_json() if self.last_reload else None,
        }


class Watcher:
    """Reloads on file changes (debounced, whole snapshot), on SIGHUP and when a sibling worker announces
    a reload (checked every `follow_every` seconds)."""

    def __init__(
        self, live: LiveConfig, files: bool = True, debounce_ms: int = 300, follow_every: float = 0.5
    ) -> None:
        self.live = live
        self.files = files
        self.debounce_ms = debounce_ms
        self.follow_every = follow_every
        self._task: asyncio.Task[None] | None = None
        self._following: asyncio.Task[None] | None = None
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
        if self.live.siblings is not None:
            self._following = asyncio.create_task(self._follow(self.live.siblings), name="config-follow")

    def _on_sighup(self) -> None:
        log.warning("SIGHUP: reloading config from %s", self.live.path)
        self._pending = asyncio.create_task(self.live.reload_everywhere())

    async def _follow(self, siblings: Siblings) -> None:
        while True:
            await asyncio.sleep(self.follow_every)
            try:
                if siblings.grew():
                    log.info("another worker reloaded: reloading config from %s", self.live.path)
                    await self.live.reload()
            except Exception:  # like the file watcher: never take the gateway down
                log.exception("following the other workers' reloads failed")

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
        if self._following is not None:
            self._following.cancel()
            await asyncio.gather(self._following, return_exceptions=True)
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
