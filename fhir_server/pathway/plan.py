"""The MRTC pathway template as data: the IG's PlanDefinition, read once.

The booklet's "Parcours MRTC : présentation et schéma": nine sections, one per
profile of professional, each made of steps; some steps are fixed ("étapes
figées", created when the pathway is attached: ``requiredBehavior`` must),
the others are triggered case by case ("étapes déclenchées en fonction du
parcours": ``trigger`` named-event). Timings (``timingDuration``,
``relatedAction.offsetDuration``), the follow-up cap (``timingTiming.repeat``
count / countMax), the profession of each section (``participant.role``) and
the document categories a report step accepts (``output`` codeFilter) are all
read from the PlanDefinition; nothing here lists a step or a delay.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_server.ig import ImplementationGuide

PLAN_URL = "https://mrtc.example.org/fhir/PlanDefinition/mrtc-pathway"
SECTION_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-pathway-section"
STEP_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-pathway-step"
ROLE_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
CATEGORY_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-document-category"
ROLE_CODESYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"


@dataclass(frozen=True)
class Offset:
    """``relatedAction``: this section starts ``value`` ``unit`` after ``anchor``."""

    anchor: str  # section action id
    relationship: str  # after-end | after-start | ...
    value: int
    unit: str  # d | wk | mo | a


@dataclass(frozen=True)
class Step:
    """One step (Task) of a section: the PlanDefinition's leaf action."""

    action_id: str
    title: str
    code: str  # mrtc-pathway-step code
    display: str
    definition: str  # ActivityDefinition canonical
    report_categories: tuple[str, ...] = ()  # mrtc-document-category codes it accepts


@dataclass(frozen=True)
class Section:
    action_id: str
    title: str
    code: str  # mrtc-pathway-section code
    display: str
    fixed: bool  # created at attach (requiredBehavior must)
    professions: tuple[tuple[str, str], ...]  # (system, code) of the section's professional
    steps: tuple[Step, ...]
    offsets: tuple[Offset, ...] = ()
    start_days: int | None = None  # timingDuration in days (the first section: J0)
    repeat_count: int | None = None  # sessions per series (follow-ups)
    repeat_max: int | None = None  # the programme's cap (french-standards.md §5)

    @property
    def repeatable(self) -> bool:
        return self.repeat_count is not None


@dataclass(frozen=True)
class PathwayPlan:
    url: str
    version: str
    title: str
    sections: tuple[Section, ...]
    role_by_profession: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url

    def section(self, action_or_code: str) -> Section | None:
        for s in self.sections:
            if action_or_code in (s.action_id, s.code):
                return s
        return None

    def step(self, section_code: str, step_code: str) -> Step | None:
        section = self.section(section_code)
        if section is None:
            return None
        return next((s for s in section.steps if s.code == step_code), None)

    def followers(self, section_code: str) -> list[Section]:
        """The sections that may follow ``section_code`` (its dependants, itself if repeatable)."""
        out = [s for s in self.sections if any(o.anchor == section_code for o in s.offsets)]
        own = self.section(section_code)
        if own is not None and own.repeatable:
            out.insert(0, own)
        return out

    def dependants(self, section_code: str) -> set[str]:
        """Every section scheduled, directly or through others, from ``section_code``."""
        found: set[str] = set()
        todo = [section_code]
        while todo:
            current = todo.pop()
            for s in self.sections:
                if s.action_id not in found and any(o.anchor == current for o in s.offsets):
                    found.add(s.action_id)
                    todo.append(s.action_id)
        found.discard(section_code)
        return found

    def care_circle_role(self, section: Section) -> str | None:
        """The care-circle role whose member owns the section's steps (by national code)."""
        for profession in section.professions:
            role = self.role_by_profession.get(profession)
            if role:
                return role
        return None

    @classmethod
    def from_ig(cls, ig: ImplementationGuide) -> PathwayPlan:
        plan = ig.by_url().get(PLAN_URL)
        if plan is None:
            raise ValueError(f"the IG has no PlanDefinition {PLAN_URL}")
        sections = tuple(_section(a) for a in plan.get("action") or [])
        roles = ig.by_url().get(ROLE_CODESYSTEM) or {}
        return cls(
            str(plan.get("url")),
            str(plan.get("version") or ""),
            str(plan.get("title") or ""),
            sections,
            _roles_by_profession(roles),
        )


def _coding(action: Mapping[str, Any], system: str) -> tuple[str, str]:
    for concept in action.get("code") or []:
        for c in concept.get("coding") or []:
            if c.get("system") == system:
                return str(c.get("code")), str(c.get("display") or c.get("code"))
    return "", ""


def _leaves(action: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for child in action.get("action") or []:
        if child.get("action"):
            yield from _leaves(child)
        else:
            yield child


def _repeat(action: Mapping[str, Any]) -> Mapping[str, Any] | None:
    timing = action.get("timingTiming")
    if timing:
        return dict((timing or {}).get("repeat") or {})
    for child in action.get("action") or []:
        found = _repeat(child)
        if found is not None:
            return found
    return None


def _categories(action: Mapping[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for requirement in action.get("output") or []:
        if requirement.get("type") != "DocumentReference":
            continue
        for flt in requirement.get("codeFilter") or []:
            if flt.get("path") != "category":
                continue
            out += [c["code"] for c in flt.get("code") or [] if c.get("system") == CATEGORY_SYSTEM]
    return tuple(out)


def _section(action: Mapping[str, Any]) -> Section:
    code, display = _coding(action, SECTION_SYSTEM)
    steps = []
    for leaf in _leaves(action):
        step_code, step_display = _coding(leaf, STEP_SYSTEM)
        steps.append(
            Step(
                str(leaf.get("id")),
                str(leaf.get("title") or step_display),
                step_code,
                step_display,
                str(leaf.get("definitionCanonical") or ""),
                _categories(leaf),
            )
        )
    professions = tuple(
        (str(c.get("system")), str(c.get("code")))
        for p in action.get("participant") or []
        for c in (p.get("role") or {}).get("coding") or []
    )
    offsets = tuple(
        Offset(
            str(r.get("actionId")),
            str(r.get("relationship")),
            int((r.get("offsetDuration") or {}).get("value") or 0),
            str((r.get("offsetDuration") or {}).get("code") or "d"),
        )
        for r in action.get("relatedAction") or []
    )
    timing = action.get("timingDuration")
    start_days = int(timing.get("value") or 0) if isinstance(timing, dict) else None
    repeat = _repeat(action)
    return Section(
        str(action.get("id")),
        str(action.get("title") or display),
        code,
        display,
        action.get("requiredBehavior") == "must",
        professions,
        tuple(steps),
        offsets,
        start_days,
        int(repeat["count"]) if repeat and "count" in repeat else None,
        int(repeat["countMax"]) if repeat and "countMax" in repeat else None,
    )


def _roles_by_profession(codesystem: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """National profession code -> care-circle role, from the role CodeSystem's nationalCode.

    The MSP doctor's steps go to the ``mrtc-physician`` member (national code
    G15#10), not to the child's GP (``primary-care-physician``, code PCP).
    """
    out: dict[tuple[str, str], str] = {}
    for concept in codesystem.get("concept") or []:
        for prop in concept.get("property") or []:
            if prop.get("code") != "nationalCode":
                continue
            coding = prop.get("valueCoding") or {}
            key = (str(coding.get("system")), str(coding.get("code")))
            out.setdefault(key, str(concept.get("code")))
    return out
