"""Generation counters: how server processes sharing a database learn that a cache is stale.

Each process keeps in memory what it derives from stored resources (the
search-parameter registry, the CapabilityStatement; break-glass grants and
care-circle lookups later). A write that changes such a source bumps the
counter named for it *inside the write's transaction*, so the counter moves
if and only if the change commits. Every process reads all counters in one
small query (one document per name, a handful of documents) and refreshes
what moved. A version check was preferred to a change stream: it needs no
long-lived cursor, no resume token and no oplog window, and it works the
same on every MongoDB deployment (docs/decisions/0019-processes-share-state.md).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "_generations"


async def read_all(db: AsyncDatabase[Any]) -> dict[str, int]:
    return {str(d["_id"]): int(d.get("n", 0)) async for d in db[COLLECTION].find({})}


async def ensure(db: AsyncDatabase[Any], names: list[str]) -> None:
    """Create the counters (outside any transaction), so a bump never creates a collection."""
    for name in names:
        await db[COLLECTION].update_one({"_id": name}, {"$setOnInsert": {"n": 0}}, upsert=True)


async def bump(db: AsyncDatabase[Any], name: str, session: Any) -> None:
    """Move ``name``'s counter in the caller's transaction (commits or aborts with it)."""
    await db[COLLECTION].update_one({"_id": name}, {"$inc": {"n": 1}}, upsert=True, session=session)
