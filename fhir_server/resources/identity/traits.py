"""The identity of a Patient as identity-vigilance reads it: traits, status, attributes.

Where each trait lives in FHIR is the MRTC Patient profile's (IG
``StructureDefinition-mrtc-patient``): the birth name is the ``official``
HumanName, the used name the ``usual`` one, the birth place the COG code of
the ``patient-birthPlace`` extension, the status and attributes the
``mrtc-identity-reliability`` extension. The placeholders that stand for an
unknown trait (« À DEMANDER », 01/01/1900, 99999, « VIDE ») come from the IG
CodeSystem ``mrtc-identity-placeholder``: a trait holding one is *missing*
for matching, never evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_server.ig import ImplementationGuide
from fhir_server.resources.identity import names

IG_BASE = "https://mrtc.example.org/fhir"
PATIENT_PROFILE = f"{IG_BASE}/StructureDefinition/mrtc-patient"
RELIABILITY = f"{IG_BASE}/StructureDefinition/mrtc-identity-reliability"
BIRTH_LIST = f"{IG_BASE}/StructureDefinition/mrtc-birth-list-given-name"
INSEE_CODE = f"{IG_BASE}/StructureDefinition/mrtc-insee-code"
FAMILY_LINK = f"{IG_BASE}/StructureDefinition/mrtc-family-link"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
PLACEHOLDER_SYSTEM = f"{IG_BASE}/CodeSystem/mrtc-identity-placeholder"
STATUS_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"
ATTRIBUTE_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status-comment"
INSEE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
PROVISIONAL = "PROV"
HOMONYM, DOUBTFUL, FICTITIOUS = "HOMA", "DOUT", "FICT"

# The five strict traits, in the booklet's order, with their FHIRPath location (for errors).
STRICT_TRAITS: tuple[tuple[str, str, str], ...] = (
    ("birth-family-name", "nom de naissance", "Patient.name.where(use = 'official').family"),
    (
        "first-birth-given-name",
        "premier prénom de naissance",
        "Patient.name.where(use = 'official').given.first()",
    ),
    ("birth-date", "date de naissance", "Patient.birthDate"),
    ("gender", "sexe", "Patient.gender"),
    (
        "birth-place-code",
        "code du lieu de naissance",
        f"Patient.extension('{BIRTH_PLACE}').value.extension('{INSEE_CODE}').value.code",
    ),
)


@dataclass(frozen=True)
class Placeholders:
    """The IG's stand-in values for unknown traits, by trait (``name``, ``birth-date``...)."""

    values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    fictitious_only: frozenset[str] = frozenset()  # name keys admitted only for FICT

    @classmethod
    def from_ig(cls, ig: ImplementationGuide) -> Placeholders:
        found: dict[str, set[str]] = {}
        fictitious: set[str] = set()
        for cs in ig.of_type("CodeSystem"):
            if cs.get("url") != PLACEHOLDER_SYSTEM:
                continue
            for concept in cs.get("concept") or []:
                props = {p.get("code"): p for p in concept.get("property") or []}
                trait = (props.get("trait") or {}).get("valueCode")
                value = (props.get("value") or {}).get("valueString")
                if not trait or not isinstance(value, str):
                    continue
                stored = names.key(value) if trait == "name" else value
                found.setdefault(trait, set()).add(stored)
                if (props.get("fictitiousOnly") or {}).get("valueBoolean"):
                    fictitious.add(stored)
        if not found:
            raise ValueError(f"the implementation guide has no CodeSystem {PLACEHOLDER_SYSTEM}")
        return cls({k: frozenset(v) for k, v in found.items()}, frozenset(fictitious))

    def is_placeholder(self, trait: str, value: str | None) -> bool:
        if value is None:
            return False
        if trait in ("birth-family-name", "first-birth-given-name", "name"):
            return names.key(value) in self.values.get("name", frozenset())
        if trait == "birth-date":
            return value in self.values.get("birth-date", frozenset())
        if trait == "birth-place-code":
            return value in self.values.get("birth-place", frozenset())
        return False


