"""What storing one read's AuditEvent costs, layout by layout (issue 13, item 2).

Every read of patient data stores an AuditEvent before it is answered
(``security.audit``); at 16 concurrent readers that write, not the read,
set the server's read throughput. This drives the raw driver (the server's
own client options: journaled majority write concern when durable) on one
database server, same run, with ``--concurrency`` writers each storing
``--n`` events of the shape a ``GET Patient/[id]`` produces, grouped as the
server's group commit groups them (whatever arrived during the previous
write), in each layout:

  txn+history    the events and their ``_history`` copies in one transaction (before)
  txn            the events alone in one transaction
  insert         the events alone, one ``insert_many`` (each document atomic, durable)
  insert, feed indexes   the same into a collection indexed on lastUpdated and patient only

and, for reference, a ``find_one`` by ``_id`` (the read itself).

Usage: ``python -m bench.audit_bench [--n 300] [--concurrency 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any

from bench.common import Result, database, run_load
from fhir_server.search.indexing import INDEX_VERSION, build_index
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.security.audit import audit_event
from fhir_server.settings import Settings
from fhir_server.storage.connection import open_client
from fhir_server.storage.indexes import IndexSelection, search_index_models
from fhir_server.storage.repository import now

FEED_ONLY = {"lu", "idx.patient.v+_id"}


def event_doc(registry: SearchParameterRegistry) -> tuple[dict[str, Any], dict[str, Any]]:
    id_ = str(uuid.uuid4())
    when = now()
    res = audit_event(
        principal=None,
        action="R",
        subtypes=[("http://hl7.org/fhir/restful-interaction", "read")],
        outcome="0",
        what=[f"Patient/{id_[:8]}"],
        patients=[id_[:8]],
        source="127.0.0.1",
        request_id=uuid.uuid4().hex,
    )
    res = {**res, "id": id_, "meta": {"versionId": "1", "lastUpdated": when.isoformat()}}
    doc = {
        "_id": id_,
        "vid": 1,
        "lu": when,
        "del": False,
        "res": res,
        "idx": build_index(registry, "AuditEvent", res),
        "idxv": INDEX_VERSION,
    }
    hist = {"_id": f"AuditEvent/{id_}/1", "t": "AuditEvent", "id": id_, "vid": 1, "lu": when}
    return doc, {**hist, "del": False, "res": res, "m": "POST"}


async def bench(args: argparse.Namespace, uri: str) -> list[dict[str, Any]]:
    settings = Settings(mongodb_uri=uri)
    client = await open_client(uri, timeout_ms=10_000, durable=settings.durable_writes)
    db = client["audit_bench"]
    await client.drop_database("audit_bench")
    registry = SearchParameterRegistry.load_default()
    models = search_index_models(registry, IndexSelection.from_setting("default"), "AuditEvent")
    await db.Full.create_indexes(models)
    await db.Lean.create_indexes([m for m in models if m.document["name"] in FEED_ONLY])
    await db["_history"].create_index([("t", 1), ("lu", -1)], name="type_lu")
    await db["_history"].create_index([("lu", -1)], name="lu")
    await db.Patient.insert_one({"_id": "p1", "res": {"resourceType": "Patient", "id": "p1"}})
    out: list[dict[str, Any]] = []

    async def grouped(layout: str) -> Result:
        pending: list[tuple[dict[str, Any], dict[str, Any], asyncio.Future[None]]] = []
        flusher: asyncio.Task[None] | None = None

        async def write(batch: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
            coll = db.Lean if layout == "insert, feed indexes" else db.Full
            docs = [d for d, _ in batch]
            if layout == "txn+history" or layout == "txn":
                async with client.start_session() as s, await s.start_transaction():
                    await coll.insert_many(docs, session=s)
                    if layout == "txn+history":
                        await db["_history"].insert_many([h for _, h in batch], session=s)
            else:
                await coll.insert_many(docs, ordered=False)

        async def flush() -> None:
            nonlocal pending
            while pending:
                batch, pending = pending[:500], pending[500:]
                await write([(d, h) for d, h, _ in batch])
                for _, _, f in batch:
                    f.set_result(None)

        async def op(i: int) -> None:
            nonlocal flusher
            await db.Patient.find_one({"_id": "p1"})
            doc, hist = event_doc(registry)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            pending.append((doc, hist, fut))
            if flusher is None or flusher.done():
                flusher = asyncio.get_running_loop().create_task(flush())
            await fut

        return await run_load(layout, args.concurrency, args.n, op)

    async def read_only(i: int) -> None:
        await db.Patient.find_one({"_id": "p1"})

    layouts = ["txn+history", "txn", "insert", "insert, feed indexes"]
    for _ in range(args.rounds):
        for layout in layouts:
            r = await grouped(layout)
            print(r.row(), flush=True)
            out.append(r.as_dict())
        r = await run_load("read alone", args.concurrency, args.n * 3, read_only)
        print(r.row(), flush=True)
        out.append(r.as_dict())
    await client.drop_database("audit_bench")
    await client.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    with database() as uri:
        out = asyncio.run(bench(args, uri))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:  # noqa: PTH123
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
