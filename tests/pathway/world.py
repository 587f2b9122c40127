"""The pathway tests' world: the security tests' MRTC world, plus what attaching needs.

Léa's care circle gains her own doctor (the child's GP, role
``primary-care-physician``, who must not receive the MSP doctor's steps) and
an active MRTC consent; the MSP is in Marseille (13). Two more children:
Zoé (care circle, no consent) and Hugo, followed by a structure in Metz
(Moselle, 57: Good Friday and 26 December are holidays there).
"""

from __future__ import annotations

from typing import Any

from tests.security import world as base
from tests.security.world import G15, care_team, member, patient, practitioner, role

CONSENT_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-consent"
PLAN = "PlanDefinition/mrtc-pathway"
COLLECTOR = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-consent-collector"
COLLECTOR_ROLES = "https://mrtc.example.org/fhir/CodeSystem/mrtc-consent-collector"
PRINCIPALS = {**base.PRINCIPALS, "gp": "Practitioner/gp"}


def consent(id_: str, patient_id: str, org: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": id_,
        "meta": {"profile": [CONSENT_PROFILE]},
        "extension": [
            {
                "url": COLLECTOR,
                "extension": [
                    {
                        "url": "role",
                        "valueCoding": {
                            "system": COLLECTOR_ROLES,
                            "code": "parental-authority",
                        },
                    }
                ],
            }
        ],
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": "2026-03-02T09:30:00+01:00",
        "organization": [{"reference": f"Organization/{org}"}],
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
            ]
        },
        "provision": {"type": "permit", "period": {"start": "2026-03-02"}},
    }


def resources() -> list[dict[str, Any]]:
    out = []
    for r in base.resources():
        if r["resourceType"] == "Organization" and r["id"] == "msp":
            r = {**r, "address": [{"city": "Marseille", "postalCode": "13001"}]}
        if r["resourceType"] == "CareTeam" and r["id"] == "circle-lea":
            r = {
                **r,
                "participant": [
                    *r["participant"],
                    member("Practitioner/gp", "primary-care-physician"),
                ],
            }
        if r["resourceType"] == "CarePlan":
            continue  # the security world's bare CarePlan is no MRTC pathway
        out.append(r)
    return [
        *out,
        practitioner("gp", "Morel", "Sophie"),
        role("gp-cab", "gp", "cabinet", (G15, "10")),
        {
            "resourceType": "Organization",
            "id": "metz",
            "name": "MSP Metz",
            "address": [{"city": "Metz", "postalCode": "57000"}],
        },
        patient("zoe", "Blanc"),
        patient("hugo", "Klein"),
        care_team("circle-zoe", "zoe", "msp", member("Practitioner/coord", "coordinator")),
        care_team("circle-hugo", "hugo", "metz", member("Practitioner/other", "mrtc-physician")),
        consent("consent-lea", "lea", "msp"),
        consent("consent-hugo", "hugo", "metz"),
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


def apply_body(subject: str, **extra: Any) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "subject", "valueString": subject}]
    for name, value in extra.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            key = {bool: "valueBoolean", str: "valueString"}[type(v)]
            if name == "startDate":
                key = "valueDate"
            elif name == "workingDay":
                key = "valueCode"
            params.append({"name": name, key: v})
    return {"resourceType": "Parameters", "parameter": params}


def outcome_id(response: Any) -> str:
    issue = response.json()["issue"][0]
    return str(issue["details"]["coding"][0]["code"])


async def new_child(http: Any, id_: str, org: str = "msp", *, with_consent: bool = True) -> None:
    """A child with Léa's care circle (same members) and, by default, an active consent."""
    lea_circle = next(r for r in resources() if r.get("id") == "circle-lea")
    circle = {
        **lea_circle,
        "id": f"circle-{id_}",
        "subject": {"reference": f"Patient/{id_}"},
        "managingOrganization": [{"reference": f"Organization/{org}"}],
    }
    entries = [patient(id_, "Enfant"), circle]
    if with_consent:
        entries.append(consent(f"consent-{id_}", id_, org))
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in entries
        ],
    }
    r = await http.post("/", json=bundle)
    assert r.status_code == 200, r.text