@dataclass(frozen=True)
class Identity:
    """What identity-vigilance reads in one Patient (``None``: absent)."""

    family: str | None = None  # birth family name
    given: str | None = None  # first birth given name
    birth_date: str | None = None
    gender: str | None = None
    birth_place: str | None = None
    birth_given_names: str | None = None  # every birth given name (birth-list-given-name)
    used_family: str | None = None
    used_given: str | None = None
    rank: int | None = None  # twin rank (multipleBirthInteger)
    status: str | None = None
    attributes: frozenset[str] = frozenset()
    validation_mode: tuple[str, str] | None = None  # (system, code) of the document seen
    validation_date: str | None = None

    def strict(self) -> dict[str, str | None]:
        return {
            "birth-family-name": self.family,
            "first-birth-given-name": self.given,
            "birth-date": self.birth_date,
            "gender": self.gender,
            "birth-place-code": self.birth_place,
        }

    @property
    def homonym(self) -> bool:
        return HOMONYM in self.attributes


def _first(items: Any) -> Any:
    return items[0] if isinstance(items, list) and items else None


def _name(resource: Mapping[str, Any], use: str) -> Mapping[str, Any]:
    for name in resource.get("name") or []:
        if isinstance(name, dict) and name.get("use") == use:
            return name
    return {}


def _ext(items: Any, url: str) -> list[Mapping[str, Any]]:
    return [e for e in items or [] if isinstance(e, dict) and e.get("url") == url]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def birth_place_code(resource: Mapping[str, Any]) -> str | None:
    for place in _ext(resource.get("extension"), BIRTH_PLACE):
        address = place.get("valueAddress") or {}
        for code in _ext(address.get("extension"), INSEE_CODE):
            return _str((code.get("valueCoding") or {}).get("code"))
    return None


def reliability(resource: Mapping[str, Any]) -> Mapping[str, Any] | None:
    found = _ext(resource.get("extension"), RELIABILITY)
    return found[0] if found else None


def identity_of(resource: Mapping[str, Any]) -> Identity:
    """The identity a stored or submitted Patient carries."""
    official, usual = _name(resource, "official"), _name(resource, "usual")
    birth_list = _ext(official.get("extension"), BIRTH_LIST)
    status: str | None = None
    attributes: set[str] = set()
    mode: tuple[str, str] | None = None
    validation_date: str | None = None
    rel = reliability(resource)
    for sub in (rel or {}).get("extension") or []:
        if not isinstance(sub, dict):
            continue
        url = sub.get("url")
        if url == "identityStatus":
            coding = sub.get("valueCoding") or {}
            if coding.get("system") == STATUS_SYSTEM:
                status = _str(coding.get("code"))
        elif url == "comment":
            for coding in (sub.get("valueCodeableConcept") or {}).get("coding") or []:
                if (
                    isinstance(coding, dict)
                    and coding.get("system") == ATTRIBUTE_SYSTEM
                    and isinstance(coding.get("code"), str)
                ):
                    attributes.add(coding["code"])
        elif url == "validationMode":
            coding = sub.get("valueCoding") or {}
            if isinstance(coding.get("system"), str) and isinstance(coding.get("code"), str):
                mode = (coding["system"], coding["code"])
        elif url == "validationDate":
            validation_date = _str(sub.get("valueDate"))
    rank = resource.get("multipleBirthInteger")
    return Identity(
        family=_str(official.get("family")),
        given=_str(_first(official.get("given"))),
        birth_date=_str(resource.get("birthDate")),
        gender=_str(resource.get("gender")),
        birth_place=birth_place_code(resource),
        birth_given_names=_str(birth_list[0].get("valueString")) if birth_list else None,
        used_family=_str(usual.get("family")),
        used_given=_str(_first(usual.get("given"))),
        rank=rank if isinstance(rank, int) and not isinstance(rank, bool) else None,
        status=status,
        attributes=frozenset(attributes),
        validation_mode=mode,
        validation_date=validation_date,
    )
