"""The biometric tests' server: the security tests' MRTC world, acted on with real tokens.

Léa (``Patient/lea``, female, born 2016-05-04) is followed by the MSP; her
doctor (``Practitioner/doc``) is in her care circle, a doctor of another
structure (``Practitioner/other``) is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from tests.conftest import AppClient, loaded_app
from tests.security.world import transaction

BASE = "https://mrtc.example.org/fhir"
QUESTIONNAIRE = f"{BASE}/Questionnaire/mrtc-suivi-biometrique"
LOINC = "http://loinc.org"
WEIGHT, HEIGHT, BMI = "29463-7", "8302-2", "39156-5"
UCUM = {WEIGHT: "kg", HEIGHT: "cm", BMI: "kg/m2"}
FLAG = f"{BASE}/CodeSystem/mrtc-biometric-flag"
GRADES = f"{BASE}/CodeSystem/mrtc-bmi-for-age"
HL7 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# Léa is 10.0 years old on this day.
MEASURED = "2026-05-04T10:00:00+02:00"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    async with loaded_app(mongo_uri, transaction()) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def doctor(world: AppClient) -> AsyncIterator[httpx.AsyncClient]:
    async with world.client_for("Practitioner/doc") as http:
        yield http


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outsider(world: AppClient) -> AsyncIterator[httpx.AsyncClient]:
    async with world.client_for("Practitioner/other") as http:
        yield http


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(world: AppClient) -> httpx.AsyncClient:
    assert world.http is not None
    return world.http


def form(
    weight: Any = None,
    height: Any = None,
    bmi: Any = None,
    *,
    patient: str = "lea",
    status: str = "completed",
    measured: str = MEASURED,
) -> dict[str, Any]:
    """A response to the biometric form; each answer given as its ``value[x]`` mapping."""
    items: list[dict[str, Any]] = [
        {"linkId": "measurement-date", "answer": [{"valueDateTime": measured}]}
    ]
    for link_id, answer in (("weight", weight), ("height", height), ("bmi", bmi)):
        if answer is not None:
            items.append({"linkId": link_id, "answer": [answer]})
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": QUESTIONNAIRE,
        "status": status,
        "subject": {"reference": f"Patient/{patient}"},
        "authored": measured,
        "author": {"reference": "Practitioner/doc"},
        "item": items,
    }


def answers(response: dict[str, Any]) -> dict[str, Any]:
    return {i["linkId"]: i["answer"][0] for i in response.get("item", []) if i.get("answer")}


def measure(
    code: str,
    value: float,
    *,
    patient: str = "lea",
    when: str = MEASURED,
    profile: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A weight, height or BMI Observation (as an EHR following the IG would send it)."""
    obs: dict[str, Any] = {"resourceType": "Observation"}
    if profile:
        name = {WEIGHT: "mrtc-body-weight", HEIGHT: "mrtc-body-height", BMI: "mrtc-bmi"}[code]
        obs["meta"] = {"profile": [f"{BASE}/StructureDefinition/{name}"]}
    obs.update(
        {
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
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": when,
            "valueQuantity": {
                "value": value,
                "unit": UCUM[code],
                "system": "http://unitsofmeasure.org",
                "code": UCUM[code],
            },
        }
    )
    obs.update(extra)
    return obs


def msg_ids(outcome: dict[str, Any]) -> list[str]:
    return [i["details"]["coding"][0]["code"] for i in outcome.get("issue", []) if "details" in i]


def flagged(resource: dict[str, Any]) -> bool:
    return any(
        t.get("system") == FLAG and t.get("code") == "implausible-for-age"
        for t in resource.get("meta", {}).get("tag", [])
    )


WARN = {"Prefer": "return=OperationOutcome"}
