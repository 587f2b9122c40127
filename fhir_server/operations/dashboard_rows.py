"""One row of the pathway dashboard (« tableau de bord des parcours »): a CarePlan and its Tasks.

Pure: no I/O. ``operations.dashboard`` fetches a page of CarePlans and, in one
batched query, their Tasks; this module turns each pathway into the row the
booklet shows — patient, start date, status, progress per section ("RDV
initial MSP 2/2"), the next step (label, date, assignee) and whether it is
overdue.

What counts is decided here once (decision 0036):

* a step is **done** when its ``Task.status`` is ``completed`` (business
  statuses "Traité", "Réalisé", "Validé" all map to it in the IG);
* a section's **total** is every step of the section except those cancelled,
  entered in error or rejected — a step tagged "Non honoré" (``failed``) stays
  in the total, so the coordinator sees that a planned step did not happen;
* a step is **open** while its status is not terminal in the FHIR Task state
  machine (https://hl7.org/fhir/R4/task.html#statemachine): draft, requested,
  received, accepted, ready, in-progress, on-hold;
* the **next step** is the open step with the earliest scheduled date
  (``Task.restriction.period.start``, the IG's ``scheduled`` parameter); an
  unscheduled ("déprogrammée") step has no date and is never the next step;
* the pathway is **overdue** when that date is before today in the
  deployment's time zone (``FHIR_TIME_ZONE``).

Sections and their order come from the PlanDefinition the CarePlan
instantiates (its top-level actions), step labels from the IG's
``mrtc-pathway-step`` CodeSystem: data, not lists in code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.ig import ImplementationGuide

SECTION_EXTENSION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-task-section"
STEP_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-pathway-step"
# FHIR Task statuses that are not terminal (task.html#statemachine).
OPEN_STATUSES = (
    "draft",
    "requested",
    "received",
    "accepted",
    "ready",
    "in-progress",
    "on-hold",
)
NOT_PLANNED = frozenset({"cancelled", "entered-in-error", "rejected"})
DONE = "completed"
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")

Resource = Mapping[str, Any]


@dataclass(frozen=True)
class Section:
    """One section of a pathway template (a top-level PlanDefinition action)."""

    code: str
    coding: dict[str, Any]
    title: str


@dataclass(frozen=True)
class PathwayModel:
    """What the rows need from the IG: sections in order, and step labels."""

    sections: tuple[Section, ...]
    step_labels: Mapping[str, str]
    # (section, step) -> rank of the step within its section, as the template lists
    # them (the biometric form before the report on the same day)
    step_rank: Mapping[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def from_ig(cls, ig: ImplementationGuide, canonical: str) -> PathwayModel:
        """The model of the PlanDefinition ``canonical`` names (url, with or without version).

        A pathway the IG does not hold gets no predefined sections: its rows
        list the sections its Tasks carry, in the order met.
        """
        by_url = ig.by_url()
        plan = by_url.get(canonical.split("|")[0]) or {}
        sections = []
        ranks: dict[tuple[str, str], int] = {}
        for action in plan.get("action", []):
            codings = [c for concept in action.get("code", []) for c in concept.get("coding", [])]
            coding = next((c for c in codings if c.get("code")), None)
            if coding is not None:
                title = action.get("title") or coding.get("display") or coding["code"]
                sections.append(Section(coding["code"], dict(coding), title))
                for rank, step in enumerate(action.get("action", [])):
                    for concept in step.get("code", []):
                        for c in concept.get("coding", []):
                            if c.get("code"):
                                ranks.setdefault((coding["code"], c["code"]), rank)
        labels: dict[str, str] = {}
        steps = by_url.get(STEP_SYSTEM) or {}
        for concept in steps.get("concept", []):
            if concept.get("code") and concept.get("display"):
                labels[concept["code"]] = concept["display"]
        return cls(tuple(sections), labels, ranks)


def reference_id(value: Any, type_: str) -> str | None:
    """The id of a ``type_`` reference (relative or absolute), else None."""
    ref = value.get("reference") if isinstance(value, Mapping) else None
    if not isinstance(ref, str):
        return None
    m = _REFERENCE.search(ref.split("/_history/")[0])
    return m[2] if m and m[1] == type_ else None


def careplan_ids(tasks: Iterable[Resource]) -> list[str]:
    """The CarePlans the Tasks are based on (``Task.basedOn``), in the order met."""
    out: dict[str, None] = {}
    for task in tasks:
        for ref in task.get("basedOn", []) or []:
            id_ = reference_id(ref, "CarePlan")
            if id_:
                out[id_] = None
    return list(out)


def scheduled(task: Resource) -> str | None:
    """The step's scheduled date or dateTime as written (``restriction.period.start``)."""
    value = ((task.get("restriction") or {}).get("period") or {}).get("start")
    return value if isinstance(value, str) and value else None


