"""Pathways for the dashboard tests, in the IG's shapes (mrtc-careplan, mrtc-task).

The MSP follows Léa (active, started 2026-03-02, initial MSP done, the
dietitian's initial assessment overdue) and Zoé (on hold, next step in ten
days, one step unscheduled) and followed Zoé before (a completed pathway);
a cabinet's doctor follows Noah. Dates are relative to today in Paris, so the
overdue flag is tested against the server's own "today".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.security.world import G15, PLATFORM, R85, care_team, member, patient, practitioner, role

MRTC = "https://mrtc.example.org/fhir/PlanDefinition/mrtc-pathway"
CAREPLAN_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careplan"
TASK_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-task"
SECTION = "https://mrtc.example.org/fhir/CodeSystem/mrtc-pathway-section"
STEP = "https://mrtc.example.org/fhir/CodeSystem/mrtc-pathway-step"
BUSINESS = "https://mrtc.example.org/fhir/CodeSystem/mrtc-task-business-status"
SECTION_EXT = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-task-section"
IO = "https://mrtc.example.org/fhir/CodeSystem/mrtc-task-io-type"
QUESTIONNAIRE = "https://mrtc.example.org/fhir/Questionnaire/mrtc-suivi-biometrique"
CATEGORY = "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category"

PRINCIPALS = {
    "coordinator": "Practitioner/coord",
    "doctor": "Practitioner/doc",
    "dietitian": "Practitioner/diet",
    "other": "Practitioner/other",
}
# business status -> Task.status (the IG CodeSystem's taskStatus property)
TASK_STATUS = {
    "to-do": "ready",
    "in-progress": "in-progress",
    "done": "completed",
    "validated": "completed",
    "not-honoured": "failed",
    "unscheduled": "on-hold",
    "cancelled": "cancelled",
}


def today() -> date:
    return datetime.now(ZoneInfo("Europe/Paris")).date()


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).isoformat()


def careplan(id_: str, patient_id: str, status: str, author: str, start: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": id_,
        "meta": {"profile": [CAREPLAN_PROFILE]},
        "instantiatesCanonical": [f"{MRTC}|0.1.0"],
        "status": status,
        "intent": "plan",
        "category": [{"coding": [{"system": CATEGORY, "code": "mrtc-pathway"}]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": start},
        "author": {"reference": f"Organization/{author}"},
    }
    if status == "completed":
        body["period"]["end"] = day(-30)
    return body


def task(
    id_: str,
    plan: str,
    patient_id: str,
    section: str,
    step: str,
    business: str,
    owner: str,
    scheduled: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Task",
        "id": id_,
        "meta": {"profile": [TASK_PROFILE]},
        "extension": [{"url": SECTION_EXT, "valueCoding": {"system": SECTION, "code": section}}],
        "basedOn": [{"reference": f"CarePlan/{plan}"}],
        "status": TASK_STATUS[business],
        "businessStatus": {"coding": [{"system": BUSINESS, "code": business}]},
        "intent": "order",
        "code": {"coding": [{"system": STEP, "code": step}]},
        "for": {"reference": f"Patient/{patient_id}"},
        "owner": {"reference": owner},
    }
    if scheduled is not None:
        body["restriction"] = {"period": {"start": scheduled}}
    if step == "biometric-form":
        body["input"] = [
            {
                "type": {"coding": [{"system": IO, "code": "questionnaire"}]},
                "valueCanonical": QUESTIONNAIRE,
            }
        ]
    if step == "transmit-report" and body["status"] == "completed":
        body["output"] = [
            {
                "type": {"coding": [{"system": IO, "code": "document"}]},
                "valueReference": {"reference": "DocumentReference/bilan-lea"},
            }
        ]
    return body


def resources() -> list[dict[str, Any]]:
    lea, zoe, noah = "lea", "zoe", "noah"
    return [
        {"resourceType": "Organization", "id": "msp", "name": "MSP Cap Sud"},
        {"resourceType": "Organization", "id": "cabinet", "name": "Cabinet Nord"},
        practitioner("coord", "Fabre", "Julien"),
        practitioner("doc", "Bernard", "Claire"),
        practitioner("diet", "Roux", "Inès"),
        practitioner("other", "Durand", "Paul"),
        role("coord-msp", "coord", "msp", (R85, "330"), (PLATFORM, "coordinator")),
        role("doc-msp", "doc", "msp", (G15, "10")),
        role("diet-msp", "diet", "msp", (G15, "95")),
        role("other-cab", "other", "cabinet", (G15, "10")),
        patient(lea, "Dupont") | {"name": [{"family": "Dupont", "given": ["Léa"]}]},
        patient(zoe, "Martin") | {"name": [{"family": "Martin", "given": ["Zoé"]}]},
        patient(noah, "Garnier"),
        care_team(
            "circle-lea",
            lea,
            "msp",
            member("Practitioner/coord", "coordinator"),
            member("Practitioner/doc", "mrtc-physician"),
            member("Practitioner/diet", "dietitian"),
        ),
        care_team(
            "circle-zoe",
            zoe,
            "msp",
            member("Practitioner/coord", "coordinator"),
            member("Practitioner/doc", "mrtc-physician"),
        ),
        care_team("circle-noah", noah, "cabinet", member("Practitioner/other", "mrtc-physician")),
        {
            "resourceType": "DocumentReference",
            "id": "bilan-lea",
            "status": "current",
            "subject": {"reference": "Patient/lea"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "QmlsYW4="}}],
        },
        careplan("cp-lea", lea, "active", "msp", "2026-03-02"),
        task(
            "lea-1",
            "cp-lea",
            lea,
            "initial-msp",
            "biometric-form",
            "done",
            "Practitioner/doc",
            "2026-03-02",
        ),
        task(
            "lea-2",
            "cp-lea",
            lea,
            "initial-msp",
            "transmit-report",
            "validated",
            "Practitioner/doc",
            "2026-03-02",
        ),
        task(
            "lea-3",
            "cp-lea",
            lea,
            "initial-dietitian",
            "biometric-form",
            "to-do",
            "Practitioner/diet",
            day(-3),
        ),
        task(
            "lea-4",
            "cp-lea",
            lea,
            "dietitian-followup",
            "dietitian-followup",
            "not-honoured",
            "Practitioner/diet",
            day(-10),
        ),
        task(
            "lea-5",
            "cp-lea",
            lea,
            "dietitian-followup",
            "dietitian-followup",
            "cancelled",
            "Practitioner/diet",
            day(20),
        ),
        task(
            "lea-6",
            "cp-lea",
            lea,
            "final-dietitian",
            "biometric-form",
            "to-do",
            "Practitioner/diet",
            day(600),
        ),
        task(
            "lea-7",
            "cp-lea",
            lea,
            "mrtc-end",
            "transmit-report",
            "to-do",
            "Practitioner/doc",
            day(650),
        ),
        careplan("cp-zoe", zoe, "on-hold", "msp", "2026-10-01"),
        task(
            "zoe-1",
            "cp-zoe",
            zoe,
            "initial-msp",
            "biometric-form",
            "to-do",
            "Practitioner/doc",
            day(10),
        ),
        task(
            "zoe-2",
            "cp-zoe",
            zoe,
            "initial-msp",
            "transmit-report",
            "unscheduled",
            "Practitioner/doc",
            None,
        ),
        careplan("cp-zoe-old", zoe, "completed", "msp", "2024-01-15"),
        careplan("cp-noah", noah, "active", "cabinet", "2026-06-01"),
        task(
            "noah-1",
            "cp-noah",
            noah,
            "initial-msp",
            "biometric-form",
            "in-progress",
            "Practitioner/other",
            day(1),
        ),
    ]


def transaction() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources()
        ],
    }
