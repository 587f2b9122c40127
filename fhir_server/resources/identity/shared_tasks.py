"""Shared tasks between the records of one family ("tâches communes").

The booklet links the records of one family "pour faciliter la transition
entre les différents dossiers d'une même famille et de créer des tâches
communes". A Task stays about one child (``Task.for``); it is shared with a
sibling's record by naming that Patient in ``Task.restriction.recipient``
("for whom is fulfilment sought" admits a Patient). The access policy already
grants a Task to its recipients' keys, so the shared Task shows in the other
record (for whoever may open it) and ``Task?shared-with=Patient/x`` lists it.
This rule keeps sharing within a family: every recipient Patient other than
``Task.for`` must be linked to it by the IG's ``mrtc-family-link``.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import BusinessRuleViolation
from fhir_server.resources.hooks import BaseHooks, WriteEvent
from fhir_server.resources.identity.traits import FAMILY_LINK
from fhir_server.storage.repository import ReadScope, Repository

MSG_NOT_FAMILY = "MRTC-IDN-045"


def _patient_id(value: Any) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    if isinstance(ref, str) and ref.startswith("Patient/") and "/" not in ref[8:]:
        return ref[8:]
    return None


def linked_records(patient: dict[str, Any]) -> set[str]:
    """The ids of the records ``patient``'s family links name."""
    out: set[str] = set()
    for ext in patient.get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != FAMILY_LINK:
            continue
        for part in ext.get("extension") or []:
            if isinstance(part, dict) and part.get("url") == "patient":
                found = _patient_id(part.get("valueReference"))
                if found:
                    out.add(found)
    return out


class SharedTaskRules(BaseHooks):
    """Registered for Task: a Task is shared only with the records of its child's family."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        task = event.resource
        if task is None:
            return
        owner = _patient_id(task.get("for"))
        shared = {
            pid
            for r in (task.get("restriction") or {}).get("recipient") or []
            if (pid := _patient_id(r)) and pid != owner
        }
        if not shared:
            return
        family: set[str] = set()
        if owner:
            stored = await self.repository.read("Patient", owner, scope.unrestricted())
            if stored is not None and not stored.deleted and stored.resource:
                family = linked_records(stored.resource)
        strangers = sorted(shared - family)
        if strangers:
            raise BusinessRuleViolation(
                f"Task/{event.id} is shared with Patient/{strangers[0]}, which is not a record "
                f"of the family of {'Patient/' + owner if owner else 'its patient (Task.for)'}: "
                "a task is shared only between records linked by mrtc-family-link",
                msg_id=MSG_NOT_FAMILY,
            )
