"""Dashboard benchmark (issue 12, item 7): CarePlan/$dashboard pages as a coordinator, policy on.

The server is built in this process exactly as ``fhir-server serve`` builds
it (``bench.common.in_process_server``) on the embedded database unless
``FHIR_MONGODB_URI`` is set. A seeded generator loads N MRTC pathways in the
IG's shapes — per pathway a Patient, its care circle (the coordinator, the
MSP, a doctor, a dietitian, a psychologist, an APA educator), an
``mrtc-careplan`` CarePlan and ten ``mrtc-task`` Tasks (sections, steps,
owners, scheduled dates, business statuses as the pathway has progressed) —
through the server's repository (versions, index values, access keys, in
transactions of a thousand), then derives the pathways' summaries as a server
start does (decision 0042: loaded around the write pipeline, they have none).
Then each scenario requests ``--samples`` pages of 20 over the ASGI
transport, as HTTP clients do (token verified, principal resolved,
restriction computed, the audit event written), with a
coordinator's token, and prints p50 / p95 / p99:

  default       no criterion (active and on-hold pathways), first page
  next-pages    the default query, following ``next`` links page after page
  structure     status=active & organization=<one of five MSPs>
  owner         owner=<a dietitian> (an open step assigned to them)
  next-before   next-step-before=<today + 14 days>
  combined      status=active & owner=<a doctor> & next-step-before=<today + 30 days>

The goal (issue 12): p95 under 100 ms for a page of 20 among 2,000 active
pathways (20,000 Tasks).

``--writes N`` measures what keeping the summaries costs the writes instead
(decision 0042): N children (care circle with roles, active consent) created
through the API, then, as the coordinator, N ``$apply`` and N moves of a
step (a JSON Patch of its date, which moves the steps scheduled from it);
with ``--no-summaries`` the summary hook does nothing, for comparison in the
same sitting.

Usage::

    python -m bench.dashboard_bench --pathways 2000 --samples 200
    python -m bench.dashboard_bench --writes 30 [--no-summaries]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from bench.common import Result, in_process_server, run_load
from bench.search_bench import insert
from fhir_server.operations import pathway_context
from fhir_server.security.tokens import mint_dev_token
from fhir_server.storage.embedded import EmbeddedServer
from fhir_server.storage.repository import Repository

MRTC = "https://mrtc.example.org/fhir/PlanDefinition/mrtc-pathway|0.1.0"
IG = "https://mrtc.example.org/fhir"
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
R95 = "https://mos.esante.gouv.fr/NOS/TRE_R95-UsagerTitre/FHIR/TRE-R95-UsagerTitre"
R85 = "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"
STRUCTURES = 5
# (section, step, owner kind, days after the start) — the pathway's ten steps
STEPS = [
    ("initial-msp", "biometric-form", "doc", 0),
    ("initial-msp", "transmit-report", "doc", 0),
    ("initial-dietitian", "biometric-form", "diet", 14),
    ("initial-psychologist", "psychologist-assessment", "psy", 14),
    ("initial-psychologist", "transmit-report", "psy", 14),
    ("apa-assessment", "apa-assessment", "apa", 21),
    ("dietitian-followup", "dietitian-followup", "diet", 45),
    ("dietitian-followup", "biometric-form", "diet", 45),
    ("final-dietitian", "biometric-form", "diet", 660),
    ("mrtc-end", "transmit-report", "doc", 720),
]
STATUS = {
    "to-do": "ready",
    "in-progress": "in-progress",
    "done": "completed",
    "validated": "completed",
    "not-honoured": "failed",
    "unscheduled": "on-hold",
}


def people() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def person(id_: str, org: str, *codes: tuple[str, str]) -> None:
        out.append({"resourceType": "Practitioner", "id": id_, "name": [{"family": id_}]})
        out.append(
            {
                "resourceType": "PractitionerRole",
                "id": f"{id_}-role",
                "active": True,
                "practitioner": {"reference": f"Practitioner/{id_}"},
                "organization": {"reference": f"Organization/{org}"},
                "code": [{"coding": [{"system": s, "code": c}]} for s, c in codes],
            }
        )

    for k in range(STRUCTURES):
        out.append({"resourceType": "Organization", "id": f"msp-{k}", "name": f"MSP {k}"})
    person("coord", "msp-0", (R85, "330"), (f"{IG}/CodeSystem/mrtc-platform-role", "coordinator"))
    for k in range(STRUCTURES):
        person(f"doc-{k}", f"msp-{k}", (G15, "10"))
        person(f"diet-{k}", f"msp-{k}", (G15, "95"))
    for k in range(3):
        person(f"psy-{k}", "msp-0", (R95, "93"))
    for k in range(2):
        person(f"apa-{k}", "msp-0", (R85, "361"))
    return out


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def care_circle(pid: str, participants: list[dict[str, Any]], org: str) -> dict[str, Any]:
    """The child's care circle (« cercle de soins »), managed by the structure ``org``."""
    return {
        "resourceType": "CareTeam",
        "id": f"circle-{pid}",
        "status": "active",
        "category": [
            {
                "coding": [
                    {"system": f"{IG}/CodeSystem/mrtc-coordination-category", "code": "care-circle"}
                ]
            }
        ],
        "subject": {"reference": f"Patient/{pid}"},
        "participant": participants,
        "managingOrganization": [{"reference": f"Organization/{org}"}],
    }


