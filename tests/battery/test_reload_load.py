"""Reload under load (reliability.md R4): the config is reloaded many times while requests flow, streams
included, alternating two valid configs (an alias remapped, a stored key rotated, a model deleted) with,
every tenth time, an invalid one (bad YAML, schema error, missing env secret, duplicate name, half-written
file). Nothing fails or is cut, every invalid edit is rejected with the live version unchanged, each
request is answered and logged under a version that was live and hit that version's upstream and key,
and the gateway's memory stays flat.

The gateway is `gateway serve --config gw.yaml` (one file, a relative path, watched) in its own process;
some edits are picked up by its file watcher, the others by `POST /api/reload`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.config.compiler import compile_config
from tests.battery.conftest import scale
from tests.battery.load import Answer, call, rss_kib, wait_records
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_process import GatewayProcess
from tests.sse_wire import parse

KEY_A, KEY_B = "sk-rotation-a-0123456789", "sk-rotation-b-9876543210"
MODEL_A, MODEL_B = "claude-haiku-4-5", "claude-opus-4-8"
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
OPENAI_HEADERS = {"content-type": "application/json"}
MISSING = "GW_BATTERY_NEVER_SET_SECRET"


def config(anthropic: FakeUpstream, key: str, fast: str, *, deleted: bool) -> str:
    """Config A (`deleted=False`: the model `only-a` exists) or B (it is gone)."""
    only_a = "" if deleted else "  only-a: anthropic/claude-sonnet-4-6\n"
    return (
        "version: 1\n"
        "providers:\n"
        f'  anthropic: {{ type: anthropic, base_url: "{anthropic.base_url}" }}\n'
        "keys:\n"
        f'  anthropic-main: {{ provider: anthropic, secret: "{key}" }}\n'
        "models:\n"
        f"  fast: anthropic/{fast}\n"
        f"{only_a}"
        "gateways:\n"
        "  default: { auth: none, provider_keys: [stored] }\n"
    )


def invalid(kind: int, good: str) -> str:
    """The five kinds of bad edit, in turn."""
    match kind % 5:
        case 0:
            return good + "  bad: [\n"  # YAML syntax
        case 1:
            return good + "models2: {}\n"  # schema: an unknown section
        case 2:
            return good.replace(KEY_A, "${" + MISSING + "}").replace(KEY_B, "${" + MISSING + "}")
        case 3:
            return good.replace("models:\n", "models:\n  fast: anthropic/claude-sonnet-4-6\n")  # duplicate
        case _:
            return good[: good.index('base_url: "') + 16]  # half-written: cut inside a quoted string


class WatchedGateway(GatewayProcess):
    """`gateway serve --config gw.yaml` from the file's folder, with its file watcher on."""

    def start(self) -> WatchedGateway:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "serve",
                "--config",
                self.config.name,
                "--port",
                str(self.port),
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.config.parent,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"gateway did not start: {self.output()}")


class Load:
    """Open-loop load from its own thread: `rps` calls a second, 70% streams, both client formats, some
    on the model config B deletes. Each call carries a unique text to find it at the upstream."""

    def __init__(self, port: int, rps: int) -> None:
        self.port, self.rps = port, rps
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _run(self) -> None:
        tasks: set[asyncio.Task[Answer]] = set()
        started = time.monotonic()
        n = 0
        while not self.stop.is_set():
            tasks.add(asyncio.create_task(self._one(n)))
            n += 1
            await asyncio.sleep(max(0.0, started + n / self.rps - time.monotonic()))
        self.answers = list(await asyncio.gather(*tasks))

    async def _one(self, n: int) -> Answer:
        stream = n % 10 < 7
        anthropic_side = n % 2 == 0
        model = "only-a" if n % 10 == 3 else "fast"
        text = f"load-{n}"
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": 20,
            "messages": [{"role": "user", "content": text}],
        }
        if stream:
            body["stream"] = True
        path, headers = (
            ("/v1/messages", ANTHROPIC_HEADERS)
            if anthropic_side
            else ("/v1/chat/completions", OPENAI_HEADERS)
        )
        answer = await call(self.port, path, body, headers)
        answer.extra.update(text=text, stream=stream, anthropic=anthropic_side, model=model)
        return answer


def ended_cleanly(answer: Answer) -> bool:
    """The stream ended with its format's terminal event, and no error event came before it."""
    events = parse(answer.body)
    if answer.extra["anthropic"]:
        return bool(events) and events[-1].event == "message_stop" and all(e.event != "error" for e in events)
    data = [e.data for e in events]
    finished = any('"finish_reason":"' in d for d in data[:-1])
    return bool(data) and data[-1] == "[DONE]" and finished and all('"error"' not in d for d in data)


