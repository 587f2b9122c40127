"""The booklet's MRTC scenario end to end, over real HTTP, one token per person (issue 12, item 9).

A real uvicorn on loopback; each person of the booklet acts with a token of
their own, minted as ``fhir-server token`` mints it: the coordinating
structure's account, the coordinator, the MSP doctor, the dietitian, the
psychologist, the APA educator, the child's doctor and the super-user. The
regional directory (people, roles, structures) is loaded first by a trusted
system. Then, in the booklet's order: search the child, create the record,
build the care circle, collect the consent, attach the pathway, the initial
MSP biometric form and report, trigger the assessments, follow-ups, final
assessments, the final report, closure; with the forbidden moves along the
way (a dietitian reading a psychological report, a doctor closing the
pathway, a coordinator reopening it, a professional re-categorising a
document).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, bearer, token
from tests.resources.identity._patients import mrtc_patient
from tests.security.world import G15, PLATFORM, R85, R95, practitioner, role

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROLE = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
CATEGORY = "https://mrtc.example.org/fhir/CodeSystem/mrtc-document-category"
SECTION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-task-section"
PEOPLE = {
    "structure": "PractitionerRole/e2e-msp-account",
    "coordinator": "Practitioner/e2e-coord",
    "doctor": "Practitioner/e2e-doc",
    "dietitian": "Practitioner/e2e-diet",
    "psychologist": "Practitioner/e2e-psy",
    "apa": "PractitionerRole/e2e-apa-msp",
    "gp": "Practitioner/e2e-gp",
    "super": "Practitioner/e2e-super",
}


def directory() -> dict[str, Any]:
    """What the regional directory holds before the booklet starts."""
    resources = [
        {
            "resourceType": "Organization",
            "id": "e2e-msp",
            "name": "MSP du Vieux-Port",
            "address": [{"city": "Marseille", "postalCode": "13002"}],
        },
        {"resourceType": "Organization", "id": "e2e-cabinet", "name": "Cabinet du Panier"},
        practitioner("e2e-coord", "Fabre", "Julien"),
        practitioner("e2e-doc", "Bernard", "Claire"),
        practitioner("e2e-diet", "Roux", "Inès"),
        practitioner("e2e-psy", "Nguyen", "Thomas"),
        practitioner("e2e-apa", "Petit", "Hugo"),
        practitioner("e2e-gp", "Morel", "Sophie"),
        practitioner("e2e-super", "Leroy", "Anaïs"),
        role("e2e-coord-msp", "e2e-coord", "e2e-msp", (R85, "330"), (PLATFORM, "coordinator")),
        role("e2e-doc-msp", "e2e-doc", "e2e-msp", (G15, "10")),
        role("e2e-diet-msp", "e2e-diet", "e2e-msp", (G15, "95")),
        role("e2e-psy-msp", "e2e-psy", "e2e-msp", (R95, "93")),
        role("e2e-apa-msp", "e2e-apa", "e2e-msp", (R85, "361")),
        role("e2e-gp-cab", "e2e-gp", "e2e-cabinet", (G15, "10")),
        role("e2e-super-msp", "e2e-super", "e2e-msp", (G15, "10"), (PLATFORM, "super-user")),
        role("e2e-msp-account", None, "e2e-msp"),
    ]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


class Scenario:
    def __init__(self, live: LiveServer) -> None:
        self.live = live

    @asynccontextmanager
    async def person(self, who: str) -> AsyncIterator[httpx.AsyncClient]:
        value = token(self.live.settings, fhir_user=PEOPLE[who])
        async with httpx.AsyncClient(base_url=self.live, headers=bearer(value), timeout=60) as c:
            yield c


def params(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(items)}


def report(category: str, title: str, day: str) -> dict[str, Any]:
    return {
        "name": "report",
        "resource": {
            "resourceType": "DocumentReference",
            "meta": {
                "profile": [
                    "https://mrtc.example.org/fhir/StructureDefinition/mrtc-documentreference"
                ]
            },
            "status": "current",
            "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
            "subject": {"reference": "Patient/unknown"},
            "content": [
                {
                    "attachment": {
                        "contentType": "application/pdf",
                        "data": base64.b64encode(f"%PDF {title}".encode()).decode(),
                        "title": title,
                    }
                }
            ],
            "context": {"period": {"start": day}},
        },
    }


def trigger(action: str) -> dict[str, Any]:
    return {"name": "trigger", "part": [{"name": "action", "valueString": action}]}


def named(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in result["parameter"] if p["name"] == name]


def candidates(result: dict[str, Any]) -> set[str]:
    return {
        next(p["valueString"] for p in c["part"] if p["name"] == "action")
        for c in named(result, "candidate")
    }


def labels(result: dict[str, Any]) -> list[str]:
    return [
        next(p["valueString"] for p in c["part"] if p["name"] == "label")
        for c in named(result, "progress")
    ]


def document_of(result: dict[str, Any]) -> str:
    step = named(result, "step")[0]["resource"]
    return str(
        next(
            o["valueReference"]["reference"]
            for o in step["output"]
            if o["type"]["coding"][0]["code"] == "document"
        )
    )


async def dashboard_row(
    http: httpx.AsyncClient, plan_id: str, **criteria: str
) -> dict[str, Any] | None:
    """The pathway's row of ``CarePlan/$dashboard`` (parts by name), or None."""
    r = await http.get("/CarePlan/$dashboard", params={**criteria, "_count": "50"})
    assert r.status_code == 200, r.text
    for row in r.json()["parameter"]:
        if row["name"] != "row":
            continue
        out: dict[str, Any] = {"section": []}
        for part in row["part"]:
            if part["name"] == "section":
                out["section"].append(
                    {
                        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
                        for p in part["part"]
                    }
                )
            else:
                out[part["name"]] = next(v for k, v in part.items() if k.startswith("value"))
        if out["carePlan"]["reference"] == f"CarePlan/{plan_id}":
            return out
    return None


