"""How long the server's indexes take to build on a large collection (docs/deployment.md).

Loads ``--count`` Patient documents (default 100 000, realistic MRTC
patients, stored exactly as the server stores them: resource, index values,
version stamp) into one collection with bulk inserts, then times, on that
full collection: the start-up index creation for the default selection
(``FHIR_SEARCH_INDEXES=default``), a second start-up call when the indexes
exist (what every later start pays), a full ``$reindex`` of the type with the
default indexes (what an ``INDEX_VERSION`` upgrade asks for), and, with
``--all``, the index creation for ``FHIR_SEARCH_INDEXES=all``.

    python -m bench.index_bench [--count 100000] [--all]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient

from bench.common import database
from fhir_server.search.indexing import INDEX_VERSION, build_index
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.storage.indexes import IndexSelection, ensure_search_indexes, reindex

FAMILIES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"]
GIVEN = ["Léa", "Emma", "Louis", "Gabriel", "Jade", "Hugo", "Chloé", "Arthur", "Inès", "Jules"]


def patient(i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p{i}",
        "identifier": [
            {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": f"{rng.randrange(10**14, 10**15)}"}
        ],
        "name": [{"use": "official", "family": rng.choice(FAMILIES), "given": [rng.choice(GIVEN)]}],
        "gender": rng.choice(["male", "female"]),
        "birthDate": f"{rng.randrange(2008, 2022)}-{rng.randrange(1, 13):02d}-"
        f"{rng.randrange(1, 29):02d}",
        "address": [{"city": rng.choice(["Lyon", "Grenoble", "Annecy"]), "postalCode": "69001"}],
        "telecom": [{"system": "email", "value": f"famille{i}@example.org"}],
    }


async def run(uri: str, count: int, *, everything: bool) -> None:
    registry = SearchParameterRegistry.load_default()
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    db = client[f"bench_{uuid.uuid4().hex[:8]}"]
    coll = db["Patient"]
    rng = random.Random(14)
    now = datetime.now(UTC)
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for i in range(count):
        res = patient(i, rng)
        batch.append(
            {
                "_id": res["id"],
                "vid": 1,
                "lu": now,
                "del": False,
                "res": res,
                "idx": build_index(registry, "Patient", res),
                "idxv": INDEX_VERSION,
            }
        )
        if len(batch) == 2000:
            await coll.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await coll.insert_many(batch, ordered=False)
    print(f"loaded {count} Patient documents in {time.perf_counter() - started:.1f} s", flush=True)

    for setting in ("default", "all") if everything else ("default",):
        await coll.drop_indexes()
        selection = IndexSelection.from_setting(setting)
        t = time.perf_counter()
        n = await ensure_search_indexes(db, registry, selection, ["Patient"])
        first = time.perf_counter() - t
        t = time.perf_counter()
        await ensure_search_indexes(db, registry, selection, ["Patient"])
        again = time.perf_counter() - t
        print(
            f"FHIR_SEARCH_INDEXES={setting}: {n} indexes built in {first:.1f} s on {count} "
            f"documents; a later start (indexes present) {again * 1000:.0f} ms",
            flush=True,
        )
        if setting == "default":
            t = time.perf_counter()
            rebuilt = await reindex(db, registry, ["Patient"], stale_only=False)
            seconds = time.perf_counter() - t
            print(
                f"$reindex of Patient with the default indexes: {rebuilt} documents in "
                f"{seconds:.1f} s ({seconds / max(rebuilt, 1) * 1000:.2f} ms each)",
                flush=True,
            )
    await client.drop_database(db.name)
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--all", action="store_true", help="also build FHIR_SEARCH_INDEXES=all")
    args = parser.parse_args()
    with database() as uri:
        asyncio.run(run(uri, args.count, everything=args.all))


if __name__ == "__main__":
    main()
