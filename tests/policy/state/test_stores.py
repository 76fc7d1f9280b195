"""The store contract, run against the memory store, the SQLite file workers share and a real
redis-server alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.policy.state import MemoryStore, Store, open_store
from gateway.policy.state.store import Counter, Refusal, to_units, to_usd

Case = Callable[[Store], Awaitable[Any]]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Case], Any]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = "memory" if request.param == "memory" else f"sqlite:///{tmp_path}/state.db"

    def go(case: Case) -> Any:
        async def main() -> Any:
            store = open_store(url)
            try:
                return await case(store)
            finally:
                await store.close()

        return asyncio.run(main())

    return go


def test_units_round_trip_and_reservations_round_up() -> None:
    assert to_units(Decimal("0.0001875")) == 1_875_000
    assert to_usd(1_875_000) == Decimal("0.0001875")
    assert to_units(Decimal("1E-11"), up=True) == 1
    assert to_units(Decimal("1E-11")) == 0


def test_reserve_admits_until_the_limit_then_refuses(run: Callable[[Case], Any]) -> None:
    c = Counter("b1|total|*", limit=100, expires_at=None)

    async def case(store: Store) -> Any:
        results = [await store.reserve([c], 30, f"h{i}", 60) for i in range(4)]
        return results, await store.counters("b1|")

    results, states = run(case)
    assert results[:3] == [(0,), (0,), (0,)]
    refusal = results[3]
    assert refusal is not None and (refusal.index, refusal.spent, refusal.reserved) == (0, 0, 90)
    assert [(s.spent, s.reserved, s.holds) for s in states] == [(0, 90, 3)]


def test_reserve_is_all_or_nothing_across_counters(run: Callable[[Case], Any]) -> None:
    roomy = Counter("roomy|total|*", 1000, None)
    tight = Counter("tight|total|*", 50, None)

    async def case(store: Store) -> Any:
        first = await store.reserve([roomy, tight], 40, "a", 60)
        second = await store.reserve([roomy, tight], 40, "b", 60)
        return first, second, await store.counters("roomy|"), await store.counters("tight|")

    first, second, roomy_state, tight_state = run(case)
    assert first == (0, 0)
    assert second is not None and second.index == 1
    assert roomy_state[0].reserved == 40 and tight_state[0].reserved == 40  # b held nothing anywhere


def test_settle_turns_a_hold_into_spend_and_release_frees_it(run: Callable[[Case], Any]) -> None:
    c = Counter("s|total|*", 100, None)

    async def case(store: Store) -> Any:
        await store.reserve([c], 60, "a", 60)
        await store.settle([c], "a", 25)  # cost less than the worst case
        assert await store.reserve([c], 60, "b", 60) == (25,)
        await store.settle([c], "b", None)  # failed before the upstream answered: released
        await store.settle([c], "b", None)  # settling twice changes nothing
        return await store.counters("s|")

    (state,) = run(case)
    assert (state.spent, state.reserved, state.holds) == (25, 0, 0)


def test_a_lease_that_ends_frees_its_hold(run: Callable[[Case], Any]) -> None:
    c = Counter("lease|total|*", 100, None)

    async def case(store: Store) -> Any:
        await store.reserve([c], 100, "crashed", 0.2)  # its process died: nobody settles it
        blocked = await store.reserve([c], 10, "b", 60)
        await asyncio.sleep(0.3)
        after = await store.reserve([c], 10, "c", 60)
        return blocked, after, await store.counters("lease|")

    blocked, after, (state,) = run(case)
    assert isinstance(blocked, Refusal) and after == (0,)
    assert (state.reserved, state.holds) == (10, 1)


def test_budget_keys_expire_with_their_period(run: Callable[[Case], Any]) -> None:
    c = Counter("p|2026-11-22|*", 100, expires_at=time.time() + 1.2)

    async def case(store: Store) -> Any:
        await store.reserve([c], 10, "a", 60)
        await store.settle([c], "a", 10)
        before = await store.counters("p|")
        await asyncio.sleep(2.2)
        return before, await store.counters("p|")

    before, after = run(case)
    assert [s.spent for s in before] == [10] and after == []


def test_concurrent_reservations_never_pass_the_limit(run: Callable[[Case], Any]) -> None:
    c = Counter("race|total|*", to_units(Decimal("1.00")), None)
    amount = to_units(Decimal("0.10"))

    async def case(store: Store) -> Any:
        results = await asyncio.gather(*(store.reserve([c], amount, f"h{i}", 60) for i in range(50)))
        return sum(not isinstance(r, Refusal) for r in results), await store.counters("race|")

    admitted, (state,) = run(case)
    assert admitted == 10 and state.reserved == 10 * amount


def test_request_window_is_exact_and_slides(run: Callable[[Case], Any]) -> None:
    async def case(store: Store) -> Any:
        first = [await store.hit("w", 3, 0.5) for _ in range(4)]
        await asyncio.sleep(0.55)
        later = await store.hit("w", 3, 0.5)
        return first, later

    first, later = run(case)
    assert [w.admitted for w in first] == [True, True, True, False]
    assert [w.remaining for w in first[:3]] == [2, 1, 0]
    assert 0 < first[3].reset <= 0.5
    assert later.admitted and later.remaining == 2


def test_token_window_admits_while_below_and_counts_what_is_added(run: Callable[[Case], Any]) -> None:
    async def case(store: Store) -> Any:
        empty = await store.tokens_check("t", 1000, 60)
        await store.tokens_add("t", 700, 60)
        below = await store.tokens_check("t", 1000, 60)
        await store.tokens_add("t", 700, 60)  # the request that crosses the limit is counted in full
        over = await store.tokens_check("t", 1000, 60)
        return empty, below, over

    empty, below, over = run(case)
    assert empty.admitted and empty.remaining == 1000
    assert below.admitted and below.remaining == 300
    assert not over.admitted and over.remaining == 0 and 0 < over.reset <= 60


def test_cache_round_trip_and_ttl(run: Callable[[Case], Any]) -> None:
    async def case(store: Store) -> Any:
        await store.cache_put("k", b"\x00answer\xff", 0.3)
        hit = await store.cache_get("k")
        await asyncio.sleep(0.4)
        return hit, await store.cache_get("k"), await store.cache_get("never")

    assert run(case) == (b"\x00answer\xff", None, None)


def test_values_round_trip_expire_and_delete(run: Callable[[Case], Any]) -> None:
    async def case(store: Store) -> Any:
        await store.value_put("a", b"\x00state\xff", 60)
        await store.value_put("b", b"short", 0.3)
        got = await store.value_get("a"), await store.value_get("b")
        await asyncio.sleep(0.4)
        expired = await store.value_get("b")
        deleted = await store.value_delete("a")
        again = await store.value_delete("a")
        return got, expired, deleted, again, await store.value_get("a")

    got, expired, deleted, again, gone = run(case)
    assert got == (b"\x00state\xff", b"short")
    assert expired is None
    assert deleted is True and again is False and gone is None


def test_memory_cache_evicts_least_recently_used_beyond_its_size() -> None:
    async def case() -> Any:
        store = MemoryStore(cache_bytes=40)
        await store.cache_put("a", b"x" * 10, 60)
        await store.cache_put("b", b"y" * 10, 60)
        await store.cache_get("a")  # a is now the most recently used
        await store.cache_put("c", b"z" * 10, 60)
        await store.cache_put("d", b"w" * 10, 60)
        await store.cache_put("e", b"v" * 10, 60)
        return [await store.cache_get(k) is not None for k in "abcde"]

    assert asyncio.run(case()) == [True, False, True, True, True]


def test_unreachable_redis_is_reported_as_unavailable() -> None:
    from gateway.policy.state import StoreUnavailable
    from tests.gateway_server import free_port

    async def case() -> None:
        store = open_store(f"redis://127.0.0.1:{free_port()}/0")
        try:
            with pytest.raises(StoreUnavailable, match=r"redis at redis://127\.0\.0\.1"):
                await store.hit("k", 1, 1)
            with pytest.raises(StoreUnavailable):
                await store.ping()
        finally:
            await store.close()

    asyncio.run(case())


def test_redis_name_hides_the_password() -> None:
    assert open_store("redis://:hunter2-canary@127.0.0.1:6379/0").name == "redis://:***@127.0.0.1:6379/0"


def test_reading_counters_drops_ended_leases(run: Callable[[Case], Any]) -> None:
    c = Counter("view|total|*", 100, None)

    async def case(store: Store) -> Any:
        await store.reserve([c], 40, "crashed", 0.2)
        before = await store.counters("view|")
        await asyncio.sleep(0.3)
        return before, await store.counters("view|")

    (before,), (after,) = run(case)
    assert (before.reserved, before.holds) == (40, 1)
    assert (after.reserved, after.holds) == (0, 0)


def test_sqlite_cache_evicts_least_recently_used_beyond_its_size(tmp_path: Path) -> None:
    from gateway.policy.state.sqlite import SQLiteStore

    async def case() -> Any:
        store = SQLiteStore(str(tmp_path / "state.db"), cache_bytes=40)
        try:
            await store.cache_put("a", b"x" * 10, 60)
            await store.cache_put("b", b"y" * 10, 60)
            await store.cache_get("a")  # a is now the most recently used
            await store.cache_put("c", b"z" * 10, 60)
            await store.cache_put("d", b"w" * 10, 60)
            await store.cache_put("e", b"v" * 10, 60)
            await store.cache_put("e", b"v" * 10, 60)  # replacing an entry does not count it twice
            await store.cache_put("big", b"!" * 11, 60)  # over a quarter of the cache: not kept
            return [await store.cache_get(k) is not None for k in ("a", "b", "c", "d", "e", "big")]
        finally:
            await store.close()

    assert asyncio.run(case()) == [True, False, True, True, True, False]


def test_sqlite_stores_on_one_file_share_counters_and_never_pass_a_limit(tmp_path: Path) -> None:
    """Two stores on one file stand for two workers: each has its own connection and thread, so their
    transactions contend for the database lock as separate processes' do."""
    url = f"sqlite:///{tmp_path}/state.db"
    c = Counter("shared|total|*", to_units(Decimal("1.00")), None)
    amount = to_units(Decimal("0.10"))

    async def case() -> Any:
        one, two = open_store(url), open_store(url)
        try:
            results = await asyncio.gather(
                *(
                    (one if i % 2 else two).reserve([c], amount, f"h{i}", 60)
                    for i in range(60)  # 30 each, all at once
                ),
                *(one.hit("rpm", 25, 60) for _ in range(20)),
                *(two.hit("rpm", 25, 60) for _ in range(20)),
            )
            await two.cache_put("k", b"answer", 60)
            return results, await one.counters("shared|"), await one.cache_get("k")
        finally:
            await one.close()
            await two.close()

    results, (state,), cached = asyncio.run(case())
    reservations, hits = results[:60], results[60:]
    assert sum(not isinstance(r, Refusal) for r in reservations) == 10
    assert state.reserved == 10 * amount and state.holds == 10
    assert sum(w.admitted for w in hits) == 25
    assert cached == b"answer"


