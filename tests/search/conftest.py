"""Search tests run against a real SecantusDB, with documents written as the core writes them.

The session's one embedded database server (``mongo_uri`` in tests/conftest.py);
each test module gets a fresh database and a ``Context``.
``store`` inserts resources in the layout of ``fhir_server.storage.documents``
with ``idx`` filled by ``build_index``, exactly like the write path.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from fhir_server.interactions.context import Context
from fhir_server.search.indexing import INDEX_VERSION, build_index
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.settings import Settings
from fhir_server.storage.documents import instant
from fhir_server.storage.search_query import ensure_search_indexes

BASE = "http://test.example/fhir"


@pytest.fixture(scope="session")
def secantus_uri(mongo_uri: str) -> str:
    """The session's database server (tests/conftest.py), shared with the other tests."""
    return mongo_uri


@pytest.fixture(scope="session")
def registry() -> SearchParameterRegistry:
    return SearchParameterRegistry.load_default()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ctx(secantus_uri: str, registry: SearchParameterRegistry) -> AsyncIterator[Context]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(secantus_uri)
    name = f"search_{uuid.uuid4().hex[:10]}"
    db = client[name]
    settings = Settings(default_count=20, max_count=1000)
    yield Context(db=db, settings=settings, base_url=BASE, search_params=registry)
    await client.drop_database(name)
    await client.close()


_counter = iter(range(1, 10**9))


def make_doc(
    registry: SearchParameterRegistry, resource: dict[str, Any], *, deleted: bool = False
) -> dict[str, Any]:
    """A current-version document as the core writes it."""
    res = dict(resource)
    res.setdefault("id", f"r{next(_counter)}")
    lu = datetime.now(UTC).replace(microsecond=0)
    res["meta"] = {**res.get("meta", {}), "versionId": "1", "lastUpdated": instant(lu)}
    return {
        "_id": res["id"],
        "vid": 1,
        "lu": lu,
        "del": deleted,
        "res": None if deleted else res,
        "idx": {} if deleted else build_index(registry, res["resourceType"], res),
        "idxv": INDEX_VERSION,
    }


async def store(ctx: Context, *resources: dict[str, Any], deleted: bool = False) -> list[str]:
    """Insert resources (grouped per type); returns their ids."""
    ids = []
    for r in resources:
        doc = make_doc(ctx.search_params, r, deleted=deleted)
        if deleted:
            # a deleted resource keeps its last index entries in the worst case: prove
            # search filters on the flag, not on the emptiness of idx
            doc["idx"] = build_index(ctx.search_params, r["resourceType"], {**r, "id": doc["_id"]})
        await ctx.db[r["resourceType"]].insert_one(doc)
        ids.append(doc["_id"])
    return ids


async def indexes(ctx: Context, *types: str) -> None:
    await ensure_search_indexes(ctx.db, ctx.search_params, types)


def ids_of(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]
