"""The biometric form on every write: « 65,5 » is 65.5, impossible refused, BMI the server's."""

from __future__ import annotations

import httpx
import pytest

from tests.operations.biometrics.conftest import WARN, answers, flagged, form, msg_ids

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_create_normalises_text_numbers_and_computes_bmi(doctor: httpx.AsyncClient) -> None:
    r = await doctor.post(
        "/QuestionnaireResponse",
        json=form({"valueString": "38,5"}, {"valueString": "140"}, {"valueDecimal": 99.9}),
    )
    assert r.status_code == 201, r.text
    stored = (await doctor.get(r.headers["Location"].split("/_history")[0])).json()
    got = answers(stored)
    assert got["weight"] == {"valueDecimal": 38.5}
    assert got["height"] == {"valueDecimal": 140}
    assert got["bmi"] == {"valueDecimal": 19.6}  # the client's 99.9 is ignored
    assert not flagged(stored)


async def test_update_patch_and_bundle_normalise_the_same_way(doctor: httpx.AsyncClient) -> None:
    created = await doctor.post("/QuestionnaireResponse", json=form({"valueDecimal": 30}))
    assert created.status_code == 201, created.text
    id_ = created.json()["id"]
    assert "bmi" not in answers(created.json())  # no height: no BMI

    body = {**form({"valueString": "40.2"}, {"valueString": "141,5"}), "id": id_}
    put = await doctor.put(f"/QuestionnaireResponse/{id_}", json=body)
    assert put.status_code == 200, put.text
    assert answers(put.json())["weight"] == {"valueDecimal": 40.2}
    assert answers(put.json())["height"] == {"valueDecimal": 141.5}
    assert answers(put.json())["bmi"] == {"valueDecimal": 20.1}

    weight_at = [i["linkId"] for i in put.json()["item"]].index("weight")
    patch = [
        {
            "op": "replace",
            "path": f"/item/{weight_at}/answer/0",
            "value": {"valueString": "41,55"},
        }
    ]
    r = await doctor.patch(
        f"/QuestionnaireResponse/{id_}",
        json=patch,
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert answers(r.json())["weight"] == {"valueDecimal": 41.55}
    assert answers(r.json())["bmi"] == {"valueDecimal": 20.8}  # 41.55 / 1.415² = 20.75 -> 20.8

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6c1f3a64-8f0e-4d6b-9a57-000000000001",
                "resource": form({"valueString": "65,5"}, {"valueString": "160"}),
                "request": {"method": "POST", "url": "QuestionnaireResponse"},
            }
        ],
    }
    r = await doctor.post("/", json=bundle)
    assert r.status_code == 200, r.text
    location = r.json()["entry"][0]["response"]["location"].split("/_history")[0]
    got = answers((await doctor.get(f"/{location}")).json())
    assert got["weight"] == {"valueDecimal": 65.5}
    assert got["bmi"] == {"valueDecimal": 25.6}


@pytest.mark.parametrize(
    ("weight", "height", "msg_id"),
    [
        ({"valueString": "655"}, {"valueDecimal": 150}, "MRTC-EXT-011"),  # above 300 kg
        ({"valueDecimal": 40}, {"valueDecimal": 1.5}, "MRTC-EXT-011"),  # a height in metres
        ({"valueString": "quarante"}, {"valueDecimal": 150}, "MRTC-EXT-010"),
        ({"valueDecimal": 250}, {"valueDecimal": 60}, "MRTC-BIO-010"),  # BMI 694
    ],
)
async def test_impossible_values_are_refused_and_nothing_is_stored(
    doctor: httpx.AsyncClient, weight: dict[str, object], height: dict[str, object], msg_id: str
) -> None:
    before = await doctor.get("/QuestionnaireResponse", params={"_summary": "count"})
    r = await doctor.post("/QuestionnaireResponse", json=form(weight, height))
    assert r.status_code == 422, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert msg_id in msg_ids(outcome)
    after = await doctor.get("/QuestionnaireResponse", params={"_summary": "count"})
    assert after.json()["total"] == before.json()["total"]


async def test_implausible_for_age_is_accepted_flagged_and_warned(
    doctor: httpx.AsyncClient,
) -> None:
    # 110 kg and 150 cm (BMI 48.9) for a 10-year-old: possible, not plausible.
    r = await doctor.post(
        "/QuestionnaireResponse",
        json=form({"valueDecimal": 110}, {"valueDecimal": 150}),
        headers=WARN,
    )
    assert r.status_code == 201, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [i["severity"] for i in outcome["issue"]] == ["warning", "warning"]
    assert msg_ids(outcome) == ["MRTC-BIO-001", "MRTC-BIO-001"]
    assert "Poids 110 kg" in outcome["issue"][0]["diagnostics"]
    location = r.headers["Location"].split("/_history")[0]
    stored = (await doctor.get(location)).json()
    assert flagged(stored)
    assert answers(stored)["weight"] == {"valueDecimal": 110}  # kept as typed

    # Corrected, the tag goes and no warning is left.
    id_ = stored["id"]
    fixed = {**form({"valueDecimal": 41}, {"valueDecimal": 150}), "id": id_}
    r = await doctor.put(f"/QuestionnaireResponse/{id_}", json=fixed, headers=WARN)
    assert r.status_code == 200, r.text
    assert [i["severity"] for i in r.json()["issue"]] == ["information"]
    assert not flagged((await doctor.get(location)).json())


async def test_other_questionnaires_are_left_alone(doctor: httpx.AsyncClient) -> None:
    other = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://example.org/Questionnaire/other",
        "status": "completed",
        "subject": {"reference": "Patient/lea"},
        "item": [{"linkId": "weight", "answer": [{"valueString": "65,5"}]}],
    }
    r = await doctor.post("/QuestionnaireResponse", json=other)
    assert r.status_code == 201, r.text
    assert answers(r.json())["weight"] == {"valueString": "65,5"}
