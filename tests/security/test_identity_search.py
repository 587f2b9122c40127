"""$identity-search and $match as real people: ranked candidates, masked for the others (item 2).

The MSP's structure account creates Chloé's record (and so is habilitated on
it); a doctor of another structure searching the same traits learns that the
record exists — reference, initials, birth year, grade — and nothing more,
then breaks glass and sees it whole.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import AppClient
from tests.resources.identity._patients import mrtc_patient

pytestmark = pytest.mark.asyncio(loop_scope="session")

TRAITS = {
    "birth-family-name": "Lefèvre",
    "first-birth-given-name": "chloe",
    "birth-date": "2016-09-21",
    "gender": "female",
    "birth-place-code": "13055",
}


async def _create(world: AppClient) -> tuple[str, str]:
    async with world.client_for("PractitionerRole/msp-account") as msp:
        chloe = mrtc_patient("LEFEVRE", "Chloé", "2016-09-21", rank=1, birth_list="Chloé Anne")
        r = await msp.post("/Patient", json=chloe)
        assert r.status_code == 201, r.text
        twin = mrtc_patient(
            "LEFEVRE", "Chloé", "2016-09-21", rank=2, attributes=("HOMA",), birth_list="Chloé Marie"
        )
        r2 = await msp.post("/Patient", json=twin)
        assert r2.status_code == 201, r2.text
        return r.json()["id"], r2.json()["id"]


async def test_identity_search_ranks_explains_and_masks(world: AppClient) -> None:
    chloe, twin = await _create(world)
    async with world.client_for("PractitionerRole/msp-account") as coord:
        # GET with the five traits and the twin rank
        r = await coord.get("/Patient/$identity-search", params={**TRAITS, "birth-rank": "1"})
        assert r.status_code == 200, r.text
        bundle = r.json()
        grades = {
            e["resource"]["id"]: (e["search"]["extension"][0]["valueCode"], e["search"]["score"])
            for e in bundle["entry"]
        }
        assert grades[chloe] == ("certain", 1.0)
        assert grades[twin][0] == "certainly-not"  # twins told apart by rank
        first = bundle["entry"][0]
        assert first["resource"]["id"] == chloe
        assert first["resource"]["name"][0]["family"] == "LEFEVRE"  # habilitated: the record
        explanation = {
            x["url"]: x["valueCode"] for x in first["search"]["extension"][1]["extension"]
        }
        assert explanation["birth-family-name"] == "match"
        assert explanation["birth-rank"] == "match"
        # POST with a Parameters body, a wildcard and a missing birth place
        params = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "birth-family-name", "valueString": "Lef%re"},
                {"name": "first-birth-given-name", "valueString": "Chloé"},
                {"name": "birth-date", "valueDate": "2016-09-21"},
                {"name": "gender", "valueCode": "female"},
            ],
        }
        r = await coord.post("/Patient/$identity-search", json=params)
        assert r.status_code == 200, r.text
        entry = next(e for e in r.json()["entry"] if e["resource"]["id"] == chloe)
        assert entry["search"]["extension"][0]["valueCode"] == "probable"


async def test_a_caller_without_habilitation_learns_only_the_minimum(world: AppClient) -> None:
    async with world.client_for("PractitionerRole/msp-account") as msp:
        r = await msp.post(
            "/Patient", json=mrtc_patient("MOREAU", "Inès", "2017-01-05", birth_list="Inès")
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
    async with world.client_for("Practitioner/other") as other:
        r = await other.get(
            "/Patient/$identity-search",
            params={
                "birth-family-name": "MOREAU",
                "first-birth-given-name": "Ines",
                "birth-date": "2017-01-05",
                "gender": "female",
                "birth-place-code": "13055",
            },
        )
        assert r.status_code == 200, r.text
        entry = next(e for e in r.json()["entry"] if e["fullUrl"].endswith(f"/Patient/{pid}"))
        assert entry["resource"] == {
            "resourceType": "Patient",
            "id": pid,
            "meta": {
                "security": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                        "code": "MASKED",
                        "display": "masked",
                    }
                ]
            },
            "name": [{"use": "official", "family": "M***", "given": ["I***"]}],
            "birthDate": "2017",
        }
        assert entry["search"]["extension"] == [
            {"url": "http://hl7.org/fhir/StructureDefinition/match-grade", "valueCode": "certain"}
        ]
        shown = json.dumps(entry, ensure_ascii=False)
        for secret in ("OREAU", "Inès", "nès", "2017-01-05", "13055", "explanation"):
            assert secret not in shown
        # $match shows the same minimum
        m = await other.post(
            "/Patient/$match",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "resource", "resource": mrtc_patient("Moreau", "Inès", "2017-01-05")},
                    {"name": "onlyCertainMatches", "valueBoolean": True},
                ],
            },
        )
        assert m.status_code == 200, m.text
        masked = m.json()["entry"][0]
        assert masked["resource"]["meta"]["security"][0]["code"] == "MASKED"
        assert "13055" not in json.dumps(masked)
        # and the record itself stays closed until break-glass
        assert (await other.get(f"/Patient/{pid}")).status_code == 404
        bg = await other.post(
            f"/Patient/{pid}/$break-glass",
            json={
                "resourceType": "Parameters",
                "parameter": [{"name": "reason", "valueString": "urgence"}],
            },
        )
        assert bg.status_code == 200, bg.text
        r = await other.get(
            "/Patient/$identity-search",
            params={
                "birth-family-name": "MOREAU",
                "first-birth-given-name": "Ines",
                "birth-date": "2017-01-05",
            },
        )
        entry = next(e for e in r.json()["entry"] if e["resource"]["id"] == pid)
        assert entry["resource"]["name"][0]["family"] == "MOREAU"


async def test_each_identity_search_is_audited(world: AppClient) -> None:
    async with world.client_for("Practitioner/coord") as coord:
        r = await coord.get(
            "/Patient/$identity-search",
            params={"birth-family-name": "AUDITME", "birth-date": "2010-10-10"},
        )
        assert r.status_code == 200
    async with world.client_for() as system:
        events = (
            await system.get("/AuditEvent", params={"agent": "Practitioner/coord", "_count": "200"})
        ).json()
    queries = [
        base64.b64decode(entity["query"]).decode()
        for e in events.get("entry", [])
        for entity in e["resource"].get("entity", [])
        if entity.get("query")
    ]
    assert any("AUDITME" in q for q in queries)


@pytest.mark.parametrize(
    "params,msg_id",
    [
        ({}, "MRTC-IDN-060"),
        ({"gender": "female"}, "MRTC-IDN-060"),
        ({"birth-date": "2016-13-45x"}, "MRTC-IDN-062"),
        ({"birth-family-name": "X", "gender": "other"}, "MRTC-IDN-063"),
        ({"birth-family-name": "X", "birth-rank": "two"}, "MRTC-OP-"),
        ({"birth-family-name": "X", "unknown": "1"}, "MRTC-OP-"),
    ],
)
async def test_bad_identity_search_input_is_a_clear_400(
    world: AppClient, params: dict[str, str], msg_id: str
) -> None:
    async with world.client_for("Practitioner/coord") as coord:
        r = await coord.get("/Patient/$identity-search", params=params)
    assert r.status_code == 400, r.text
    assert msg_id in r.text


async def test_twins_and_french_dates(world: AppClient) -> None:
    async with world.client_for("PractitionerRole/msp-account") as coord:
        r = await coord.get(
            "/Patient/$identity-search", params={**TRAITS, "birth-date": "21/09/2016"}
        )
        assert r.status_code == 200
        grades = [e["search"]["extension"][0]["valueCode"] for e in r.json()["entry"]]
        assert grades.count("certain") >= 2  # without a rank, twins both match
