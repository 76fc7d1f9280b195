"""Which provider and key created each file id the gateway saw created (an Anthropic `file_...`, an
OpenAI or Azure `file-...`, a batch's input and output files): a message that names a file id can only
be served by that provider with that key, so routing pins it there.

Kept in the state store of the request's table (`Store.value_*`, shared by workers and replicas), like
the owners of Responses ids (`responses.ResponsesState`), for `FILE_TTL`: upstream files outlive a
response's `server.responses_ttl` by far.
"""

from __future__ import annotations

import contextlib

import orjson

from gateway.dataplane.responses import Owner
from gateway.policy.admission import Admission
from gateway.policy.state import Store, StoreUnavailable
from gateway.routing.table import RoutingTable

FILE_OWNER = "files:owner:"  # file id -> the provider and key that created it
# Anthropic keeps files until deleted and OpenAI's batch files expire after 30 days: an owner is kept
# that long (a file deleted through the gateway is forgotten at once).
FILE_TTL = 30 * 24 * 3600.0

__all__ = ["FILE_OWNER", "FILE_TTL", "FileOwners", "Owner"]


class FileOwners:
    """File ids' owners in the state store. `Owner.model` is "" (a file belongs to no model)."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    def store(self, table: RoutingTable) -> Store:
        return self.admission.store(table)

    async def remember(self, table: RoutingTable, file_id: str, owner: Owner) -> None:
        value = orjson.dumps({"provider": owner.provider, "key": owner.key})
        with contextlib.suppress(StoreUnavailable):  # the answer still goes; the id stays unpinned
            await self.store(table).value_put(FILE_OWNER + file_id, value, FILE_TTL)

    async def owner(self, table: RoutingTable, file_id: str) -> Owner | None:
        """The provider and key that created `file_id`, or None when the gateway never saw it created
        (or the store is unreachable: the caller routes by provider type alone)."""
        try:
            data = await self.store(table).value_get(FILE_OWNER + file_id)
        except StoreUnavailable:
            return None
        if data is None:
            return None
        try:
            obj = orjson.loads(data)
            key = obj.get("key")
            return Owner(str(obj["provider"]), key if isinstance(key, str) else None, "")
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    async def forget(self, table: RoutingTable, file_id: str) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self.store(table).value_delete(FILE_OWNER + file_id)
