"""MongoDB implementation of the repository: versions, history, transactions.

Writes are optimistic. A new version is written with a filter on the version
it replaces (``{_id, vid: n}``), inside a MongoDB transaction that also
inserts the history entry, so a version is either fully recorded or not at
all and two writers can never both produce version ``n + 1``.

Conditional creates are made race-free by a unique sparse index on ``ck``,
the canonical form of the creating condition: of N concurrent creates with
the same condition exactly one insert can succeed; the others' transactions
abort with a write conflict or duplicate key, are re-run from the start by
``run_in_transaction``, and then find the winner through the normal search.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from fhir_server.errors import ResourceNotFound, VersionConflict
from fhir_server.storage.documents import (
    HISTORY_COLLECTION,
    StoredResource,
    from_current,
    from_history,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryableWrite(Exception):
    """A transaction lost a race that re-running it from the start resolves."""


class MongoRepository:
    """Resource versions in MongoDB; the one storage implementation we ship."""

    def __init__(
        self,
        client: AsyncMongoClient[Any],
        db: AsyncDatabase[Any],
        *,
        max_attempts: int = 40,
    ) -> None:
        self.client = client
        self.db = db
        self.max_attempts = max_attempts
        self._indexed: set[str] = set()

    # -- schema -----------------------------------------------------------

    async def ensure_base_indexes(self) -> None:
        hist = self.db[HISTORY_COLLECTION]
        await hist.create_index([("t", ASCENDING), ("lu", DESCENDING)], name="type_lu")
        await hist.create_index([("lu", DESCENDING)], name="lu")
        # Instance history needs no index of its own: its versions share the
        # ``_id`` prefix "Type/id/", a range on the primary key. Every index is
        # paid on every write.

    async def ensure_type_indexes(self, type_: str) -> None:
        """Create the per-type indexes the REST core relies on (idempotent)."""
        if type_ in self._indexed:
            return
        coll = self.db[type_]
        await coll.create_index("ck", unique=True, sparse=True, name="condition_key")
        self._indexed.add(type_)

    # -- reads ------------------------------------------------------------

    async def get(
        self, type_: str, id_: str, session: AsyncClientSession | None = None
    ) -> StoredResource | None:
        doc = await self.db[type_].find_one({"_id": id_}, {"idx": 0, "ck": 0}, session=session)
        return from_current(type_, doc) if doc else None

    async def get_version(
        self, type_: str, id_: str, vid: int, session: AsyncClientSession | None = None
    ) -> StoredResource | None:
        doc = await self.db[HISTORY_COLLECTION].find_one(
            {"_id": f"{type_}/{id_}/{vid}"}, session=session
        )
        return from_history(doc) if doc else None

    async def presence(
        self, type_: str, ids: list[str], session: AsyncClientSession | None = None
    ) -> dict[str, bool]:
        """id -> deleted flag, for those of ``ids`` that exist (one query, ids only)."""
        cursor = self.db[type_].find({"_id": {"$in": ids}}, {"del": 1}, session=session)
        return {d["_id"]: bool(d.get("del")) async for d in cursor}

    async def history(
        self,
        *,
        type_: str | None,
        id_: str | None,
        since: datetime | None,
        at_or_before: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
        extra_filter: dict[str, Any] | None = None,
        session: AsyncClientSession | None = None,
    ) -> list[StoredResource]:
        """Versions newest first; ``after`` is the (lu, _id) cursor of the last one seen."""
        flt: dict[str, Any] = {}
        if type_ and id_:
            flt["_id"] = {"$gt": f"{type_}/{id_}/", "$lt": f"{type_}/{id_}/~"}
        elif type_:
            flt["t"] = type_
        lu: dict[str, Any] = {}
        if since:
            lu["$gte"] = since
        if at_or_before:
            lu["$lte"] = at_or_before
        if lu:
            flt["lu"] = lu
        if extra_filter:
            flt.update(extra_filter)
        if after:
            flt = {
                "$and": [
                    flt,
                    {
                        "$or": [
                            {"lu": {"$lt": after[0]}},
                            {"lu": after[0], "_id": {"$lt": after[1]}},
                        ]
                    },
                ]
            }
        cursor = (
            self.db[HISTORY_COLLECTION]
            .find(flt, session=session)
            .sort([("lu", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [from_history(d) async for d in cursor]

    # -- writes -----------------------------------------------------------

    async def write(
        self,
        type_: str,
        id_: str,
        *,
        previous: int | None,
        version: int,
        last_updated: datetime,
        resource: dict[str, Any] | None,
        index: dict[str, Any] | None,
        index_version: int,
        method: str,
        condition_key: str | None = None,
        session: AsyncClientSession,
    ) -> StoredResource:
        """Record ``version`` of a resource, replacing ``previous`` (None: a new id).

        Raises ``VersionConflict`` when another writer got there first and
        ``RetryableWrite`` when a conditional-create key is already taken.
        """
        await self.ensure_type_indexes(type_)
        deleted = resource is None
        coll = self.db[type_]
        doc: dict[str, Any] = {
            "vid": version,
            "lu": last_updated,
            "del": deleted,
            "res": resource,
            "idx": index or {},
            "idxv": index_version,
        }
        try:
            if previous is None:
                doc["_id"] = id_
                if condition_key:
                    doc["ck"] = condition_key
                await coll.insert_one(doc, session=session)
            else:
                result = await coll.update_one(
                    {"_id": id_, "vid": previous},
                    {"$set": doc, "$unset": {"ck": ""}},
                    session=session,
                )
                if result.matched_count == 0:
                    raise VersionConflict(
                        f"Resource {type_}/{id_} was changed by another request "
                        f"(version {previous} is no longer current)",
                        msg_id="MRTC-REST-040",
                    )
        except DuplicateKeyError as exc:
            if "ck" in (exc.details or {}).get("keyPattern", {}):
                raise RetryableWrite(str(exc)) from exc
            raise VersionConflict(
                f"Resource {type_}/{id_} already exists", msg_id="MRTC-REST-041"
            ) from exc
        await self.db[HISTORY_COLLECTION].insert_one(
            {
                "_id": f"{type_}/{id_}/{version}",
                "t": type_,
                "id": id_,
                "vid": version,
                "lu": last_updated,
                "del": deleted,
                "res": resource,
                "m": method,
            },
            session=session,
        )
        return StoredResource(type_, id_, version, last_updated, deleted, resource, method)

    async def run_in_transaction(self, fn: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run ``fn`` in one transaction, re-running it when it lost a race.

        This is MongoDB's documented transaction protocol (retry on the
        ``TransientTransactionError`` label), not a correctness crutch: ``fn``
        re-reads everything on each run, so a conditional write re-evaluates
        its condition against the winner's committed data.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                async with (
                    self.client.start_session() as session,
                    await session.start_transaction(),
                ):
                    return await fn(session)
            except RetryableWrite:
                if attempt >= self.max_attempts:
                    raise VersionConflict(
                        "The write lost too many races; try again", msg_id="MRTC-REST-042"
                    ) from None
            except OperationFailure as exc:
                if not exc.has_error_label("TransientTransactionError"):
                    raise
                if attempt >= self.max_attempts:
                    raise VersionConflict(
                        "The write conflicted with concurrent writes; try again",
                        msg_id="MRTC-REST-042",
                    ) from exc
            except PyMongoError as exc:
                if not exc.has_error_label("TransientTransactionError") or attempt >= 3:
                    raise
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt, 10)))

    async def require(
        self, type_: str, id_: str, session: AsyncClientSession | None = None
    ) -> StoredResource:
        found = await self.get(type_, id_, session)
        if found is None:
            raise ResourceNotFound(f"Resource {type_}/{id_} was not found", msg_id="MRTC-REST-020")
        return found
