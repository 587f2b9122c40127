"""Identity search benchmark (issue 10): ``$identity-search`` and ``$match`` p50 / p95 at N records.

The server is built in this process exactly as ``fhir-server serve`` builds
it (``bench.common.in_process_server``). A seeded generator loads N MRTC
Patients (the five strict traits, identity status, birth place, 2% of them
twins) through the server's repository, in transactions of a thousand (the
load time is reported). Then each operation runs through its handler, at
concurrency 1, with a fresh request context per sample built as the HTTP
layer builds it, for a doctor habilitated on a few records only — so the
masking of the records it may not open is on the timed path — with the
searched traits drawn from stored records and typed the ways coordinators
type them (exact, lower-case without accents, ``%`` wildcard, day and month
swapped, birth place missing). Each sample checks that the record it was
drawn from is among the candidates.

Usage::

    python -m bench.identity_bench --patients 100000 --samples 200
    FHIR_MONGODB_URI=mongodb://... python -m bench.identity_bench ...   # an existing server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.common import database, in_process_server, run_load
from bench.search_bench import GIVEN, family_name, habilitate
from fhir_server.interactions.context import Context
from fhir_server.interactions.routing import resolve
from fhir_server.interactions.write import stamp
from fhir_server.operations import identity_search, match
from fhir_server.resources.identity import names
from fhir_server.security.tokens import mint_dev_token
from fhir_server.storage.repository import Change, ReadScope

IG = "https://mrtc.example.org/fhir"
BASE = "http://bench.example/fhir"
PLACES = ["13055", "13001", "83137", "06088", "84007", "04070", "05061", "75056", "99134"]


def patient(i: int, rng: random.Random) -> dict[str, Any]:
    family = family_name(rng).upper()
    birth = (datetime(2008, 1, 1) + timedelta(days=rng.randrange(6000))).date().isoformat()
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "id": f"p{i}",
        "meta": {"profile": [f"{IG}/StructureDefinition/mrtc-patient"]},
        "extension": [
            {
                "url": f"{IG}/StructureDefinition/mrtc-identity-reliability",
                "extension": [
                    {
                        "url": "identityStatus",
                        "valueCoding": {
                            "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status",
                            "code": "PROV",
                        },
                    }
                ],
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueAddress": {
                    "extension": [
                        {
                            "url": f"{IG}/StructureDefinition/mrtc-insee-code",
                            "valueCoding": {"code": rng.choice(PLACES)},
                        }
                    ]
                },
            },
        ],
        "name": [{"use": "official", "family": family, "given": [rng.choice(GIVEN)]}],
        "gender": rng.choice(["male", "female"]),
        "birthDate": birth,
    }
    return body


async def insert(repository: Any, batch: list[dict[str, Any]], lu: datetime) -> None:
    """A thousand new records in one transaction, one round trip per collection."""
    changes = [
        Change("Patient", r["id"], 1, None, lu, stamp(r, r["id"], 1, lu), "POST") for r in batch
    ]

    async def write(scope: ReadScope) -> None:
        await repository.write_many(changes, scope)

    await repository.transaction(write, ReadScope())


async def load(repository: Any, n: int, seed: int) -> tuple[list[dict[str, Any]], float]:
    rng = random.Random(seed)
    lu = datetime(2026, 1, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    batch: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for i in range(n):
        body = patient(i, rng)
        if i and rng.random() < 0.02:  # a twin of the previous record: same traits, rank 2
            twin = {**kept[-1], "id": f"p{i}", "multipleBirthInteger": 2}
            kept[-1]["multipleBirthInteger"] = 1
            body = twin
        kept.append(body)
        batch.append(body)
        if len(batch) >= 1000:
            await insert(repository, batch, lu)
            batch = []
    if batch:
        await insert(repository, batch, lu)
    return kept, time.perf_counter() - t0


def typed(record: dict[str, Any], k: int) -> dict[str, str]:
    """The traits of ``record`` typed in one of the ways coordinators type them."""
    name = record["name"][0]
    place = record["extension"][1]["valueAddress"]["extension"][0]["valueCoding"]["code"]
    traits = {
        "birth-family-name": name["family"],
        "first-birth-given-name": name["given"][0],
        "birth-date": record["birthDate"],
        "gender": record["gender"],
        "birth-place-code": place,
    }
    style = k % 5
    if style == 1:
        traits["birth-family-name"] = names.normalised(name["family"])
        traits["first-birth-given-name"] = names.normalised(name["given"][0])
    elif style == 2:
        traits["birth-family-name"] = name["family"][:3] + "%" + name["family"][-2:]
    elif style == 3:
        y, m, d = record["birthDate"].split("-")
        if int(d) <= 12:
            traits["birth-date"] = f"{y}-{d}-{m}"
    elif style == 4:
        del traits["birth-place-code"]
    return traits


async def bench(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    async with in_process_server(uri, args.database) as app:
        await app.state.storage.client.drop_database(args.database)
    async with in_process_server(uri, args.database) as app:
        services = app.state.services
        records, seconds = await load(services.repository, args.patients, args.seed)
        rng = random.Random(args.seed + 1)
        await habilitate(services.repository, [f"p{i}" for i in range(0, args.patients, 997)])
        doctor = "Bearer " + mint_dev_token(services.settings, fhir_user="Practitioner/bench-doc")

        async def context() -> Context:
            principal = await services.policy.authenticate(doctor, BASE)
            return await Context.for_principal(services, BASE, principal)

        picks = [records[rng.randrange(len(records))] for _ in range(args.samples)]

        async def identity(k: int) -> None:
            record = picks[k]
            req = resolve("GET", "Patient/$identity-search", urlencode(typed(record, k)))
            bundle = (await identity_search.handle(await context(), req)).body or {}
            found = [e["resource"]["id"] for e in bundle.get("entry", [])]
            assert record["id"] in found, (typed(record, k), found)

        async def matching(k: int) -> None:
            record = picks[k]
            req = resolve("POST", "Patient/$match")
            req.body = {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "resource", "resource": record},
                    {"name": "count", "valueInteger": 5},
                ],
            }
            bundle = (await match.handle(await context(), req)).body or {}
            found = [e["resource"]["id"] for e in bundle.get("entry", [])]
            assert record["id"] in found, (record["id"], found)

        results = [
            await run_load("$identity-search", 1, args.samples, identity),
            await run_load("$match", 1, args.samples, matching),
        ]
    print(f"\nIdentity benchmark: {args.patients} patients, loaded in {seconds:.1f} s")
    for r in results:
        print(r.row())
    return {
        "patients": args.patients,
        "load_s": round(seconds, 1),
        "results": [r.as_dict() for r in results],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--database", default="identity_bench")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    with database() as uri:
        out = asyncio.run(bench(args, uri))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
