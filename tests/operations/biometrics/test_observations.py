"""Weight, height and BMI Observations: one series, the BMI's IOTF grade, impossible refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.operations.biometrics.conftest import (
    BMI,
    GRADES,
    HL7,
    LOINC,
    WARN,
    WEIGHT,
    flagged,
    measure,
    msg_ids,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def grade(obs: dict[str, Any]) -> tuple[str, str, str]:
    [interpretation] = obs["interpretation"]
    codes = {c["system"]: c for c in interpretation["coding"]}
    return codes[GRADES]["code"], codes[GRADES]["display"], codes[HL7]["code"]


@pytest.mark.parametrize(
    ("bmi", "expected"),
    [
        # Léa, a girl of 10.0 years: IOTF-17 13.43, IOTF-25 19.86, IOTF-30 24.11.
        (13.0, ("thinness", "Maigreur (grade 2 ou 3)", "L")),
        (17.0, ("normal", "Corpulence normale", "N")),
        (19.9, ("overweight", "Surpoids", "H")),
        (24.2, ("obesity", "Obésité", "H")),
    ],
)
async def test_every_bmi_gets_its_iotf_grade_for_age_and_sex(
    doctor: httpx.AsyncClient, bmi: float, expected: tuple[str, str, str]
) -> None:
    r = await doctor.post("/Observation", json=measure(BMI, bmi))
    assert r.status_code == 201, r.text
    assert grade(r.json()) == expected
    assert "fille de 10,0 ans" in r.json()["interpretation"][0]["text"]


async def test_a_boy_is_judged_on_the_boys_curves(doctor: httpx.AsyncClient) -> None:
    # At 7.75 years the cut-offs are interpolated: boys' IOTF-30 21.345, girls' 21.29.
    boy = {
        "resourceType": "Patient",
        "name": [{"family": "Morel", "given": ["Tom"]}],
        "gender": "male",
        "birthDate": "2018-01-01",
    }
    created = await doctor.post("/Patient", json=boy)
    assert created.status_code == 201, created.text
    tom = created.json()["id"]
    when = "2025-10-01"  # 7.75 years
    r = await doctor.post("/Observation", json=measure(BMI, 21.3, patient=tom, when=when))
    assert grade(r.json())[0] == "overweight"  # a girl of that age would be obese
    r = await doctor.post("/Observation", json=measure(BMI, 21.35, patient=tom, when=when))
    assert grade(r.json())[0] == "obesity"


async def test_iotf17_is_interpolated_where_the_table_has_no_half_year(
    doctor: httpx.AsyncClient,
) -> None:
    # Léa at 7.5 years (2023-11-03): IOTF-17 has no 7.5 value; between 12.91 (7.0) and
    # 13.00 (8.0) it is 12.955.
    below = await doctor.post("/Observation", json=measure(BMI, 12.95, when="2023-11-03"))
    above = await doctor.post("/Observation", json=measure(BMI, 12.96, when="2023-11-03"))
    assert (grade(below.json())[0], grade(above.json())[0]) == ("thinness", "normal")


async def test_a_clients_grade_is_replaced_on_update_and_patch(doctor: httpx.AsyncClient) -> None:
    wrong = {"coding": [{"system": GRADES, "code": "obesity"}, {"system": HL7, "code": "H"}]}
    kept = {"text": "Mesure à domicile"}
    r = await doctor.post("/Observation", json=measure(BMI, 17.0, interpretation=[wrong, kept]))
    assert r.status_code == 201, r.text
    obs = r.json()
    assert grade({"interpretation": obs["interpretation"][:1]})[0] == "normal"
    assert obs["interpretation"][1] == kept
    obs["valueQuantity"]["value"] = 21.0
    r = await doctor.put(f"/Observation/{obs['id']}", json=obs)
    assert r.status_code == 200, r.text
    assert grade({"interpretation": r.json()["interpretation"][:1]})[0] == "overweight"
    patch = [{"op": "replace", "path": "/valueQuantity/value", "value": 13.0}]
    r = await doctor.patch(
        f"/Observation/{obs['id']}",
        json=patch,
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert grade({"interpretation": r.json()["interpretation"][:1]})[2] == "L"


async def test_without_a_birth_date_there_is_no_grade_and_a_warning(
    doctor: httpx.AsyncClient,
) -> None:
    anonymous = {"resourceType": "Patient", "gender": "female"}
    created = await doctor.post("/Patient", json=anonymous)
    assert created.status_code == 201, created.text
    r = await doctor.post(
        "/Observation", json=measure(BMI, 17.0, patient=created.json()["id"]), headers=WARN
    )
    assert r.status_code == 201, r.text
    assert msg_ids(r.json()) == ["MRTC-BIO-002"]
    stored = (await doctor.get(r.headers["Location"].split("/_history")[0])).json()
    assert "interpretation" not in stored


async def test_physically_impossible_observations_are_refused(doctor: httpx.AsyncClient) -> None:
    # Without a profile claimed, as a plain FHIR client sends it: still impossible.
    r = await doctor.post("/Observation", json=measure(WEIGHT, 500, profile=False))
    assert r.status_code == 422, r.text
    assert msg_ids(r.json()) == ["MRTC-BIO-011"]
    # 500 g is a possible weight: another unit is the profile's business, not this rule's.
    grams = measure(WEIGHT, 500, profile=False)
    grams["valueQuantity"] = {**grams["valueQuantity"], "unit": "g", "code": "g"}
    assert (await doctor.post("/Observation", json=grams)).status_code == 201


async def test_implausible_observation_is_accepted_tagged_and_warned(
    doctor: httpx.AsyncClient,
) -> None:
    r = await doctor.post("/Observation", json=measure(WEIGHT, 120), headers=WARN)
    assert r.status_code == 201, r.text
    assert msg_ids(r.json()) == ["MRTC-BIO-001"]
    location = r.headers["Location"].split("/_history")[0]
    assert flagged((await doctor.get(location)).json())
    found = await doctor.get(
        "/Observation",
        params={
            "subject": "Patient/lea",
            "_tag": "https://mrtc.example.org/fhir/CodeSystem/mrtc-biometric-flag|"
            "implausible-for-age",
        },
    )
    assert location in [e["fullUrl"] for e in found.json()["entry"]]


async def test_ehr_transaction_is_idempotent_and_joins_the_series(
    world: Any, system: httpx.AsyncClient, doctor: httpx.AsyncClient
) -> None:
    identifier = {"system": "urn:oid:1.2.250.1.999.1", "value": "ehr-bmi-42"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:9b0c2d4e-1111-4c55-9a5e-2f6a3c0e7b42",
                "resource": measure(BMI, 21.0, when="2026-06-01", identifier=[identifier]),
                "request": {
                    "method": "POST",
                    "url": "Observation",
                    "ifNoneExist": "identifier=urn:oid:1.2.250.1.999.1|ehr-bmi-42",
                },
            }
        ],
    }
    first = await system.post("/", json=bundle)
    assert first.status_code == 200, first.text
    assert first.json()["entry"][0]["response"]["status"] == "201 Created"
    again = await system.post("/", json=bundle)
    assert again.status_code == 200, again.text
    assert again.json()["entry"][0]["response"]["status"] == "200 OK"

    series = await doctor.get(
        "/Observation",
        params={"subject": "Patient/lea", "code": f"{LOINC}|{BMI}", "_count": "100"},
    )
    found = [e["resource"] for e in series.json()["entry"]]
    ehr = [o for o in found if o.get("identifier") == [identifier]]
    assert len(ehr) == 1  # idempotent
    assert grade(ehr[0])[0] == "overweight"  # judged like the form's


async def test_a_patient_created_in_the_same_transaction_is_seen(
    system: httpx.AsyncClient,
) -> None:
    # An EHR pushes a new child and her BMI together: the grade needs her birth date.
    child = "urn:uuid:11111111-2222-4333-8444-555555555555"
    obs = measure(BMI, 21.0)
    obs["subject"] = {"reference": child}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": child,
                "resource": {
                    "resourceType": "Patient",
                    "gender": "female",
                    "birthDate": "2016-05-04",
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555556",
                "resource": obs,
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    r = await system.post("/", json=bundle)
    assert r.status_code == 200, r.text
    location = r.json()["entry"][1]["response"]["location"].split("/_history")[0]
    assert grade((await system.get(f"/{location}")).json())[0] == "overweight"


async def test_a_bmi_written_before_its_patient_in_a_bundle_is_graded(
    system: httpx.AsyncClient,
) -> None:
    # A transaction's entries have no order among themselves: here the BMI comes first.
    obs = measure(BMI, 21.0, patient="zoe")
    obs["id"] = "zoe-bmi"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": obs, "request": {"method": "PUT", "url": "Observation/zoe-bmi"}},
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "zoe",
                    "gender": "female",
                    "birthDate": "2016-05-04",
                },
                "request": {"method": "PUT", "url": "Patient/zoe"},
            },
        ],
    }
    r = await system.post("/", json=bundle)
    assert r.status_code == 200, r.text
    assert grade((await system.get("/Observation/zoe-bmi")).json())[0] == "overweight"


async def test_correcting_the_birth_date_grades_the_bmis_again(
    system: httpx.AsyncClient,
) -> None:
    child = {"resourceType": "Patient", "gender": "male", "birthDate": "2016-05-04"}
    created = await system.post("/Patient", json=child)
    pid = created.json()["id"]
    bmi = await system.post("/Observation", json=measure(BMI, 23.0, patient=pid))
    assert grade(bmi.json())[0] == "overweight"  # a boy of 10.0: IOTF-30 24.00
    # Born a year later: 9.0 at the measure, where IOTF-30 is 22.77.
    fixed = {**created.json(), "birthDate": "2017-05-04"}
    assert (await system.put(f"/Patient/{pid}", json=fixed)).status_code == 200
    again = (await system.get(f"/Observation/{bmi.json()['id']}")).json()
    assert again["meta"]["versionId"] == "2"
    assert grade(again)[0] == "obesity"
    assert "garçon de 9,0 ans" in again["interpretation"][0]["text"]
    # Unchanged facts (a new name): no new version.
    renamed = {**fixed, "name": [{"family": "Petit"}]}
    assert (await system.put(f"/Patient/{pid}", json=renamed)).status_code == 200
    assert (await system.get(f"/Observation/{bmi.json()['id']}")).json()["meta"]["versionId"] == "2"
