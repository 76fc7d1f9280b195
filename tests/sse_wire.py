"""Raw streamed answers from a gateway, read as SSE events, for tests that check how a stream ends.

The SDKs raise on an error event and hide what followed it; these helpers read the bytes the client got.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx

ClientFormat = Literal["anthropic", "openai"]
PATHS: dict[ClientFormat, str] = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}


@dataclass(frozen=True)
class SseEvent:
    event: str | None  # the `event:` field; OpenAI streams have none
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass(frozen=True)
class RawStream:
    status: int
    events: list[SseEvent]


def parse(raw: bytes) -> list[SseEvent]:
    """Events separated by blank lines; comment lines and empty blocks skipped."""
    events: list[SseEvent] = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        event: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].removeprefix(" "))
        if event is not None or data:
            events.append(SseEvent(event, "\n".join(data)))
    return events


def stream(url: str, client: ClientFormat, model: str, key: str = "client-key") -> RawStream:
    """One streamed call in the client's own wire format; the whole body, as events."""
    headers = (
        {"anthropic-version": "2023-06-01", "x-api-key": key}
        if client == "anthropic"
        else {"authorization": f"Bearer {key}"}
    )
    body: dict[str, Any] = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": "What is the capital?"}],
    }
    if client == "anthropic":
        body["max_tokens"] = 256
    with httpx.stream("POST", url + PATHS[client], headers=headers, json=body, timeout=30) as answer:
        return RawStream(answer.status_code, parse(answer.read()))


def assert_ends_with_error(events: list[SseEvent], client: ClientFormat) -> dict[str, Any]:
    """The last event is the client format's error event and nothing signals a clean finish:
    no Anthropic `message_stop`, no OpenAI `finish_reason` nor `[DONE]`. Returns the error object."""
    assert events, "an empty stream"
    last = events[-1]
    if client == "anthropic":
        assert last.event == "error", f"the stream ended with {last}"
        payload = last.json()
        assert payload["type"] == "error"
        assert all(e.event != "message_stop" for e in events)
        assert all(e.json().get("type") != "message_stop" for e in events)
        return dict(payload["error"])
    assert all(e.data != "[DONE]" for e in events)
    payload = last.json()
    assert "error" in payload, f"the stream ended with {last}"
    for e in events[:-1]:
        assert all(choice.get("finish_reason") is None for choice in e.json().get("choices", []))
    return dict(payload["error"])
