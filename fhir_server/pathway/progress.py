"""What may come next in a pathway, and how far each section is: pure functions over its steps.

"Un nouvel encart s'affiche notifiant les prochaines étapes du parcours":
once every step of a section is closed, the sections scheduled after its end
(``relatedAction`` after-end) that are triggered case by case, and the
section itself when it repeats (follow-ups, within the programme's cap), are
the candidates. "La section affiche 2 étapes sur 2 : RDV INITIAL MSP 2/2" is
the progress of each section: closed steps over steps not cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_server.pathway.calendar import WorkingCalendar, add_duration
from fhir_server.pathway.lifecycle import business_status
from fhir_server.pathway.plan import PathwayPlan, Section
from fhir_server.pathway.records import section_of

OPEN = ("to-do", "in-progress", "unscheduled")
CLOSED = ("processed", "done", "validated", "not-honoured")


@dataclass(frozen=True)
class Candidate:
    section: Section
    proposed: date


@dataclass(frozen=True)
class Progress:
    section: Section
    closed: int
    total: int

    @property
    def label(self) -> str:
        return f"{self.section.title.upper()} {self.closed}/{self.total}"


def sessions(section: Section, tasks: Sequence[Mapping[str, Any]]) -> int:
    """Sessions already triggered in a repeatable section (its first step counts them)."""
    first = section.steps[0].code if section.steps else ""
    return sum(
        1
        for t in tasks
        if section_of(t) == section.code
        and business_status(t) != "cancelled"
        and any(c.get("code") == first for c in (t.get("code") or {}).get("coding") or [])
    )


def section_open(section_code: str, tasks: Sequence[Mapping[str, Any]]) -> bool:
    return any(section_of(t) == section_code and business_status(t) in OPEN for t in tasks)


def may_trigger(
    plan: PathwayPlan, section: Section, tasks: Sequence[Mapping[str, Any]]
) -> str | None:
    """Why ``section`` cannot be triggered now (None: it can)."""
    if section.fixed:
        return f"'{section.action_id}' is a fixed section, created when the pathway was attached"
    if section.repeatable:
        cap = section.repeat_max or section.repeat_count
        if cap is not None and sessions(section, tasks) >= cap:
            return f"'{section.action_id}' has reached the programme's cap of {cap} sessions"
        return None
    if any(section_of(t) == section.code for t in tasks):
        return f"'{section.action_id}' has already been triggered"
    return None


def candidates(
    plan: PathwayPlan,
    completed_section: str,
    tasks: Sequence[Mapping[str, Any]],
    calendar: WorkingCalendar,
    ended: date,
) -> list[Candidate]:
    """The sections that may follow once ``completed_section`` has no open step left."""
    if section_open(completed_section, tasks):
        return []
    out = []
    for section in plan.followers(completed_section):
        offsets = [
            o
            for o in section.offsets
            if o.anchor == completed_section and o.relationship == "after-end"
        ]
        if section.action_id != completed_section and not offsets:
            continue
        if may_trigger(plan, section, tasks) is not None:
            continue
        if offsets:
            day = add_duration(ended, offsets[0].value, offsets[0].unit)
        else:  # the next session of a series: one period later
            day = add_duration(ended, 1, "mo")
        out.append(Candidate(section, calendar.next_working_day(day)))
    return out


def progress(plan: PathwayPlan, tasks: Sequence[Mapping[str, Any]]) -> list[Progress]:
    out = []
    for section in plan.sections:
        mine = [
            t for t in tasks if section_of(t) == section.code and business_status(t) != "cancelled"
        ]
        if not mine:
            continue
        closed = sum(1 for t in mine if business_status(t) in CLOSED)
        out.append(Progress(section, closed, len(mine)))
    return out
