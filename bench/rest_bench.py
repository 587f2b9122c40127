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

import httpx
from pymongo import AsyncMongoClient

from bench.common import Result, database, fhir_server, run_load


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


async def bench_server(base: str, n: int, tx: int, concurrency: int) -> list[Result]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        ids: list[str] = [""] * n
        offset = concurrency * 1_000_000

        async def create(i: int) -> None:
            r = await http.post(
                "/Patient", json=make_patient(offset + i), headers={"Prefer": "return=minimal"}
            )
            assert r.status_code == 201, r.text
            ids[i] = r.headers["location"].split("/")[-3]

        async def read(i: int) -> None:
            r = await http.get(f"/Patient/{ids[i]}")
            assert r.status_code == 200

        async def update(i: int) -> None:
            body = {**make_patient(offset + i), "id": ids[i], "gender": "other"}
            r = await http.put(
                f"/Patient/{ids[i]}", json=body, headers={"Prefer": "return=minimal"}
            )
            assert r.status_code == 200, r.text

        async def transaction(i: int) -> None:
            r = await http.post(
                "/", json=make_transaction(offset + i), headers={"Prefer": "return=minimal"}
            )
            assert r.status_code == 200, r.text

        return [
            await run_load("server create", concurrency, n, create),
            await run_load("server read", concurrency, n, read),
            await run_load("server update", concurrency, n, update),
            await run_load("server transaction(10)", concurrency, tx, transaction),
        ]


async def bench_raw(uri: str, db_name: str, n: int, tx: int, concurrency: int) -> list[Result]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, maxPoolSize=max(16, concurrency))
    coll = client[db_name][f"raw_patient_c{concurrency}"]
    obs = client[db_name][f"raw_obs_c{concurrency}"]
    ids = [uuid.uuid4().hex for _ in range(n)]
    offset = concurrency * 1_000_000

    async def create(i: int) -> None:
        await coll.insert_one({"_id": ids[i], "res": make_patient(offset + i)})

    async def read(i: int) -> None:
        assert await coll.find_one({"_id": ids[i]}) is not None

    async def update(i: int) -> None:
        doc = {**make_patient(offset + i), "gender": "other"}
        await coll.replace_one({"_id": ids[i]}, {"res": doc})

    async def transaction(i: int) -> None:
        docs = [{"_id": uuid.uuid4().hex, "res": make_patient(offset + i)}]
        docs += [{"_id": uuid.uuid4().hex, "res": make_weight("Patient/x", k)} for k in range(9)]
        async with client.start_session() as s, await s.start_transaction():
            await obs.insert_many(docs, session=s)

    try:
        return [
            await run_load("raw insert_one", concurrency, n, create),
            await run_load("raw find_one", concurrency, n, read),
            await run_load("raw replace_one", concurrency, n, update),
            await run_load("raw insert_many(10) in txn", concurrency, tx, transaction),
        ]
    finally:
        await client.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"n": args.n, "tx": args.tx, "runs": []}
    db_name = f"bench_{int(time.time())}"
    with database() as uri, fhir_server(uri, db_name) as base:
        for concurrency in args.concurrency:
            server = await bench_server(base, args.n, args.tx, concurrency)
            raw = await bench_raw(uri, db_name, args.n, args.tx, concurrency)
            print(f"\n== concurrency {concurrency} ==")
            for s, r in zip(server, raw, strict=True):
                ratio = s.throughput / r.throughput if r.throughput else 0.0
                print(s.row())
                print(r.row())
                print(f"{'':<28} server/raw throughput = {ratio:.0%}")
                report["runs"].append(
                    {"server": s.as_dict(), "raw": r.as_dict(), "ratio": round(ratio, 3)}
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