def pathway(i: int, rng: random.Random, today: date) -> list[dict[str, Any]]:
    """One child, its care circle, its pathway and its ten steps."""
    k = i % STRUCTURES
    owners = {
        "doc": f"Practitioner/doc-{k}",
        "diet": f"Practitioner/diet-{rng.randrange(STRUCTURES)}",
        "psy": f"Practitioner/psy-{rng.randrange(3)}",
        "apa": f"Practitioner/apa-{rng.randrange(2)}",
    }
    # server-assigned ids are UUIDs (what $apply and POST create): spread over the id space
    pid, plan = _uuid(rng), _uuid(rng)
    start = today - timedelta(days=rng.randrange(700))
    roll = rng.random()
    status = "active" if roll < 0.9 else "on-hold" if roll < 0.97 else "completed"
    circle = [{"member": {"reference": f"Organization/msp-{k}"}}]
    circle += [{"member": {"reference": r}} for r in ("Practitioner/coord", *owners.values())]
    docs: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": f"Enfant{i}", "given": ["Léa"]}],
            "gender": rng.choice(["male", "female"]),
            "birthDate": (start - timedelta(days=365 * 8)).isoformat(),
        },
        care_circle(pid, circle, f"msp-{k}"),
        {
            "resourceType": "CarePlan",
            "id": plan,
            "meta": {"profile": [f"{IG}/StructureDefinition/mrtc-careplan"]},
            "instantiatesCanonical": [MRTC],
            "status": status,
            "intent": "plan",
            "category": [
                {
                    "coding": [
                        {
                            "system": f"{IG}/CodeSystem/mrtc-coordination-category",
                            "code": "mrtc-pathway",
                        }
                    ]
                }
            ],
            "subject": {"reference": f"Patient/{pid}"},
            "period": {"start": start.isoformat()},
            "author": {"reference": f"Organization/msp-{k}"},
            "careTeam": [{"reference": f"CareTeam/circle-{pid}"}],
        },
    ]
    for section, step, who, offset in STEPS:
        when = start + timedelta(days=offset + rng.randrange(-3, 4))
        if when < today - timedelta(days=7):
            business = rng.choices(["done", "validated", "not-honoured", "to-do"], [6, 3, 1, 1])[0]
        elif when < today:
            business = rng.choice(["to-do", "in-progress", "done"])
        else:
            business = rng.choices(["to-do", "unscheduled"], [19, 1])[0]
        if status == "completed":
            business = "done"
        task: dict[str, Any] = {
            "resourceType": "Task",
            "id": _uuid(rng),
            "meta": {"profile": [f"{IG}/StructureDefinition/mrtc-task"]},
            "extension": [
                {
                    "url": f"{IG}/StructureDefinition/mrtc-task-section",
                    "valueCoding": {
                        "system": f"{IG}/CodeSystem/mrtc-pathway-section",
                        "code": section,
                    },
                }
            ],
            "basedOn": [{"reference": f"CarePlan/{plan}"}],
            "status": STATUS[business],
            "businessStatus": {
                "coding": [
                    {"system": f"{IG}/CodeSystem/mrtc-task-business-status", "code": business}
                ]
            },
            "intent": "order",
            "code": {"coding": [{"system": f"{IG}/CodeSystem/mrtc-pathway-step", "code": step}]},
            "for": {"reference": f"Patient/{pid}"},
            "owner": {"reference": owners[who]},
        }
        if business != "unscheduled":
            task["restriction"] = {"period": {"start": when.isoformat()}}
        docs.append(task)
    return docs