@pytest.mark.timeout(scale(120, 900))  # full: 1,000 reloads at 0.25 s or more each
def test_reloads_under_load(
    tmp_path: Path, anthropic_up: FakeUpstream, openai_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    reloads = scale(100, 1_000)
    interval = scale(15, 25) / 100  # seconds between reloads (at most 0.3 s)
    rps = scale(25, 50)
    stream_gap = scale(10, 30) / 100  # 10 chunks: streams of 1 s (reduced) or 3 s
    good = {
        "A": config(anthropic_up, KEY_A, MODEL_A, deleted=False),
        "B": config(anthropic_up, KEY_B, MODEL_B, deleted=True),
    }
    versions: dict[str, str] = {}
    for name, text in good.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        versions[name] = compile_config(tmp_path / f"{name}.yaml", {}).version
    expect = {versions["A"]: (MODEL_A, KEY_A), versions["B"]: (MODEL_B, KEY_B)}
    gw_file = tmp_path / "gw.yaml"
    gw_file.write_text(good["A"])
    env = {k: v for k, v in os.environ.items() if k != MISSING}
    anthropic_up.push(*(Script(chunk_delay=stream_gap, text_chunks=10) for _ in range(rps * reloads)))
    gw = WatchedGateway(gw_file, env=env).start()
    assert gw.proc is not None
    try:
        for i in range(30):  # warm up before the baseline
            httpx.post(
                gw.url + "/v1/messages",
                json={"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": f"w{i}"}]},
                headers=ANTHROPIC_HEADERS,
            )
        load = Load(gw.port, rps)
        load.thread.start()
        live, swaps, rejected, by_api = "A", [], 0, 0
        trend: list[tuple[int, int]] = []  # (RSS KiB, calls in flight) every tenth of the run
        ready_version = versions["A"]
        taken: dict[str, list[float]] = {"api": [], "watcher": []}  # seconds from the edit to its outcome
        for step in range(1, reloads + 1):
            if step == reloads // 10:
                rss_before = rss_kib(gw.proc.pid)  # warm, under the same load as at the end
            if step % (reloads // 10) == 0:
                trend.append((rss_kib(gw.proc.pid), _in_flight(gw.url)))
            began = time.monotonic()
            api = step % 4 in (1, 2)  # half through the API, half through the watcher, invalid ones too
            if step % 10 == 0:
                text, target = invalid(step // 10, good[live]), None
            else:
                target = "B" if live == "A" else "A"
                text = good[target]
            if step % 3 == 0:  # an editor's save: written beside, renamed over
                (tmp_path / ".gw.yaml.new").write_text(text)
                os.replace(tmp_path / ".gw.yaml.new", gw_file)
            else:
                gw_file.write_text(text)
            if api:
                by_api += 1
                answer = httpx.post(gw.url + "/api/reload", timeout=10).json()
                if target is None:
                    assert answer["ok"] is False and answer["version"] == versions[live], answer
                else:
                    assert answer["ok"] is True and answer["version"] == versions[target], answer
            status = _await_outcome(gw.url, versions[target] if target else None, versions[live])
            if target is None:
                rejected += 1
                assert status["config_version"] == versions[live] and status["last_reload"]["errors"], status
            else:
                swaps.append((began, time.monotonic(), target))
                live = target
            ready_version = status["config_version"]
            taken["api" if api else "watcher"].append(time.monotonic() - began)
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
        assert ready_version == versions[live]
        rss_after = rss_kib(gw.proc.pid)
        load.stop.set()
        load.thread.join(timeout=120)
        answers = load.answers
        records = {r["id"]: r for r in wait_records(gw, len(answers) + 30)}
    finally:
        gw.stop()

    upstream = {}
    for seen in anthropic_up.requests:
        body = seen.json or {}
        content = body["messages"][0]["content"] if body.get("messages") else None
        upstream[content if isinstance(content, str) else content[0]["text"]] = seen
    failures, deleted_404, across_swap = [], 0, 0
    for a in answers:
        version = a.headers.get("x-gateway-config-version")
        if a.extra["model"] == "only-a" and a.status == 404:
            # Asked for the deleted model while B was live: B's answer, not a failure.
            assert version == versions["B"], a.headers
            deleted_404 += 1
            continue
        if a.status != 200 or version not in expect:
            failures.append((a.status, version, a.body[:200]))
            continue
        if a.extra["stream"] and not ended_cleanly(a):
            failures.append(("cut", version, a.body[-200:]))
            continue
        model, key = expect[version]
        hit = upstream[a.extra["text"]]
        want_model = "claude-sonnet-4-6" if a.extra["model"] == "only-a" else model
        assert (hit.json["model"], hit.headers["x-api-key"]) == (want_model, key), a.extra
        record = records[a.headers["x-gateway-request-id"]]
        assert record["config_version"] == version and record["status"] == 200
        if a.extra["model"] == "only-a" and a.extra["stream"]:
            # A stream on the deleted model that was still running when B went live.
            across_swap += any(
                t == "B" and a.sent_at < start and done < a.done_at for start, done, t in swaps
            )
    figures.update(
        reloads=reloads,
        rejected=rejected,
        through_api=by_api,
        interval_s=interval,
        requests=len(answers),
        streams=sum(a.extra["stream"] for a in answers),
        failures=len(failures),
        deleted_model_404=deleted_404,
        deleted_model_streams_across_swap=across_swap,
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        rss_kib_and_in_flight=trend,
        reload_ms_median={k: round(sorted(v)[len(v) // 2] * 1000) for k, v in taken.items()},
        reload_ms_max={k: round(max(v) * 1000) for k, v in taken.items()},
    )
    assert not failures, failures[:5]
    assert rejected == reloads // 10
    assert across_swap > 0, figures
    assert rss_after < rss_before * 1.10, figures


def _await_outcome(url: str, version: str | None, live: str, timeout: float = 10.0) -> dict[str, Any]:
    """/readyz once the edit has been taken: `version` live, or (None) a rejection with `live` kept."""
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = orjson.loads(httpx.get(url + "/readyz").content)
        last = status["last_reload"] or {}
        if version is not None and status["config_version"] == version and last.get("ok"):
            return status
        if version is None and last.get("ok") is False:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"reload not seen: wanted {version or 'a rejection'} over {live}: {status}")
        time.sleep(0.01)


def _in_flight(url: str) -> int:
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("gateway_in_flight "):
            return int(float(line.split()[1]))
    return -1
