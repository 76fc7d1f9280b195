"""Shared state: budget counters and reservations, rate-limit windows and cached answers.

`store.py` is the contract, `memory.py` the embedded default (this process), `sqlite.py` the file the
workers of one machine share (the default of `gateway serve --workers N`), `redis.py` the store that
makes many replicas behave as one, and `open_store` picks one from `state.store`.
"""

from __future__ import annotations

from gateway.policy.state.memory import MemoryStore
from gateway.policy.state.store import Store, StoreUnavailable


def open_store(url: str) -> Store:
    """`memory`, `sqlite:///path.db` (relative to the working directory; `sqlite:////abs/path.db`), or
    `redis://` / `rediss://` (the Redis client is imported only when one is used)."""
    if url == "memory":
        return MemoryStore()
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        from gateway.policy.state.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://")):
        from gateway.policy.state.redis import RedisStore

        return RedisStore(url)
    raise ValueError(f"unknown state store {url!r}: use memory, sqlite:///path.db or redis://host:6379/0")


__all__ = ["MemoryStore", "Store", "StoreUnavailable", "open_store"]