async def load(repository: Repository, n: int, seed: int, today: date) -> dict[str, Any]:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    lu = datetime(2026, 1, 1, tzinfo=UTC)
    await insert(repository, people(), lu)
    batch: list[dict[str, Any]] = []
    tasks = 0
    for i in range(n):
        docs = pathway(i, rng, today)
        tasks += sum(1 for d in docs if d["resourceType"] == "Task")
        batch += docs
        if len(batch) >= 1000:
            await insert(repository, batch, lu)
            batch = []
    if batch:
        await insert(repository, batch, lu)
    return {"pathways": n, "tasks": tasks, "load_s": round(time.perf_counter() - t0, 1)}


CIRCLE_ROLE = f"{IG}/CodeSystem/mrtc-care-circle-role"
CONSENT = f"{IG}/StructureDefinition/mrtc-consent"


def attachable(i: int) -> list[dict[str, Any]]:
    """A child ready for ``$apply``: its care circle with roles and an active consent."""
    pid = f"w{i}"
    roles = [
        ("Organization/msp-0", "coordinating-structure"),
        ("Practitioner/coord", "coordinator"),
        ("Practitioner/doc-0", "mrtc-physician"),
        ("Practitioner/diet-0", "dietitian"),
        ("Practitioner/psy-0", "psychologist"),
        ("Practitioner/apa-0", "apa-educator"),
    ]
    return [
        {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": f"Enfant{i}", "given": ["Léo"]}],
            "gender": "male",
            "birthDate": "2016-05-04",
        },
        care_circle(
            pid,
            [
                {
                    "role": [{"coding": [{"system": CIRCLE_ROLE, "code": c}]}],
                    "member": {"reference": r},
                }
                for r, c in roles
            ],
            "msp-0",
        ),
        {
            "resourceType": "Consent",
            "id": f"consent-{pid}",
            "meta": {"profile": [CONSENT]},
            "extension": [
                {
                    "url": f"{IG}/StructureDefinition/mrtc-consent-collector",
                    "extension": [
                        {
                            "url": "role",
                            "valueCoding": {
                                "system": f"{IG}/CodeSystem/mrtc-consent-collector",
                                "code": "parental-authority",
                            },
                        }
                    ],
                }
            ],
            "status": "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": f"Patient/{pid}"},
            "dateTime": "2026-03-02T09:30:00+01:00",
            "organization": [{"reference": "Organization/msp-0"}],
            "policyRule": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
                ]
            },
            "provision": {"type": "permit", "period": {"start": "2026-03-02"}},
        },
    ]


async def writes(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    """``--writes``: what $apply and a step move cost (see module docstring)."""
    if args.no_summaries:  # for comparison only: the hook that keeps them does nothing
        from fhir_server.pathway import hooks

        async def nothing(self: Any, event: Any, scope: Any) -> None:
            return None

        hooks.SummaryHooks.effects = nothing  # type: ignore[method-assign]
    async with in_process_server(uri, args.database) as app:
        await app.state.storage.client.drop_database(args.database)
    async with in_process_server(uri, args.database) as app:
        settings = app.state.services.settings

        def client(user: str | None) -> httpx.AsyncClient:
            token = mint_dev_token(settings, fhir_user=user)
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {token}"},
            )

        async with client(None) as system, client("Practitioner/coord") as coord:
            setup = [*people(), *[r for i in range(args.writes) for r in attachable(i)]]
            r = await system.post(
                "/",
                json={
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [
                        {
                            "resource": x,
                            "request": {"method": "PUT", "url": f"{x['resourceType']}/{x['id']}"},
                        }
                        for x in setup
                    ],
                },
            )
            assert r.status_code == 200, r.text
            firsts: list[str] = []  # each pathway's first step

            async def apply(i: int) -> None:
                body = {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "subject", "valueString": f"Patient/w{i}"},
                        {"name": "startDate", "valueDate": "2026-04-01"},
                    ],
                }
                r = await coord.post("/PlanDefinition/mrtc-pathway/$apply", json=body)
                assert r.status_code == 201, r.text
                activities = r.json().get("activity", [])
                firsts.append(activities[0]["reference"]["reference"])

            async def move(i: int) -> None:
                patch = [
                    {"op": "replace", "path": "/restriction/period/start", "value": "2026-04-08"},
                    {"op": "replace", "path": "/restriction/period/end", "value": "2026-04-08"},
                ]
                r = await coord.patch(
                    f"/{firsts[i]}",
                    json=patch,
                    headers={"Content-Type": "application/json-patch+json"},
                )
                assert r.status_code == 200, r.text

            label = "off" if args.no_summaries else "on"
            print(f"\nwrites as the coordinator, summaries {label} ({args.writes} each)")
            out = []
            for name, op in (("$apply", apply), ("step move", move)):
                result = await run_load(name, 1, args.writes, op)
                out.append(result.as_dict())
                print(result.row(), flush=True)
            return {"summaries": label, "results": out}


