"""A small MRTC world for the security tests: structures, people, two records.

Written over HTTP by a trusted system in one transaction bundle, then read by
each principal with a token of its own (``AppClient.client_for``), as users
get them. Léa's record is followed by the MSP (structure account, coordinator,
doctor, dietitian, psychologist, APA educator, super-user; a manually added
psychologist who never gets access); Noah's by a doctor of another structure,
with one Task (and its document) assigned to the MSP's APA educator.
"""

from __future__ import annotations

from typing import Any

G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
R95 = "https://mos.esante.gouv.fr/NOS/TRE_R95-UsagerTitre/FHIR/TRE-R95-UsagerTitre"
R85 = "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"
PLATFORM = "https://mrtc.example.org/fhir/CodeSystem/mrtc-platform-role"
CATEGORY = "https://mrtc.example.org/fhir/CodeSystem/mrtc-document-category"
CIRCLE = "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category"
ROLE = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
MANUAL = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-manual-member"
AUTO = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-auto-habilitation"
RPPS_DOCTOR = "10000001916"

# principal -> (fhirUser, description)
PRINCIPALS: dict[str, str | None] = {
    "system": None,
    "coordinator": "Practitioner/coord",
    "structure": "PractitionerRole/msp-account",
    "doctor": "Practitioner/doc",
    "dietitian": "Practitioner/diet",
    "psychologist": "Practitioner/psy",
    "apa": "PractitionerRole/apa-msp",
    "manual": "Practitioner/manual",
    "other": "Practitioner/other",
    "super": "Practitioner/super",
    "breaker": "Practitioner/breaker",
}


def practitioner(id_: str, family: str, given: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": id_,
        "active": True,
        "name": [{"family": family, "given": [given]}],
        **extra,
    }


def role(
    id_: str, practitioner_id: str | None, org: str, *codes: tuple[str, str]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": id_,
        "active": True,
        "organization": {"reference": f"Organization/{org}"},
    }
    if codes:
        body["code"] = [{"coding": [{"system": s, "code": c}]} for s, c in codes]
    if practitioner_id:
        body["practitioner"] = {"reference": f"Practitioner/{practitioner_id}"}
    return body


def patient(id_: str, family: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": id_,
        "name": [{"family": family, "given": ["Enfant"]}],
        "gender": "female",
        "birthDate": "2016-05-04",
    }


def weight(id_: str, patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-03-02",
        "valueQuantity": {"value": 40.5, "unit": "kg"},
    }


def document(id_: str, patient_id: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": id_,
        "status": "current",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "content": [{"attachment": {"contentType": "text/plain", "data": "QmlsYW4="}}],
        **extra,
    }


def binary(id_: str, context: str) -> dict[str, Any]:
    """A document's content, which takes the visibility of its DocumentReference."""
    return {
        "resourceType": "Binary",
        "id": id_,
        "contentType": "application/pdf",
        "securityContext": {"reference": context},
        "data": "JVBERi0xLjQK",
    }


def member(ref: str, code: str, *extensions: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "role": [{"coding": [{"system": ROLE, "code": code}]}],
        "member": {"reference": ref},
    }
    if extensions:
        body["extension"] = list(extensions)
    return body


