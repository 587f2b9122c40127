"""Starting a biometric step creates its form pre-filled with the latest weight and height."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.operations.biometrics.conftest import (
    BASE,
    BMI,
    HEIGHT,
    QUESTIONNAIRE,
    WEIGHT,
    answers,
    measure,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
STEP = f"{BASE}/sid/step-questionnaire-response"
ACTIVITY = f"{BASE}/ActivityDefinition/mrtc-step-biometric-form"


def task(status: str = "ready", *, activity: str = ACTIVITY) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "instantiatesCanonical": activity,
        "status": status,
        "intent": "order",
        "for": {"reference": "Patient/lea"},
        "owner": {"reference": "Practitioner/doc"},
        "input": [
            {
                "type": {
                    "coding": [
                        {"system": f"{BASE}/CodeSystem/mrtc-task-io-type", "code": "questionnaire"}
                    ]
                },
                "valueCanonical": QUESTIONNAIRE,
            }
        ],
    }


async def step_forms(http: httpx.AsyncClient, task_id: str) -> list[dict[str, Any]]:
    r = await http.get("/QuestionnaireResponse", params={"identifier": f"{STEP}|{task_id}"})
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry", [])]


async def test_starting_the_step_prefills_its_form_once(doctor: httpx.AsyncClient) -> None:
    # Two earlier weights (the later one wins, whatever the order they were written in),
    # a height with more decimals than the form takes, and a later weight in grams (not in
    # the form's unit: not pre-filled).
    for code, value, when in (
        (WEIGHT, 37.125, "2026-04-01"),
        (WEIGHT, 36.0, "2026-01-10"),
        (HEIGHT, 141.04, "2026-02-15"),
    ):
        r = await doctor.post("/Observation", json=measure(code, value, when=when))
        assert r.status_code == 201, r.text
    grams = measure(WEIGHT, 37500, when="2026-04-20", profile=False)
    grams["valueQuantity"] = {**grams["valueQuantity"], "unit": "g", "code": "g"}
    assert (await doctor.post("/Observation", json=grams)).status_code == 201
    created = await doctor.post("/Task", json=task())
    assert created.status_code == 201, created.text
    body = created.json()
    assert await step_forms(doctor, body["id"]) == []  # not started yet

    started = await doctor.put(f"/Task/{body['id']}", json={**body, "status": "in-progress"})
    assert started.status_code == 200, started.text
    [qr] = await step_forms(doctor, body["id"])
    assert qr["status"] == "in-progress"
    assert qr["questionnaire"] == QUESTIONNAIRE
    assert qr["subject"] == {"reference": "Patient/lea"}
    assert qr["author"] == {"reference": "Practitioner/doc"}
    got = answers(qr)
    assert got["weight"] == {"valueDecimal": 37.13}  # rounded half up to the form's 2 places
    assert got["height"] == {"valueDecimal": 141.0}
    assert got["bmi"] == {"valueDecimal": 18.7}  # 37.13 / 1.41² = 18.68, the form's own rule

    # Paused and resumed: still one form for the step.
    paused = await doctor.put(f"/Task/{body['id']}", json={**body, "status": "on-hold"})
    assert paused.status_code == 200, paused.text
    resumed = await doctor.put(f"/Task/{body['id']}", json={**body, "status": "in-progress"})
    assert resumed.status_code == 200, resumed.text
    assert len(await step_forms(doctor, body["id"])) == 1


async def test_a_step_created_in_progress_by_patch_or_bundle_gets_its_form(
    doctor: httpx.AsyncClient,
) -> None:
    created = await doctor.post("/Task", json=task())
    id_ = created.json()["id"]
    patched = await doctor.patch(
        f"/Task/{id_}",
        json=[{"op": "replace", "path": "/status", "value": "in-progress"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert len(await step_forms(doctor, id_)) == 1

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0d6e8b1a-2222-4c55-9a5e-2f6a3c0e7b11",
                "resource": task("in-progress"),
                "request": {"method": "POST", "url": "Task"},
            }
        ],
    }
    r = await doctor.post("/", json=bundle)
    assert r.status_code == 200, r.text
    new_id = r.json()["entry"][0]["response"]["location"].split("/")[-3]
    assert len(await step_forms(doctor, new_id)) == 1


async def test_other_steps_get_no_form(doctor: httpx.AsyncClient) -> None:
    other = task("in-progress", activity=f"{BASE}/ActivityDefinition/mrtc-step-transmit-report")
    other.pop("input")
    created = await doctor.post("/Task", json=other)
    assert created.status_code == 201, created.text
    assert await step_forms(doctor, created.json()["id"]) == []


async def test_the_completed_form_extracts_observations_linked_to_the_step(
    doctor: httpx.AsyncClient,
) -> None:
    created = await doctor.post("/Task", json=task("in-progress"))
    task_id = created.json()["id"]
    [qr] = await step_forms(doctor, task_id)
    qr["status"] = "completed"
    qr["item"] = [
        {"linkId": "measurement-date", "answer": [{"valueDateTime": "2026-05-04T10:00:00+02:00"}]},
        {"linkId": "weight", "answer": [{"valueString": "42,5"}]},
        {"linkId": "height", "answer": [{"valueDecimal": 142}]},
    ]
    saved = await doctor.put(f"/QuestionnaireResponse/{qr['id']}", json=qr)
    assert saved.status_code == 200, saved.text
    extracted = await doctor.post(f"/QuestionnaireResponse/{qr['id']}/$extract")
    assert extracted.status_code == 200, extracted.text
    stored = await doctor.post("/", json=extracted.json())
    assert stored.status_code == 200, stored.text

    # The step's Observations: derived from the form that names the step.
    r = await doctor.get(
        "/Observation",
        params={"derived-from:QuestionnaireResponse.identifier": f"{STEP}|{task_id}"},
    )
    assert r.status_code == 200, r.text
    by_code = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in r.json()["entry"]}
    assert set(by_code) == {WEIGHT, HEIGHT, BMI}
    assert by_code[WEIGHT]["valueQuantity"]["value"] == 42.5
    assert by_code[BMI]["valueQuantity"]["value"] == 21.1
    assert by_code[BMI]["interpretation"][0]["coding"][0]["code"] == "overweight"
    # ... and the next biometric step starts from them.
    later = await doctor.post("/Task", json=task("in-progress"))
    [next_form] = await step_forms(doctor, later.json()["id"])
    assert answers(next_form)["weight"] == {"valueDecimal": 42.5}
