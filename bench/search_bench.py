"""Search benchmark (issue 3, item 9): FHIR search vs the raw PyMongo query, same data, same run.

The server is built in this process exactly as ``fhir-server serve`` builds
it (``bench.common.in_process_server``: same settings, same database
client). A seeded generator loads N Patients and M Observations per patient
through the server's repository (versions, index values, history, in
transactions of a thousand; the load time is reported), then times, at
concurrency 1, each search through ``interactions.search.search`` (parsing,
the repository's query, paging, bundle) beside a hand-written PyMongo query
on the same collections, through the server's own database client, that
returns the same documents (checked):

  identity     Patient?family=<3-letter prefix>&birthdate=<day>
  obs-subject  Observation?subject=Patient/x&code=http://loinc.org|29463-7&_sort=-date
  chained      Observation?subject.family=<family>&code=...   (chain + outer query)
  revinclude   Patient?_id=x&_revinclude=Observation:subject
  paging       Observation?code=<common code>&_count=100, following next links through up
               to 10,000 results (one sample = one page)

Then the access policy's cost (issue 9, item 7): the identity and obs-subject
searches again, each sample with a fresh request context built as the HTTP
layer builds it (token verified, principal resolved, restriction computed —
the policy's short-lived cache warm, as for a user's second request), once
as a trusted system (no restriction) and once as a practitioner habilitated
through care circles on ``--habilitated`` records (the searched ones among
them), same run, same data. The goal is a p50 within 1.3x of the system's.

Usage::

    python -m bench.search_bench --patients 10000 --obs-per-patient 5 --samples 200
    FHIR_MONGODB_URI=mongodb://... python -m bench.search_bench ...   # an existing server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pymongo import DESCENDING

from bench.common import Result, in_process_server, run_load
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from fhir_server.interactions.write import stamp
from fhir_server.search.values import MAX_STRING, date_range, norm_string
from fhir_server.security.tokens import mint_dev_token
from fhir_server.storage.embedded import EmbeddedServer
from fhir_server.storage.repository import Change, ReadScope, Repository

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CODES = [
    ("29463-7", "kg"),
    ("8302-2", "cm"),
    ("39156-5", "kg/m2"),
    ("8867-4", "/min"),
    ("9279-1", "/min"),
]
SYLLABLES = [
    "ber",
    "dur",
    "mar",
    "tin",
    "lau",
    "ren",
    "pet",
    "bon",
    "cha",
    "lef",
    "mou",
    "gar",
    "roc",
    "vil",
    "san",
    "dup",
    "ont",
    "mor",
    "lam",
    "bru",
    "fav",
    "gil",
]
GIVEN = ["Léa", "Thérèse", "Raphaël", "Zoé", "Noé", "Chloé", "Hugo", "Inès", "Jules", "Anaïs"]
BASE = "http://bench.example/fhir"


def family_name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()


async def insert(repository: Repository, batch: list[dict[str, Any]], lu: datetime) -> None:
    """Write a batch of new resources (version 1, stamped ``lu``) in one transaction."""

    async def write(scope: ReadScope) -> None:
        for res in batch:
            stored = stamp(res, res["id"], 1, lu)
            change = Change(res["resourceType"], res["id"], 1, None, lu, stored, "POST")
            await repository.write(change, scope)

    await repository.transaction(write, ReadScope())


async def load(
    repository: Repository, patients: int, per_patient: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    lu = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, Any]] = []
    families: list[tuple[str, str]] = []
    for i in range(patients):
        pid = f"p{i}"
        family = family_name(rng)
        birth = (datetime(2008, 1, 1) + timedelta(days=rng.randrange(4500))).date().isoformat()
        families.append((family, birth))
        batch.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "gender": rng.choice(["male", "female"]),
                "name": [{"family": family, "given": [rng.choice(GIVEN)]}],
                "birthDate": birth,
                "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": f"{i:013d}"}],
            }
        )
        if len(batch) >= 1000:
            await insert(repository, batch, lu)
            batch = []
    if batch:
        await insert(repository, batch, lu)
    t_pat = time.perf_counter() - t0
    batch = []
    n_obs = 0
    for i in range(patients):
        for j in range(per_patient):
            # weight for everyone, then a mix: the common code is the paging target
            code, unit = CODES[0] if j == 0 else rng.choice(CODES)
            when = datetime(2024, 1, 1) + timedelta(
                days=rng.randrange(700), minutes=rng.randrange(1440)
            )
            batch.append(
                {
                    "resourceType": "Observation",
                    "id": f"o{i}-{j}",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": code}]},
                    "subject": {"reference": f"Patient/p{i}"},
                    "effectiveDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "valueQuantity": {
                        "value": round(rng.uniform(10, 90), 1),
                        "unit": unit,
                        "system": UCUM,
                        "code": unit,
                    },
                }
            )
            n_obs += 1
            if len(batch) >= 1000:
                await insert(repository, batch, lu)
                batch = []
    if batch:
        await insert(repository, batch, lu)
    total = time.perf_counter() - t0
    return {
        "patients": patients,
        "observations": n_obs,
        "patient_load_s": round(t_pat, 1),
        "total_load_s": round(total, 1),
        "families": families,
    }


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


async def bench(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    if not args.reuse:  # a fresh database, created (with its indexes) by the server itself
        async with in_process_server(uri, args.database) as app:
            await app.state.storage.client.drop_database(args.database)
    async with in_process_server(uri, args.database) as app:
        return await _bench(args, app.state.services, app.state.storage)


async def _bench(args: argparse.Namespace, services: Any, storage: Any) -> dict[str, Any]:
    db = storage.db
    if not args.reuse:
        info = await load(services.repository, args.patients, args.obs_per_patient, args.seed)
    else:
        info = {"patients": await db.Patient.estimated_document_count(), "families": []}
    families = info.pop("families")
    print(f"loaded: {json.dumps(info)}", flush=True)
    if not families:
        async for d in db.Patient.find({}, {"res": 1}).limit(2000):
            families.append((d["res"]["name"][0]["family"], d["res"]["birthDate"]))
    ctx = Context.for_request(services, BASE)
    n_pat = info["patients"]
    results: list[tuple[Result, Result]] = []
    weight = f"{LOINC}|29463-7"
    live = {"del": {"$ne": True}}

    async def pair(
        name: str,
        fhir: Callable[[int], Awaitable[list[str]]],
        raw: Callable[[int], Awaitable[list[str]]],
        samples: int,
    ) -> None:
        for i in range(min(samples, 5)):  # same documents, checked before timing
            a, b = await fhir(i), await raw(i)
            assert a == b, (name, a[:5], b[:5])
        r_fhir = await run_load(name, 1, samples, fhir)
        r_raw = await run_load(name + " (raw)", 1, samples, raw)
        results.append((r_fhir, r_raw))
        print(f"  {name}: p50 {r_fhir.pct(50):.2f} ms (raw {r_raw.pct(50):.2f} ms)", flush=True)

    # 1. identity search
    def ident(i: int) -> tuple[str, str]:
        family, birth = families[(i * 7919) % len(families)]
        return norm_string(family)[:3], birth

    async def f1(i: int) -> list[str]:
        prefix, birth = ident(i)
        return ids(await search(ctx, "Patient", [("family", prefix), ("birthdate", birth)]))

    async def r1(i: int) -> list[str]:
        prefix, birth = ident(i)
        low, high = date_range(birth)  # type: ignore[misc]
        docs = (
            await db.Patient.find(
                {  # the day first: it is the selective clause here
                    "idx.birthdate.lo": {"$gte": low, "$lt": high},
                    "idx.birthdate.hi": {"$lte": high},
                    "idx.family.n": {"$gte": prefix, "$lt": prefix + MAX_STRING},
                    **live,
                },
                {"res": 1},
            )
            .sort("_id")
            .limit(20)
            .to_list()
        )
        return [d["_id"] for d in docs]

    await pair("identity", f1, r1, args.samples)

    # 2. observations of one subject and code, latest first
    def subject(i: int) -> str:
        return f"Patient/p{(i * 104729) % n_pat}"

    async def f2(i: int) -> list[str]:
        return ids(
            await search(
                ctx, "Observation", [("subject", subject(i)), ("code", weight), ("_sort", "-date")]
            )
        )

    async def r2(i: int) -> list[str]:
        docs = (
            await db.Observation.find(
                {"idx.subject.v": subject(i), "idx.code.v": weight, **live}, {"res": 1}
            )
            .sort([("idx.date.e", DESCENDING), ("_id", 1)])
            .limit(20)
            .to_list()
        )
        return [d["_id"] for d in docs]

    await pair("obs-subject", f2, r2, args.samples)

    # 3. chained search
    async def f3(i: int) -> list[str]:
        family = families[(i * 31) % len(families)][0]
        return ids(await search(ctx, "Observation", [("subject.family", family), ("code", weight)]))

    async def r3(i: int) -> list[str]:
        family = norm_string(families[(i * 31) % len(families)][0])
        pats = await db.Patient.find(
            {"idx.family.n": {"$gte": family, "$lt": family + MAX_STRING}, **live}, {"_id": 1}
        ).to_list()
        refs = [f"Patient/{p['_id']}" for p in pats]
        docs = (
            await db.Observation.find(
                {"idx.subject.v": {"$in": refs}, "idx.code.v": weight, **live}, {"res": 1}
            )
            .sort("_id")
            .limit(20)
            .to_list()
        )
        return [d["_id"] for d in docs]

    await pair("chained", f3, r3, args.samples)

    # 4. a patient with its observations
    async def f4(i: int) -> list[str]:
        b = await search(
            ctx,
            "Patient",
            [("_id", subject(i).split("/")[1]), ("_revinclude", "Observation:subject")],
        )
        return ids(b) + sorted(ids(b, "include"))

    async def r4(i: int) -> list[str]:
        pid = subject(i).split("/")[1]
        pats = await db.Patient.find({"_id": pid, **live}, {"res": 1, "idx": 1}).to_list()
        obs = await db.Observation.find(
            {"idx.subject.v": {"$in": [f"Patient/{p['_id']}" for p in pats]}, **live}, {"res": 1}
        ).to_list()
        return [p["_id"] for p in pats] + sorted(o["_id"] for o in obs)

    await pair("revinclude", f4, r4, args.samples)

    # 5. paging through up to 10,000 results, 100 per page
    pages = max(1, min(100, (n_pat // 100)))
    fhir_state: dict[str, Any] = {}
    raw_state: dict[str, Any] = {}

    async def f5(i: int) -> list[str]:
        params = fhir_state.get("next") if i % pages else None
        if params is None:
            params = [("code", weight), ("_count", "100")]
        b = await search(ctx, "Observation", params)
        nxt = next((x["url"] for x in b["link"] if x["relation"] == "next"), None)
        fhir_state["next"] = parse_qsl(urlsplit(nxt).query) if nxt else None
        return ids(b)

    async def r5(i: int) -> list[str]:
        after = raw_state.get("after") if i % pages else None
        # equality + one range: the shape the (code, _id) index serves; deleted ones skipped here
        filt: dict[str, Any] = {"idx.code.v": weight}
        if after is not None:
            filt["_id"] = {"$gt": after}
        docs = db.Observation.find(filt, {"res": 1, "del": 1}).sort("_id").limit(105)
        page = [d for d in await docs.to_list() if not d.get("del")][:100]
        raw_state["after"] = page[-1]["_id"] if page else None
        return [d["_id"] for d in page]

    await pair("paging (per page)", f5, r5, args.paging_samples or pages)

    policy_results = await _policy(args, services, families, n_pat)

    out = {**info, "samples": args.samples, "results": [], "policy": policy_results}
    print(f"\nSearch benchmark: {json.dumps(info)}")
    for fhir, raw in results:
        ratio = fhir.pct(50) / raw.pct(50) if raw.pct(50) else float("nan")
        print(fhir.row())
        print(raw.row() + f"   fhir/raw p50 x{ratio:.2f}")
        out["results"].append(
            {**fhir.as_dict(), "raw": raw.as_dict(), "ratio_p50": round(ratio, 2)}
        )
    return out


CIRCLE = "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category"
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"


async def habilitate(repository: Repository, patients: list[str]) -> None:
    """A doctor (Practitioner/bench-doc) in the care circle of each of ``patients``."""
    lu = datetime(2026, 1, 2, tzinfo=UTC)
    docs: list[dict[str, Any]] = [
        {"resourceType": "Practitioner", "id": "bench-doc", "name": [{"family": "Bench"}]},
        {
            "resourceType": "PractitionerRole",
            "id": "bench-doc-role",
            "practitioner": {"reference": "Practitioner/bench-doc"},
            "code": [{"coding": [{"system": G15, "code": "10"}]}],
        },
    ]
    for pid in patients:
        docs.append(
            {
                "resourceType": "CareTeam",
                "id": f"circle-{pid}",
                "status": "active",
                "category": [{"coding": [{"system": CIRCLE, "code": "care-circle"}]}],
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [{"member": {"reference": "Practitioner/bench-doc"}}],
            }
        )
    for i in range(0, len(docs), 1000):
        await insert(repository, docs[i : i + 1000], lu)


async def _policy(
    args: argparse.Namespace, services: Any, families: list[tuple[str, str]], n_pat: int
) -> dict[str, Any]:
    """The identity and obs-subject searches as a habilitated practitioner vs a system."""
    rng = random.Random(args.seed + 1)
    wanted = {f"p{(i * 7919) % len(families)}" for i in range(args.samples)}
    wanted |= {f"p{(i * 104729) % n_pat}" for i in range(args.samples)}
    others = [f"p{i}" for i in rng.sample(range(n_pat), min(n_pat, args.habilitated))]
    patients = sorted(wanted | set(others[: max(0, args.habilitated - len(wanted))]))
    if not args.reuse:
        await habilitate(services.repository, patients)
    settings = services.settings
    policy = services.policy
    system = "Bearer " + mint_dev_token(settings, scope="system/*.cruds")
    doctor = "Bearer " + mint_dev_token(settings, fhir_user="Practitioner/bench-doc")
    weight = f"{LOINC}|29463-7"

    async def context(header: str) -> Context:
        principal = await policy.authenticate(header, BASE)
        return await Context.for_principal(services, BASE, principal)

    def ident(i: int) -> list[tuple[str, str]]:
        family, birth = families[(i * 7919) % len(families)]
        return [("family", norm_string(family)[:3]), ("birthdate", birth)]

    def obs(i: int) -> list[tuple[str, str]]:
        subject = f"Patient/p{(i * 104729) % n_pat}"
        return [("subject", subject), ("code", weight), ("_sort", "-date")]

    out: dict[str, Any] = {"habilitated_patients": len(patients), "results": []}
    print(f"\nAccess policy: a doctor habilitated on {len(patients)} records vs a system")
    for name, type_, query in (("identity", "Patient", ident), ("obs-subject", "Observation", obs)):

        def run(header: str, type_: str = type_, query: Any = query) -> Any:
            async def op(k: int) -> list[str]:
                return ids(await search(await context(header), type_, query(k)))

            return op

        as_system, as_doctor = run(system), run(doctor)
        for sample in range(min(args.samples, 20)):  # the doctor sees the habilitated part
            sys_ids, doc_ids = await as_system(sample), await as_doctor(sample)
            assert set(doc_ids) <= set(sys_ids), (name, doc_ids, sys_ids)
            if name == "obs-subject":
                assert doc_ids == sys_ids, (name, doc_ids, sys_ids)
        r_sys = await run_load(f"{name} as system", 1, args.samples, as_system)
        r_doc = await run_load(f"{name} as doctor", 1, args.samples, as_doctor)
        ratio = r_doc.pct(50) / r_sys.pct(50) if r_sys.pct(50) else float("nan")
        print(r_sys.row())
        print(r_doc.row() + f"   doctor/system p50 x{ratio:.2f} (goal <= 1.3)")
        out["results"].append(
            {**r_doc.as_dict(), "system": r_sys.as_dict(), "ratio_p50": round(ratio, 2)}
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--obs-per-patient", type=int, default=5)
    ap.add_argument("--samples", type=int, default=200, help="timed runs per search")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--paging-samples",
        type=int,
        default=0,
        help="pages timed (default: one sweep of up to 10,000 results)",
    )
    ap.add_argument(
        "--habilitated", type=int, default=500, help="records the benchmark doctor may open"
    )
    ap.add_argument("--database", default="search_bench")
    ap.add_argument("--reuse", action="store_true", help="skip loading; reuse the database")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    with ExitStack() as stack:
        uri = os.environ.get("FHIR_MONGODB_URI")
        if not uri:
            data = stack.enter_context(tempfile.TemporaryDirectory(prefix="search-bench-"))
            server = stack.enter_context(EmbeddedServer(data, cache_size="2G"))
            uri = server.uri
        out = asyncio.run(bench(args, uri))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:  # noqa: PTH123
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
