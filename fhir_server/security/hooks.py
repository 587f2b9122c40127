"""Write hooks of the security layer (``resources.hooks.TypeHooks`` by shape).

* ``CareCircleHooks``: "une structure qui crée un dossier patient est
  automatiquement habilitée". When a person or a structure account creates a
  Patient, the record's care circle is created in the same transaction, with
  the creator as its ``autoHabilitation`` participant (a structure as its
  Organization, a person as itself) — so the creator can open the record it
  just made, and the label the booklet shows in yellow is there.
* ``PolicyRefresh``: once a write that can change someone's habilitation or
  identity commits (care circles, tasks, practitioners and their roles, new
  records), the policy forgets the views it cached.
"""

from __future__ import annotations

import uuid
from typing import Any

from fhir_server.security.care_policy import CarePolicy
from fhir_server.security.habilitation import AUTO_HABILITATION, CARE_CIRCLE
from fhir_server.security.principal import Principal
from fhir_server.storage.repository import Change, ReadScope, Repository, instant, now

ROLE_SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
CARETEAM_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam"


class CareCircleHooks:
    """Registered for Patient: habilitates the creator of a new record (see module docstring)."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def normalise(self, resource: dict[str, Any]) -> dict[str, Any]:
        return resource

    async def effects(self, event: Any, scope: ReadScope) -> None:
        principal = getattr(event.actor, "principal", None)
        if event.previous is not None or event.resource is None:
            return
        if not isinstance(principal, Principal) or principal.is_system:
            return
        team = care_circle(event.id, principal)
        if team is None:
            return
        id_, when = str(uuid.uuid4()), now()
        team = {
            "resourceType": "CareTeam",
            "id": id_,
            "meta": {
                "versionId": "1",
                "lastUpdated": instant(when),
                "profile": [CARETEAM_PROFILE],
            },
            **team,
        }
        await self.repository.write(Change("CareTeam", id_, 1, None, when, team, "POST"), scope)

    async def after_commit(self, event: Any) -> None:
        return None


def care_circle(patient_id: str, creator: Principal) -> dict[str, Any] | None:
    """The care circle of a new record, its creator auto-habilitated."""
    if creator.is_structure and creator.organizations:
        member = f"Organization/{creator.organizations[0]}"
        role = ("coordinating-structure", "Structure de coordination (MSP / centre de santé)")
    elif creator.practitioner:
        member = f"Practitioner/{creator.practitioner}"
        role = ("other-professional", "Autre professionnel")
    else:
        return None
    today = instant(now())[:10]
    team: dict[str, Any] = {
        "status": "active",
        "category": [
            {
                "coding": [
                    {"system": CARE_CIRCLE[0], "code": CARE_CIRCLE[1], "display": "Cercle de soins"}
                ]
            }
        ],
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": today},
        "participant": [
            {
                "extension": [{"url": AUTO_HABILITATION, "valueBoolean": True}],
                "role": [
                    {"coding": [{"system": ROLE_SYSTEM, "code": role[0], "display": role[1]}]}
                ],
                "member": {"reference": member},
                "period": {"start": today},
            }
        ],
    }
    if creator.organizations:
        team["managingOrganization"] = [{"reference": f"Organization/{creator.organizations[0]}"}]
    return team


class PolicyRefresh:
    """After a commit that may change habilitations, drop the policy's cached views."""

    TYPES = ("CareTeam", "Task", "Practitioner", "PractitionerRole", "Organization", "Patient")

    def __init__(self, policy: CarePolicy) -> None:
        self.policy = policy

    async def normalise(self, resource: dict[str, Any]) -> dict[str, Any]:
        return resource

    async def effects(self, event: Any, scope: ReadScope) -> None:
        return None

    async def after_commit(self, event: Any) -> None:
        if event.type == "Patient" and event.previous is not None:
            return  # only a new record (and its care circle) changes who sees what
        self.policy.invalidate()