def local_day(value: str, zone: ZoneInfo) -> date | None:
    """The civil day of a FHIR date or dateTime in ``zone`` (a partial date: its first day)."""
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone(zone)
            return moment.date()
        parts = [int(p) for p in value.split("-")]
        while len(parts) < 3:
            parts.append(1)
        return date(parts[0], parts[1], parts[2])
    except ValueError:
        return None


def _section_code(task: Resource) -> tuple[str, dict[str, Any]] | None:
    for ext in task.get("extension", []) or []:
        if ext.get("url") == SECTION_EXTENSION:
            coding = ext.get("valueCoding") or {}
            if isinstance(coding.get("code"), str):
                return coding["code"], dict(coding)
    return None


def _step_coding(task: Resource) -> dict[str, Any] | None:
    codings = (task.get("code") or {}).get("coding") or []
    for coding in codings:
        if coding.get("system") == STEP_SYSTEM and coding.get("code"):
            return dict(coding)
    return dict(codings[0]) if codings else None


@dataclass(frozen=True)
class Progress:
    """A section's progress on one pathway."""

    section: Section
    done: int
    total: int

    @property
    def text(self) -> str:
        return f"{self.section.title} {self.done}/{self.total}"


def progress(tasks: Sequence[Resource], model: PathwayModel) -> list[Progress]:
    """Done / total per section holding at least one planned step, in the template's order."""
    known = {s.code: s for s in model.sections}
    counts: dict[str, list[int]] = {}
    extra: dict[str, Section] = {}
    for task in tasks:
        found = _section_code(task)
        if found is None or task.get("status") in NOT_PLANNED:
            continue
        code, coding = found
        if code not in known and code not in extra:
            extra[code] = Section(code, coding, coding.get("display") or code)
        tally = counts.setdefault(code, [0, 0])
        tally[1] += 1
        if task.get("status") == DONE:
            tally[0] += 1
    ordered = [*model.sections, *extra.values()]
    return [Progress(s, counts[s.code][0], counts[s.code][1]) for s in ordered if s.code in counts]


def next_step(
    tasks: Sequence[Resource], model: PathwayModel, zone: ZoneInfo
) -> tuple[Resource, date] | None:
    """The open step with the earliest scheduled day (ties: template order of sections,
    then of steps within a section, then id)."""
    order = {s.code: i for i, s in enumerate(model.sections)}
    best: tuple[tuple[date, int, int, str], Resource] | None = None
    for task in tasks:
        if task.get("status") not in OPEN_STATUSES:
            continue
        when = scheduled(task)
        day = local_day(when, zone) if when else None
        if day is None:
            continue
        section = _section_code(task)
        step = (_step_coding(task) or {}).get("code", "")
        key = (
            day,
            order.get(section[0], len(order)) if section else len(order),
            model.step_rank.get((section[0], step), len(model.step_rank)) if section else 0,
            task["id"],
        )
        if best is None or key < best[0]:
            best = (key, task)
    return (best[1], best[0][0]) if best else None


def step_label(task: Resource, model: PathwayModel) -> str:
    """« Section : étape », e.g. "RDV initial MSP : Transmettre CR/Bilan"."""
    coding = _step_coding(task) or {}
    step = model.step_labels.get(coding.get("code", "")) or coding.get("display")
    step = step or (task.get("code") or {}).get("text") or task.get("description") or "Étape"
    section = _section_code(task)
    if section is None:
        return str(step)
    titles = {s.code: s.title for s in model.sections}
    title = titles.get(section[0]) or section[1].get("display") or section[0]
    return f"{title} : {step}"


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
    tasks: Sequence[Resource],
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
    for item in progress(tasks, model):
        parts.append(
            {
                "name": "section",
                "part": [
                    {"name": "code", "valueCoding": item.section.coding},
                    {"name": "done", "valueInteger": item.done},
                    {"name": "total", "valueInteger": item.total},
                    {"name": "text", "valueString": item.text},
                ],
            }
        )
    found = next_step(tasks, model, zone)
    overdue = False
    if found is not None:
        task, day = found
        parts.append({"name": "nextStep", "valueReference": {"reference": f"Task/{task['id']}"}})
        coding = _step_coding(task)
        if coding:
            parts.append({"name": "nextStepCode", "valueCoding": coding})
        parts.append({"name": "nextStepLabel", "valueString": step_label(task, model)})
        parts.append({"name": "nextStepDate", "valueDateTime": scheduled(task)})
        if isinstance(task.get("owner"), Mapping):
            parts.append({"name": "nextStepOwner", "valueReference": dict(task["owner"])})
        overdue = day < today
    parts.append({"name": "overdue", "valueBoolean": overdue})
    return {"name": "row", "part": parts}
