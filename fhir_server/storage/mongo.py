"""MongoDB implementation of the repository: versions, history, transactions, search.

Writes are optimistic. A new version is written with a filter on the version
it replaces (``{_id, vid: n}``), inside a MongoDB transaction that also
inserts the history entry, so a version is either fully recorded or not at
all and two writers can never both produce version ``n + 1``.

Conditional creates are made race-free by a unique sparse index on ``ck``,
the canonical form of the creating condition: of N concurrent creates with
the same condition exactly one insert can succeed; the others' transactions
abort with a write conflict or duplicate key, are re-run from the start by
``transaction``, and then find the winner through the normal search. The
key is kept only while the resource meets its condition (the write path
decides), so a later identical create is never locked out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pymongo import DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from fhir_server.errors import DatabaseUnavailable, InvalidRequest, VersionConflict
from fhir_server.search.indexing import INDEX_VERSION, build_index, index_entry
from fhir_server.search.kinds import extract_values
from fhir_server.search.matching import resource_matches
from fhir_server.search.paging import Cursor
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.request import Clause, SearchRequest, Target
from fhir_server.settings import SearchSettings
from fhir_server.storage import generations as counters
from fhir_server.storage import indexes
from fhir_server.storage.documents import (
    APPEND_ONLY_TYPES,
    HISTORY_COLLECTION,
    from_current,
    from_history,
    history_shaped,
)
from fhir_server.storage.paging import is_after, sort_key
from fhir_server.storage.query import FETCH_FIELDS as _FETCH
from fhir_server.storage.query import SERVE_FIELDS, Env, Query, compile_query, find_all, visible
from fhir_server.storage.repository import (
    Change,
    HistoryQuery,
    Page,
    ReadScope,
    SearchResult,
    StoredResource,
)
from fhir_server.storage.search import run_search
from fhir_server.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
T = TypeVar("T")
_HISTORY_SORT = [("lu", DESCENDING), ("_id", DESCENDING)]


class RetryableWrite(Exception):
    """A transaction lost a race that re-running it from the start resolves."""


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def _unavailable_as_fhir(method: F) -> F:
    """The database being unreachable is the client's 503, said once, here.

    Above storage nobody knows the driver's exceptions; a caller sees the
    typed ``DatabaseUnavailable`` (with ``Retry-After``) and the API layer
    answers it. A durable write that no majority journaled in time is a 503
    too: it may or may not have been applied, so the client reads first.
    """

    @functools.wraps(method)
    async def wrapper(self: MongoRepository, *args: Any, **kwargs: Any) -> Any:
        retry = {"Retry-After": str(self.retry_after)}
        try:
            return await method(self, *args, **kwargs)
        except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
            raise DatabaseUnavailable(
                "The database is unreachable; try again later",
                headers=retry,
                msg_id="MRTC-REST-503",
            ) from exc
        except (WTimeoutError, WriteConcernError) as exc:  # no majority journaled it in time
            raise DatabaseUnavailable(
                "The write was not confirmed durable in time; read before retrying",
                headers=retry,
                msg_id="MRTC-DB-003",
            ) from exc

    return wrapper  # type: ignore[return-value]


class MongoRepository:
    """Resource versions in MongoDB; the one storage implementation we ship."""

    def __init__(
        self,
        client: AsyncMongoClient[Any],
        db: AsyncDatabase[Any],
        registry: SearchParameterRegistry,
        settings: SearchSettings,
        *,
        max_attempts: int = 40,
        retry_after: int = 2,
    ) -> None:
        self.client = client
        self.retry_after = retry_after
        self.db = db
        self.registry = registry
        self.settings = settings
        self.max_attempts = max_attempts
        self.index_selection = indexes.IndexSelection.from_setting(settings.indexes)
        self._indexed: set[str] = set()
        # Per open transaction: the writes held until it next reads or commits (one ordered
        # bulk_write per collection) and the current versions it knows (storage.unit_of_work).
        self._deferred: dict[int, UnitOfWork] = {}

    def query_env(self, scope: ReadScope, base_url: str = "") -> Env:
        """Where a search of ``scope`` runs (also what a tool needs to explain a query)."""
        return Env(
            self.db, scope.transaction, self.registry, self.settings, base_url, scope.restriction
        )

    # -- schema -----------------------------------------------------------

    async def ensure_base_indexes(self) -> None:
        await indexes.ensure_base_indexes(self.db)

    @_unavailable_as_fhir
    async def ensure_indexes(self, types: Sequence[str] | None = None) -> int:
        return await indexes.ensure_search_indexes(
            self.db, self.registry, self.index_selection, types
        )

    async def _ensure_type_indexes(self, type_: str) -> None:
        """The per-type index the REST core relies on (idempotent, once per process)."""
        if type_ in self._indexed:
            return
        await self.db[type_].create_index("ck", unique=True, sparse=True, name="condition_key")
        self._indexed.add(type_)

    @_unavailable_as_fhir
    async def reindex(self, types: Sequence[str] | None, *, stale_only: bool) -> int:
        return await indexes.reindex(self.db, self.registry, types, stale_only=stale_only)

    @_unavailable_as_fhir
    async def ping(self) -> None:
        await self.client.admin.command("ping")

    @_unavailable_as_fhir
    async def generations(self) -> dict[str, int]:
        return await counters.read_all(self.db)

    @_unavailable_as_fhir
    async def ensure_generations(self, names: Sequence[str]) -> None:
        await counters.ensure(self.db, list(names))

    @_unavailable_as_fhir
    async def bump_generation(self, name: str, scope: ReadScope) -> None:
        if scope.transaction is None:
            raise RuntimeError("bump_generation() must run inside transaction()")
        await counters.bump(self.db, name, scope.transaction)

    async def close(self) -> None:
        await self.client.close()

    # -- deferred inserts -------------------------------------------------

    def _unit(self, session: Any) -> UnitOfWork | None:
        """The open transaction's unit of work; None outside ``transaction()``."""
        return self._deferred.get(id(session)) if session is not None else None

    async def _flush(self, scope: ReadScope) -> None:
        """Send what the transaction holds (before any read in it, and before it commits).

        One ordered ``bulk_write`` per collection; a held write that fails fails the
        transaction, named.
        """
        unit = self._unit(scope.transaction)
        if unit is None or not unit.held:
            return
        for collection, held in unit.take():
            coll = self.db[collection]
            try:
                result = await coll.bulk_write(held.ops, ordered=True, session=scope.transaction)
            except BulkWriteError as exc:
                raise _held_write_error(collection, held.names, exc) from exc
            if result.matched_count < held.updates:
                raise VersionConflict(
                    f"A resource written by this transaction ({', '.join(held.names[:5])}"
                    f"{'...' if len(held.names) > 5 else ''}) was changed by another request",
                    msg_id="MRTC-REST-040",
                )

    def _reads_held(self, scope: ReadScope, type_: str, clauses: Sequence[Clause]) -> bool:
        """Whether a ``find`` could read what the transaction holds (then it flushes first).

        A find on one collection with plain criteria and no restriction reads that
        collection only: when nothing of it is held, the held writes can wait (a new
        Patient's search for BMIs to regrade does not send the Patients held before it).
        """
        unit = self._unit(scope.transaction)
        if unit is None or not unit.held:
            return False
        if type_ in unit.held or scope.restriction is not None:
            return True
        return not all(_plain(c.target) for c in clauses)

    # -- reads ------------------------------------------------------------

    @_unavailable_as_fhir
    async def read(self, type_: str, id_: str, scope: ReadScope) -> StoredResource | None:
        restricted = scope.restriction is not None and (
            scope.restriction.clauses_for(type_) or scope.restriction.follows(type_)
        )
        unit = self._unit(scope.transaction)
        if unit is not None and not restricted and (type_, id_) in unit.known:
            return unit.known[(type_, id_)]  # read or written by this transaction already
        await self._flush(scope)
        if restricted:
            # Read as a search by id, so the restriction is applied exactly as search applies it.
            env = self.query_env(scope)
            q = await compile_query(env, type_, [Clause("_id", [id_], Target(type_, "_id"))])
            if q.matches_nothing:
                return None
            docs = await env.db[type_].find(q.filter, _FETCH, session=scope.transaction).to_list(2)
            docs = await visible(env, q, [d for d in docs if all(t(d) for t in q.tests)])
            return from_current(type_, docs[0]) if docs else None
        doc = await self.db[type_].find_one(
            {"_id": id_}, {"idx": 0, "ck": 0}, session=scope.transaction
        )
        stored = from_current(type_, doc) if doc else None
        if unit is not None:
            unit.known[(type_, id_)] = stored
        return stored

    @_unavailable_as_fhir
    async def read_many(
        self, type_: str, ids: Sequence[str], scope: ReadScope
    ) -> dict[str, StoredResource]:
        """The current versions of those of ``ids`` that exist (see ``Repository.read_many``)."""
        restricted = scope.restriction is not None and (
            scope.restriction.clauses_for(type_) or scope.restriction.follows(type_)
        )
        if restricted:  # the restriction is applied one id at a time, as read() applies it
            found = {i: await self.read(type_, i, scope) for i in dict.fromkeys(ids)}
            return {i: s for i, s in found.items() if s is not None}
        unit = self._unit(scope.transaction)
        out: dict[str, StoredResource] = {}
        wanted = []
        for i in dict.fromkeys(ids):
            if unit is not None and (type_, i) in unit.known:
                stored = unit.known[(type_, i)]
                if stored is not None:
                    out[i] = stored
            else:
                wanted.append(i)
        if not wanted:
            return out
        await self._flush(scope)
        cursor = self.db[type_].find(
            {"_id": {"$in": wanted}}, {"idx": 0, "ck": 0}, session=scope.transaction
        )
        async for doc in cursor:
            out[doc["_id"]] = from_current(type_, doc)
        if unit is not None:
            for i in wanted:
                unit.known[(type_, i)] = out.get(i)
        return out

    @_unavailable_as_fhir
    async def read_version(
        self, type_: str, id_: str, version: int, scope: ReadScope
    ) -> StoredResource | None:
        await self._flush(scope)
        if type_ in APPEND_ONLY_TYPES:  # the one version is the current document
            current = await self.db[type_].find_one(
                {"_id": id_, "vid": version}, {"idx": 0, "ck": 0}, session=scope.transaction
            )
            doc = history_shaped(type_, current) if current is not None else None
        else:
            doc = await self.db[HISTORY_COLLECTION].find_one(
                {"_id": f"{type_}/{id_}/{version}"}, session=scope.transaction
            )
        if doc is None or not await self._version_visible(doc, scope):
            return None
        return from_history(doc)

    @_unavailable_as_fhir
    async def presence(self, type_: str, ids: Sequence[str], scope: ReadScope) -> dict[str, bool]:
        """id -> deleted flag, for those of ``ids`` that exist and the caller may see."""
        await self._flush(scope)
        if not ids:
            return {}
        restricted = scope.restriction is not None and (
            scope.restriction.clauses_for(type_) or scope.restriction.follows(type_)
        )
        if not restricted:
            cursor = self.db[type_].find(
                {"_id": {"$in": list(ids)}}, {"del": 1}, session=scope.transaction
            )
            return {d["_id"]: bool(d.get("del")) async for d in cursor}
        env = self.query_env(scope)
        q = await compile_query(env, type_, [Clause("_id", list(ids), Target(type_, "_id"))])
        if q.matches_nothing:
            return {}
        docs = await env.db[type_].find(q.filter, _FETCH, session=scope.transaction).to_list()
        docs = await visible(env, q, [d for d in docs if all(t(d) for t in q.tests)])
        return {d["_id"]: bool(d.get("del")) for d in docs}

    async def _version_visible(self, doc: dict[str, Any], scope: ReadScope) -> bool:
        """Whether the caller may see a past version (decided on its own content)."""
        if scope.restriction is None:
            return True
        type_ = doc["t"]
        clauses = scope.restriction.clauses_for(type_) or []
        follows = scope.restriction.follows(type_)
        if not clauses and not follows:
            return True
        resource = doc.get("res")
        if resource is None:
            return False  # a deletion says nothing the restriction could be checked on
        if follows:
            param = self.registry.get(type_, follows)
            entry = index_entry(self.registry, param, resource) if param is not None else None
            env = self.query_env(scope)
            q = Query(type_, {}, follows=follows)
            if not await visible(env, q, [{"idx": {follows: entry or {}}}]):
                return False
            if not clauses:
                return True
        # Only the entries the restriction reads: a history page may test many versions.
        index: dict[str, Any] = {}
        for clause in clauses:
            param = clause.target.param
            if param is not None and clause.target.code not in index:
                entry = index_entry(self.registry, param, resource)
                if entry:
                    index[clause.target.code] = entry
        matched = resource_matches(self.registry, self.settings, resource, clauses, index=index)
        return matched is True

    @_unavailable_as_fhir
    async def history(self, query: HistoryQuery, scope: ReadScope) -> Page:
        """Versions newest first, a page at a time, keyset-paged on (lu, _id)."""
        await self._flush(scope)
        flt: dict[str, Any] = {}
        collection = self.db[HISTORY_COLLECTION]
        shaped: str | None = None  # an append-only type: its versions are its current documents
        if query.type in APPEND_ONLY_TYPES:
            collection, shaped = self.db[query.type], query.type
            if query.id:
                flt["_id"] = query.id
        elif query.type and query.id:
            flt["_id"] = {"$gt": f"{query.type}/{query.id}/", "$lt": f"{query.type}/{query.id}/~"}
        elif query.type:
            flt["t"] = query.type
        lu: dict[str, Any] = {}
        if query.since:
            lu["$gte"] = query.since
        if query.at_or_before:
            lu["$lte"] = query.at_or_before
        anchor: tuple[Any, ...] | None = None
        if query.cursor is not None:
            anchor = (*query.cursor.keys, query.cursor.id)
            if len(anchor) != len(_HISTORY_SORT):
                raise InvalidRequest("The paging cursor is invalid", msg_id="MRTC-REST-091")
            bound = anchor[0]
            lu["$lte"] = min(lu["$lte"], bound) if "$lte" in lu else bound
        if lu:
            flt["lu"] = lu
        wanted = query.count + 1
        out: list[dict[str, Any]] = []
        batch = wanted + 5
        while True:
            docs = await collection.find(
                flt,
                {"idx": 0, "ck": 0} if shaped else None,
                sort=_HISTORY_SORT,
                limit=batch,
                session=scope.transaction,
            ).to_list()
            if shaped:
                docs = [history_shaped(shaped, d) for d in docs]
            for d in docs:
                if anchor is not None and not is_after(
                    sort_key(d, _HISTORY_SORT), anchor, _HISTORY_SORT
                ):
                    continue
                if await self._version_visible(d, scope):
                    out.append(d)
                    if len(out) == wanted:
                        break
            if len(out) >= wanted or len(docs) < batch:
                break
            anchor = sort_key(docs[-1], _HISTORY_SORT)
            flt["lu"] = {**flt.get("lu", {}), "$lte": anchor[0]}
            batch = min(batch * 2, 1000)
        items = [from_history(d) for d in out[: query.count]]
        following = None
        if len(out) > query.count and out:
            last = out[query.count - 1] if query.count else None
            if last is not None:
                following = Cursor((last["lu"],), last["_id"], True)
        return Page(items, following)

    # -- search -----------------------------------------------------------

    @_unavailable_as_fhir
    async def search(self, request: SearchRequest, scope: ReadScope) -> SearchResult:
        await self._flush(scope)
        return await run_search(self.query_env(scope, request.base_url), request)

    @_unavailable_as_fhir
    async def find(
        self, type_: str, clauses: Sequence[Clause], limit: int, scope: ReadScope, *, base_url: str
    ) -> list[StoredResource]:
        if self._reads_held(scope, type_, clauses):
            await self._flush(scope)
        env = self.query_env(scope, base_url)
        q = await compile_query(env, type_, clauses)
        # the served fields only: find_all adds the index when a predicate needs it
        return [from_current(type_, d) for d in await find_all(env, q, limit, SERVE_FIELDS)]

    # -- writes -----------------------------------------------------------

    @_unavailable_as_fhir
    async def write(self, change: Change, scope: ReadScope) -> StoredResource:
        """Record one version (see ``Repository.write``).

        Raises ``VersionConflict`` when another writer got there first and
        ``RetryableWrite`` when a conditional-create key is already taken.
        """
        session = scope.transaction
        if session is None:
            raise RuntimeError("write() must run inside transaction(): versions need a session")
        await self._ensure_type_indexes(change.type)
        type_, id_ = change.type, change.id
        unit = self._unit(session)
        deleted = change.resource is None
        index = build_index(self.registry, type_, change.resource) if change.resource else {}
        coll = self.db[type_]
        doc: dict[str, Any] = {
            "vid": change.version,
            "lu": change.last_updated,
            "del": deleted,
            "res": change.resource,
            "idx": index,
            "idxv": INDEX_VERSION,
        }
        name = f"{type_}/{id_}"
        # Held for the flush (decision 0041), but a conditional write: its key is claimed
        # now, after what the transaction holds, so a lost race is retried as before.
        hold = unit is not None and not change.condition_key
        if unit is not None and not hold:
            await self._flush(scope)
        try:
            if change.previous is None:
                doc["_id"] = id_
                if change.condition_key:
                    doc["ck"] = change.condition_key
                if hold and unit is not None:  # the id's uniqueness is checked at the flush
                    unit.insert(type_, doc, name)
                else:
                    await coll.insert_one(doc, session=session)
            else:
                if change.condition_key:
                    doc["ck"] = change.condition_key
                update: dict[str, Any] = {"$set": doc}
                unset: dict[str, Any] = {} if change.condition_key else {"ck": ""}
                if deleted:
                    unset["drv"] = ""
                else:  # the derived entries of the index stay (indexes.index_update)
                    fields, stale = indexes.index_update(self.registry, type_, doc.pop("idx"))
                    doc.update(fields)
                    unset.update(stale)
                if unset:
                    update["$unset"] = unset
                if hold and unit is not None:  # the version guard is checked at the flush
                    unit.update(type_, {"_id": id_, "vid": change.previous}, update, name)
                    return self._written(unit, change, deleted)
                result = await coll.update_one(
                    {"_id": id_, "vid": change.previous}, update, session=session
                )
                if result.matched_count == 0:
                    raise VersionConflict(
                        f"Resource {type_}/{id_} was changed by another request "
                        f"(version {change.previous} is no longer current)",
                        msg_id="MRTC-REST-040",
                    )
        except DuplicateKeyError as exc:
            if "ck" in (exc.details or {}).get("keyPattern", {}):
                raise RetryableWrite(str(exc)) from exc
            raise VersionConflict(
                f"Resource {type_}/{id_} already exists", msg_id="MRTC-REST-041"
            ) from exc
        if unit is not None:
            return self._written(unit, change, deleted)
        if type_ in APPEND_ONLY_TYPES:  # its one version is the current document
            return StoredResource(
                type_, id_, change.version, change.last_updated, deleted, change.resource
            )
        entry = _history_entry(change)
        await self.db[HISTORY_COLLECTION].insert_one(entry, session=session)
        return StoredResource(
            type_, id_, change.version, change.last_updated, deleted, change.resource, change.method
        )

    def _written(self, unit: UnitOfWork, change: Change, deleted: bool) -> StoredResource:
        """Hold the history entry of a version written in ``unit``; it is now the known current."""
        type_, id_ = change.type, change.id
        if type_ in APPEND_ONLY_TYPES:  # its one version is the current document
            return StoredResource(
                type_, id_, change.version, change.last_updated, deleted, change.resource
            )
        unit.insert(HISTORY_COLLECTION, _history_entry(change), f"{type_}/{id_}")
        stored = StoredResource(
            type_, id_, change.version, change.last_updated, deleted, change.resource, change.method
        )
        unit.known[(type_, id_)] = stored
        return stored

    @_unavailable_as_fhir
    async def write_many(self, changes: Sequence[Change], scope: ReadScope) -> list[StoredResource]:
        """Record new resources in bulk (see ``Repository.write_many``)."""
        session = scope.transaction
        if session is None:
            raise RuntimeError("write_many() must run inside transaction()")
        if any(c.previous is not None or c.condition_key for c in changes):
            raise ValueError("write_many() records new resources only; use write()")
        by_type: dict[str, list[dict[str, Any]]] = {}
        history: list[dict[str, Any]] = []
        for c in changes:
            index = build_index(self.registry, c.type, c.resource) if c.resource else {}
            by_type.setdefault(c.type, []).append(
                {
                    "_id": c.id,
                    "vid": c.version,
                    "lu": c.last_updated,
                    "del": c.resource is None,
                    "res": c.resource,
                    "idx": index,
                    "idxv": INDEX_VERSION,
                }
            )
            if c.type in APPEND_ONLY_TYPES:
                continue
            history.append(
                {
                    "_id": f"{c.type}/{c.id}/{c.version}",
                    "t": c.type,
                    "id": c.id,
                    "vid": c.version,
                    "lu": c.last_updated,
                    "del": c.resource is None,
                    "res": c.resource,
                    "m": c.method,
                }
            )
        try:
            for type_, docs in by_type.items():
                await self._ensure_type_indexes(type_)
                await self.db[type_].insert_many(docs, ordered=True, session=session)
            if history:
                await self.db[HISTORY_COLLECTION].insert_many(
                    history, ordered=True, session=session
                )
        except BulkWriteError as exc:  # an id that already exists: a caller's mistake
            raise VersionConflict(
                f"A resource of the batch already exists: {exc}", msg_id="MRTC-REST-041"
            ) from exc
        return [
            StoredResource(
                c.type, c.id, c.version, c.last_updated, c.resource is None, c.resource, c.method
            )
            for c in changes
        ]

    @_unavailable_as_fhir
    async def derive(
        self,
        type_: str,
        id_: str,
        values: Mapping[str, Sequence[Any]],
        summary: Mapping[str, Any] | None,
        scope: ReadScope,
    ) -> bool:
        """Record derived search values and a summary (see ``Repository.derive``)."""
        params = self.registry.params_for(type_)
        fields: dict[str, Any] = {}
        unset: dict[str, Any] = {}
        for code, raw in values.items():
            param = params.get(code)
            if param is None or not param.derived:
                raise ValueError(f"{type_}.{code} is not a derived search parameter")
            entry = extract_values(param.type, list(raw)) if raw else None
            if entry:
                fields[f"idx.{code}"] = entry
            else:
                unset[f"idx.{code}"] = ""
        if summary is None:
            unset["drv"] = ""
        else:
            fields["drv"] = dict(summary)
        update: dict[str, Any] = {}
        if fields:
            update["$set"] = fields
        if unset:
            update["$unset"] = unset
        if not update:
            return True
        await self._ensure_type_indexes(type_)
        unit = self._unit(scope.transaction)
        if unit is not None and type_ in unit.held:  # the resource may be a held write
            await self._flush(scope)
        result = await self.db[type_].update_one(
            {"_id": id_, "del": {"$ne": True}}, update, session=scope.transaction
        )
        return result.matched_count > 0

    @_unavailable_as_fhir
    async def underived(self, type_: str, version: int, limit: int) -> list[str]:
        """Ids of current resources without a summary of ``version`` (see ``Repository``)."""
        docs = (
            await self.db[type_]
            .find({"del": {"$ne": True}, "drv.v": {"$ne": version}}, {"_id": 1}, limit=limit)
            .to_list()
        )
        return [str(d["_id"]) for d in docs]

    @_unavailable_as_fhir
    async def append(self, changes: Sequence[Change]) -> list[StoredResource]:
        """Record new append-only resources in one durable insert (see ``Repository.append``).

        The client's write concern (journaled on a majority when durable) holds
        for this insert as for a commit: when it returns, every event is on disk.
        """
        if any(c.type not in APPEND_ONLY_TYPES or c.previous is not None for c in changes):
            raise ValueError("append() records new resources of append-only types only")
        by_type: dict[str, list[dict[str, Any]]] = {}
        for c in changes:
            by_type.setdefault(c.type, []).append(
                {
                    "_id": c.id,
                    "vid": c.version,
                    "lu": c.last_updated,
                    "del": False,
                    "res": c.resource,
                    "idx": build_index(self.registry, c.type, c.resource) if c.resource else {},
                    "idxv": INDEX_VERSION,
                }
            )
        try:
            for type_, docs in by_type.items():
                await self._ensure_type_indexes(type_)
                await self.db[type_].insert_many(docs, ordered=True)
        except BulkWriteError as exc:  # a generated id already taken: nothing to retry blindly
            raise VersionConflict(
                f"A resource of the batch already exists: {exc}", msg_id="MRTC-REST-041"
            ) from exc
        return [
            StoredResource(c.type, c.id, c.version, c.last_updated, False, c.resource, c.method)
            for c in changes
        ]

    @_unavailable_as_fhir
    async def transaction(self, fn: Callable[[ReadScope], Awaitable[T]], scope: ReadScope) -> T:
        """Run ``fn`` in one transaction, re-running it when it lost a race.

        This is MongoDB's documented transaction protocol (retry on the
        ``TransientTransactionError`` label), not a correctness crutch: ``fn``
        re-reads everything on each run, so a conditional write re-evaluates
        its condition against the winner's committed data.
        """
        if scope.transaction is not None:
            return await fn(scope)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with (
                    self.client.start_session() as session,
                    await session.start_transaction(),
                ):
                    inner = ReadScope(session, scope.restriction)
                    self._deferred[id(session)] = UnitOfWork()
                    try:
                        result = await fn(inner)
                        await self._flush(inner)  # before the commit, inside the transaction
                    finally:
                        self._deferred.pop(id(session), None)
                    return result
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