def care_team(id_: str, patient_id: str, org: str, *members: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": id_,
        "status": "active",
        "category": [{"coding": [{"system": CIRCLE, "code": "care-circle"}]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": list(members),
        "managingOrganization": [{"reference": f"Organization/{org}"}],
    }


def resources() -> list[dict[str, Any]]:
    manual_ext = {
        "url": MANUAL,
        "extension": [
            {"url": "professional", "valueBoolean": True},
            {"url": "accessRequested", "valueBoolean": True},
        ],
    }
    return [
        {"resourceType": "Organization", "id": "msp", "name": "MSP Cap Sud"},
        {"resourceType": "Organization", "id": "cabinet", "name": "Cabinet Nord"},
        practitioner("coord", "Fabre", "Julien"),
        practitioner(
            "doc",
            "Bernard",
            "Claire",
            identifier=[{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "8" + RPPS_DOCTOR}],
        ),
        practitioner("diet", "Roux", "Inès"),
        practitioner("psy", "Nguyen", "Thomas"),
        practitioner("apa", "Petit", "Hugo"),
        practitioner("manual", "Martin", "Zoé"),
        practitioner("other", "Durand", "Paul"),
        practitioner("super", "Leroy", "Anaïs"),
        practitioner("breaker", "Touati", "Faïka"),
        role("coord-msp", "coord", "msp", (R85, "330"), (PLATFORM, "coordinator")),
        role("doc-msp", "doc", "msp", (G15, "10")),
        role("diet-msp", "diet", "msp", (G15, "95")),
        role("psy-msp", "psy", "msp", (R95, "93")),
        role("apa-msp", "apa", "msp", (R85, "361")),
        role("manual-role", "manual", "cabinet", (R95, "93")),
        role("other-cab", "other", "cabinet", (G15, "10")),
        role("super-msp", "super", "msp", (G15, "10"), (PLATFORM, "super-user")),
        role("breaker-cab", "breaker", "cabinet", (G15, "10")),
        role("msp-account", None, "msp"),
        patient("lea", "Dupont"),
        patient("noah", "Garnier"),
        care_team(
            "circle-lea",
            "lea",
            "msp",
            member(
                "Organization/msp", "coordinating-structure", {"url": AUTO, "valueBoolean": True}
            ),
            member("Practitioner/coord", "coordinator"),
            member("Practitioner/doc", "mrtc-physician"),
            member("Practitioner/diet", "dietitian"),
            member("Practitioner/psy", "psychologist"),
            member("PractitionerRole/apa-msp", "apa-educator"),
            member("Practitioner/super", "other-professional"),
            member("Practitioner/manual", "psychologist", manual_ext),
        ),
        care_team("circle-noah", "noah", "cabinet", member("Practitioner/other", "mrtc-physician")),
        weight("lea-weight", "lea"),
        document("lea-summary", "lea", "mrtc-summary"),
        document("lea-psy", "lea", "psychological-assessment"),
        weight("noah-weight", "noah"),
        {
            "resourceType": "Task",
            "id": "noah-task",
            "status": "requested",
            "intent": "order",
            "for": {"reference": "Patient/noah"},
            "owner": {"reference": "PractitionerRole/apa-msp"},
            "output": [
                {
                    "type": {"text": "document"},
                    "valueReference": {"reference": "DocumentReference/noah-apa-doc"},
                }
            ],
        },
        document("noah-apa-doc", "noah", "physical-condition-assessment"),
        binary("lea-psy-content", "DocumentReference/lea-psy"),
        binary("lea-summary-content", "DocumentReference/lea-summary"),
        {
            "resourceType": "CarePlan",
            "id": "lea-pathway",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/lea"},
        },
    ]


def transaction() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources()
        ],
    }


LEA = {
    "Patient/lea",
    "Observation/lea-weight",
    "DocumentReference/lea-summary",
    "Binary/lea-summary-content",
}
LEA_PSY = {"DocumentReference/lea-psy", "Binary/lea-psy-content"}
NOAH = {"Patient/noah", "Observation/noah-weight"}
NOAH_TASK = {"Task/noah-task", "DocumentReference/noah-apa-doc"}
PUBLIC = {"Practitioner/doc", "Organization/msp"}
EVERYTHING = LEA | LEA_PSY | NOAH | NOAH_TASK | PUBLIC

# What each principal may read: the booklet's rules, as the tests assert them.
VISIBLE: dict[str, set[str]] = {
    "system": EVERYTHING,
    # the coordinator's profession (R85#330) is not in the document matrix: no MRTC document
    "coordinator": {"Patient/lea", "Observation/lea-weight"} | PUBLIC,
    "structure": LEA | LEA_PSY | PUBLIC,
    "doctor": LEA | LEA_PSY | PUBLIC,
    "dietitian": LEA | PUBLIC,
    "psychologist": LEA | LEA_PSY | PUBLIC,
    "apa": LEA | NOAH_TASK | PUBLIC,  # Noah's task and its document, not Noah's record
    "manual": PUBLIC,
    "other": NOAH | NOAH_TASK | PUBLIC,
    "super": LEA | LEA_PSY | PUBLIC,
    "breaker": PUBLIC,
}