async def bench(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    if not args.reuse:  # a fresh database, created (with its indexes) by the server itself
        async with in_process_server(uri, args.database) as app:
            await app.state.storage.client.drop_database(args.database)
    async with in_process_server(uri, args.database) as app:
        services = app.state.services
        today = datetime.now(ZoneInfo(services.settings.time_zone)).date()
        if args.reuse:
            info = {"pathways": await app.state.storage.db.CarePlan.estimated_document_count()}
        else:
            info = await load(services.repository, args.pathways, args.seed, today)
        # loaded around the write pipeline: derive the summaries as a server start does
        t0 = time.perf_counter()
        engine = pathway_context.build(
            services.ig, services.repository, services.search_params, services.settings
        )
        info["summarised"] = await engine.summaries.rebuild()
        info["summaries_s"] = round(time.perf_counter() - t0, 1)
        print(f"loaded: {json.dumps(info)}", flush=True)
        token = mint_dev_token(services.settings, fhir_user="Practitioner/coord")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            return {**info, "results": await _scenarios(args, http, today)}


async def _scenarios(
    args: argparse.Namespace, http: httpx.AsyncClient, today: date
) -> list[dict[str, Any]]:
    soon, month = (today + timedelta(days=14)).isoformat(), (today + timedelta(days=30)).isoformat()

    async def page(query: str) -> dict[str, Any]:
        r = await http.get(f"/CarePlan/$dashboard{query}")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    scenarios: dict[str, Any] = {
        "default": lambda i: "",
        "structure": lambda i: f"?status=active&organization=Organization/msp-{i % STRUCTURES}",
        "owner": lambda i: f"?owner=Practitioner/diet-{i % STRUCTURES}",
        "next-before": lambda i: f"?next-step-before={soon}",
        "combined": lambda i: (
            f"?status=active&owner=Practitioner/doc-{i % STRUCTURES}&next-step-before={month}"
        ),
    }
    out: list[dict[str, Any]] = []
    print(f"\n$dashboard, pages of 20, as the coordinator ({args.samples} samples each)")
    for name, query in scenarios.items():
        first = await page(query(0))
        n_rows = sum(1 for p in first["parameter"] if p["name"] == "row")

        async def op(i: int, query: Any = query) -> None:
            await page(query(i))

        result = await run_load(name, 1, args.samples, op)
        out.append({**result.as_dict(), "rows_first_page": n_rows})
        print(result.row() + f"   rows {n_rows}", flush=True)
    state: dict[str, str | None] = {"next": None}

    async def follow(i: int) -> None:
        nxt = state["next"]
        query = "" if nxt is None else "?" + urlsplit(nxt).query
        body = await page(query)
        state["next"] = next(
            (p["valueUri"] for p in body["parameter"] if p["name"] == "next"), None
        )

    pages: Result = await run_load("next-pages", 1, args.samples, follow)
    out.append(pages.as_dict())
    print(pages.row(), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pathways", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=200, help="timed pages per scenario")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--database", default="dashboard_bench")
    ap.add_argument("--reuse", action="store_true", help="skip loading; reuse the database")
    ap.add_argument("--data", help="embedded database directory to keep (default: temporary)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--writes", type=int, default=0, help="measure N $apply and step moves")
    ap.add_argument("--no-summaries", action="store_true", help="with --writes: hook off")
    args = ap.parse_args()
    with ExitStack() as stack:
        uri = os.environ.get("FHIR_MONGODB_URI")
        if not uri:
            data = args.data or stack.enter_context(
                tempfile.TemporaryDirectory(prefix="dashboard-bench-")
            )
            server = stack.enter_context(EmbeddedServer(data, cache_size="2G"))
            uri = server.uri
        out = asyncio.run(writes(args, uri) if args.writes else bench(args, uri))
    print(json.dumps({k: v for k, v in out.items() if k != "results"}))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:  # noqa: PTH123
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
