"""REST core benchmark: create, read, update and transaction vs the raw driver.

Usage: ``make bench`` or ``python -m bench.rest_bench [--n 500] [--tx 100]``.

The server runs under uvicorn in its own process on the embedded database
(or ``FHIR_MONGODB_URI``); this process drives it over HTTP with 1 and 16
concurrent clients, then does the equivalent work with PyMongo directly on
the same database server in the same run:

- create: the server validates, versions and indexes a Patient and writes it
  plus its history entry in one transaction; the raw driver inserts the same
  JSON document once (``insert_one``).
- read: GET Patient/[id] vs ``find_one({_id})``.
- update: PUT Patient/[id] vs ``replace_one({_id})``.
- transaction: a 10-entry transaction Bundle (1 Patient + 9 Observations
  referencing it by urn:uuid) vs ``insert_many`` of the 10 documents in one
  MongoDB transaction.

It prints a table and writes ``bench/results/rest-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Result, Server, database, fhir_server, run_load
from fhir_server.interactions.write import stamp
from fhir_server.search.indexing import INDEX_VERSION, build_index
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.settings import Settings
from fhir_server.storage.connection import open_client
from fhir_server.storage.indexes import (
    IndexSelection,
    ensure_base_indexes,
    ensure_search_indexes,
)
from fhir_server.storage.repository import now


def make_patient(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": f"{i:013d}"}],
        "name": [
            {"use": "official", "family": f"Martin{i % 97}", "given": ["Léa", "Marie"]},
            {"use": "usual", "family": "Martin"},
        ],
        "gender": "female" if i % 2 else "male",
        "birthDate": f"20{10 + i % 10}-0{1 + i % 9}-1{i % 10}",
        "address": [{"city": "Lille", "postalCode": "59000", "country": "FR"}],
        "telecom": [{"system": "email", "value": f"parent{i}@example.org"}],
    }


def make_weight(subject: str, i: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": f"2026-0{1 + i % 9}-1{i % 10}",
        "valueQuantity": {
            "value": 30 + i % 20,
            "unit": "kg",
            "system": "http://unitsofmeasure.org",
            "code": "kg",
        },
    }


def make_transaction(i: int) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": "urn:uuid:p",
            "resource": make_patient(i),
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    entries += [
        {
            "resource": make_weight("urn:uuid:p", i * 10 + k),
            "request": {"method": "POST", "url": "Observation"},
        }
        for k in range(9)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def bench_server(
    base: Server, n: int, tx: int, concurrency: int
) -> tuple[list[Result], list[str]]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        base_url=base, connector=connector, headers=base.headers
    ) as http:
        ids: list[str] = [""] * n
        offset = concurrency * 1_000_000
        minimal = {"Prefer": "return=minimal"}

        async def create(i: int) -> None:
            async with http.post("/Patient", json=make_patient(offset + i), headers=minimal) as r:
                assert r.status == 201, await r.text()
                ids[i] = r.headers["Location"].split("/")[-3]

        async def read(i: int) -> None:
            async with http.get(f"/Patient/{ids[i]}") as r:
                assert r.status == 200
                await r.read()

        async def update(i: int) -> None:
            body = {**make_patient(offset + i), "id": ids[i], "gender": "other"}
            async with http.put(f"/Patient/{ids[i]}", json=body, headers=minimal) as r:
                assert r.status == 200, await r.text()

        async def transaction(i: int) -> None:
            bundle = make_transaction(offset + i)
            async with http.post("/", json=bundle, headers=minimal) as r:
                assert r.status == 200, await r.text()
                await r.read()

        results = [
            await run_load("server create", concurrency, n, create),
            await run_load("server read", concurrency, n, read),
            await run_load("server update", concurrency, n, update),
            await run_load("server transaction(10)", concurrency, tx, transaction),
        ]
        return results, ids


def stored_documents(
    type_: str, resource: dict[str, Any], registry: SearchParameterRegistry, version: int = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The current and history documents the server would write for ``resource``."""
    id_ = uuid.uuid4().hex
    when = now()
    body = stamp(resource, id_, version, when)
    current = {
        "_id": id_,
        "vid": version,
        "lu": when,
        "del": False,
        "res": body,
        "idx": build_index(registry, type_, body),
        "idxv": INDEX_VERSION,
    }
    history = {
        "_id": f"{type_}/{id_}/{version}",
        "t": type_,
        "id": id_,
        "vid": version,
        "lu": when,
        "del": False,
        "res": body,
        "m": "POST",
    }
    return current, history


