"""The database indexes search relies on, and rebuilding stored index values.

Which search parameters get a MongoDB index is a choice (``FHIR_SEARCH_INDEXES``):
on the embedded database every index costs about as much per insert as the
document itself, so indexing all ~30 parameters of a type made writes several
times slower for searches nobody runs. Which *fields* of a parameter's entry
are indexed, and how, is the parameter type's (``search.kinds``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources as importlib_resources
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.search.indexing import INDEX_VERSION, build_index
from fhir_server.search.kinds import equality_match, index_fields
from fhir_server.search.registry import SearchParam, SearchParameterRegistry
from fhir_server.storage.documents import HISTORY_COLLECTION

# Parameters answered without an index entry of their own, or not searchable at all.
_NOT_INDEXED = frozenset(
    {
        "_id",
        "_text",
        "_content",
        "_query",
        "_list",
        "_filter",
        "_profile",
        "_security",
        "_source",
        "_lastUpdated",
    }
)


@dataclass(frozen=True)
class IndexSelection:
    """Which search parameters deserve an index (``FHIR_SEARCH_INDEXES``).

    The default set is data (``fhir_server/data/search-indexes.json``), the
    IG's parameters included by name.
    """

    everything: bool
    wanted: frozenset[tuple[str, str]]  # (type or "*", code)
    # (type, equality code, date code): a compound index for "code=x&_sort=-date" pages
    # (the data file's "_sorted"; see storage.sorted_paging)
    sorted_pairs: frozenset[tuple[str, str, str]] = frozenset()

    @classmethod
    def from_setting(cls, setting: str) -> IndexSelection:
        text = importlib_resources.files("fhir_server.data").joinpath("search-indexes.json")
        data = json.loads(text.read_text())
        pairs = frozenset(
            (t, eq, sort)
            for t, items in data.get("_sorted", {}).items()
            if not t.startswith("_")
            for eq, sort in items
        )
        if setting.strip().lower() == "all":
            return cls(True, frozenset(), pairs)
        wanted = {(t, c) for t, codes in data.items() if not t.startswith("_") for c in codes}
        for item in setting.split(","):
            type_, _, code = item.strip().partition(".")
            if code:
                wanted.add((type_, code))
        return cls(False, frozenset(wanted), pairs)

    def wants(self, type_: str, param: SearchParam) -> bool:
        if self.everything:
            return True
        return (type_, param.code) in self.wanted or ("*", param.code) in self.wanted


async def ensure_base_indexes(db: AsyncDatabase[Any]) -> None:
    hist = db[HISTORY_COLLECTION]
    await hist.create_index([("t", ASCENDING), ("lu", DESCENDING)], name="type_lu")
    await hist.create_index([("lu", DESCENDING)], name="lu")
    # Instance history needs no index of its own: its versions share the
    # ``_id`` prefix "Type/id/", a range on the primary key. Every index is
    # paid on every write.


def search_index_models(
    registry: SearchParameterRegistry, selection: IndexSelection, type_: str
) -> list[IndexModel]:
    """The indexes of one collection.

    One index per parameter field, not one per combination: the filter puts
    the most selective clause first and the planner needs only that one.
    Equality-type fields are indexed together with ``_id``, so a keyset page
    ``{field: x, _id: {$gt: cursor}}`` is an index range on every planner;
    the others are sparse single-field indexes, because most resources have
    a value for few of their type's parameters.
    """
    models = [IndexModel([("lu", ASCENDING)], name="lu")]
    for code, param in registry.params_for(type_).items():
        if code in _NOT_INDEXED or not (param.expression or param.derived):
            continue
        if not selection.wants(type_, param):
            continue
        for name in index_fields(param):
            path = f"idx.{code}.{name}"
            if equality_match(param):
                models.append(
                    IndexModel(
                        [(path, ASCENDING), ("_id", ASCENDING)], name=f"{path}+_id", sparse=True
                    )
                )
            else:
                models.append(IndexModel([(path, ASCENDING)], name=path, sparse=True))
    for t, eq, date in sorted(selection.sorted_pairs):
        eq_param, date_param = registry.get(type_, eq), registry.get(type_, date)
        if t != type_ or eq_param is None or date_param is None or date_param.type != "date":
            continue
        if not equality_match(eq_param) or not (
            selection.wants(type_, eq_param) and selection.wants(type_, date_param)
        ):
            continue
        # The equality, then the latest end of the date (a scalar: MongoDB refuses a
        # compound index over two arrays), then the id: a "-date" page is one range.
        keys = [(f"idx.{eq}.v", ASCENDING), (f"idx.{date}.e", DESCENDING), ("_id", ASCENDING)]
        models.append(IndexModel(keys, name=f"idx.{eq}.v+idx.{date}.e+_id", sparse=True))
    return models


async def ensure_search_indexes(
    db: AsyncDatabase[Any],
    registry: SearchParameterRegistry,
    selection: IndexSelection,
    types: Sequence[str] | None = None,
) -> int:
    """Create the indexes search relies on; returns how many were asked for. Idempotent."""
    n = 0
    for type_ in types or registry.types:
        models = search_index_models(registry, selection, type_)
        await db[type_].create_indexes(models)
        n += len(models)
    return n


def index_update(
    registry: SearchParameterRegistry, type_: str, index: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``$set`` and ``$unset`` that give a stored document the extracted ``index``.

    The whole ``idx`` is replaced, except on a type with derived parameters,
    whose derived entries are facts about other resources (``Repository.derive``)
    that a new version or a reindex of this one must keep: there each extracted
    entry is set, and each other extractable one unset, field by field.
    """
    derived = registry.derived_codes(type_)
    if not derived:
        return {"idx": index}, {}
    unset = {
        f"idx.{code}": ""
        for code in registry.params_for(type_)
        if code not in derived and code not in index
    }
    return {f"idx.{code}": entry for code, entry in index.items()}, unset


async def reindex(
    db: AsyncDatabase[Any],
    registry: SearchParameterRegistry,
    types: Sequence[str] | None,
    *,
    stale_only: bool,
) -> int:
    """Rebuild the ``idx`` of every current resource (of some types or all); how many.

    Run after a SearchParameter is added or changed; ``stale_only`` limits it
    to documents stamped with an older ``INDEX_VERSION``. The update is
    conditional on the version read, so a resource written meanwhile keeps
    the index its own write computed.
    """
    n = 0
    for t in types or list(registry.types):
        filt: dict[str, Any] = {"del": {"$ne": True}}
        if stale_only:
            filt["idxv"] = {"$ne": INDEX_VERSION}
        ops: list[UpdateOne] = []
        async for doc in db[t].find(filt, {"res": 1, "vid": 1}):
            if not doc.get("res"):
                continue
            fields, unset = index_update(registry, t, build_index(registry, t, doc["res"]))
            update: dict[str, Any] = {"$set": {**fields, "idxv": INDEX_VERSION}}
            if unset:
                update["$unset"] = unset
            ops.append(UpdateOne({"_id": doc["_id"], "vid": doc["vid"]}, update))
            if len(ops) >= 500:
                await db[t].bulk_write(ops, ordered=False)
                n += len(ops)
                ops = []
        if ops:
            await db[t].bulk_write(ops, ordered=False)
            n += len(ops)
    return n
