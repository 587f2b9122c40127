"""$validate and profile enforcement on writes, through HTTP."""

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


def lea() -> dict[str, Any]:
    """Léa alone: her sister's record (the family link's target) is not stored here."""
    child = json.loads((IG / "Patient-example-lea.json").read_text())
    child["extension"] = [e for e in child["extension"] if not e["url"].endswith("family-link")]
    return child


def without_birth_date() -> dict[str, Any]:
    child = copy.deepcopy(lea())
    child.pop("id")
    child.pop("birthDate")
    return child


async def test_validate_names_the_missing_strict_trait(client: httpx.AsyncClient) -> None:
    r = await client.post("/Patient/$validate", json=without_birth_date())
    assert r.status_code == 200
    errors = [i for i in r.json()["issue"] if i["severity"] == "error"]
    assert errors
    assert any("Patient.birthDate" in i.get("expression", []) for i in errors), errors


async def test_validate_with_parameters_and_profile(client: httpx.AsyncClient) -> None:
    plain = {"resourceType": "Patient", "name": [{"family": "Martin"}]}
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": plain},
            {
                "name": "profile",
                "valueUri": "https://mrtc.example.org/fhir/StructureDefinition/mrtc-patient",
            },
        ],
    }
    r = await client.post("/Patient/$validate", json=params)
    assert r.status_code == 200
    assert any(i["severity"] == "error" for i in r.json()["issue"])
    ok = await client.post("/Patient/$validate", json=lea())
    assert [i["severity"] for i in ok.json()["issue"]] == ["information"]


async def test_validate_stores_nothing(client: httpx.AsyncClient) -> None:
    before = (await client.get("/Patient/_history")).json().get("entry", [])
    await client.post("/Patient/$validate", json=lea())
    after = (await client.get("/Patient/_history")).json().get("entry", [])
    assert len(before) == len(after)


async def test_write_violating_a_claimed_profile_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/Patient", json=without_birth_date())
    assert r.status_code == 422
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any("Patient.birthDate" in i.get("expression", []) for i in outcome["issue"])
    await put_ig_examples(client, "Organization-example-msp.json")  # her managing organisation
    accepted = await client.post("/Patient", json=lea())
    assert accepted.status_code == 201, accepted.text


async def test_instance_validate_of_stored_resource(client: httpx.AsyncClient) -> None:
    await put_ig_examples(client, "Organization-example-msp.json")
    # another child than the Léa stored above (the same five traits would be a duplicate)
    other = {**lea(), "id": "lea-stored", "birthDate": "2015-03-15"}
    created = await client.put("/Patient/lea-stored", json=other)
    assert created.status_code == 201
    r = await client.get("/Patient/lea-stored/$validate")
    assert r.status_code == 200
    assert r.json()["issue"][0]["severity"] == "information"


async def test_terminology_operations(client: httpx.AsyncClient) -> None:
    vs = "https://mrtc.example.org/fhir/ValueSet/mrtc-consent-collector"
    expansion = await client.get("/ValueSet/$expand", params={"url": vs})
    assert expansion.status_code == 200, expansion.text
    codes = [c["code"] for c in expansion.json()["expansion"]["contains"]]
    assert len(codes) >= 7
    check = await client.get(
        "/ValueSet/$validate-code",
        params={
            "url": vs,
            "code": codes[0],
            "system": expansion.json()["expansion"]["contains"][0]["system"],
        },
    )
    assert check.status_code == 200
    result = {p["name"]: p for p in check.json()["parameter"]}
    assert result["result"]["valueBoolean"] is True
    bad = await client.get(
        "/ValueSet/$validate-code", params={"url": vs, "code": "nope", "system": "urn:x"}
    )
    assert {p["name"]: p for p in bad.json()["parameter"]}["result"]["valueBoolean"] is False
    system = expansion.json()["expansion"]["contains"][0]["system"]
    lookup = await client.get("/CodeSystem/$lookup", params={"system": system, "code": codes[0]})
    assert lookup.status_code == 200, lookup.text
    assert any(p["name"] == "display" for p in lookup.json()["parameter"])
    unknown = await client.get("/ValueSet/$expand", params={"url": vs, "bogus": "1"})
    assert unknown.status_code == 400
