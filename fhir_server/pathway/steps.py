"""The shapes of an attached pathway: the CarePlan and one Task per step (IG profiles).

A CarePlan (profile ``mrtc-careplan``) instantiates the PlanDefinition, has
the start date, working days, the structure that attached it (``author``),
the care circle and one ``activity.reference`` per step. Each step is a Task
(profile ``mrtc-task``): its section (``mrtc-task-section`` extension; a
section is a grouping, never a Task), its step code and ActivityDefinition,
``basedOn`` the CarePlan, ``for`` the patient, the business status "À faire",
the scheduled date in ``restriction.period.start`` (the IG's ``scheduled``
SearchParameter), its owner, and with "affecter le parcours à tous les
intervenants" every care-circle member as ``restriction.recipient``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from fhir_server.pathway.calendar import WorkingCalendar, add_duration, working_day_extensions
from fhir_server.pathway.lifecycle import TransitionTable
from fhir_server.pathway.plan import (
    SECTION_SYSTEM,
    STEP_SYSTEM,
    PathwayPlan,
    Section,
    Step,
)
from fhir_server.pathway.records import SECTION_URL

TASK_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-task"
DOCUMENT_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-documentreference"
CAREPLAN_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careplan"
IO_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-task-io-type"
CATEGORY_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category"
QUESTIONNAIRE = "https://mrtc.example.org/fhir/Questionnaire/mrtc-suivi-biometrique"
FORM_STEP = "biometric-form"


def io_type(code: str) -> dict[str, Any]:
    return {"coding": [{"system": IO_SYSTEM, "code": code}]}


def default_date(plan: PathwayPlan, section: Section, start: date) -> date:
    """A section's date from the pathway start, following its offsets back to the first section.

    ``after-start`` and ``after-end`` both count from the anchor's date here:
    at attach nothing has ended yet (a step's real end date moves later steps
    through ``$complete-step``'s proposals and date moves).
    """
    if section.start_days is not None or not section.offsets:
        return add_duration(start, section.start_days or 0, "d")
    dates = []
    for offset in section.offsets:
        anchor = plan.section(offset.anchor)
        if anchor is None or anchor.action_id == section.action_id:
            continue
        base = default_date(plan, anchor, start)
        dates.append(add_duration(base, offset.value, offset.unit))
    return min(dates) if dates else start


def careplan(
    plan: PathwayPlan,
    *,
    patient_id: str,
    title: str,
    start: date,
    days: Sequence[str],
    author: str,
    care_team: str | None,
    created: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": {"profile": [CAREPLAN_PROFILE]},
        "extension": working_day_extensions(days),
        "instantiatesCanonical": [plan.canonical],
        "status": "active",
        "intent": "plan",
        "category": [
            {
                "coding": [
                    {"system": CATEGORY_SYSTEM, "code": "mrtc-pathway", "display": "Parcours MRTC"}
                ]
            }
        ],
        "title": title,
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": start.isoformat()},
        "created": created,
        "author": {"reference": author},
        "activity": [],
    }
    if care_team:
        body["careTeam"] = [{"reference": care_team}]
    return body


def task(
    table: TransitionTable,
    section: Section,
    step: Step,
    *,
    careplan_id: str,
    patient_id: str,
    scheduled: date,
    owner: str | None,
    recipients: Sequence[str],
    requester: str | None,
    authored: datetime | str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Task",
        "meta": {"profile": [TASK_PROFILE]},
        "extension": [
            {
                "url": SECTION_URL,
                "valueCoding": {
                    "system": SECTION_SYSTEM,
                    "code": section.code,
                    "display": section.display,
                },
            }
        ],
        "instantiatesCanonical": step.definition,
        "basedOn": [{"reference": f"CarePlan/{careplan_id}"}],
        "status": table.rules["to-do"].task_status,
        "businessStatus": {"coding": [table.coding("to-do")]},
        "intent": "order",
        "code": {"coding": [{"system": STEP_SYSTEM, "code": step.code, "display": step.display}]},
        "description": f"{section.title} : {step.title}",
        "for": {"reference": f"Patient/{patient_id}"},
        "authoredOn": authored if isinstance(authored, str) else authored.isoformat(),
    }
    if requester:
        body["requester"] = {"reference": requester}
    if owner:
        body["owner"] = {"reference": owner}
    day = scheduled.isoformat()  # a day-long period: ``scheduled=2026-05-15`` finds it
    restriction: dict[str, Any] = {"period": {"start": day, "end": day}}
    if recipients:
        restriction["recipient"] = [{"reference": r} for r in dict.fromkeys(recipients)]
    body["restriction"] = restriction
    if step.code == FORM_STEP:
        body["input"] = [{"type": io_type("questionnaire"), "valueCanonical": QUESTIONNAIRE}]
    return body


def schedule(calendar: WorkingCalendar, day: date) -> date:
    return calendar.next_working_day(day)
