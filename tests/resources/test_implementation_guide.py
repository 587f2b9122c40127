"""The IG is served read-only, advertised, and its examples are accepted."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")
IG = Path(__file__).resolve().parents[2] / "ig"
BASE = "https://mrtc.example.org/fhir"
PATIENT_PROFILE = f"{BASE}/StructureDefinition/mrtc-patient"


def examples() -> list[dict]:
    index = json.loads((IG / "index.json").read_text())
    return [json.loads((IG / f["file"]).read_text()) for f in index["files"] if f.get("example")]


async def test_conformance_resources_are_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/StructureDefinition/mrtc-patient")
    assert r.status_code == 200
    assert r.json()["url"] == PATIENT_PROFILE
    found = (await client.get("/StructureDefinition", params={"url": PATIENT_PROFILE})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["mrtc-patient"]
    for type_, id_ in [
        ("PlanDefinition", "mrtc-pathway"),
        ("Questionnaire", "mrtc-suivi-biometrique"),
    ]:
        assert (await client.get(f"/{type_}/{id_}")).status_code == 200
    for type_ in (
        "CodeSystem",
        "ValueSet",
        "SearchParameter",
        "OperationDefinition",
        "ImplementationGuide",
    ):
        bundle = (await client.get(f"/{type_}", params={"_count": 100})).json()
        assert bundle.get("entry"), type_


async def test_ig_resources_are_read_only(client: httpx.AsyncClient) -> None:
    sd = (await client.get("/StructureDefinition/mrtc-patient")).json()
    r = await client.put("/StructureDefinition/mrtc-patient", json=sd)
    assert r.status_code == 405
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "MRTC-IG-001"
    assert (await client.delete("/StructureDefinition/mrtc-patient")).status_code == 405


async def test_capability_statement_lists_profiles(client: httpx.AsyncClient) -> None:
    cs = (await client.get("/metadata")).json()
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert PATIENT_PROFILE in patient["supportedProfile"]
    observation = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Observation")
    assert len(observation["supportedProfile"]) == 3
    assert (
        cs["implementationGuide"] == [f"{BASE}/ImplementationGuide/mrtc"]
        or cs["implementationGuide"]
    )
    ops = {o["name"] for o in cs["rest"][0]["resource"][0].get("operation", [])}
    assert "validate" in ops


async def test_every_example_is_accepted_in_one_transaction(client: httpx.AsyncClient) -> None:
    entries = [
        {"resource": ex, "request": {"method": "PUT", "url": f"{ex['resourceType']}/{ex['id']}"}}
        for ex in examples()
    ]
    assert len(entries) >= 20
    r = await client.post(
        "/", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
    )
    assert r.status_code == 200, r.text
    assert all(e["response"]["status"] == "201 Created" for e in r.json()["entry"])