def progress(row: dict[str, Any], label: str) -> tuple[int, int]:
    """(done, planned) of the first section whose text names ``label`` ("... MSP 2/2")."""
    text = next(s["text"] for s in row["section"] if label.lower() in s["text"].lower())
    done, planned = text.rsplit(" ", 1)[1].split("/")
    return int(done), int(planned)


async def steps(
    http: httpx.AsyncClient, plan_id: str
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    r = await http.get("/Task", params={"based-on": f"CarePlan/{plan_id}", "_count": "200"})
    assert r.status_code == 200, r.text
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in r.json().get("entry", []):
        t = e["resource"]
        section = next(x for x in t["extension"] if x["url"] == SECTION)["valueCoding"]["code"]
        out.setdefault((section, t["code"]["coding"][0]["code"]), []).append(t)
    return out


async def complete(
    http: httpx.AsyncClient, task: dict[str, Any], *items: dict[str, Any]
) -> dict[str, Any]:
    r = await http.post(f"/Task/{task['id']}/$complete-step", json=params(*items))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def form(
    http: httpx.AsyncClient,
    task: dict[str, Any],
    child: str,
    weight: float,
    height: float,
    day: str,
) -> dict[str, Any]:
    qr = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "https://mrtc.example.org/fhir/Questionnaire/mrtc-suivi-biometrique",
        "status": "completed",
        "subject": {"reference": f"Patient/{child}"},
        "authored": f"{day}T10:00:00+02:00",
        "item": [
            {"linkId": "measurement-date", "answer": [{"valueDateTime": f"{day}T10:00:00+02:00"}]},
            {"linkId": "weight", "answer": [{"valueDecimal": weight}]},
            {"linkId": "height", "answer": [{"valueDecimal": height}]},
        ],
    }
    r = await http.post("/QuestionnaireResponse", json=qr)
    assert r.status_code == 201, r.text
    return await complete(
        http,
        task,
        {
            "name": "questionnaireResponse",
            "valueReference": {"reference": f"QuestionnaireResponse/{r.json()['id']}"},
        },
        {"name": "actualDate", "valueDateTime": day},
    )


