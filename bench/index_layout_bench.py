"""Index layout on writes and on the identity search, same database, same run (issue 13, item 2).

Two layouts of the same Patient documents (resource + the server's index
values, ``search.indexing``), each in its own collection:

  per-parameter   what the server builds today: one index per indexed field of
                  each selected parameter (``storage.indexes``, FHIR_SEARCH_INDEXES=default),
                  and, as a second row, every parameter indexed (FHIR_SEARCH_INDEXES=all)
  one multikey    one array ``kv`` of ``code=value`` strings per document (tokens,
                  references, normalised strings, dates as ``code=YYYY-MM-DD``), one
                  multikey index on it, plus ``lu``

Timed: inserts (``insert_one`` with the client's durable write concern,
``--concurrency`` writers) and the identity search
``family=<prefix>&birthdate=<day>`` written each layout's best way (a range on
``idx.birthdate.lo`` then the family prefix filtered; or a range over
``kv`` for ``family=<prefix>`` ... then the day filtered).

Usage: ``python -m bench.index_layout_bench [--n 2000] [--concurrency 16] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel

from bench.common import Result, database, run_load
from bench.index_bench import patient
from fhir_server.search.indexing import INDEX_VERSION, build_index
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.values import MAX_STRING, date_range
from fhir_server.settings import Settings
from fhir_server.storage.connection import open_client
from fhir_server.storage.indexes import IndexSelection, search_index_models


def kv_keys(index: dict[str, Any]) -> list[str]:
    """The ``code=value`` strings of one document's index values (the multikey layout)."""
    keys: list[str] = []
    for code, entry in index.items():
        if not isinstance(entry, dict):
            continue
        for field in ("v", "n"):
            for value in entry.get(field) or []:
                if isinstance(value, str):
                    keys.append(f"{code}={value}")
        for value in entry.get("lo") or []:
            if isinstance(value, datetime):
                keys.append(f"{code}={value.date().isoformat()}")
    return list(dict.fromkeys(keys))


async def bench(args: argparse.Namespace, uri: str) -> list[dict[str, Any]]:
    settings = Settings()
    client = await open_client(uri, timeout_ms=10_000, durable=settings.durable_writes)
    db = client[f"layout_{uuid.uuid4().hex[:6]}"]
    registry = SearchParameterRegistry.load_default()
    default = search_index_models(registry, IndexSelection.from_setting("default"), "Patient")
    every = search_index_models(registry, IndexSelection.from_setting("all"), "Patient")
    rng = random.Random(5)
    out: list[dict[str, Any]] = []
    results: dict[str, list[Result]] = {}
    layouts = {
        f"per-parameter ({len(default)} indexes)": default,
        f"per-parameter, all ({len(every)} indexes)": every,
        "one multikey kv (2 indexes)": [
            IndexModel([("kv", ASCENDING)], name="kv"),
            IndexModel([("lu", ASCENDING)], name="lu"),
        ],
    }
    for round_ in range(args.rounds):
        for name, models in layouts.items():
            coll = db[f"c{abs(hash(name)) % 10_000}_{round_}"]
            await coll.create_indexes(models)
            kv = name.startswith("one multikey")

            async def insert(i: int, coll: Any = coll, kv: bool = kv) -> None:
                res = patient(i, rng) | {"id": uuid.uuid4().hex}
                index = build_index(registry, "Patient", res)
                doc: dict[str, Any] = {
                    "_id": res["id"],
                    "vid": 1,
                    "lu": datetime.now(UTC),
                    "del": False,
                    "res": res,
                    "idxv": INDEX_VERSION,
                }
                if kv:
                    doc["kv"] = kv_keys(index)
                else:
                    doc["idx"] = index
                await coll.insert_one(doc)

            r = await run_load(name, args.concurrency, args.n, insert)
            results.setdefault(name, []).append(r)
            print(r.row(), flush=True)

            async def identity(i: int, coll: Any = coll, kv: bool = kv) -> None:
                prefix = ["mar", "ber", "dub", "tho", "rob", "ric", "pet", "dur"][i % 8]
                day = f"{2008 + i % 14}-{1 + i % 12:02d}-{1 + i % 28:02d}"
                if kv:
                    filt = {"kv": {"$gte": f"family={prefix}", "$lt": f"family={prefix}~"}}
                    docs = await coll.find(filt, {"res": 1, "kv": 1}).to_list()
                    [d for d in docs if f"birthdate={day}" in d["kv"]]
                else:
                    low, high = date_range(day)  # type: ignore[misc]
                    filt = {
                        "idx.birthdate.lo": {"$gte": low, "$lt": high},
                        "idx.family.n": {"$gte": prefix, "$lt": prefix + MAX_STRING},
                    }
                    await coll.find(filt, {"res": 1}).limit(21).to_list()

            s = await run_load(name + " identity", 1, 50, identity)
            results.setdefault(name + " identity", []).append(s)
            print(s.row(), flush=True)
    for name, rounds in results.items():
        row = {
            "layout": name,
            "throughput_median": round(statistics.median(r.throughput for r in rounds), 1),
            "p50_median_ms": round(statistics.median(r.pct(50) for r in rounds), 2),
            "rounds": [round(r.throughput, 1) for r in rounds],
        }
        out.append(row)
        print(row)
    await client.drop_database(db.name)
    await client.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with database() as uri:
        asyncio.run(bench(args, uri))


if __name__ == "__main__":
    main()
