"""The shared state store: Redis. Every decision that must hold across replicas (reserve a budget,
admit a request under a rate limit) is one Lua script, so it runs atomically on the server; the
server's clock (TIME) is the only clock, so replicas with skewed clocks still agree.

Keys, under the `gateway:` prefix: budgets `b:<counter>` (hash: spent, reserved) with `:holds` (hash:
hold id -> amount) and `:leases` (sorted set by lease end); request windows `r:<key>` (list of
admission times, newest first); token windows `t:<key>:<window index>`; cache entries `c:<key>`.
Budget keys expire when their period ends, windows after their length, cache entries after their TTL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
import redis.exceptions

from gateway.policy.state.store import (
    Counter,
    CounterState,
    Refusal,
    StoreUnavailable,
    Window,
    WindowState,
    display_url,
)

PREFIX = "gateway:"
TIMEOUT = 2.0  # seconds for connecting and for each command
# A pooled connection idle longer than this is PINGed before its next command; see _Revalidated.
HEALTH_CHECK = 1.0

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

# Drops the holds of KEYS[i] whose lease has ended (their process died before settling).
_EXPIRE = """
local function expire(key)
  local expired = redis.call('ZRANGEBYSCORE', key .. ':leases', '-inf', now)
  for _, old in ipairs(expired) do
    local held = redis.call('HGET', key .. ':holds', old)
    if held then
      redis.call('HINCRBY', key, 'reserved', '-' .. held)
      redis.call('HDEL', key .. ':holds', old)
    end
    redis.call('ZREM', key .. ':leases', old)
  end
end
"""

# KEYS: counter keys. ARGV: amount, hold id, lease seconds, then (limit, expires_at or 0) per key.
_RESERVE = (
    _NOW
    + _EXPIRE
    + """
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  expire(key)
  local spent = tonumber(redis.call('HGET', key, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', key, 'reserved') or '0')
  if spent + reserved + amount > tonumber(ARGV[2 + 2 * i]) then
    return {i, redis.call('HGET', key, 'spent') or '0', redis.call('HGET', key, 'reserved') or '0'}
  end
end
local levels = {0}
for i, key in ipairs(KEYS) do
  levels[i + 1] = redis.call('HGET', key, 'spent') or '0'
  redis.call('HINCRBY', key, 'reserved', ARGV[1])
  redis.call('HSET', key .. ':holds', ARGV[2], ARGV[1])
  redis.call('ZADD', key .. ':leases', string.format('%.6f', now + tonumber(ARGV[3])), ARGV[2])
  local ends = tonumber(ARGV[3 + 2 * i])
  if ends > 0 then
    for _, k in ipairs({key, key .. ':holds', key .. ':leases'}) do redis.call('EXPIREAT', k, ends) end
  end
end
return levels
"""
)

# KEYS: counter keys. ARGV: hold id, amount to spend ('' to release), then expires_at or 0 per key.
_SETTLE = """
for i, key in ipairs(KEYS) do
  local held = redis.call('HGET', key .. ':holds', ARGV[1])
  if held then
    redis.call('HINCRBY', key, 'reserved', '-' .. held)
    redis.call('HDEL', key .. ':holds', ARGV[1])
    redis.call('ZREM', key .. ':leases', ARGV[1])
  end
  if ARGV[2] ~= '' then
    redis.call('HINCRBY', key, 'spent', ARGV[2])
    local ends = tonumber(ARGV[2 + i])
    if ends > 0 then redis.call('EXPIREAT', key, ends) end
  end
end
return 0
"""

# KEYS[1]: one counter. Returns {spent, reserved, open holds} after dropping ended leases.
_READ = (
    _NOW
    + _EXPIRE
    + """
expire(KEYS[1])
return {redis.call('HGET', KEYS[1], 'spent') or '0', redis.call('HGET', KEYS[1], 'reserved') or '0',
        redis.call('HLEN', KEYS[1] .. ':holds')}
"""
)

# KEYS: the window list. ARGV: limit, window seconds. Returns {admitted, remaining, reset seconds}.
_HIT = (
    _NOW
    + """
local limit = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
while true do
  local last = redis.call('LINDEX', KEYS[1], -1)
  if not last or tonumber(last) > now - per then break end
  redis.call('RPOP', KEYS[1])
end
local n = redis.call('LLEN', KEYS[1])
if n >= limit then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], -1))
  return {0, 0, string.format('%.6f', oldest + per - now)}
end
redis.call('LPUSH', KEYS[1], string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(per * 1000))
local oldest = tonumber(redis.call('LINDEX', KEYS[1], -1))
return {1, limit - n - 1, string.format('%.6f', oldest + per - now)}
"""
)

# KEYS: the token window base key. ARGV: window seconds, amount to add (0: only read).
# Returns {used, seconds until the current fixed window ends}.
_TOKENS = (
    _NOW
    + """
local per = tonumber(ARGV[1])
local w = math.floor(now / per)
local current = KEYS[1] .. ':' .. string.format('%d', w)
if tonumber(ARGV[2]) > 0 then
  redis.call('INCRBY', current, ARGV[2])
  redis.call('PEXPIRE', current, math.ceil(per * 2000) + 1000)
