"""The small test IG in ``fixtures/`` and valid instances of its profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://test.example.org/fhir"
PATIENT = f"{BASE}/StructureDefinition/test-patient"
CHILD = f"{BASE}/StructureDefinition/test-child-patient"
WEIGHT = f"{BASE}/StructureDefinition/test-weight"
RELIABILITY = f"{BASE}/StructureDefinition/test-reliability"
NICKNAME = f"{BASE}/StructureDefinition/test-nickname"


def fixture_resources() -> list[dict[str, Any]]:
    return [orjson.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))]


VALID_PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"profile": [PATIENT]},
    "extension": [
        {
            "url": RELIABILITY,
            "extension": [
                {"url": "status", "valueCode": "PROV"},
                {"url": "date", "valueDate": "2026-01-02"},
            ],
        },
        {
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
            "valueAddress": {"city": "Marseille"},
        },
    ],
    "identifier": [
        {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "123456789012345"},
        {
            "system": f"{BASE}/patient-id",
            "value": "L-1",
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}
                ]
            },
        },
    ],
    "active": True,
    "name": [
        {"use": "official", "family": "Dupont", "given": ["Raphaël", "Jean"]},
        {
            "use": "usual",
            "given": ["Raph"],
            "extension": [{"url": NICKNAME, "valueString": "Rafa"}],
        },
    ],
    "telecom": [{"system": "phone", "value": "0600000000"}],
    "gender": "female",
    "birthDate": "2015-03-04",
    "multipleBirthInteger": 2,
    "generalPractitioner": [{"reference": "Practitioner/dr1"}],
}

VALID_WEIGHT: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "w1",
    "meta": {"profile": [WEIGHT]},
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Weight"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2026-01-02",
    "valueQuantity": {
        "value": 65.5,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    },
}