def test_sqlite_store_waits_off_the_event_loop_then_reports_a_lock_held_too_long(tmp_path: Path) -> None:
    """Another process holding the write lock stalls nothing but the operation that needs it; past
    busy_timeout (2 s) that operation fails as an unreachable store does."""
    import sqlite3
    import threading

    from gateway.policy.state import StoreUnavailable
    from gateway.policy.state.sqlite import BUSY_TIMEOUT_MS

    path = tmp_path / "state.db"

    async def case() -> tuple[float, float, bool]:
        store = open_store(f"sqlite:///{path}")
        try:
            await store.ping()  # the schema exists
            locked, release = threading.Event(), threading.Event()

            def hold_lock() -> None:
                db = sqlite3.connect(path, isolation_level=None)
                db.execute("BEGIN IMMEDIATE")
                locked.set()
                release.wait(10)
                db.execute("ROLLBACK")
                db.close()

            holder = threading.Thread(target=hold_lock)
            holder.start()
            locked.wait(5)
            started = time.monotonic()
            waiting = asyncio.ensure_future(store.hit("k", 1, 60))
            longest_gap, last = 0.0, time.monotonic()
            while not waiting.done():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                longest_gap, last = max(longest_gap, now - last), now
            failed = isinstance(waiting.exception(), StoreUnavailable)
            release.set()
            holder.join()
            return longest_gap, time.monotonic() - started, failed
        finally:
            await store.close()

    longest_gap, waited, failed = asyncio.run(case())
    assert failed
    assert waited >= BUSY_TIMEOUT_MS / 1000 * 0.9
    assert longest_gap < 0.5  # the loop kept running while the store waited (10 ms ticks; loaded host)
