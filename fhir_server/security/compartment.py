"""The Patient compartment, as the access rule needs it: which resources belong to which record.

https://hl7.org/fhir/R4/compartmentdefinition-patient.html says, per resource
type, which search parameters place a resource in a patient's compartment
(Observation: ``subject`` or ``performer``; Task: ``patient`` or ``focus``;
...). The access rule is "a resource of such a type is visible when one of the
patients it belongs to is visible", an OR over several parameters, which the
embedded database could only answer by scanning (DESIGN.md, "The embedded
database's query planner").

So each compartment type gets one more reference search parameter,
``mrtc-access``, extracted at write time like any other: the ``Patient/id``
references of its compartment parameters, or ``urn:mrtc-fhir:no-patient`` when it
belongs to no patient (such a resource is outside every record and visible
to every authenticated principal). A few types add the references that grant
access without the care circle: a Task's assignees (``owner`` and
``restriction.recipient``), a DocumentReference's linked Tasks
(``context.related``) and its own ``DocumentReference/id`` (so a Task's
``output`` can grant it). The restriction is then one ``$in`` on one indexed
field; the definitions are generated here from the shipped CompartmentDefinition,
never written by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources as importlib_resources
from typing import Any

from fhir_server.fhirpath import split_union
from fhir_server.search.registry import SearchParameterRegistry

ACCESS_CODE = "mrtc-access"
ACCESS_URL = "https://mrtc.example.org/fhir/SearchParameter/mrtc-access"
NONE = "urn:mrtc-fhir:no-patient"  # the access key of a resource that belongs to no patient
# Access granted beside the compartment (see module docstring), as FHIRPath on the type.
_GRANTS = {
    "Task": ("owner", "restriction.recipient"),
    "DocumentReference": ("context.related.where(resolve() is Task)",),
}
_SELF_KEY = frozenset({"DocumentReference"})
# Resources private to their author whatever patient they name (a saved dashboard filter):
# type -> (FHIRPath condition, the author element that becomes the access key instead).
_PRIVATE = {
    "Basic": (
        "code.coding.where(system = 'https://mrtc.example.org/fhir/CodeSystem/mrtc-dashboard'"
        " and code = 'saved-filter').exists()",
        "author",
    ),
    # A private favourites group (booklet: "privé ou public (c'est-à-dire rendu visible aux
    # membres)"): its creator's only; without the visibility extension a group is private.
    "Group": (
        "code.coding.where(system = "
        "'https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category'"
        " and code = 'favourites-group').exists() and extension.where(url = "
        "'https://mrtc.example.org/fhir/StructureDefinition/mrtc-group-visibility'"
        " and value = 'public').empty()",
        "managingEntity",
    ),
}
PRIVATE_TYPES = frozenset(_PRIVATE)
_WHERE_PATIENT = ".where(resolve() is Patient)"
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True)
class PatientCompartment:
    """Compartment parameters per resource type (R4 Patient CompartmentDefinition)."""

    params: Mapping[str, tuple[str, ...]]

    @classmethod
    def load(cls) -> PatientCompartment:
        raw = (
            importlib_resources.files("fhir_server.data")
            .joinpath("compartmentdefinition-patient.json")
            .read_text(encoding="utf-8")
        )
        definition = json.loads(raw)
        return cls(
            {
                r["code"]: tuple(r["param"])
                for r in definition.get("resource", [])
                if r.get("param") and r["code"] != "Patient"
            }
        )

    @property
    def types(self) -> frozenset[str]:
        """Types whose resources may belong to a patient's record (Patient itself apart)."""
        return frozenset(self.params)

    def access_parameters(self, registry: SearchParameterRegistry) -> list[dict[str, Any]]:
        """One ``mrtc-access`` SearchParameter per compartment type the registry knows."""
        out = []
        for type_, codes in sorted(self.params.items()):
            if type_ not in registry.types:
                continue
            branches: list[str] = []
            for code in codes:
                param = registry.get(type_, code)
                if param is None or not param.expression:
                    continue
                for branch in split_union(param.expression):
                    relative = _relative(branch.strip(), type_)
                    if relative:
                        branches.append(relative.replace(_WHERE_PATIENT, ""))
            if not branches:
                continue
            patients = f"({' | '.join(dict.fromkeys(branches))}){_WHERE_PATIENT}"
            parts = [f"iif({patients}.exists(), {patients}, '{NONE}')"]
            if type_ in _PRIVATE:
                private, author = _PRIVATE[type_]
                parts = [f"iif({private}, {author}, {parts[0]})"]
            parts += list(_GRANTS.get(type_, ()))
            if type_ in _SELF_KEY:
                parts.append(f"('{type_}/' + id)")
            out.append(
                {
                    "resourceType": "SearchParameter",
                    "url": f"{ACCESS_URL}-{type_}",
                    "name": "MrtcAccess",
                    "status": "active",
                    "code": ACCESS_CODE,
                    "base": [type_],
                    "type": "reference",
                    "expression": f"{type_}.select({' | '.join(parts)})",
                    "description": (
                        "Server-computed access keys: the patients whose record holds the "
                        "resource (urn:mrtc-fhir:no-patient for none) and the references "
                        "that grant it beside the care circle (see docs/security.md)."
                    ),
                }
            )
        if "Binary" in registry.types:
            out.append(
                {
                    "resourceType": "SearchParameter",
                    "url": f"{ACCESS_URL}-Binary",
                    "name": "MrtcAccess",
                    "status": "active",
                    "code": ACCESS_CODE,
                    "base": ["Binary"],
                    "type": "reference",
                    "expression": (
                        f"Binary.select(iif(securityContext.exists(), securityContext, '{NONE}'))"
                    ),
                    "description": (
                        "Server-computed access key of a Binary: the resource its "
                        "securityContext names, whose visibility it takes (docs/security.md)."
                    ),
                }
            )
        return out


def _relative(branch: str, type_: str) -> str | None:
    """``Observation.subject`` -> ``subject`` (what a ``select`` on the resource reads)."""
    text = branch.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    if text.startswith(type_ + "."):
        return text[len(type_) + 1 :]
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def patient_ids(references: Iterable[str]) -> list[str]:
    """The patient ids among index keys or reference strings (relative or absolute)."""
    out = []
    for ref in references:
        m = _PATIENT_REF.search(ref)
        if m:
            out.append(m[1])
    return list(dict.fromkeys(out))


def referenced_patients(value: Any, found: set[str] | None = None) -> set[str]:
    """Every ``Patient/id`` a resource (or Bundle) references anywhere (audit entities).

    Deliberately broad and cheap: it names the records an answer touched,
    for the audit trail, and decides no access.
    """
    found = set() if found is None else found
    if isinstance(value, dict):
        if value.get("resourceType") == "Patient" and isinstance(value.get("id"), str):
            found.add(value["id"])
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.update(patient_ids([item]))
            elif isinstance(item, dict | list):
                referenced_patients(item, found)
    elif isinstance(value, list):
        for item in value:
            referenced_patients(item, found)
    return found
