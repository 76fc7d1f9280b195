"""The workloads of `make bench`: what the load sends, to which path, with which headers, and to which
arms it applies. `--modes` names them.

- `json`, `sse`: Anthropic Messages (`POST /v1/messages`), every arm: the workloads of issue 13.
- `resp`, `resp-sse`: OpenAI's Responses API (`POST /v1/responses`, a Codex-like body) in the same
  format: the gateway's model is on an `openai`-type provider at the mock, which answers
  `/v1/responses` itself; `direct` loads the mock's `/v1/responses`.
- `respx`, `respx-sse`: the same body to a model on the `anthropic` provider: the gateway translates
  Responses -> Messages and the answer back. `direct` loads the mock's `/v1/messages` with the
  Messages body (the upstream's own work, the floor); each arm's rate is also shown against its own
  same-format row (`resp`, `resp-sse`) of the same round.

An arm a workload does not apply to gets one "n/a" row with the reason, never a measurement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

PAYLOADS = Path(__file__).resolve().parent / "payloads"
MESSAGES_PATH = "/v1/messages"
RESPONSES_PATH = "/v1/responses"
TOKEN = "sk-bench-token"  # = targets.BENCH_TOKEN (kept here so this module imports nothing of the bench)
MESSAGES_HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": TOKEN}
# What an OpenAI client (Codex, the openai SDK) sends: the key as a bearer token.
RESPONSES_HEADERS = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}

# Why an arm does not run a workload (by arm kind, see bench/targets.py).
NOT_RUN_SAME_FORMAT = "not run on the Responses rows: ref-asgi is their reference (keeps make bench's time)"
NOT_TRANSLATING = "a byte-forwarding proxy cannot translate Responses to Messages"
# What Portkey 1.15.2 answers (HTTP 500) when /v1/responses is routed to its anthropic provider.
PORTKEY_NO_BRIDGE = "Portkey forwards /v1/responses only: 'createModelResponse is not supported by anthropic'"


@dataclass(frozen=True)
class Request:
    """One request shape: where it goes, its body file, its headers, and what answer is correct."""

    path: str
    payload: Path
    headers: dict[str, str]
    answer: str  # "messages" | "responses"
    stream: bool
    provider: str  # the upstream dialect the arm is routed to (Portkey's x-portkey-provider)


@dataclass(frozen=True)
class Workload:
    mode: str
    title: str
    request: Request
    # direct's request when it is not `request`: the translated rows' floor is the upstream's own call.
    floor: Request | None = None
    same_format: str | None = None  # the mode a translated workload is compared with
    not_for: dict[str, str] = field(default_factory=dict)  # arm kind -> why n/a

    @property
    def family(self) -> str:
        """ "messages" (issue 13's tables), "responses" (same format) or "translated"."""
        if self.request.answer == "messages":
            return "messages"
        return "translated" if self.same_format else "responses"

    def request_for(self, kind: str) -> Request:
        return self.floor if kind == "direct" and self.floor is not None else self.request

    def why_not(self, kind: str) -> str:
        """'' when an arm of this kind runs the workload, else why not."""
        return self.not_for.get(kind, "")


def _messages(stream: bool) -> Request:
    name = "messages-stream.json" if stream else "messages.json"
    return Request(MESSAGES_PATH, PAYLOADS / name, MESSAGES_HEADERS, "messages", stream, "anthropic")


def _responses(stream: bool, translated: bool) -> Request:
    name = "responses" + ("-x" if translated else "") + ("-stream" if stream else "") + ".json"
    provider = "anthropic" if translated else "openai"
    return Request(RESPONSES_PATH, PAYLOADS / name, RESPONSES_HEADERS, "responses", stream, provider)


_SAME_FORMAT_NA = {"nginx": NOT_RUN_SAME_FORMAT, "refproxy": NOT_RUN_SAME_FORMAT}
_TRANSLATED_NA = {"nginx": NOT_TRANSLATING, "refproxy": NOT_TRANSLATING, "refasgi": NOT_TRANSLATING}
_TRANSLATED_NA_PORTKEY = {**_TRANSLATED_NA, "portkey": PORTKEY_NO_BRIDGE}

WORKLOADS: dict[str, Workload] = {
    w.mode: w
    for w in (
        Workload("json", "non-streaming POST /v1/messages (JSON)", _messages(False)),
        Workload("sse", "streaming POST /v1/messages (SSE, 8 text deltas in one write)", _messages(True)),
        Workload(
            "resp",
            "non-streaming POST /v1/responses, same format (to an openai-type provider's /v1/responses)",
            _responses(False, False),
            not_for=_SAME_FORMAT_NA,
        ),
        Workload(
            "resp-sse",
            "streaming POST /v1/responses, same format (response.created ... response.completed, "
            "8 text deltas in one write)",
            _responses(True, False),
            not_for=_SAME_FORMAT_NA,
        ),
        Workload(
            "respx",
            "non-streaming POST /v1/responses, translated (to the anthropic provider's /v1/messages; "
            "direct: the mock's /v1/messages)",
            _responses(False, True),
            floor=_messages(False),
            same_format="resp",
            not_for=_TRANSLATED_NA_PORTKEY,
        ),
        Workload(
            "respx-sse",
            "streaming POST /v1/responses, translated (Messages SSE -> Responses events; "
            "direct: the mock's /v1/messages SSE)",
            _responses(True, True),
            floor=_messages(True),
            same_format="resp-sse",
            not_for=_TRANSLATED_NA_PORTKEY,
        ),
    )
}
MESSAGES_MODES = ("json", "sse")
RESPONSES_MODES = ("resp", "resp-sse", "respx", "respx-sse")


@dataclass
class Verdict:
    """The smoke check's reading of one answer: `failure` ('' if the arm answered the workload) and
    `deviations` from the real API's shape, noted in the report but not failing the arm: the bench
    measures the work of answering; fidelity is the test suite's job."""

    failure: str = ""
    deviations: list[str] = field(default_factory=list)


def check_answer(request: Request, content_type: str, data: bytes) -> Verdict:
    """Whether `data` answers `request` (the Messages workloads: as issue 13's smoke check did)."""
    if request.answer == "messages":
        if request.stream:
            ok = content_type.startswith("text/event-stream") and b"event: message_stop" in data
            return Verdict("" if ok else "expected an SSE stream ending in message_stop")
        ok = content_type.startswith("application/json") and b'"type":"message"' in data.replace(b" ", b"")
        return Verdict("" if ok else "expected an Anthropic Message JSON")
    if request.stream:
        if not content_type.startswith("text/event-stream"):
            return Verdict("expected a Responses SSE stream (text/event-stream)")
        return check_responses_stream(data)
    if not content_type.startswith("application/json"):
        return Verdict("expected a Response JSON (application/json)")
    return check_response(data)


def _output_text(response: object) -> str:
    texts = []
    output = response.get("output") if isinstance(response, dict) else None
    for item in output if isinstance(output, list) else []:
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text", "")))
    return "".join(texts)


def check_response(data: bytes) -> Verdict:
    """Fails unless a completed Response with output text; notes a wrong `object`."""
    try:
        response = json.loads(data)
    except ValueError:
        return Verdict("expected a Response JSON, got no JSON")
    if not isinstance(response, dict):
        return Verdict("expected a Response JSON object")
    if response.get("status") != "completed":
        return Verdict(f"expected a completed Response, got status {response.get('status')!r}")
    if not _output_text(response):
        return Verdict("expected a Response with output_text")
    deviations = []
    if response.get("object") != "response":
        deviations.append(f'"object": {response.get("object")!r}, not "response"')
    return Verdict("", deviations)


def check_responses_stream(data: bytes) -> Verdict:
    """Fails unless the events run response.created ... response.completed and the text deltas add up
    to the completed response's text. Notes: an `event:` line missing or naming another type,
    sequence_number not 0, 1, 2, ..., text deltas whose item_id is not the output item's, a `[DONE]`
    line (the Chat Completions terminator; the Responses API sends none)."""
    events: list[dict[str, object]] = []
    deviations: list[str] = []
    named = mismatched = 0
    for block in data.decode(errors="replace").replace("\r\n", "\n").split("\n\n"):
        name, payload = "", ""
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                payload += line[5:].strip()
        if not payload:
            continue
        if payload == "[DONE]":
            deviations.append("a data: [DONE] line")
            continue
        try:
            event = json.loads(payload)
        except ValueError:
            return Verdict(f"an event's data is not JSON: {payload[:80]!r}")
        if not isinstance(event, dict):
            return Verdict(f"an event's data is not an object: {payload[:80]!r}")
        named += bool(name)
        mismatched += bool(name) and event.get("type") != name
        events.append(event)
    if not events:
        return Verdict("expected Responses events, got none")
    types = [e.get("type") for e in events]
    if types[0] != "response.created" or types[-1] != "response.completed":
        return Verdict(f"expected response.created ... response.completed, got {types[0]} ... {types[-1]}")
    deltas = [e for e in events if e.get("type") == "response.output_text.delta"]
    text = "".join(str(e.get("delta", "")) for e in deltas)
    if not text or text != _output_text(events[-1].get("response")):
        return Verdict("the output_text deltas do not add up to the completed response's text")
    if named < len(events):
        deviations.insert(0, f"{len(events) - named} of {len(events)} events without an event: line")
    if mismatched:
        deviations.insert(0, f"{mismatched} event: line(s) naming another type than the data's")
    numbers = [e.get("sequence_number") for e in events]
    if numbers != list(range(len(events))):
        missing = sum(n is None for n in numbers)
        deviations.append(
            f"sequence_number missing on {missing} of {len(events)} events"
            if missing
            else f"sequence_number not 0, 1, 2, ...: {numbers[:8]}"
        )
    added = next((e for e in events if e.get("type") == "response.output_item.added"), None)
    item = added.get("item") if added else None
    item_id = item.get("id") if isinstance(item, dict) else None
    if item_id is not None and any(e.get("item_id") != item_id for e in deltas):
        deviations.append("text deltas carry another item_id than their output item's")
    return Verdict("", deviations)
