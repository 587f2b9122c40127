"""One row of the pathway dashboard (« tableau de bord des parcours »), rendered from a summary.

Pure: no I/O. What a row says of a pathway's steps — progress per section
("RDV initial MSP 2/2"), the next step (label, date, assignee) — is the
pathway's summary (``pathway.summary``, recorded beside the CarePlan at
every write of a step, decision 0042); this module turns a CarePlan, its
summary and its child into the row the booklet shows, labelled from the IG
(section titles from the PlanDefinition, step labels from the
``mrtc-pathway-step`` CodeSystem). Only *overdue* depends on the day the
page is asked for: the next step's day before today in the deployment's time
zone (``FHIR_TIME_ZONE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.pathway.summary import PathwayModel, local_day

Resource = Mapping[str, Any]


def step_label(step: Mapping[str, Any], model: PathwayModel) -> str:
    """« Section : étape », e.g. "RDV initial MSP : Transmettre CR/Bilan" (``step``: a summary's
    next step)."""
    coding = step.get("code") or {}
    section = step.get("section")
    label = (
        model.step_labels.get(str(coding.get("code", "")))
        or coding.get("display")
        or step.get("text")
        or "Étape"
    )
    if not section or not section.get("code"):
        return str(label)
    return f"{model.title(str(section['code']), section)} : {label}"


def patient_display(patient: Resource | None) -> str | None:
    """« Prénom NOM » of the child, from its usual name if any, else its first name."""
    if not patient:
        return None
    names = patient.get("name") or []
    name = next((n for n in names if n.get("use") == "usual"), names[0] if names else None)
    if not name:
        return None
    given = " ".join(name.get("given") or [])
    family = (name.get("family") or "").upper()
    text = " ".join(p for p in (given, family) if p) or name.get("text")
    return text or None


def row(
    careplan: Resource,
    summary: Mapping[str, Any],
    patient: Resource | None,
    model: PathwayModel,
    zone: ZoneInfo,
    today: date,
) -> dict[str, Any]:
    """The ``row`` parameter of ``$dashboard`` for one pathway."""
    parts: list[dict[str, Any]] = [
        {"name": "carePlan", "valueReference": {"reference": f"CarePlan/{careplan['id']}"}}
    ]
    subject = dict(careplan.get("subject") or {})
    display = patient_display(patient)
    if display and "display" not in subject:
        subject["display"] = display
    parts.append({"name": "patient", "valueReference": subject})
    start = (careplan.get("period") or {}).get("start")
    if isinstance(start, str) and start:
        parts.append({"name": "start", "valueDate": start[:10]})
    parts.append({"name": "status", "valueCode": careplan.get("status", "unknown")})
    for item in summary.get("sections") or []:
        coding = dict(item["code"])
        title = model.title(str(coding.get("code")), coding)
        parts.append(
            {
                "name": "section",
                "part": [
                    {"name": "code", "valueCoding": coding},
                    {"name": "done", "valueInteger": item["done"]},
                    {"name": "total", "valueInteger": item["total"]},
                    {"name": "text", "valueString": f"{title} {item['done']}/{item['total']}"},
                ],
            }
        )
    nxt = summary.get("next")
    overdue = False
    if nxt:
        parts.append({"name": "nextStep", "valueReference": {"reference": f"Task/{nxt['task']}"}})
        if nxt.get("code"):
            parts.append({"name": "nextStepCode", "valueCoding": dict(nxt["code"])})
        label = step_label(nxt, model)
        parts.append({"name": "nextStepLabel", "valueString": label})
        parts.append({"name": "nextStepDate", "valueDateTime": nxt["date"]})
        if nxt.get("owner"):
            parts.append({"name": "nextStepOwner", "valueReference": dict(nxt["owner"])})
        day = local_day(str(nxt["date"]), zone)
        overdue = day is not None and day < today
    parts.append({"name": "overdue", "valueBoolean": overdue})
    return {"name": "row", "part": parts}
