"""Lasting access requests: accepted, the requester joins the care circle; both told.

The booklet ("Accès bris de glace"): once the temporary access expires, "une
demande d'accès définitif auprès d'un membre du cercle de soins est
nécessaire". ``Patient/$request-access`` stores the request as a Task
(``code`` ``mrtc-notification#access-request``, ``requester`` the person or
structure, ``restriction.recipient`` the record's habilitated members, who
are told). A member answers with any FHIR client by updating the Task:

* ``status`` ``accepted`` or ``completed``: the requester is added to the
  record's care circle (role ``other-professional``, in the same
  transaction) and told;
* ``status`` ``rejected``: the request is closed and the requester told.

Adding the requester is written here, in the Task's transaction, as the
server: the member's decision is the authority, as the booklet says.
"""

from __future__ import annotations

import uuid
from typing import Any

from fhir_server.notify.notifier import NOTIFICATION_SYSTEM, Notifier
from fhir_server.resources.care_circle import (
    CARE_CIRCLE,
    ROLE_SYSTEM,
    RolePriority,
    is_care_circle,
    local,
)
from fhir_server.resources.hooks import BaseHooks
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.settings import Settings
from fhir_server.storage.lookup import Lookup
from fhir_server.storage.repository import Change, ReadScope, Repository, instant, now

ACCESS_REQUEST = "access-request"
GRANTED = ("accepted", "completed")


def is_access_request(task: dict[str, Any] | None) -> bool:
    return any(
        isinstance(c, dict)
        and (c.get("system"), c.get("code")) == (NOTIFICATION_SYSTEM, ACCESS_REQUEST)
        for c in ((task or {}).get("code") or {}).get("coding") or []
    )


class AccessRequestDecisions(BaseHooks):
    """Hooks for Task: a member's answer to an access request (see module docstring)."""

    def __init__(
        self,
        repository: Repository,
        registry: SearchParameterRegistry,
        settings: Settings,
        notifier: Notifier,
        priority: RolePriority,
    ) -> None:
        self.repository = repository
        self.registry = registry
        self.settings = settings
        self.notifier = notifier
        self.priority = priority

    async def effects(self, event: Any, scope: ReadScope) -> None:
        task = event.resource
        if task is None or not is_access_request(task) or event.previous is None:
            return
        before = (event.previous.resource or {}).get("status")
        status = task.get("status")
        if status == before or status not in (*GRANTED, "rejected"):
            return
        if before in (*GRANTED, "rejected"):
            return  # already answered: an answer is given once
        requester = local(task.get("requester"))
        patient = local(task.get("for"))
        if not requester or not patient.startswith("Patient/"):
            return
        principal = getattr(event.actor, "principal", None)
        sender = getattr(principal, "fhir_user", None)
        values = {"sender_name": getattr(principal, "name", "") or ""}
        if status in GRANTED:
            await self._join(patient, requester, scope)
            kind = "access-granted"
        else:
            kind = "access-refused"
        await self.notifier.enqueue(
            scope,
            kind,
            requester,
            patient=patient,
            about=[f"Task/{event.id}"],
            sender=str(sender) if sender else None,
            values={k: v for k, v in values.items() if v},
        )

    async def _join(self, patient: str, requester: str, scope: ReadScope) -> None:
        lookup = Lookup(self.repository, self.registry, self.settings.search)
        teams = [
            t
            for t in await lookup.find(
                "CareTeam", [("patient", patient), ("status", "active")], scope, 100
            )
            if is_care_circle(t.resource)
        ]
        participant = {
            "role": [{"coding": [{"system": ROLE_SYSTEM, "code": "other-professional"}]}],
            "member": {"reference": requester},
            "period": {"start": instant(now())[:10]},
        }
        when = now()
        if not teams:
            id_ = str(uuid.uuid4())
            team: dict[str, Any] = {
                "resourceType": "CareTeam",
                "id": id_,
                "meta": {"versionId": "1", "lastUpdated": instant(when)},
                "status": "active",
                "category": [{"coding": [{"system": CARE_CIRCLE[0], "code": CARE_CIRCLE[1]}]}],
                "subject": {"reference": patient},
                "participant": [participant],
            }
            await self.repository.write(Change("CareTeam", id_, 1, None, when, team, "POST"), scope)
            return
        current = teams[0]
        team = dict(current.resource or {})
        if any(local(p.get("member")) == requester for p in team.get("participant") or []):
            return
        team["participant"] = self.priority.insert(team.get("participant") or [], participant)
        version = current.version + 1
        team["meta"] = {
            **(team.get("meta") or {}),
            "versionId": str(version),
            "lastUpdated": instant(when),
        }
        await self.repository.write(
            Change("CareTeam", current.id, version, current.version, when, team, "PUT"), scope
        )

    async def after_commit(self, event: Any) -> None:
        self.notifier.wake()