def _history_entry(change: Change) -> dict[str, Any]:
    """The ``_history`` copy of one version (storage.documents)."""
    return {
        "_id": f"{change.type}/{change.id}/{change.version}",
        "t": change.type,
        "id": change.id,
        "vid": change.version,
        "lu": change.last_updated,
        "del": change.resource is None,
        "res": change.resource,
        "m": change.method,
    }


def _held_write_error(collection: str, names: list[str], exc: BulkWriteError) -> Exception:
    """The FHIR error of a held write the database refused, naming its resource."""
    errors = (exc.details or {}).get("writeErrors") or [{}]
    first = errors[0]
    index = first.get("index")
    name = names[index] if isinstance(index, int) and 0 <= index < len(names) else collection
    if first.get("code") == 11000 and "ck" in (first.get("keyPattern") or {}):
        return RetryableWrite(str(exc))
    if collection == HISTORY_COLLECTION or collection in APPEND_ONLY_TYPES:
        return VersionConflict(
            f"A version or event of this transaction already exists ({name})",
            msg_id="MRTC-REST-041",
        )
    return VersionConflict(f"Resource {name} already exists", msg_id="MRTC-REST-041")


def _plain(target: Target) -> bool:
    """A criterion on the searched collection's own values (no chain, no ``_has``)."""
    return (
        target.code != "_has"
        and target.next is None
        and not target.chain_types
        and not target.has_type
    )
