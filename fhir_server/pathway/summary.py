"""A pathway's summary: what the dashboard shows and filters on, kept beside its CarePlan.

The booklet's « tableau de bord des parcours » shows, per pathway, the
progress of each section ("RDV initial MSP 2/2"), the next step (label,
date, assignee) and whether it is overdue, and filters on "assignee" and
"next step before a date". All of these are facts about the pathway's steps
(Tasks), not about its CarePlan. Computing them at every read cost a query
over every matching step (decision 0036); they are now derived once per
write of a step and recorded beside the CarePlan (decision 0042):

* the search values of the IG's derived CarePlan parameters,
  ``next-step-date`` and ``step-owner``, indexed like any search value, so
  ``owner`` and ``next-step-before`` are one indexed CarePlan criterion;
* a JSON summary (progress per section, the next step), which the dashboard
  renders without reading the steps.

Pure: no I/O; ``pathway.hooks.SummaryKeeper`` records the results.

What counts is decided here once (decision 0036):

* a step is **done** when its ``Task.status`` is ``completed`` (business
  statuses "Traité", "Réalisé", "Validé" all map to it in the IG);
* a section's **total** is every step of the section except those cancelled,
  entered in error or rejected — a step tagged "Non honoré" (``failed``) stays
  in the total, so the coordinator sees that a planned step did not happen;
* a step is **open** while its status is not terminal in the FHIR Task state
  machine (https://hl7.org/fhir/R4/task.html#statemachine): draft, requested,
  received, accepted, ready, in-progress, on-hold;
* the **next step** is the open step with the earliest scheduled day
  (``Task.restriction.period.start``, the IG's ``scheduled`` parameter) in the
  deployment's time zone; ties go to the template's order of sections, then
  of steps within a section; an unscheduled ("déprogrammée") step has no date
  and is never the next step.

Sections and their order come from the PlanDefinition the CarePlan
instantiates (its top-level actions), step labels from the IG's
``mrtc-pathway-step`` CodeSystem: data, not lists in code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.ig import ImplementationGuide
from fhir_server.pathway.records import SECTION_URL as SECTION_EXTENSION
from fhir_server.pathway.records import STEP_SYSTEM

# The IG's derived CarePlan search parameters (SearchParameter-CarePlan-*.json).
NEXT_STEP_DATE = "next-step-date"
STEP_OWNER = "step-owner"
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
# The summary's layout: a summary of another version is recomputed, not read.
SUMMARY_VERSION = 1
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
    """What summaries and rows need from the IG: sections in order, and step labels."""

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

    def title(self, code: str, coding: Mapping[str, Any] | None = None) -> str:
        """A section's title: the template's, else the coding's display, else its code."""
        for section in self.sections:
            if section.code == code:
                return section.title
        return str((coding or {}).get("display") or code)


def reference_id(value: Any, type_: str) -> str | None:
    """The id of a ``type_`` reference (relative or absolute), else None."""
    ref = value.get("reference") if isinstance(value, Mapping) else None
    if not isinstance(ref, str):
        return None
    m = _REFERENCE.search(ref.split("/_history/")[0])
    return m[2] if m and m[1] == type_ else None


def careplan_ids(task: Resource | None) -> list[str]:
    """The CarePlans a Task is based on (``Task.basedOn``), in the order met."""
    out: dict[str, None] = {}
    for ref in (task or {}).get("basedOn", []) or []:
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


def section_coding(task: Resource) -> dict[str, Any] | None:
    """The step's section (the IG's ``mrtc-task-section`` extension), as a Coding."""
    for ext in task.get("extension", []) or []:
        if ext.get("url") == SECTION_EXTENSION:
            coding = ext.get("valueCoding") or {}
            if isinstance(coding.get("code"), str):
                return dict(coding)
    return None


def step_coding(task: Resource) -> dict[str, Any] | None:
    """The step's code in the IG's step CodeSystem (else its first coding)."""
    codings = (task.get("code") or {}).get("coding") or []
    for coding in codings:
        if coding.get("system") == STEP_SYSTEM and coding.get("code"):
            return dict(coding)
    return dict(codings[0]) if codings else None


def _progress(tasks: Sequence[Resource], model: PathwayModel) -> list[dict[str, Any]]:
    """Done / total per section holding at least one planned step, in the template's order."""
    known = {s.code for s in model.sections}
    counts: dict[str, list[int]] = {}
    codings: dict[str, dict[str, Any]] = {s.code: s.coding for s in model.sections}
    extra: list[str] = []
    for task in tasks:
        coding = section_coding(task)
        if coding is None or task.get("status") in NOT_PLANNED:
            continue
        code = coding["code"]
        if code not in known and code not in codings:
            codings[code] = coding
            extra.append(code)
        tally = counts.setdefault(code, [0, 0])
        tally[1] += 1
        if task.get("status") == DONE:
            tally[0] += 1
    ordered = [*(s.code for s in model.sections), *extra]
    return [
        {"code": codings[c], "done": counts[c][0], "total": counts[c][1]}
        for c in ordered
        if c in counts
    ]


def _next_step(tasks: Sequence[Resource], model: PathwayModel, zone: ZoneInfo) -> Resource | None:
    order = {s.code: i for i, s in enumerate(model.sections)}
    best: tuple[tuple[date, int, int, str], Resource] | None = None
    for task in tasks:
        if task.get("status") not in OPEN_STATUSES:
            continue
        when = scheduled(task)
        day = local_day(when, zone) if when else None
        if day is None:
            continue
        section = (section_coding(task) or {}).get("code")
        step = (step_coding(task) or {}).get("code", "")
        key = (
            day,
            order.get(section, len(order)) if section else len(order),
            model.step_rank.get((section, step), len(model.step_rank)) if section else 0,
            str(task.get("id") or ""),
        )
        if best is None or key < best[0]:
            best = (key, task)
    return best[1] if best else None


def summarise(
    tasks: Sequence[Resource], model: PathwayModel, zone: ZoneInfo
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """The derived search values and the JSON summary of a pathway with these steps."""
    summary: dict[str, Any] = {"v": SUMMARY_VERSION, "sections": _progress(tasks, model)}
    values: dict[str, list[Any]] = {NEXT_STEP_DATE: [], STEP_OWNER: []}
    found = _next_step(tasks, model, zone)
    if found is not None:
        when = scheduled(found)
        nxt: dict[str, Any] = {"task": found.get("id"), "date": when}
        for key, value in (("code", step_coding(found)), ("section", section_coding(found))):
            if value:
                nxt[key] = value
        text = (found.get("code") or {}).get("text") or found.get("description")
        if isinstance(text, str) and text:
            nxt["text"] = text  # the label of a step coded outside the IG's CodeSystem
        if isinstance(found.get("owner"), Mapping):
            nxt["owner"] = dict(found["owner"])
        summary["next"] = nxt
        values[NEXT_STEP_DATE] = [when]
    owners: dict[str, None] = {}
    for task in tasks:
        ref = (
            (task.get("owner") or {}).get("reference")
            if task.get("status") in OPEN_STATUSES
            else None
        )
        if isinstance(ref, str) and ref:
            owners[ref] = None
    values[STEP_OWNER] = [{"reference": r} for r in owners]
    return values, summary


def relevant(task: Resource | None) -> tuple[Any, ...]:
    """What of a step its pathway's summary depends on (a change elsewhere leaves it as is)."""
    task = task or {}
    return (
        task.get("status"),
        scheduled(task),
        (task.get("owner") or {}).get("reference"),
        tuple(careplan_ids(task)),
        section_coding(task),
        step_coding(task),
    )
