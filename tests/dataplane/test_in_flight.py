"""server.max_in_flight: the gate in front of model and passthrough calls (handler.py)."""

from __future__ import annotations

import threading

import httpx

from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script

HEADERS = {"anthropic-version": "2023-06-01"}


def _message(text: str) -> dict[str, object]:
    return {"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": text}]}


def test_a_shed_call_leaves_its_keepalive_connection_usable_and_frees_nothing(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    gw = make_gateway(standard_config(anthropic_up, openai_up, extra="server: { max_in_flight: 1 }"))
    anthropic_up.push(Script(delay=1.0))
    holder = threading.Thread(
        target=lambda: httpx.post(gw.url + "/v1/messages", json=_message("hold"), headers=HEADERS, timeout=10)
    )
    holder.start()
    assert anthropic_up.wait_for_requests(1)
    with httpx.Client(base_url=gw.url, headers=HEADERS) as client:
        # A large body the gateway never reads: refused at once, and the connection stays in sync.
        shed = client.post("/v1/messages", json=_message("x" * 200_000))
        assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
        assert shed.json()["error"]["type"] == "overloaded_error"
        assert client.get("/v1/models").status_code == 200  # the model list is never gated
        assert client.get("/healthz").status_code == 200
        holder.join()
        # The held call's slot is back (a shed one never took one): the same connection is admitted.
        after = client.post("/v1/messages", json=_message("after"))
        assert after.status_code == 200, after.text
    assert gw.app.data.in_flight == 0 and gw.app.data.shed == 1
    # The shed call is logged like any other answer, with what refused it.
    records = gw.records(wait_for=4)  # the held call, the shed one, the model list and the one after
    assert sorted(r["status"] for r in records) == [200, 200, 200, 503]
    assert "max_in_flight" in next(r["error"] for r in records if r["status"] == 503)
