"""Six operations, this server beside any FHIR server, same load generator, same run (issue 13).

Usage::

    python -m bench.peer_bench [--patients 200] [--n 200] [--tx 8] [--rounds 3]
        [--peer NAME=BASE_URL] [--peer-auth NAME='Bearer ...'] [--peer-pid NAME=PID]

This server runs under uvicorn in its own process on the embedded database (or
``FHIR_MONGODB_URI``), with a trusted system's token; each ``--peer`` is any
FHIR R4 server reached at its base URL with the given ``Authorization`` header.
Each target gets the same data first (``--patients`` French children, each with
a 51-Observation weight/height/BMI series posted as transactions), then, at 1
and 16 concurrent clients, ``--rounds`` rounds of:

  create     POST Patient
  read       GET Patient/[id]
  identity   GET Patient?family=<3-letter prefix>&birthdate=<date>
  series     GET Observation?subject=Patient/[id]&code=http://loinc.org|39156-5&_sort=-date
  update     PUT Patient/[id] with If-Match (the version it read): new name,
             identifier and address, the same birth date and sex
  tx50       POST a transaction of 50 Observations (throughput counted in resources/s)

and the raw driver doing the same work on the same database (``insert_one``,
``find_one`` by ``_id``, the two searches as the server's own queries on its
stored documents, ``replace_one``, ``insert_many`` of 50 in a transaction):
the ceiling any server on this database works under. Reported per operation
and concurrency: the median of the rounds' throughput and of their
p50/p95/p99, the errors (non-2xx or transport failures), and each server
process's resident memory (this server's from /proc; a peer's with
``--peer-pid``). A table is printed and ``bench/results/peer-<time>.json`` written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Result, database, fhir_server, run_load
from fhir_server.settings import Settings
from fhir_server.storage.connection import open_client

LOINC = "http://loinc.org"
SERIES = [("29463-7", "kg", 30.0), ("8302-2", "cm", 130.0), ("39156-5", "kg/m2", 17.7)]
SYLLABLES = ["ber", "dur", "mar", "tin", "lau", "ren", "pet", "bon", "cha", "lef", "mou"]
OPS = ["create", "read", "identity", "series", "update", "tx50"]


def child(rng: random.Random, i: int) -> dict[str, Any]:
    family = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
    birth = f"20{12 + i % 8}-0{1 + i % 9}-{10 + i % 18}"
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": f"{i:013d}"}],
        "name": [{"use": "official", "family": family, "given": ["Léa"]}],
        "gender": "female" if i % 2 else "male",
        "birthDate": birth,
        "address": [{"city": "Lille", "postalCode": "59000", "country": "FR"}],
    }


def observation(subject: str, j: int) -> dict[str, Any]:
    code, unit, base = SERIES[j % 3]
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
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": f"20{20 + j // 36 % 6}-{1 + j // 3 % 12:02d}-15",
        "valueQuantity": {
            "value": round(base + j * 0.1, 1),
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def transaction(subject: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": observation(subject, j),
                "request": {"method": "POST", "url": "Observation"},
            }
            for j in range(n)
        ],
    }


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Target:
    """One FHIR server under test: base URL, headers, the ids it gave our data."""

    def __init__(self, name: str, base: str, auth: str | None, pid: int | None) -> None:
        self.name, self.base, self.pid = name, base.rstrip("/"), pid
        self.headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        if auth:
            self.headers["Authorization"] = auth
        self.patients: list[str] = []
        self.idents: list[tuple[str, str]] = []
        self.facts: dict[str, dict[str, str]] = {}  # id -> the birth date and sex it was given
        self.errors = 0


async def setup(session: aiohttp.ClientSession, t: Target, patients: int) -> None:
    rng = random.Random(7)
    sem = asyncio.Semaphore(4)

    async def one(i: int) -> None:
        async with sem:
            body = child(rng, i)
            async with session.post(f"{t.base}/Patient", json=body, headers=t.headers) as r:
                created = await r.json(content_type=None)
                if r.status != 201:
                    raise RuntimeError(f"{t.name}: create failed {r.status}: {created}")
            pid = created["id"]
            t.patients.append(pid)
            t.idents.append((body["name"][0]["family"][:3].lower(), body["birthDate"]))
            t.facts[pid] = {"birthDate": body["birthDate"], "gender": body["gender"]}
            tx = transaction(f"Patient/{pid}", 51)
            for _ in range(10):  # concurrent transactions may conflict: 409, try again
                async with session.post(f"{t.base}/", json=tx, headers=t.headers) as r:
                    if r.status == 200:
                        return
                    if r.status != 409:
                        raise RuntimeError(f"{t.name}: series failed {r.status}: {await r.text()}")
            raise RuntimeError(f"{t.name}: the series of Patient/{pid} kept conflicting")

    await asyncio.gather(*(one(i) for i in range(patients)))


async def server_ops(
    session: aiohttp.ClientSession, t: Target
) -> dict[str, Callable[[int], Awaitable[None]]]:
    versions: dict[str, str] = {}

    async def call(method: str, url: str, ok: int, **kw: Any) -> Any:
        try:
            async with session.request(
                method, url, headers=kw.pop("headers", t.headers), **kw
            ) as r:
                body = await r.read()
                if r.status != ok:
                    t.errors += 1
                return r, body
        except aiohttp.ClientError:
            t.errors += 1
            return None, b""

    async def create(i: int) -> None:
        await call("POST", f"{t.base}/Patient", 201, json=child(random.Random(i), 10_000 + i))

    async def read(i: int) -> None:
        await call("GET", f"{t.base}/Patient/{t.patients[i % len(t.patients)]}", 200)

    async def identity(i: int) -> None:
        prefix, birth = t.idents[(i * 7) % len(t.idents)]
        await call("GET", f"{t.base}/Patient?family={prefix}&birthdate={birth}", 200)

    async def series(i: int) -> None:
        pid = t.patients[(i * 13) % len(t.patients)]
        url = f"{t.base}/Observation?subject=Patient/{pid}&code={LOINC}|39156-5&_sort=-date"
        await call("GET", url, 200)

    async def update(i: int) -> None:
        # one patient per client slot at a time: i % 16 never collide between workers
        pid = t.patients[i % len(t.patients)]
        version = versions.get(pid)
        if version is None:
            r, body = await call("GET", f"{t.base}/Patient/{pid}", 200)
            if r is None:
                return
            version = json.loads(body)["meta"]["versionId"]
        # new name, identifier and address; the birth date and sex it has are kept (changing
        # them is another operation here: the child's BMI series is graded again)
        resource = child(random.Random(i), i) | {"id": pid, **t.facts.get(pid, {})}
        headers = {**t.headers, "If-Match": f'W/"{version}"'}
        r, body = await call("PUT", f"{t.base}/Patient/{pid}", 200, json=resource, headers=headers)
        if r is not None and r.status == 200:
            versions[pid] = json.loads(body)["meta"]["versionId"]
        else:
            versions.pop(pid, None)

    async def tx50(i: int) -> None:
        pid = t.patients[i % len(t.patients)]
        await call("POST", f"{t.base}/", 200, json=transaction(f"Patient/{pid}", 50))

    return {
        "create": create,
        "read": read,
        "identity": identity,
        "series": series,
        "update": update,
        "tx50": tx50,
    }


async def raw_ops(uri: str, db_name: str, t: Target) -> dict[str, Callable[[int], Awaitable[None]]]:
    """The raw driver on the server's own stored documents (the same database, same run)."""
    from fhir_server.search.values import MAX_STRING, date_range

    settings = Settings()
    client = await open_client(uri, timeout_ms=10_000, durable=settings.durable_writes)
    db = client[db_name]
    scratch = client[f"{db_name}_raw"]
    await client.drop_database(f"{db_name}_raw")
    docs = await db.Patient.find({}, {"res": 1}).limit(len(t.patients)).to_list()

    async def create(i: int) -> None:
        await scratch.Patient.insert_one(
            {"_id": uuid.uuid4().hex, "res": child(random.Random(i), i)}
        )

    async def read(i: int) -> None:
        await db.Patient.find_one({"_id": t.patients[i % len(t.patients)]}, {"res": 1})

    async def identity(i: int) -> None:
        prefix, birth = t.idents[(i * 7) % len(t.idents)]
        low, high = date_range(birth)  # type: ignore[misc]
        filt = {
            "idx.birthdate.lo": {"$gte": low, "$lt": high},
            "idx.family.n": {"$gte": prefix, "$lt": prefix + MAX_STRING},
        }
        await db.Patient.find(filt, {"res": 1}).sort("_id").limit(21).to_list()

    async def series(i: int) -> None:
        pid = t.patients[(i * 13) % len(t.patients)]
        filt = {"idx.subject.v": f"Patient/{pid}", "idx.code.v": f"{LOINC}|39156-5"}
        await (
            db.Observation.find(filt, {"res": 1})
            .sort([("idx.date.e", -1), ("_id", 1)])
            .limit(21)
            .to_list()
        )

    async def update(i: int) -> None:
        doc = docs[i % len(docs)]
        await scratch.Patient.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def tx50(i: int) -> None:
        batch = [
            {"_id": uuid.uuid4().hex, "res": observation(f"Patient/{t.patients[0]}", j)}
            for j in range(50)
        ]
        async with client.start_session() as s, await s.start_transaction():
            await scratch.Observation.insert_many(batch, session=s)

    return {
        "create": create,
        "read": read,
        "identity": identity,
        "series": series,
        "update": update,
        "tx50": tx50,
    }


