"""The Redis store across a restart of redis-server: every pooled connection from before the restart
is checked before it is used again, so no request fails once Redis is back (a real server, restarted)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from gateway.policy.state.redis import HEALTH_CHECK, RedisStore
from gateway.policy.state.store import StoreUnavailable
from tests.services import RestartableRedis


@pytest.fixture
def restartable_redis() -> Iterator[RestartableRedis]:
    server = RestartableRedis()
    server.start()
    yield server
    server.stop()


def test_connections_pooled_before_a_restart_do_not_fail_requests_after_it(
    restartable_redis: RestartableRedis,
) -> None:
    store = RedisStore(restartable_redis.url)
    burst = 20

    async def scenario() -> list[object]:
        # A burst fills the pool with connections; they sit idle while Redis restarts.
        await asyncio.gather(*(store.hit(f"k{i}", 100, 60) for i in range(burst)))
        await asyncio.to_thread(restartable_redis.stop)
        with pytest.raises(StoreUnavailable):
            await store.hit("down", 100, 60)
        await asyncio.to_thread(restartable_redis.start)
        await asyncio.sleep(HEALTH_CHECK + 0.2)
        started = time.monotonic()
        # The same burst again: it reaches every connection pooled before the restart.
        results = await asyncio.gather(
            *(store.hit(f"k{i}", 100, 60) for i in range(burst)), return_exceptions=True
        )
        assert time.monotonic() - started < 5
        await store.close()
        return list(results)

    results = asyncio.run(scenario())
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], failures[:3]
