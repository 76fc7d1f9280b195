"""bench/workloads.py and the runner's use of it: the Responses payloads, the smoke check's reading of
Responses answers, which arm runs which workload, and the headers each arm gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import run, targets
from bench.workloads import WORKLOADS, check_answer, check_response, check_responses_stream
from gateway.config.compiler import compile_config

CONFIGS = Path(__file__).resolve().parents[2] / "bench" / "configs"
PAYLOADS = sorted((CONFIGS.parent / "payloads").glob("*.json"))


def load(mode: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(WORKLOADS[mode].request.payload.read_bytes())
    return data


def test_the_four_responses_payloads_are_one_codex_like_body() -> None:
    bodies = {mode: load(mode) for mode in ("resp", "resp-sse", "respx", "respx-sse")}
    assert {m: b["model"] for m, b in bodies.items()} == {
        "resp": "bench-openai",
        "resp-sse": "bench-openai",
        "respx": "bench-model",
        "respx-sse": "bench-model",
    }
    assert {m: b.get("stream", False) for m, b in bodies.items()} == {
        "resp": False,
        "resp-sse": True,
        "respx": False,
        "respx-sse": True,
    }
    rest = [{k: v for k, v in b.items() if k not in ("model", "stream")} for b in bodies.values()]
    assert all(r == rest[0] for r in rest)  # same body otherwise: the rows compare formats, not bodies
    body = rest[0]
    assert body["instructions"] and [t["type"] for t in body["tools"]] == ["function", "function"]
    items = body["input"]
    call = next(i for i in items if i["type"] == "function_call")
    output = next(i for i in items if i["type"] == "function_call_output")
    assert call["call_id"] == output["call_id"] and json.loads(call["arguments"])["cmd"]
    for mode in bodies:
        assert 1000 <= WORKLOADS[mode].request.payload.stat().st_size <= 2100


@pytest.mark.parametrize("config", ["gateway.yaml", "gateway-metered.yaml", "gateway-guarded.yaml"])
def test_the_gateway_configs_route_both_aliases(config: str) -> None:
    models = yaml.safe_load((CONFIGS / config).read_text())["models"]
    assert models["bench-openai"].startswith("openai/")  # same format: an openai-type provider
    assert models["bench-model"].startswith("anthropic/")  # translated
    litellm = yaml.safe_load(targets.litellm_config("http://127.0.0.1:9"))["model_list"]
    assert {m["model_name"]: m["litellm_params"]["model"].split("/")[0] for m in litellm} == {
        "bench-model": "anthropic",
        "bench-openai": "openai",
    }


BENCH_ENV = {"BENCH_DB": "/nonexistent/bench.db", "BENCH_UPSTREAM": "http://127.0.0.1:9"}


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_gateway_config_compiles(config: str) -> None:
    assert compile_config(CONFIGS / config, BENCH_ENV).version


def test_the_guarded_arm_checks_input_and_output_with_two_regex_guardrails_and_one_builtin() -> None:
    arm = targets.ARMS["gateway-guarded"]
    assert arm.config == "gateway-guarded.yaml"
    table = compile_config(CONFIGS / arm.config, BENCH_ENV)
    rails = table.gateways["default"].guardrails
    assert all(g.input and g.output and g.matcher is not None for g in rails)
    regex = [g for g in rails if g.matcher and all(d.kind == g.name for d in g.matcher.detectors)]
    builtin = [g for g in rails if g not in regex]
    assert len(regex) == 2 and len(builtin) == 1
    # None matches what the mock answers or the payloads send: the arm measures checking, not redacting.
    for text in ("Here is a short overview of the gateway benchmark.", *(p.read_text() for p in PAYLOADS)):
        assert not any(g.find(text) for g in rails)


def sse(events: list[dict[str, Any]], named: bool = True, numbered: bool = True, done: bool = False) -> bytes:
    out = []
    for n, event in enumerate(events):
        event = {**event, "sequence_number": n} if numbered else event
        head = f"event: {event['type']}\n" if named else ""
        out.append(f"{head}data: {json.dumps(event)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def text_events(pieces: list[str], delta_item: str = "msg_1") -> list[dict[str, Any]]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "".join(pieces), "annotations": []}]}  # fmt: skip
    return [
        {
            "type": "response.created",
            "response": {"object": "response", "status": "in_progress", "output": []},
        },
        {"type": "response.output_item.added", "output_index": 0, "item": {**message, "content": []}},
        *({"type": "response.output_text.delta", "item_id": delta_item, "delta": p} for p in pieces),
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {
            "type": "response.completed",
            "response": {"object": "response", "status": "completed", "output": [message]},
        },
    ]


def test_a_conforming_stream_passes_without_deviations() -> None:
    verdict = check_responses_stream(sse(text_events(["Hello ", "there."])))
    assert verdict.failure == "" and verdict.deviations == []


def test_a_stream_that_answers_but_deviates_is_measured_with_notes() -> None:
    # What LiteLLM's bridge sent: no event: lines, no sequence numbers, deltas under another item id, [DONE].
    data = sse(
        text_events(["Hello ", "there."], delta_item="chatcmpl-9"), named=False, numbered=False, done=True
    )
    verdict = check_responses_stream(data)
    assert verdict.failure == ""
    assert verdict.deviations == [
        "6 of 6 events without an event: line",
        "a data: [DONE] line",
        "sequence_number missing on 6 of 6 events",
        "text deltas carry another item_id than their output item's",
    ]


@pytest.mark.parametrize(
    ("events", "why"),
    [
        (text_events(["a"])[:-1], "response.completed"),
        (text_events(["a"])[1:], "response.created"),
        (
            [
                e if e["type"] != "response.output_text.delta" else {**e, "delta": "b"}
                for e in text_events(["a"])
            ],
            "do not add up",
        ),
        ([], "none"),
    ],
)
def test_a_stream_that_does_not_answer_fails(events: list[dict[str, Any]], why: str) -> None:
    assert why in check_responses_stream(sse(events)).failure


def test_response_json_needs_completed_output_text_and_notes_a_wrong_object() -> None:
    message = {"type": "message", "content": [{"type": "output_text", "text": "hi"}]}
    good = {"object": "response", "status": "completed", "output": [message]}
    assert check_response(json.dumps(good).encode()).failure == ""
    odd = check_response(json.dumps({**good, "object": "chat.completion"}).encode())
    assert odd.failure == "" and odd.deviations == ['"object": \'chat.completion\', not "response"']
    assert "status" in check_response(json.dumps({**good, "status": "failed"}).encode()).failure
    assert "output_text" in check_response(json.dumps({**good, "output": []}).encode()).failure
    wrong_type = check_answer(WORKLOADS["resp"].request, "text/event-stream", json.dumps(good).encode())
    assert "application/json" in wrong_type.failure


def test_messages_answers_are_checked_as_before() -> None:
    ok = check_answer(WORKLOADS["sse"].request, "text/event-stream", b"event: message_stop\ndata: {}\n\n")
    assert ok.failure == ""
    assert check_answer(WORKLOADS["json"].request, "application/json", b'{"type": "error"}').failure


def test_the_default_plan_adds_the_responses_rows_at_64_connections_on_the_fast_mock() -> None:
    args = run.parse_args([])
    assert args.modes == ["json", "sse", "resp", "resp-sse", "respx", "respx-sse"]
    work = run.plan(args)
    assert work["fast"] == [("json", 1), ("json", 64), ("sse", 1), ("sse", 64),
                            ("resp", 64), ("resp-sse", 64), ("respx", 64), ("respx-sse", 64)]  # fmt: skip
    assert work["delayed"] == [("json", 64), ("sse", 64)]
    assert work["paced"] == [("ttfb", 1), ("ttfb", 16)]
    with pytest.raises(SystemExit):
        run.parse_args(["--modes", "json,responses"])


def test_each_workload_runs_on_the_arms_that_can_serve_it() -> None:
    arms = run.parse_args([]).arms
    assert run.applicable(arms, "json") == arms
    assert run.applicable(arms, "resp") == [
        "direct",
        "ref-asgi",
        "gateway",
        "gateway-metered",
        "gateway-guarded",
        "litellm",
        "portkey",
    ]
    assert run.applicable(arms, "respx-sse") == [
        "direct",
        "gateway",
        "gateway-metered",
        "gateway-guarded",
        "litellm",
    ]
    assert "Responses" in WORKLOADS["respx"].why_not("refasgi")
    assert "anthropic" in WORKLOADS["respx"].why_not("portkey")
    # The translated rows' floor is the upstream's own call: direct loads the mock's /v1/messages.
    assert WORKLOADS["respx"].request_for("direct").path == "/v1/messages"
    assert WORKLOADS["respx"].request_for("gateway").path == "/v1/responses"
    args = run.parse_args(["--modes", "resp", "--rounds", "2", "--no-ttfb"])
    assert run.n_measurements(args) == 7 * 2


def test_headers_follow_the_workload_and_route_portkey_to_its_provider() -> None:
    mock_url = "http://127.0.0.1:9001"
    portkey = targets.Target(targets.ARMS["portkey"], "http://127.0.0.1:8", None, "-", upstream_url=mock_url)
    same = portkey.headers_for(WORKLOADS["resp"].request)
    assert same["authorization"] == "Bearer sk-bench-token" and "x-api-key" not in same
    assert same["x-portkey-provider"] == "openai" and same["x-portkey-custom-host"] == mock_url + "/v1"
    assert portkey.headers_for(WORKLOADS["json"].request)["x-portkey-provider"] == "anthropic"
    gateway = targets.Target(targets.ARMS["gateway"], "http://127.0.0.1:8", None, "-", upstream_url=mock_url)
    assert gateway.headers_for(WORKLOADS["json"].request) == gateway.request_headers
