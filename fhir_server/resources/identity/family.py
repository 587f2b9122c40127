"""Family links between records, kept symmetric by the server.

The booklet: "Il est possible de lier deux dossiers patients ayant un lien de
parenté" — to move between the records of one family and to share tasks. A
link is the IG's ``mrtc-family-link`` extension on one Patient (the other
record, and what that person is for this one). When a write adds a link to
record B, the server writes B's reciprocal link in the same transaction —
the relationship turned round by the IG ConceptMap
``mrtc-family-relationship-inverse`` (mother -> child, sibling -> sibling) —
and removes it when the link goes, or when the record is deleted. So the link
shows from both records, whichever side was edited. A reciprocal link the
other record already holds is kept as it is (its relationship, its text).

Linking writes into the other record, so the caller must be able to open it
(403 otherwise, the same whether it exists or not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_server.errors import Forbidden
from fhir_server.ig import ImplementationGuide
from fhir_server.resources.hooks import Resource, WriteEvent
from fhir_server.resources.identity.traits import FAMILY_LINK
from fhir_server.storage.repository import Change, ReadScope, Repository, instant, now

INVERSE_MAP = "https://mrtc.example.org/fhir/ConceptMap/mrtc-family-relationship-inverse"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
FALLBACK = ("FAMMEM", "family member")


def inverse_table(ig: ImplementationGuide) -> dict[str, tuple[str, str]]:
    for cm in ig.of_type("ConceptMap"):
        if cm.get("url") == INVERSE_MAP:
            return {
                element["code"]: (element["target"][0]["code"], element["target"][0]["display"])
                for group in cm.get("group") or []
                for element in group.get("element") or []
                if element.get("target")
            }
    raise ValueError(f"the implementation guide has no ConceptMap {INVERSE_MAP}")


def links(resource: Mapping[str, Any] | None) -> dict[str, str | None]:
    """Linked patient id -> relationship code (what that person is for this record)."""
    out: dict[str, str | None] = {}
    for ext in (resource or {}).get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != FAMILY_LINK:
            continue
        target, code = None, None
        for sub in ext.get("extension") or []:
            if not isinstance(sub, dict):
                continue
            if sub.get("url") == "patient":
                ref = (sub.get("valueReference") or {}).get("reference")
                if isinstance(ref, str) and ref.startswith("Patient/"):
                    target = ref.split("/")[1]
            elif sub.get("url") == "relationship":
                for coding in (sub.get("valueCodeableConcept") or {}).get("coding") or []:
                    if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                        code = coding["code"]
                        break
        if target:
            out[target] = code
    return out


class FamilyLinks:
    """The symmetric half of family links, written inside the write's transaction."""

    def __init__(self, repository: Repository, ig: ImplementationGuide) -> None:
        self.repository = repository
        self.inverse = inverse_table(ig)

    def reciprocal(self, patient_id: str, code: str | None) -> dict[str, Any]:
        inverse, display = self.inverse.get(code or "", FALLBACK)
        return {
            "url": FAMILY_LINK,
            "extension": [
                {"url": "patient", "valueReference": {"reference": f"Patient/{patient_id}"}},
                {
                    "url": "relationship",
                    "valueCodeableConcept": {
                        "coding": [{"system": ROLE_CODE, "code": inverse, "display": display}]
                    },
                },
            ],
        }

    async def apply(self, event: WriteEvent, previous: Resource | None, scope: ReadScope) -> None:
        if event.type != "Patient":
            return
        before, after = links(previous), links(event.resource)
        if before == after:
            return
        for other, code in after.items():
            if before.get(other, "-") != code:
                await self._set(other, event.id, code, scope)
        for other in before.keys() - after.keys():
            await self._set(other, event.id, None, scope, remove=True)

    async def _set(
        self, other: str, me: str, code: str | None, scope: ReadScope, *, remove: bool = False
    ) -> None:
        if other == me:
            return  # the profile refuses a link to oneself (mrtc-pat-13)
        visible = await self.repository.read("Patient", other, scope)
        if visible is None or visible.deleted or visible.resource is None:
            if remove:
                return  # gone, or out of sight: nothing left to undo there
            stored = await self.repository.read("Patient", other, scope.unrestricted())
            if stored is None or stored.deleted:
                return  # not written yet (later in this bundle), or dangling: the
                # reference check of the write refuses what never comes
            raise Forbidden(
                f"Linking to Patient/{other} writes into that record, which you may not open",
                msg_id="MRTC-IDN-040",
            )
        resource = dict(visible.resource)
        existing = resource.get("extension") or []
        mine = [e for e in existing if me in links({"extension": [e]})]
        if mine and not remove:
            return  # the other record already links back: its own wording is kept
        if not mine and remove:
            return
        kept = [e for e in existing if e not in mine]
        wanted = kept if remove else [*kept, self.reciprocal(me, code)]
        resource["extension"] = wanted
        if not wanted:
            resource.pop("extension")
        version, when = visible.version + 1, now()
        meta = dict(resource.get("meta") or {})
        meta["versionId"] = str(version)
        meta["lastUpdated"] = instant(when)
        resource["meta"] = meta
        await self.repository.write(
            Change("Patient", other, version, visible.version, when, resource, "PUT"),
            scope.unrestricted(),
        )