def median_result(rounds: list[Result], per: int) -> dict[str, Any]:
    def med(f: Callable[[Result], float]) -> float:
        return round(statistics.median(f(r) for r in rounds), 2)

    return {
        "throughput": med(lambda r: r.throughput * per),
        "p50_ms": med(lambda r: r.pct(50)),
        "p95_ms": med(lambda r: r.pct(95)),
        "p99_ms": med(lambda r: r.pct(99)),
        "rounds": [round(r.throughput * per, 1) for r in rounds],
    }


async def measure(
    name: str,
    ops: dict[str, Callable[[int], Awaitable[None]]],
    args: argparse.Namespace,
    t: Target | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for clients in args.clients:
        for op in OPS:
            n = args.tx if op == "tx50" else args.n
            rounds = []
            errors_before = t.errors if t else 0
            for _ in range(args.rounds):
                rounds.append(await run_load(f"{name} {op}", clients, n, ops[op]))
            row = median_result(rounds, 50 if op == "tx50" else 1)
            row["errors"] = (t.errors - errors_before) if t else 0
            row["rss_mb"] = rss_mb(t.pid) if t else None
            out[f"{op}@{clients}"] = row
            print(
                f"{name:<10} {op:<9} c={clients:<3} {row['throughput']:>9.1f}/s  p50 "
                f"{row['p50_ms']:.1f}  p95 {row['p95_ms']:.1f}  p99 {row['p99_ms']:.1f} ms  "
                f"errors {row['errors']}  rss {row['rss_mb'] or '-'} MB",
                flush=True,
            )
    return out


def table(results: dict[str, dict[str, Any]], clients: list[int]) -> str:
    names = list(results)
    head = "| operation | c | " + " | ".join(f"{n} /s (p50/p95/p99 ms, errors)" for n in names)
    lines = [head + " |", "|" + " --- |" * (2 + len(names))]
    for c in clients:
        for op in OPS:
            cells = []
            for n in names:
                row = results[n][f"{op}@{c}"]
                cells.append(
                    f"{row['throughput']:,.1f} ({row['p50_ms']:.1f}/{row['p95_ms']:.1f}/"
                    f"{row['p99_ms']:.1f}, {row['errors']})"
                )
            lines.append(f"| {op} | {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pairs(values: list[str]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in values)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    db_name = f"peer_{uuid.uuid4().hex[:8]}"
    auth, pids = _pairs(args.peer_auth), _pairs(args.peer_pid)
    results: dict[str, dict[str, Any]] = {}
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    with database() as uri, fhir_server(uri, db_name) as ours:
        timeout = aiohttp.ClientTimeout(total=600)
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            targets = [Target("this", ours, ours.headers["Authorization"], ours.pid)]
            for name, url in _pairs(args.peer).items():
                pid = int(pids[name]) if name in pids else None
                targets.append(Target(name, url, auth.get(name), pid))
            for t in targets:
                t0 = time.perf_counter()
                await setup(session, t, args.patients)
                print(f"{t.name}: data loaded in {time.perf_counter() - t0:.1f} s", flush=True)
            for t in targets:
                results[t.name] = await measure(t.name, await server_ops(session, t), args, t)
            results["raw driver"] = await measure(
                "raw", await raw_ops(uri, db_name, targets[0]), args, None
            )
    report = {"started": started, "args": vars(args), "results": results}
    text = table(results, args.clients)
    print("\n" + text)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--n", type=int, default=200, help="requests per operation and round")
    ap.add_argument("--tx", type=int, default=8, help="50-Observation transactions per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--peer", action="append", default=[], help="NAME=BASE_URL")
    ap.add_argument("--peer-auth", action="append", default=[], help="NAME=Authorization value")
    ap.add_argument("--peer-pid", action="append", default=[], help="NAME=PID (for its RSS)")
    report = asyncio.run(main_async(ap.parse_args()))
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"peer-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