async def bench_raw(
    uri: str, db_name: str, n: int, tx: int, concurrency: int, read_ids: list[str]
) -> list[Result]:
    """The raw driver: bare single-document work, and the server's own documents."""
    registry = SearchParameterRegistry.load_default()
    settings = Settings()  # the server's write concern, so both sides do the same work
    client = await open_client(
        uri, timeout_ms=settings.db_timeout_ms, durable=settings.durable_writes
    )
    db = client[f"{db_name}_raw{concurrency}"]
    selection = IndexSelection.from_setting(settings.search.indexes)
    await ensure_search_indexes(db, registry, selection, ["Patient", "Observation"])
    await ensure_base_indexes(db)
    served = client[db_name]["Patient"]
    bare = db["bare"]
    offset = concurrency * 1_000_000
    bare_ids = [uuid.uuid4().hex for _ in range(n)]
    docs = [stored_documents("Patient", make_patient(offset + i), registry) for i in range(n)]
    tx_docs = []
    for i in range(tx):
        patient = stored_documents("Patient", make_patient(offset + i), registry)
        tx_docs.append(
            [patient]
            + [
                stored_documents(
                    "Observation", make_weight(f"Patient/{patient[0]['_id']}", k), registry
                )
                for k in range(9)
            ]
        )

    async def in_txn(work: Any) -> None:
        async with client.start_session() as s:
            await s.with_transaction(work)  # the driver's helper retries write conflicts

    async def bare_create(i: int) -> None:
        await bare.insert_one({"_id": bare_ids[i], "res": make_patient(offset + i)})

    async def same_create(i: int) -> None:
        current, history = docs[i]

        async def work(s: Any) -> None:
            await db["Patient"].insert_one(current, session=s)
            await db["_history"].insert_one(history, session=s)

        await in_txn(work)

    async def read(i: int) -> None:
        assert await served.find_one({"_id": read_ids[i % len(read_ids)]}) is not None

    async def bare_update(i: int) -> None:
        doc = {**make_patient(offset + i), "gender": "other"}
        await bare.replace_one({"_id": bare_ids[i]}, {"res": doc})

    async def same_update(i: int) -> None:
        current, history = docs[i]
        body = {**current["res"], "gender": "other"}
        new = {**current, "vid": 2, "res": body}
        del new["_id"]

        async def work(s: Any) -> None:
            await db["Patient"].update_one(
                {"_id": current["_id"], "vid": 1}, {"$set": new}, session=s
            )
            await db["_history"].insert_one(
                {**history, "_id": history["_id"][:-1] + "2", "vid": 2, "res": body}, session=s
            )

        await in_txn(work)

    async def bare_transaction(i: int) -> None:
        batch = [{"_id": uuid.uuid4().hex, "res": make_patient(offset + i)}]
        batch += [{"_id": uuid.uuid4().hex, "res": make_weight("Patient/x", k)} for k in range(9)]

        async def work(s: Any) -> None:
            await bare.insert_many(batch, session=s)

        await in_txn(work)

    async def same_transaction(i: int) -> None:
        async def work(s: Any) -> None:
            for k, (current, history) in enumerate(tx_docs[i]):
                await db["Patient" if k == 0 else "Observation"].insert_one(current, session=s)
                await db["_history"].insert_one(history, session=s)

        await in_txn(work)

    try:
        return [
            await run_load("raw bare insert_one", concurrency, n, bare_create),
            await run_load("raw same docs+history", concurrency, n, same_create),
            await run_load("raw find_one (same docs)", concurrency, n, read),
            await run_load("raw bare replace_one", concurrency, n, bare_update),
            await run_load("raw same update+history", concurrency, n, same_update),
            await run_load("raw bare insert_many(10)", concurrency, tx, bare_transaction),
            await run_load("raw same 10 docs+history", concurrency, tx, same_transaction),
        ]
    finally:
        await client.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"n": args.n, "tx": args.tx, "runs": []}
    db_name = f"bench_{int(time.time())}"
    with database() as uri, fhir_server(uri, db_name) as base:
        for concurrency in args.concurrency:
            server, ids = await bench_server(base, args.n, args.tx, concurrency)
            raw = await bench_raw(uri, db_name, args.n, args.tx, concurrency, ids)
            print(f"\n== concurrency {concurrency} ==")
            pairs = {
                "create": (server[0], raw[0], raw[1]),
                "read": (server[1], raw[2], raw[2]),
                "update": (server[2], raw[3], raw[4]),
                "transaction": (server[3], raw[5], raw[6]),
            }
            for op, (s, bare, same) in pairs.items():
                print(s.row())
                print(bare.row())
                if same is not bare:
                    print(same.row())
                r_bare = s.throughput / bare.throughput if bare.throughput else 0.0
                r_same = s.throughput / same.throughput if same.throughput else 0.0
                print(f"{'':<30}server/raw: {r_bare:.0%} of bare, {r_same:.0%} of same documents")
                report["runs"].append(
                    {
                        "op": op,
                        "concurrency": concurrency,
                        "server": s.as_dict(),
                        "raw_bare": bare.as_dict(),
                        "raw_same": same.as_dict(),
                        "ratio_bare": round(r_bare, 3),
                        "ratio_same": round(r_same, 3),
                    }
                )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="creates, reads and updates")
    parser.add_argument("--tx", type=int, default=100, help="transaction bundles")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"rest-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