async def test_the_booklet_scenario(live_server: LiveServer) -> None:
    world = Scenario(live_server)
    async with httpx.AsyncClient(
        base_url=live_server, headers=live_server.headers, timeout=60
    ) as system:
        r = await system.post("/", json=directory())
        assert r.status_code == 200, r.text

    # « Rechercher si le patient est existant », then create the record (structure account)
    async with world.person("structure") as msp:
        traits = {
            "birth-family-name": "martin",  # typed without capitals: compared normalised
            "first-birth-given-name": "ines",
            "birth-date": "12/06/2017",
            "gender": "female",
            "birth-place-code": "13055",
        }
        found = await msp.get("/Patient/$identity-search", params=traits)
        assert found.status_code == 200 and found.json().get("entry", []) == [], found.text
        identity = mrtc_patient("MARTIN", "Inès", "2017-06-12", "female", "13055")
        r = await msp.post("/Patient", json=identity)
        assert r.status_code == 201, r.text
        child = r.json()["id"]
        # the same child again: a certain match, refused with a reference to the record
        again = await msp.post("/Patient", json=identity)
        assert again.status_code == 409 and f"Patient/{child}" in again.text, again.text
        found = await msp.get("/Patient/$identity-search", params=traits)
        grades = [e["search"]["extension"][0]["valueCode"] for e in found.json()["entry"]]
        assert [e["resource"]["id"] for e in found.json()["entry"]][:1] == [child]
        assert grades[0] == "certain"
        # the record's care circle exists, its creator habilitated; add the professionals
        circle = (await msp.get("/CareTeam", params={"subject": f"Patient/{child}"})).json()
        team = circle["entry"][0]["resource"]
        for ref, code in [
            ("Practitioner/e2e-coord", "coordinator"),
            ("Practitioner/e2e-doc", "mrtc-physician"),
            ("Practitioner/e2e-gp", "primary-care-physician"),
            ("Practitioner/e2e-diet", "dietitian"),
            ("Practitioner/e2e-psy", "psychologist"),
            ("PractitionerRole/e2e-apa-msp", "apa-educator"),
            ("Practitioner/e2e-super", "other-professional"),
        ]:
            team["participant"].append(
                {
                    "role": [{"coding": [{"system": ROLE, "code": code}]}],
                    "member": {"reference": ref},
                }
            )
        team.pop("meta")
        r = await msp.put(f"/CareTeam/{team['id']}", json=team)
        assert r.status_code == 200, r.text
        # consent collected from the parental authority
        r = await msp.post(
            "/Consent",
            json={
                "resourceType": "Consent",
                "meta": {
                    "profile": ["https://mrtc.example.org/fhir/StructureDefinition/mrtc-consent"]
                },
                "extension": [
                    {
                        "url": "https://mrtc.example.org/fhir/StructureDefinition/mrtc-consent-collector",
                        "extension": [
                            {
                                "url": "role",
                                "valueCoding": {
                                    "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-consent-collector",
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
                "patient": {"reference": f"Patient/{child}"},
                "dateTime": "2024-10-01T09:30:00+02:00",
                "policyRule": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                            "code": "OPTIN",
                        }
                    ]
                },
                "provision": {"type": "permit"},
            },
        )
        assert r.status_code == 201, r.text
        # « Rattachement du parcours MRTC »
        r = await msp.post(
            "/PlanDefinition/mrtc-pathway/$apply",
            json=params(
                {"name": "subject", "valueString": f"Patient/{child}"},
                {"name": "startDate", "valueDate": "2024-10-01"},
            ),
        )
        assert r.status_code == 201, r.text
        plan_id = r.json()["id"]

    # « Le tableau de bord des parcours »: the coordinator follows the pathway
    async with world.person("coordinator") as coord:
        row = await dashboard_row(coord, plan_id)
        assert row["status"] == "active" and row["start"] == "2024-10-01"
        assert progress(row, "MSP") == (0, 2)
        assert row["nextStepCode"]["code"] == "biometric-form"
        assert row["nextStepOwner"] == {"reference": PEOPLE["doctor"]}
        assert row["overdue"] is True  # scheduled in 2024

    # « La section Bilan Initial MSP »: the MSP doctor's form, then report; triggers
    async with world.person("doctor") as doc:
        mine = await steps(doc, plan_id)
        assert mine[("initial-msp", "biometric-form")][0]["owner"]["reference"] == PEOPLE["doctor"]
        await form(doc, mine[("initial-msp", "biometric-form")][0], child, 42.5, 138, "2024-10-01")
        result = await complete(
            doc,
            mine[("initial-msp", "transmit-report")][0],
            {"name": "actualDate", "valueDateTime": "2024-10-01"},
            report("mrtc-summary", "Bilan MSP 01/10/2024", "2024-10-01"),
        )
        assert "RDV INITIAL MSP 2/2" in labels(result)
        assert candidates(result) == {"initial-psychologist", "apa-assessment"}
        # nothing chosen yet: the coordinator triggers later, on the closed step (« ou plus tard »)
    async with world.person("coordinator") as coord:
        msp_report = (await steps(coord, plan_id))[("initial-msp", "transmit-report")][0]
        r = await coord.post(
            f"/Task/{msp_report['id']}/$complete-step",
            json=params(trigger("initial-psychologist"), trigger("apa-assessment")),
        )
        assert r.status_code == 200, r.text
        assert len(named(r.json(), "triggered")) == 4
        row = await dashboard_row(coord, plan_id)
        assert progress(row, "MSP") == (2, 2)
        # the MSP section is done: the next step is one of the triggered assessments
        assert not row["nextStepLabel"].startswith("RDV initial MSP"), row

    # the three initial assessments
    async with world.person("dietitian") as diet:
        mine = await steps(diet, plan_id)
        await form(
            diet, mine[("initial-dietitian", "biometric-form")][0], child, 42.0, 138.5, "2024-10-15"
        )
        result = await complete(
            diet,
            mine[("initial-dietitian", "transmit-report")][0],
            report("dietary-assessment", "Bilan diététique 15/10/2024", "2024-10-15"),
            trigger("dietitian-followup"),
        )
        assert len(named(result, "triggered")) == 2  # the session's task and its form
    async with world.person("psychologist") as psy:
        mine = await steps(psy, plan_id)
        await complete(psy, mine[("initial-psychologist", "psychologist-assessment")][0])
        result = await complete(
            psy,
            mine[("initial-psychologist", "transmit-report")][0],
            report("psychological-assessment", "Bilan psychologique 16/10/2024", "2024-10-16"),
            trigger("psychologist-followup"),
        )
        psy_report = document_of(result)
    async with world.person("apa") as apa:
        mine = await steps(apa, plan_id)
        await complete(apa, mine[("apa-assessment", "apa-assessment")][0])
        result = await complete(
            apa,
            mine[("apa-assessment", "transmit-report")][0],
            report("mrtc-summary", "Bilan APA 22/10/2024", "2024-10-22"),  # misfiled
        )
        apa_report = document_of(result)
    # forbidden: a dietitian reading a psychological report
    async with world.person("dietitian") as diet:
        assert (await diet.get(f"/{psy_report}")).status_code == 404
        assert (await diet.get(f"/{apa_report}")).status_code == 200

    # follow-ups (« Suivi diététicien », « Suivi Psychologue »)
    async with world.person("dietitian") as diet:
        mine = await steps(diet, plan_id)
        await complete(diet, mine[("dietitian-followup", "dietitian-followup")][0])
        result = await form(
            diet, mine[("dietitian-followup", "biometric-form")][0], child, 41.2, 139, "2024-11-15"
        )
        assert candidates(result) == {"dietitian-followup"}  # another session may follow
    async with world.person("psychologist") as psy:
        mine = await steps(psy, plan_id)
        result = await complete(
            psy,
            mine[("psychologist-followup", "psychologist-followup")][0],
            trigger("final-psychologist"),
        )
        assert "final-psychologist" in {
            p["resource"]["extension"][0]["valueCoding"]["code"] for p in named(result, "triggered")
        }
        # final assessments
        mine = await steps(psy, plan_id)
        await complete(psy, mine[("final-psychologist", "psychologist-assessment")][0])
        result = await complete(
            psy,
            mine[("final-psychologist", "transmit-report")][0],
            report("final-psychological-assessment", "Bilan final psy", "2026-08-03"),
        )
        final_psy = document_of(result)
    async with world.person("dietitian") as diet:
        assert (await diet.get(f"/{final_psy}")).status_code == 404  # psychological, now
        mine = await steps(diet, plan_id)
        await form(
            diet, mine[("final-dietitian", "biometric-form")][0], child, 40.0, 145, "2026-08-04"
        )
        await complete(
            diet,
            mine[("final-dietitian", "transmit-report")][0],
            report("final-assessment", "Bilan final diététique", "2026-08-04"),
        )
        measures = await diet.get(
            "/Observation",
            params={"subject": f"Patient/{child}", "code": "http://loinc.org|29463-7"},
        )
        assert len(measures.json()["entry"]) == 4  # four forms, four weights

    # « Dernière section et clôture du parcours MRTC »
    async with world.person("doctor") as doc:
        final = (await steps(doc, plan_id))[("mrtc-end", "transmit-report")][0]
        await complete(doc, final, report("mrtc-summary", "Bilan MRTC final", "2026-10-01"))
        r = await doc.post(f"/CarePlan/{plan_id}/$close")
        assert r.status_code == 403  # forbidden: a doctor closing the pathway
    async with world.person("gp") as gp:
        inbox = await gp.get("/Communication", params={"recipient": PEOPLE["gp"]})
        received = [e["resource"] for e in inbox.json()["entry"]]
        reports = [
            c for c in received if any("contentReference" in p for p in c.get("payload", []))
        ]
        assert len(reports) == 1  # the child's doctor received the final report
        # beside it, only the platform's notifications (added to the care circle, ...)
        assert all(
            c in reports
            or any(
                coding.get("system", "").endswith("/CodeSystem/mrtc-notification")
                for category in c.get("category", [])
                for coding in category.get("coding", [])
            )
            for c in received
        ), received
    async with world.person("coordinator") as coord:
        r = await coord.post(f"/CarePlan/{plan_id}/$close")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "completed"
        # closed: off the default dashboard (active and paused pathways), shown on demand
        assert await dashboard_row(coord, plan_id) is None
        row = await dashboard_row(coord, plan_id, status="completed")
        assert row is not None and row["status"] == "completed" and "nextStep" not in row
        r = await coord.post(f"/CarePlan/{plan_id}/$reopen")
        assert r.status_code == 403  # forbidden: a coordinator reopening it
    async with world.person("super") as super_user:
        r = await super_user.post(f"/CarePlan/{plan_id}/$reopen")
        assert r.status_code == 200, r.text
        # « changer la catégorie d'un document mal classé »,
        # « supprimer un document mis par erreur »
        misfiled = (await super_user.get(f"/{apa_report}")).json()
        misfiled.pop("meta")
        misfiled["category"] = [
            {"coding": [{"system": CATEGORY, "code": "physical-condition-assessment"}]}
        ]
        r = await super_user.put(f"/{apa_report}", json=misfiled)
        assert r.status_code == 200, r.text
    async with world.person("apa") as apa:
        again = (await apa.get(f"/{apa_report}")).json()
        again.pop("meta")
        again["category"] = [{"coding": [{"system": CATEGORY, "code": "mrtc-summary"}]}]
        r = await apa.put(f"/{apa_report}", json=again)
        assert r.status_code == 403  # forbidden: only a super-user re-categorises
    async with world.person("super") as super_user:
        wrong = (await super_user.get(f"/{apa_report}")).json()
        wrong.pop("meta")
        wrong["status"] = "entered-in-error"
        r = await super_user.put(f"/{apa_report}", json=wrong)
        assert r.status_code == 200, r.text
    async with httpx.AsyncClient(
        base_url=live_server, headers=live_server.headers, timeout=60
    ) as system:
        trail = await system.get("/AuditEvent", params={"entity": apa_report, "_count": "50"})
        assert len(trail.json()["entry"]) >= 3  # filed, re-categorised, entered-in-error (audited)
