"""Which records a person or structure may open, and why: the booklet's habilitation.

A patient's record is visible to a person or structure when it is

* a member of an active care-circle CareTeam of that patient whose
  participation has not ended — as its Practitioner, one of its
  PractitionerRoles or, for a structure account, its Organization; the
  ``autoHabilitation`` participant (the record's creator) counts like any
  member, a ``manualMember`` participant never does, whatever its flags say;
* or holding an unexpired break-glass grant (an AuditEvent of
  ``$break-glass`` whose agent it is, younger than FHIR_BREAK_GLASS_SECONDS).

Beside the care circle, a person assigned to Tasks of a pathway (``owner``
or ``restriction.recipient``: the booklet's "affecter le parcours à tous les
intervenants") sees those Tasks and the documents they link, not the rest of
the record. All of it is read here, unrestricted, from the stored resources;
``policy`` turns it into the restriction storage applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.values import date_range
from fhir_server.security.compartment import ACCESS_CODE
from fhir_server.security.periods import ended, not_started
from fhir_server.security.principal import Principal
from fhir_server.settings import SearchSettings
from fhir_server.storage.lookup import Lookup
from fhir_server.storage.repository import ReadScope, Repository, StoredResource, instant

CARE_CIRCLE = (
    "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category",
    "care-circle",
)
MANUAL_MEMBER = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-manual-member"
AUTO_HABILITATION = (
    "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-auto-habilitation"
)
AUDIT_SUBTYPE_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-audit-subtype"
BREAK_GLASS = "break-glass"
MAX_ITEMS = 100_000  # care teams / tasks read to build one caller's view


@dataclass(frozen=True)
class Visibility:
    """What one principal may open, computed at one instant."""

    circle: frozenset[str] = frozenset()  # patients habilitated through a care circle
    grants: Mapping[str, datetime] = field(default_factory=dict)  # patient -> break-glass end
    structures: Mapping[str, frozenset[str]] = field(default_factory=dict)  # record structures
    tasks: tuple[str, ...] = ()  # ids of Tasks assigned to the principal
    documents: tuple[str, ...] = ()  # ids of DocumentReferences those Tasks link
    valid_until: datetime | None = None  # the first break-glass grant to expire

    @property
    def patients(self) -> frozenset[str]:
        return self.circle | frozenset(self.grants)


def _has_extension(item: Mapping[str, Any], url: str) -> bool:
    return any(isinstance(e, dict) and e.get("url") == url for e in item.get("extension") or [])


def _is_care_circle(team: Mapping[str, Any]) -> bool:
    return any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == CARE_CIRCLE
        for concept in team.get("category") or []
        for c in (concept or {}).get("coding") or []
    )


def _ref(value: Any) -> str:
    ref = (value or {}).get("reference") if isinstance(value, dict) else None
    return ref.split("/_history/")[0] if isinstance(ref, str) else ""


def _local(ref: str) -> str:
    """``http://host/fhir/Practitioner/1`` -> ``Practitioner/1``."""
    parts = ref.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


class Habilitations:
    """Reads care circles, break-glass grants and task assignments for one principal."""

    def __init__(
        self, repository: Repository, registry: SearchParameterRegistry, settings: SearchSettings
    ) -> None:
        self.repository = repository
        self.registry = registry
        self.settings = settings
        self.lookup = Lookup(repository, registry, settings)

    async def _find(
        self, type_: str, query: Sequence[tuple[str, str]], scope: ReadScope
    ) -> list[StoredResource]:
        refs = [(name, value) for name, value in query if value]
        if len(refs) != len(query):
            return []
        return await self.lookup.find(type_, refs, scope, MAX_ITEMS)

    async def members(self, patient_id: str, scope: ReadScope) -> list[str]:
        """The habilitated members of a record's active care circles (who is notified)."""
        now = datetime.now(UTC)
        out: list[str] = []
        for stored in await self._find(
            "CareTeam", [("patient", f"Patient/{patient_id}"), ("status", "active")], scope
        ):
            team = stored.resource or {}
            if not _is_care_circle(team) or ended(team.get("period"), now):
                continue
            for participant in team.get("participant") or []:
                if not isinstance(participant, dict) or _has_extension(participant, MANUAL_MEMBER):
                    continue
                if ended(participant.get("period"), now):
                    continue
                member = _local(_ref(participant.get("member")))
                if member.startswith(("Practitioner/", "PractitionerRole/", "Organization/")):
                    out.append(member)
        return list(dict.fromkeys(out))

    async def visibility(
        self, principal: Principal, break_glass_seconds: int, scope: ReadScope | None = None
    ) -> Visibility:
        scope = scope or ReadScope()
        refs = principal.member_refs()
        if not refs:
            return Visibility()
        now = datetime.now(UTC)
        mine = set(refs)
        circle: set[str] = set()
        structures: dict[str, set[str]] = {}
        joined = ",".join(refs)
        for stored in await self._find(
            "CareTeam", [("participant", joined), ("status", "active")], scope
        ):
            team = stored.resource or {}
            patient = _local(_ref(team.get("subject")))
            if not patient.startswith("Patient/") or not _is_care_circle(team):
                continue
            if ended(team.get("period"), now):
                continue
            for participant in team.get("participant") or []:
                if not isinstance(participant, dict):
                    continue
                if _local(_ref(participant.get("member"))) not in mine:
                    continue
                if _has_extension(participant, MANUAL_MEMBER):
                    continue  # never gives access, whatever its flags say
                period = participant.get("period")
                if ended(period, now) or not_started(period, now):
                    continue
                pid = patient.partition("/")[2]
                circle.add(pid)
                orgs = structures.setdefault(pid, set())
                for org in team.get("managingOrganization") or []:
                    local = _local(_ref(org))
                    if local.startswith("Organization/"):
                        orgs.add(local.partition("/")[2])
        grants: dict[str, datetime] = {}
        if not principal.is_system:
            since = now - timedelta(seconds=break_glass_seconds)
            for stored in await self._find(
                "AuditEvent",
                [
                    ("agent", joined),
                    ("subtype", f"{AUDIT_SUBTYPE_SYSTEM}|{BREAK_GLASS}"),
                    ("outcome", "0"),
                    ("date", f"ge{instant(since)}"),
                ],
                scope,
            ):
                event = stored.resource or {}
                recorded = date_range(str(event.get("recorded") or ""))
                if recorded is None:
                    continue
                until = recorded[0] + timedelta(seconds=break_glass_seconds)
                if until <= now:
                    continue
                for entity in event.get("entity") or []:
                    local = _local(_ref((entity or {}).get("what")))
                    if local.startswith("Patient/"):
                        pid = local.partition("/")[2]
                        grants[pid] = max(grants.get(pid, until), until)
        tasks: list[str] = []
        documents: list[str] = []
        for stored in await self._find("Task", [(ACCESS_CODE, joined)], scope):
            task = stored.resource or {}
            tasks.append(stored.id)
            for item in [*(task.get("input") or []), *(task.get("output") or [])]:
                local = _local(_ref((item or {}).get("valueReference")))
                if local.startswith("DocumentReference/"):
                    documents.append(local.partition("/")[2])
        return Visibility(
            frozenset(circle),
            grants,
            {k: frozenset(v) for k, v in structures.items()},
            tuple(tasks),
            tuple(dict.fromkeys(documents)),
            min(grants.values()) if grants else None,
        )