end
local cur = tonumber(redis.call('GET', current) or '0')
local prev = tonumber(redis.call('GET', KEYS[1] .. ':' .. string.format('%d', w - 1)) or '0')
local used = prev * (1 - (now / per - w)) + cur
return {string.format('%.6f', used), string.format('%.6f', (w + 1) * per - now)}
"""
)

T = TypeVar("T")


class _Revalidated(aioredis.Connection):
    """A pooled connection that reconnects when its health check fails, before the command is sent.

    After a Redis restart, a connection left idle in the pool since before it is dead; redis-py's own
    check (a PING after HEALTH_CHECK idle seconds) notices, but with no retries configured it fails the
    request (a 503 under `on_unavailable: closed`, long after Redis is back, when a burst reaches that
    connection). Reconnecting here is safe: the command has not been sent. Commands themselves are never
    retried, since a script sent twice would count twice."""

    async def check_health(self) -> None:
        try:
            await super().check_health()  # type: ignore[no-untyped-call]
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            await self.disconnect()
            await self.connect()  # type: ignore[no-untyped-call]


class _RevalidatedTLS(_Revalidated, aioredis.SSLConnection):
    """The same over TLS (`rediss://`)."""


class RedisStore:
    def __init__(self, url: str) -> None:
        self.name = display_url(url)
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            health_check_interval=HEALTH_CHECK,
        )
        # Set on the pool: from_url picks the class from the URL's scheme, over any given to it.
        pool = self._redis.connection_pool
        if pool.connection_class is aioredis.SSLConnection:
            pool.connection_class = _RevalidatedTLS
        elif pool.connection_class is aioredis.Connection:
            pool.connection_class = _Revalidated
        self._reserve = self._redis.register_script(_RESERVE)
        self._settle = self._redis.register_script(_SETTLE)
        self._read = self._redis.register_script(_READ)
        self._hit = self._redis.register_script(_HIT)
        self._tokens = self._redis.register_script(_TOKENS)

    async def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"redis at {self.name}: {exc}") from None
        except redis.exceptions.ResponseError as exc:  # e.g. LOADING, MISCONF, READONLY
            raise StoreUnavailable(f"redis at {self.name}: {exc}") from None

    async def reserve(
        self, counters: Sequence[Counter], amount: int, hold: str, lease: float
    ) -> Refusal | tuple[int, ...]:
        args: list[Any] = [amount, hold, lease]
        for c in counters:
            args += [c.limit, int(c.expires_at or 0)]
        keys = [PREFIX + "b:" + c.key for c in counters]
        result = await self._run(lambda: self._reserve(keys=keys, args=args))
        if int(result[0]) == 0:
            return tuple(int(v) for v in result[1:])
        index, spent, reserved = result
        return Refusal(int(index) - 1, int(spent), int(reserved))

    async def settle(self, counters: Sequence[Counter], hold: str, amount: int | None) -> None:
        keys = [PREFIX + "b:" + c.key for c in counters]
        args: list[Any] = [hold, "" if amount is None else amount]
        args += [int(c.expires_at or 0) for c in counters]
        await self._run(lambda: self._settle(keys=keys, args=args))

    async def counters(self, prefix: str) -> list[CounterState]:
        async def read() -> list[CounterState]:
            out = []
            start = PREFIX + "b:"
            async for raw in self._redis.scan_iter(match=_glob(start + prefix) + "*", count=500):
                key = raw.decode()
                if key.endswith((":holds", ":leases")):
                    continue
                spent, reserved, holds = await self._read(keys=[key])
                out.append(CounterState(key[len(start) :], int(spent), int(reserved), int(holds)))
            return out

        return await self._run(read)

    async def hit(self, key: str, limit: int, per: float) -> Window:
        admitted, remaining, reset = await self._run(
            lambda: self._hit(keys=[PREFIX + "r:" + key], args=[limit, per])
        )
        return Window(bool(admitted), int(remaining), float(reset))

    async def tokens_check(self, key: str, limit: int, per: float) -> Window:
        used, reset = await self._run(lambda: self._tokens(keys=[PREFIX + "t:" + key], args=[per, 0]))
        spent = float(used)
        return Window(spent < limit, max(0, limit - int(-(-spent // 1))), float(reset))

    async def tokens_add(self, key: str, amount: int, per: float) -> None:
        if amount > 0:
            await self._run(lambda: self._tokens(keys=[PREFIX + "t:" + key], args=[per, amount]))

    async def windows(self, prefix: str) -> list[WindowState]:
        async def read() -> list[WindowState]:
            out: list[WindowState] = []
            requests = PREFIX + "r:"
            async for raw in self._redis.scan_iter(match=_glob(requests + prefix) + "*", count=500):
                out.append(WindowState(raw.decode()[len(requests) :], await self._redis.llen(raw)))
            return out

        return await self._run(read)

    async def cache_get(self, key: str) -> bytes | None:
        value = await self._run(lambda: self._redis.get(PREFIX + "c:" + key))
        return value.encode() if isinstance(value, str) else value

    async def cache_put(self, key: str, value: bytes, ttl: float) -> None:
        await self._run(lambda: self._redis.set(PREFIX + "c:" + key, value, px=max(1, int(ttl * 1000))))

    async def value_get(self, key: str) -> bytes | None:
        value = await self._run(lambda: self._redis.get(PREFIX + "v:" + key))
        return value.encode() if isinstance(value, str) else value

    async def value_put(self, key: str, value: bytes, ttl: float) -> None:
        await self._run(lambda: self._redis.set(PREFIX + "v:" + key, value, px=max(1, int(ttl * 1000))))

    async def value_delete(self, key: str) -> bool:
        return bool(await self._run(lambda: self._redis.delete(PREFIX + "v:" + key)))

    async def ping(self) -> None:
        await self._run(self._redis.ping)

    async def close(self) -> None:
        await self._redis.aclose()


def _glob(text: str) -> str:
    """Escape SCAN MATCH's glob characters."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
