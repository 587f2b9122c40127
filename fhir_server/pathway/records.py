"""What the pathway engine reads from a patient's record, unrestricted, in the caller's transaction.

The policy decided the request; these reads gather the facts the booklet's
rules need (the care circle and its roles, the active consent, the pathway's
steps) whatever the caller may see of them: a dietitian completing her step
still triggers a step owned by the psychologist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir_server.resources.consent import active_consent
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.settings import SearchSettings
from fhir_server.storage.lookup import Lookup
from fhir_server.storage.repository import ReadScope, Repository, StoredResource

CARE_CIRCLE = ("https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category", "care-circle")
PATHWAY_CATEGORY = (
    "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category",
    "mrtc-pathway",
)
ROLE_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
MANUAL_MEMBER = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-manual-member"
OPEN_PATHWAY = ("active", "on-hold", "draft")
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Member:
    """One member of the care circle who can be assigned steps."""

    reference: str  # Practitioner/x | PractitionerRole/x | Organization/x
    roles: tuple[str, ...]  # mrtc-care-circle-role codes


@dataclass(frozen=True)
class CareCircle:
    team_id: str
    members: tuple[Member, ...]
    structures: tuple[str, ...]  # managingOrganization ids

    def with_role(self, role: str) -> list[Member]:
        return [m for m in self.members if role in m.roles]

    def assignable(self) -> list[str]:
        """Every member that can receive Tasks (persons and structures, not relatives)."""
        return [
            m.reference
            for m in self.members
            if m.reference.startswith(("Practitioner/", "PractitionerRole/", "Organization/"))
        ]


def _ref(value: Any) -> str:
    ref = value.get("reference") if isinstance(value, dict) else None
    return ref if isinstance(ref, str) else ""


def _ended(period: Any, now: datetime) -> bool:
    end = (period or {}).get("end") if isinstance(period, dict) else None
    return isinstance(end, str) and end[:10] < now.date().isoformat()


def _has_coding(concepts: Any, pair: tuple[str, str]) -> bool:
    return any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == pair
        for concept in concepts or []
        for c in (concept or {}).get("coding") or []
    )


class PathwayRecords:
    """Reads for the pathway engine (see module docstring)."""

    def __init__(
        self, repository: Repository, registry: SearchParameterRegistry, settings: SearchSettings
    ) -> None:
        self.repository = repository
        self.registry = registry
        self.settings = settings
        self.lookup = Lookup(repository, registry, settings)

    async def find(
        self, type_: str, query: Sequence[tuple[str, str]], scope: ReadScope
    ) -> list[StoredResource]:
        return await self.lookup.find(type_, query, scope, MAX_ITEMS)

    async def read(self, type_: str, id_: str, scope: ReadScope) -> dict[str, Any] | None:
        found = await self.repository.read(type_, id_, scope.unrestricted())
        return None if found is None or found.deleted else found.resource

    async def has_active_consent(self, patient_id: str, scope: ReadScope) -> bool:
        """Whether a consent to coordinated care is in force for the record.

        The consent feature owns what "in force" means (status, profile or
        category, collection date, provision period): asked, not re-decided here.
        """
        found = await active_consent(
            self.repository, self.registry, self.settings, patient_id, scope
        )
        return found is not None

    async def open_pathways(self, patient_id: str, scope: ReadScope) -> list[StoredResource]:
        """The patient's MRTC pathways that are neither closed nor revoked."""
        found = await self.find(
            "CarePlan",
            [("subject", f"Patient/{patient_id}"), ("status", ",".join(OPEN_PATHWAY))],
            scope,
        )
        return [
            s for s in found if _has_coding((s.resource or {}).get("category"), PATHWAY_CATEGORY)
        ]

    async def care_circle(self, patient_id: str, scope: ReadScope) -> CareCircle | None:
        """The record's active care circle, its members with their roles (manual members apart)."""
        now = datetime.now(UTC)
        for stored in await self.find(
            "CareTeam", [("subject", f"Patient/{patient_id}"), ("status", "active")], scope
        ):
            team = stored.resource or {}
            if not _has_coding(team.get("category"), CARE_CIRCLE) or _ended(
                team.get("period"), now
            ):
                continue
            members: dict[str, list[str]] = {}
            for participant in team.get("participant") or []:
                if not isinstance(participant, dict) or _ended(participant.get("period"), now):
                    continue
                if any(
                    isinstance(e, dict) and e.get("url") == MANUAL_MEMBER
                    for e in participant.get("extension") or []
                ):
                    continue  # a manual member never gains access, so is never assigned
                ref = _ref(participant.get("member"))
                if not ref:
                    continue
                roles = [
                    str(c.get("code"))
                    for concept in participant.get("role") or []
                    for c in (concept or {}).get("coding") or []
                    if isinstance(c, dict) and c.get("system") == ROLE_SYSTEM
                ]
                members.setdefault(ref, []).extend(roles)
            structures = tuple(
                _ref(o).partition("/")[2]
                for o in team.get("managingOrganization") or []
                if _ref(o).startswith("Organization/")
            )
            return CareCircle(
                stored.id,
                tuple(Member(ref, tuple(dict.fromkeys(r))) for ref, r in members.items()),
                structures,
            )
        return None

    async def steps(self, careplan_id: str, scope: ReadScope) -> list[StoredResource]:
        """Every step (Task) of a pathway, oldest first."""
        found = await self.find("Task", [("based-on", f"CarePlan/{careplan_id}")], scope)
        return sorted(found, key=lambda s: (str((s.resource or {}).get("authoredOn") or ""), s.id))


def section_of(task: Mapping[str, Any]) -> str:
    for e in task.get("extension") or []:
        if isinstance(e, dict) and e.get("url") == SECTION_URL:
            return str((e.get("valueCoding") or {}).get("code") or "")
    return ""


def step_code(task: Mapping[str, Any]) -> str:
    for c in (task.get("code") or {}).get("coding") or []:
        if isinstance(c, dict) and c.get("system") == STEP_SYSTEM:
            return str(c.get("code"))
    return ""


def scheduled(task: Mapping[str, Any]) -> str | None:
    start = (((task.get("restriction") or {}).get("period")) or {}).get("start")
    return str(start)[:10] if isinstance(start, str) else None


SECTION_URL = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-task-section"
STEP_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-pathway-step"
