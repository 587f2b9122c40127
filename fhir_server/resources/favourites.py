"""Favourite groups (groupes de favoris): only their creator changes them.

The booklet ("Facultatif : créer ses groupes de favoris"): a person or a
structure creates a named group, private or public; "dans les deux cas, le
créateur du groupe reste le seul à pouvoir ajouter et/ou retirer un membre".
The creator is the Group's ``managingEntity``: a person creates a group it
manages (as its Practitioner or one of its PractitionerRoles), a structure
account one its Organization manages; afterwards only that creator may
update or delete it, and ``managingEntity`` never changes (403
``MRTC-CC-01x`` otherwise). Trusted systems (the regional platform) are
limited by their scopes only. Reading follows ``$add-group``: a structure's
groups serve all its records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_server.errors import Forbidden
from fhir_server.resources.care_circle import local
from fhir_server.resources.hooks import BaseHooks
from fhir_server.storage.repository import ReadScope

FAVOURITES = (
    "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category",
    "favourites-group",
)
VISIBILITY = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-group-visibility"
MEMBER_ROLE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-group-member-role"


def is_favourites(group: Mapping[str, Any] | None) -> bool:
    code = (group or {}).get("code") or {}
    return any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == FAVOURITES
        for c in code.get("coding") or []
    )


def visibility(group: Mapping[str, Any]) -> str:
    for ext in group.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == VISIBILITY:
            return str(ext.get("valueCode") or "private")
    return "private"


def actor_refs(principal: Any) -> set[str]:
    refs = set(getattr(principal, "member_refs", lambda: [])())
    if getattr(principal, "fhir_user", None):
        refs.add(str(principal.fhir_user))
    return refs


def is_system(principal: Any) -> bool:
    return principal is None or bool(getattr(principal, "is_system", False))


class FavouritesGroupRules(BaseHooks):
    """Hooks for Group: the creator-only rule (see module docstring)."""

    async def effects(self, event: Any, scope: ReadScope) -> None:
        old = event.previous.resource if event.previous and not event.previous.deleted else None
        new = event.resource
        if not is_favourites(new) and not is_favourites(old):
            return
        principal = getattr(event.actor, "principal", None)
        if is_system(principal):
            return
        mine = actor_refs(principal)
        if old is None:
            if local((new or {}).get("managingEntity")) not in mine:
                raise Forbidden(
                    "A favourites group is created by its manager: managingEntity must be "
                    "the caller (its Practitioner, PractitionerRole or structure)",
                    msg_id="MRTC-CC-010",
                )
            return
        if local(old.get("managingEntity")) not in mine:
            raise Forbidden(
                f"Only the creator of favourites group Group/{event.id} adds or removes "
                "its members",
                msg_id="MRTC-CC-011",
            )
        if new is not None and local(new.get("managingEntity")) != local(old.get("managingEntity")):
            raise Forbidden(
                f"The creator (managingEntity) of Group/{event.id} cannot change",
                msg_id="MRTC-CC-012",
            )
