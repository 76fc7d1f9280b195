"""Rate limits: window keys per `by` value, the x-ratelimit-* report, and checks against a store."""

from __future__ import annotations

import asyncio

from gateway.policy.ratelimit import Report, check, refusal_message, window_key
from gateway.policy.state import MemoryStore
from gateway.policy.state.store import Window
from gateway.routing.plan import Facts
from gateway.routing.table import Rate

PER_MINUTE = Rate("requests", 3, 60.0, "1m", "metadata.user")


def user(value: object) -> Facts:
    return Facts(metadata={"user": value})  # type: ignore[dict-item]


def test_window_keys_separate_scopes_limits_and_by_values() -> None:
    keys = {
        window_key("gateway:a", PER_MINUTE, user("u1")),
        window_key("gateway:a", PER_MINUTE, user("u2")),
        window_key("gateway:b", PER_MINUTE, user("u1")),
        window_key("gateway:a", Rate("requests", 4, 60.0, "1m", "metadata.user"), user("u1")),
        window_key("gateway:a", PER_MINUTE, user(5)),
        window_key("gateway:a", PER_MINUTE, user("5")),  # "5" is not 5: JSON values
        window_key("gateway:a", PER_MINUTE, Facts()),  # absent: one shared counter of its own
    }
    assert len(keys) == 7
    assert window_key("gateway:a", Rate("requests", 3, 60.0, "1m"), user("u1")).endswith("|*")


def test_by_header_and_token() -> None:
    by_token = Rate("requests", 1, 60.0, "1m", "token")
    assert window_key("s", by_token, Facts(token="a")) != window_key("s", by_token, Facts(token="b"))
    by_header = Rate("requests", 1, 60.0, "1m", "header.x-team")
    red = window_key("s", by_header, Facts(headers={"x-team": "red"}))
    assert red.endswith('|"red"')


def test_check_counts_requests_and_reads_tokens() -> None:
    async def main() -> tuple[list[bool], Window, Window]:
        store = MemoryStore()
        requests = [(await check(store, "k", PER_MINUTE)).admitted for _ in range(4)]
        tokens = Rate("tokens", 100, 60.0, "1m")
        before = await check(store, "t", tokens)
        await store.tokens_add("t", 150, 60.0)
        return requests, before, await check(store, "t", tokens)

    requests, before, after = asyncio.run(main())
    assert requests == [True, True, True, False]
    assert before.admitted and not after.admitted


def test_report_keeps_the_tightest_window_of_each_kind() -> None:
    report = Report()
    report.add(Rate("requests", 600, 60.0, "1m"), Window(True, 599, 60.0))
    report.add(Rate("requests", 20, 60.0, "1m", "metadata.user"), Window(True, 3, 41.2))
    report.add(Rate("requests", 1000, 3600.0, "1h"), Window(True, 900, 3600.0))
    report.add(Rate("tokens", 2_000_000, 86400.0, "1d"), Window(True, 1_500_000, 7200.0))
    assert dict(report.headers()) == {
        b"x-ratelimit-limit-requests": b"20",
        b"x-ratelimit-remaining-requests": b"3",
        b"x-ratelimit-reset-requests": b"42s",
        b"x-ratelimit-limit-tokens": b"2000000",
        b"x-ratelimit-remaining-tokens": b"1500000",
        b"x-ratelimit-reset-tokens": b"7200s",
    }
    assert Report().headers() == []


def test_refusal_message_says_which_limit_and_when_to_retry() -> None:
    text = refusal_message(PER_MINUTE, "gateway 'support'", Window(False, 0, 12.1))
    assert (
        text == "rate limit 3 requests per 1m by metadata.user on gateway 'support' is reached; retry in 13s"
    )
