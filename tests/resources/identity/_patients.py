"""MRTC Patients for the identity tests: the five strict traits, and what varies."""

from __future__ import annotations

from typing import Any

IG = "https://mrtc.example.org/fhir"
PROFILE = f"{IG}/StructureDefinition/mrtc-patient"
RELIABILITY = f"{IG}/StructureDefinition/mrtc-identity-reliability"
BIRTH_LIST = f"{IG}/StructureDefinition/mrtc-birth-list-given-name"
FAMILY_LINK = f"{IG}/StructureDefinition/mrtc-family-link"
STATUS = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"
ATTRIBUTE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status-comment"
MODE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity"
DOCUMENT = f"{IG}/CodeSystem/mrtc-identity-document"


def reliability(
    status: str | None = "PROV",
    *attributes: str,
    document: tuple[str, str] | None = None,
    validated: str | None = None,
) -> dict[str, Any]:
    subs: list[dict[str, Any]] = []
    if status:
        subs.append({"url": "identityStatus", "valueCoding": {"system": STATUS, "code": status}})
    for code in attributes:
        subs.append(
            {
                "url": "comment",
                "valueCodeableConcept": {"coding": [{"system": ATTRIBUTE, "code": code}]},
            }
        )
    if document:
        subs.append(
            {"url": "validationMode", "valueCoding": {"system": document[0], "code": document[1]}}
        )
    if validated:
        subs.append({"url": "validationDate", "valueDate": validated})
    return {"url": RELIABILITY, "extension": subs}


def mrtc_patient(
    family: str | None = "DUPONT",
    given: str | None = "Léa",
    birth_date: str | None = "2015-03-14",
    gender: str | None = "female",
    place: str | None = "13055",
    *,
    status: str | None = "PROV",
    attributes: tuple[str, ...] = (),
    document: tuple[str, str] | None = None,
    validated: str | None = None,
    birth_list: str | None = None,
    rank: int | None = None,
    usual: tuple[str | None, str | None] | None = None,
    telecom: list[dict[str, Any]] | None = None,
    claim: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    official: dict[str, Any] = {"use": "official"}
    if family is not None:
        official["family"] = family
    if given is not None:
        official["given"] = [given]
    if birth_list is not None:
        official["extension"] = [{"url": BIRTH_LIST, "valueString": birth_list}]
    body: dict[str, Any] = {"resourceType": "Patient", "name": [official]}
    if claim:
        body["meta"] = {"profile": [PROFILE]}
    extensions: list[dict[str, Any]] = []
    if status is not None or attributes or document:
        extensions.append(reliability(status, *attributes, document=document, validated=validated))
    if place is not None:
        extensions.append(
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueAddress": {
                    "extension": [
                        {
                            "url": f"{IG}/StructureDefinition/mrtc-insee-code",
                            "valueCoding": {
                                "system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM",
                                "code": place,
                            },
                        }
                    ]
                },
            }
        )
    if extensions:
        body["extension"] = extensions
    if usual is not None:
        name: dict[str, Any] = {"use": "usual"}
        if usual[0]:
            name["family"] = usual[0]
        if usual[1]:
            name["given"] = [usual[1]]
        body["name"].append(name)
    if gender is not None:
        body["gender"] = gender
    if birth_date is not None:
        body["birthDate"] = birth_date
    if rank is not None:
        body["multipleBirthInteger"] = rank
    if telecom is not None:
        body["telecom"] = telecom
    body.update(extra)
    return body


def message_ids(outcome: dict[str, Any]) -> list[str]:
    return [
        c["code"]
        for issue in outcome.get("issue", [])
        for c in (issue.get("details") or {}).get("coding", [])
        if c.get("system") == "urn:mrtc-fhir:message-id"
    ]
