"""QuestionnaireResponse/$extract through HTTP: extract, submit the Bundle, re-extract."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import put_ig_examples

pytestmark = pytest.mark.asyncio(loop_scope="session")
IG = Path(__file__).resolve().parents[2] / "ig"
BASE = "https://mrtc.example.org/fhir"
SID = f"{BASE}/sid/questionnaire-extraction"
DEFINITION = f"{BASE}/OperationDefinition/QuestionnaireResponse-extract"


def _load(name: str) -> dict[str, Any]:
    return json.loads((IG / name).read_text())


def lea_response(id_: str = "qr-lea-1", **answers: Any) -> dict[str, Any]:
    qr = copy.deepcopy(_load("QuestionnaireResponse-example-lea-initial-msp.json"))
    qr["id"] = id_
    for link_id, answer in answers.items():
        qr["item"] = [i for i in qr["item"] if i["linkId"] != link_id]
        if answer is not None:
            qr["item"].append({"linkId": link_id, "answer": [answer]})
    return qr


def codes(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["code"]["coding"][0]["code"] for e in bundle["entry"]]


def msg_ids(outcome: dict[str, Any]) -> list[str]:
    return [i["details"]["coding"][0]["code"] for i in outcome["issue"] if "details" in i]


@pytest.fixture(scope="module", autouse=True)
async def lea(client: httpx.AsyncClient) -> None:
    # The example response points at the patient, her care plan and the physician.
    await put_ig_examples(client, "QuestionnaireResponse-example-lea-initial-msp.json")


async def test_extract_is_advertised(client: httpx.AsyncClient) -> None:
    cs = (await client.get("/metadata")).json()
    qr = next(r for r in cs["rest"][0]["resource"] if r["type"] == "QuestionnaireResponse")
    assert {"name": "extract", "definition": DEFINITION} in qr["operation"]


async def test_instance_extract_returns_a_transaction_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    r = await client.put("/QuestionnaireResponse/qr-lea-1", json=lea_response())
    assert r.status_code == 201, r.text
    before = (await client.get("/Observation", params={"subject": "Patient/example-lea"})).json()
    for method in ("POST", "GET"):
        r = await client.request(method, "/QuestionnaireResponse/qr-lea-1/$extract")
        assert r.status_code == 200, r.text
        bundle = r.json()
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "transaction"
        assert codes(bundle) == ["29463-7", "8302-2", "39156-5"]
        assert [e["request"]["method"] for e in bundle["entry"]] == ["PUT"] * 3
        assert [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]] == [
            38.5,
            140,
            19.6,
        ]
    after = (await client.get("/Observation", params={"subject": "Patient/example-lea"})).json()
    assert after.get("total") == before.get("total")
    assert len(after.get("entry", [])) == len(before.get("entry", []))


async def test_submitted_bundle_stores_observations_that_validate(
    client: httpx.AsyncClient,
) -> None:
    qr = lea_response("qr-lea-2", weight={"valueString": "65,5"}, height={"valueString": "160"})
    assert (await client.put("/QuestionnaireResponse/qr-lea-2", json=qr)).status_code == 201
    # The write normalised the comma and recomputed the stale BMI answer (19.6) already
    # (operations/biometrics/form.py), so the stored response extracts without a note.
    stored_qr = (await client.get("/QuestionnaireResponse/qr-lea-2")).json()
    answers = {i["linkId"]: i["answer"][0] for i in stored_qr["item"]}
    assert answers["weight"] == {"valueDecimal": 65.5}
    assert answers["bmi"] == {"valueDecimal": 25.6}
    r = await client.post("/QuestionnaireResponse/qr-lea-2/$extract")
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle"
    assert [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]] == [65.5, 160, 25.6]

    posted = await client.post("/", json=bundle)
    assert posted.status_code == 200, posted.text
    statuses = [e["response"]["status"] for e in posted.json()["entry"]]
    assert statuses == ["201 Created"] * 3
    stored = [e["response"]["location"].split("/_history")[0] for e in posted.json()["entry"]]
    weight_id, height_id = stored[0], stored[1]
    for location in stored:
        obs = (await client.get(f"/{location}")).json()
        assert obs["subject"] == {"reference": "Patient/example-lea"}
        assert obs["derivedFrom"][0] == {"reference": "QuestionnaireResponse/qr-lea-2"}
        check = await client.get(f"/{location}/$validate")
        assert check.status_code == 200
        assert [i["severity"] for i in check.json()["issue"]] == ["information"], check.text
    bmi = (await client.get(f"/{stored[2]}")).json()
    assert bmi["derivedFrom"][1:] == [{"reference": weight_id}, {"reference": height_id}]

    # Re-saving the response and re-extracting updates the same three Observations.
    qr["item"] = [i for i in qr["item"] if i["linkId"] != "weight"]
    qr["item"].append({"linkId": "weight", "answer": [{"valueDecimal": 66}]})
    assert (await client.put("/QuestionnaireResponse/qr-lea-2", json=qr)).status_code == 200
    rebundle = (await client.post("/QuestionnaireResponse/qr-lea-2/$extract")).json()
    reposted = await client.post("/", json=rebundle)
    assert reposted.status_code == 200, reposted.text
    assert [e["response"]["status"] for e in reposted.json()["entry"]] == ["200 OK"] * 3
    updated = [e["fullUrl"].split("/", 3)[-1] for e in reposted.json()["entry"]]
    assert updated == stored
    found = await client.get("/Observation", params={"identifier": f"{SID}|qr-lea-2#weight"})
    [entry] = found.json()["entry"]
    assert entry["resource"]["valueQuantity"]["value"] == 66
    assert entry["resource"]["meta"]["versionId"] == "2"


async def test_type_level_with_the_response_as_body_or_parameter(
    client: httpx.AsyncClient,
) -> None:
    qr = lea_response("qr-not-stored")
    direct = await client.post("/QuestionnaireResponse/$extract", json=qr)
    assert direct.status_code == 200, direct.text
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": qr}],
    }
    wrapped = await client.post("/QuestionnaireResponse/$extract", json=params)
    assert wrapped.status_code == 200, wrapped.text
    assert direct.json() == wrapped.json()
    assert codes(direct.json()) == ["29463-7", "8302-2", "39156-5"]
    missing = await client.get("/QuestionnaireResponse/qr-not-stored")
    assert missing.status_code == 404


async def test_implausible_value_is_extracted_with_the_profiles_warning(
    client: httpx.AsyncClient,
) -> None:
    qr = lea_response("qr-tall", height={"valueDecimal": 195}, bmi=None)
    r = await client.post("/QuestionnaireResponse/$extract", json=qr)
    assert r.status_code == 200, r.text
    params = {p["name"]: p["resource"] for p in r.json()["parameter"]}
    [issue] = params["issues"]["issue"]
    assert issue["severity"] == "warning"
    assert "mrtc-obs-ht-2" in issue["diagnostics"]
    assert issue["expression"][0].startswith("Bundle.entry[1].resource")


async def test_bmi_impossible_for_the_profile_is_refused(client: httpx.AsyncClient) -> None:
    # Both answers are inside their items' ranges, but 1 kg at 250 cm is a BMI of 0.2.
    qr = lea_response("qr-odd", weight={"valueDecimal": 1}, height={"valueDecimal": 250})
    r = await client.post("/QuestionnaireResponse/$extract", json=qr)
    assert r.status_code == 422, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    errors = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert any("mrtc-obs-bmi-1" in i["diagnostics"] for i in errors), errors
    assert any("item 'bmi'" in i["diagnostics"] for i in errors)


ERROR_CASES = [
    pytest.param(
        "POST",
        "/QuestionnaireResponse/no-such-response/$extract",
        None,
        404,
        "not-found",
        "MRTC-REST-020",
        "QuestionnaireResponse/no-such-response",
        id="unknown-id",
    ),
    pytest.param(
        "POST",
        "/QuestionnaireResponse/$extract",
        {**lea_response("qr-other"), "questionnaire": f"{BASE}/Questionnaire/other-form"},
        422,
        "processing",
        "MRTC-EXT-002",
        "other-form",
        id="other-questionnaire",
    ),
    pytest.param(
        "POST",
        "/QuestionnaireResponse/$extract",
        lea_response("qr-bad", weight={"valueString": "soixante-cinq"}),
        422,
        "value",
        "MRTC-EXT-010",
        "Item 'weight'",
        id="non-numeric-weight",
    ),
    pytest.param(
        "POST",
        "/QuestionnaireResponse/$extract",
        {"resourceType": "Parameters", "parameter": []},
        400,
        "invalid",
        "MRTC-EXT-001",
        "needs one QuestionnaireResponse",
        id="no-response",
    ),
    pytest.param(
        "GET",
        "/QuestionnaireResponse/$extract",
        None,
        400,
        "invalid",
        "MRTC-EXT-001",
        "needs one QuestionnaireResponse",
        id="get-type-level",
    ),
    pytest.param(
        "POST",
        "/QuestionnaireResponse/$extract",
        {"resourceType": "Parameters", "parameter": [{"name": "bogus", "valueString": "x"}]},
        400,
        "not-supported",
        "MRTC-OP-001",
        "'bogus'",
        id="unknown-parameter",
    ),
    pytest.param(
        "POST",
        "/QuestionnaireResponse/qr-lea-1/$extract",
        lea_response(),
        400,
        "invalid",
        "MRTC-EXT-001",
        "takes no body",
        id="instance-with-body",
    ),
    pytest.param(
        "POST",
        "/Observation/$extract",
        lea_response(),
        404,
        "not-found",
        "MRTC-OP-101",
        "$extract",
        id="wrong-type",
    ),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "code", "msg_id", "text"), ERROR_CASES)
async def test_errors_are_operation_outcomes(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    status: int,
    code: str,
    msg_id: str,
    text: str,
) -> None:
    r = await client.request(method, url, json=body)
    assert r.status_code == status, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("error", code)
    assert issue["details"]["coding"][0]["code"] == msg_id
    assert text in issue["diagnostics"]
