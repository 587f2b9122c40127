"""Saved dashboard filters: Basic resources of the mrtc-dashboard-filter profile, checked on write.

The booklet advises « créer le filtre de recherche et l'enregistrer par
défaut » on the pathway dashboard. A saved filter is a FHIR resource its
owner manages with plain REST (decision 0037): a ``Basic`` whose ``code`` is
``mrtc-dashboard#saved-filter``, whose ``author`` is its owner (the person's
Practitioner, or the PractitionerRole of a structure account), carrying one
``mrtc-dashboard-filter`` extension: a ``name``, an optional ``default``
flag and the ``criterion`` items of ``CarePlan/$dashboard`` as
``name=value`` strings.

Privacy is the access policy's (``security.compartment``: a saved filter's
access key is its author, never "no patient"), so only its owner reads,
searches or changes it. This hook checks the shape (422 naming the rule) and
that an owner keeps at most one default filter (409 naming the other one);
it writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_server.errors import ProfileViolation, VersionConflict
from fhir_server.resources.hooks import BaseHooks, Resource, WriteEvent
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.request import parse_search
from fhir_server.settings import Settings
from fhir_server.storage.repository import ReadScope, Repository

SYSTEM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-dashboard"
CODE = "saved-filter"
EXTENSION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-saved-filter"
PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-dashboard-filter"
# The $dashboard criteria a filter may hold (ig/OperationDefinition-CarePlan-dashboard.json).
CRITERIA = frozenset({"pathway", "status", "organization", "owner", "next-step-before"})
OWNER_TYPES = ("Practitioner/", "PractitionerRole/", "Organization/")
SAVED_FILTER_KEY = f"code.coding.where(system = '{SYSTEM}' and code = '{CODE}').exists()"

MSG_SHAPE = "MRTC-DSH-010"
MSG_SECOND_DEFAULT = "MRTC-DSH-011"


def is_saved_filter(resource: Mapping[str, Any] | None) -> bool:
    if not resource or resource.get("resourceType") != "Basic":
        return False
    codings = (resource.get("code") or {}).get("coding") or []
    return any(c.get("system") == SYSTEM and c.get("code") == CODE for c in codings)


def _extension(resource: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ext in resource.get("extension", []) or []:
        if ext.get("url") == EXTENSION:
            return ext  # type: ignore[no-any-return]
    return None


def is_default(resource: Mapping[str, Any]) -> bool:
    ext = _extension(resource) or {}
    return any(
        sub.get("url") == "default" and sub.get("valueBoolean") is True
        for sub in ext.get("extension", []) or []
    )


def criteria_items(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The filter's criteria as (name, value) items, in the order written."""
    ext = _extension(resource) or {}
    out = []
    for sub in ext.get("extension", []) or []:
        if sub.get("url") == "criterion" and isinstance(sub.get("valueString"), str):
            name, _, value = sub["valueString"].partition("=")
            out.append((name.strip(), value.strip()))
    return out


def owner(resource: Mapping[str, Any]) -> str | None:
    ref = (resource.get("author") or {}).get("reference")
    return ref if isinstance(ref, str) else None


def check_shape(resource: Mapping[str, Any]) -> None:
    """Refuse a saved filter the dashboard could not apply (422, the rule named)."""

    def refuse(why: str, where: str) -> ProfileViolation:
        return ProfileViolation(
            f"A saved dashboard filter {why}", expression=(where,), msg_id=MSG_SHAPE
        )

    ref = owner(resource)
    if not ref or not ref.startswith(OWNER_TYPES):
        raise refuse(
            "names its owner as author (Practitioner, PractitionerRole or Organization)",
            "Basic.author",
        )
    ext = _extension(resource)
    if ext is None:
        raise refuse(f"carries the extension {EXTENSION}", "Basic.extension")
    subs = ext.get("extension", []) or []
    names = [s for s in subs if s.get("url") == "name"]
    if len(names) != 1 or not str(names[0].get("valueString") or "").strip():
        raise refuse("has exactly one non-empty name", "Basic.extension.extension")
    for sub in subs:
        url = sub.get("url")
        if url == "default" and not isinstance(sub.get("valueBoolean"), bool):
            raise refuse("says 'default' with a valueBoolean", "Basic.extension.extension")
        if url == "criterion":
            text = sub.get("valueString")
            name, sep, value = (text or "").partition("=")
            if not isinstance(text, str) or not sep or not value.strip():
                raise refuse("writes each criterion as name=value", "Basic.extension.extension")
            if name.strip() not in CRITERIA:
                raise refuse(
                    f"holds only $dashboard criteria ({', '.join(sorted(CRITERIA))}), "
                    f"not '{name.strip()}'",
                    "Basic.extension.extension",
                )
        elif url not in ("name", "default"):
            raise refuse(f"has no '{url}' part", "Basic.extension.extension")


class SavedFilterHooks(BaseHooks):
    """Registered for Basic: checks saved dashboard filters (see module docstring)."""

    def __init__(
        self, repository: Repository, registry: SearchParameterRegistry, settings: Settings
    ) -> None:
        self.repository = repository
        self.registry = registry
        self.settings = settings

    async def normalise(self, resource: Resource) -> Resource:
        if is_saved_filter(resource):
            check_shape(resource)
        return resource

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        resource = event.resource
        if not is_saved_filter(resource) or resource is None or not is_default(resource):
            return
        ref = owner(resource)
        assert ref is not None  # check_shape
        request = parse_search(
            self.registry,
            "Basic",
            [("code", f"{SYSTEM}|{CODE}"), ("author", ref)],
            settings=self.settings.search,
            strict=True,
        )
        others = await self.repository.find(
            "Basic", request.clauses, self.settings.max_count, scope.unrestricted(), base_url=""
        )
        for other in others:
            if other.id != event.id and other.resource and is_default(other.resource):
                raise VersionConflict(
                    f"Basic/{other.id} is already the default dashboard filter of {ref}; "
                    "clear its default flag first (or in the same transaction bundle)",
                    msg_id=MSG_SECOND_DEFAULT,
                )
