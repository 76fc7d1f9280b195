"""``FakeUpstream``: a provider-shaped aiohttp server on 127.0.0.1, run in its own thread and loop.

    with FakeUpstream("anthropic") as fake:        # or "openai" / "gemini" / "azure" / "bedrock" / "vertex"
        fake.push(Script(status=529), Script(text="hi"))   # FIFO, one per model-endpoint request
        ...                                         # point the client at fake.base_url
        fake.requests[-1].json                      # what arrived (every path is recorded)
        fake.wait_for_disconnects(1)                # client aborts, seen on the server thread

Beyond the brief: ``pending_scripts``, ``wait_for_requests`` and ``wait_for_disconnects``; ``reset()``
also zeroes ``disconnects``. Each wire module exposes its token estimator so tests can predict usage.

Cloud kinds carry per-test ``settings`` (``reset()`` restores their defaults): "bedrock" a
``bedrock_wire.BedrockSettings`` (region, access keys, API keys), "vertex" a
``vertex_wire.VertexSettings`` (project, region, service accounts, token lifetime and counters),
"workers-ai" a ``workers_ai_wire.WorkersAISettings`` (account id, API token).
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from . import anthropic_wire, azure_wire, bedrock_wire, gemini_wire, openai_wire, vertex_wire, workers_ai_wire
from .app import build_app
from .common import Wire
from .script import RecordedAnswer, RecordedRequest, Script
from .state import FakeState

__all__ = ["FakeUpstream", "Kind", "RecordedRequest", "Script"]

Kind = Literal["anthropic", "openai", "gemini", "azure", "bedrock", "vertex", "workers-ai"]
_WIRES: dict[str, Wire] = {
    "anthropic": anthropic_wire.WIRE,
    "openai": openai_wire.WIRE,
    "gemini": gemini_wire.WIRE,
    "azure": azure_wire.WIRE,  # Azure OpenAI: deployment URLs, api-version, api-key
    "bedrock": bedrock_wire.WIRE,  # Amazon Bedrock Runtime: SigV4 / API keys, InvokeModel, Converse
    "vertex": vertex_wire.WIRE,  # Vertex AI: OAuth token endpoint, Anthropic and Gemini publishers
    "workers-ai": workers_ai_wire.WIRE,  # Cloudflare Workers AI: account path, API token, @cf/ models
}
# In-flight handlers (stalled streams) get this long on stop() before being cancelled; keeps stop fast.
_SHUTDOWN_GRACE = 0.2
_START_TIMEOUT = 10.0


class FakeUpstream:
    """A scriptable fake of one provider's HTTP API; the module docstring shows the interface."""

    def __init__(self, kind: Kind) -> None:
        if kind not in _WIRES:
            raise ValueError(f"unknown upstream kind {kind!r}; expected one of {sorted(_WIRES)}")
        self.kind = kind
        self._wire = _WIRES[kind]
        self._state = FakeState(self._wire.settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port and serve in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        # Binding happens on the server thread, so start() also works from inside a running event loop.
        ready = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=self._serve, args=(ready, failure), name=f"fake-{self.kind}-upstream", daemon=True
        )
        thread.start()
        if not ready.wait(_START_TIMEOUT):
            raise RuntimeError(f"fake {self.kind} upstream did not start within {_START_TIMEOUT}s")
        if failure:
            thread.join()
            raise failure[0]
        self._thread = thread
        return self

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._runner = loop.run_until_complete(self._bind())
        except BaseException as exc:  # reported to start(), which re-raises it on the caller's thread
            failure.append(exc)
            loop.close()
            ready.set()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _bind(self) -> web.AppRunner:
        runner = web.AppRunner(
            build_app(self._wire, self._state),
            access_log=None,
            # Cancel handlers when the client disconnects, so disconnects are seen even mid-sleep.
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_GRACE,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._port = runner.addresses[0][1]
        return runner

    def stop(self) -> None:
        """Shut the server down (cancelling stalled streams) and join its thread. Idempotent."""
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is None or runner is None or thread is None:
            return
        self._state.stopping = True
        try:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=_START_TIMEOUT)
        finally:
            # The server thread closes its loop once run_forever returns.
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=_START_TIMEOUT)
            self._loop = self._runner = self._thread = None
            self._state.stopping = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:43121``."""
        if self._port is None:
            raise RuntimeError("FakeUpstream not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """What a gateway's provider ``base_url`` should be (root, ``/v1`` or ``/v1beta``)."""
        return self.url + self._wire.base_path

    # -- scripting and inspection ----------------------------------------------------------------

    @property
    def settings(self) -> Any:
        """Per-test provider settings (see the module docstring); None for kinds without any."""
        return self._state.settings

    def push(self, *scripts: Script) -> None:
        """Queue behaviours, consumed one per request to a model endpoint (FIFO)."""
        self._state.push(scripts)

    def reset(self) -> None:
        """Forget recorded requests, queued scripts and the disconnect count."""
        self._state.reset()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received so far, in arrival order."""
        return self._state.requests()

    @property
    def answers(self) -> list[RecordedAnswer]:
        """Snapshot of every whole (non-streamed) answer sent so far, in order: status, headers, body."""
        return self._state.answers()

    @property
    def streams(self) -> list[bytes]:
        """Every streamed body as the fake wrote it (up to a scripted cut or failure), in order."""
        return self._state.streams()

    @property
    def disconnects(self) -> int:
        """Responses the client abandoned before the fake finished sending them."""
        return self._state.disconnects()

    @property
    def disconnected(self) -> list[tuple[float, RecordedRequest | None]]:
        """Each disconnect: ``time.monotonic()`` when it was seen (one clock for every process here)
        and the request whose answer it cut."""
        return self._state.disconnected()

    @property
    def upload_started(self) -> threading.Event:
        """Set once the first bytes of a multipart upload reached a files endpoint."""
        return self._state.upload_started

    def hold_downloads(self) -> threading.Event:
        """Downloads from now on send their first piece, then wait until the returned event is set."""
        self._state.hold_downloads = True
        return self._state.download_release

    @property
    def pending_scripts(self) -> int:
        """Scripts pushed but not yet consumed."""
        return self._state.pending_scripts()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` requests arrived; False on timeout."""
        return self._state.wait_for(lambda: len(self._state.requests()) >= count, timeout)

    def wait_for_disconnects(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` client disconnects were seen; False on timeout.

        Disconnects are noticed on the server thread a moment after the client closes, so tests
        should wait rather than read ``disconnects`` immediately.
        """
        return self._state.wait_for(lambda: self._state.disconnects() >= count, timeout)
