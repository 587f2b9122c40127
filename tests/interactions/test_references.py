"""Every write checks its references: format, allowed target type, and that the target exists.

Issue #7 ("References unchecked"): each of these was stored with 201 before.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.conftest import IG_DIR, AppClient, make_settings, patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


def observation(subject: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
    }
    if subject is not None:
        body["subject"] = {"reference": subject}
    body.update(extra)
    return body


def issue_of(response: httpx.Response) -> tuple[str, str, list[str]]:
    first = response.json()["issue"][0]
    return first["code"], first["details"]["coding"][0]["code"], first.get("expression", [])


async def stored_observations(client: httpx.AsyncClient) -> int:
    history = (await client.get("/Observation/_history", params={"_count": 1000})).json()
    return len(history.get("entry", []))


async def new_patient(client: httpx.AsyncClient) -> str:
    r = await client.post("/Patient", json=patient())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.mark.parametrize(
    ("subject", "msg_id"),
    [
        ("Patient/", "MRTC-REF-001"),
        ("::::", "MRTC-REF-001"),
        ("Patient/a b", "MRTC-REF-001"),
        (" Patient/1", "MRTC-REF-001"),
        ("#not an id", "MRTC-REF-001"),
        ("urn:isbn:0451450523", "MRTC-REF-001"),
        ("Foo/123", "MRTC-REF-002"),
        ("Medication/123", "MRTC-REF-003"),
        ("https://other.example.org/fhir/Medication/9", "MRTC-REF-003"),
        ("urn:uuid:8d5a2f40-5e4b-4b8e-9f0e-2c1d3b4a5f60", "MRTC-REF-004"),
        ("Patient?identifier=urn:oid:1.2.3|42", "MRTC-REF-005"),
    ],
)
async def test_a_malformed_or_misdirected_subject_is_refused_naming_the_element(
    client: httpx.AsyncClient, subject: str, msg_id: str
) -> None:
    before = await stored_observations(client)
    r = await client.post("/Observation", json=observation(subject))
    assert r.status_code == 400, r.text
    code, got, expression = issue_of(r)
    assert (code, got, expression) == ("value", msg_id, ["Observation.subject"])
    assert subject.strip() in r.json()["issue"][0]["diagnostics"] or msg_id == "MRTC-REF-003"
    assert await stored_observations(client) == before


async def test_a_reference_to_a_missing_resource_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/Observation", json=observation("Patient/nobody-here"))
    assert r.status_code == 422, r.text
    assert issue_of(r) == ("not-found", "MRTC-REF-010", ["Observation.subject"])
    assert "Patient/nobody-here does not exist" in r.json()["issue"][0]["diagnostics"]


async def test_a_reference_to_a_deleted_resource_is_refused(client: httpx.AsyncClient) -> None:
    pid = await new_patient(client)
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204
    r = await client.post("/Observation", json=observation(f"Patient/{pid}"))
    assert r.status_code == 422
    assert issue_of(r) == ("not-found", "MRTC-REF-011", ["Observation.subject"])


async def test_versioned_references_need_the_version(client: httpx.AsyncClient) -> None:
    pid = await new_patient(client)
    ok = await client.post("/Observation", json=observation(f"Patient/{pid}/_history/1"))
    assert ok.status_code == 201, ok.text
    r = await client.post("/Observation", json=observation(f"Patient/{pid}/_history/7"))
    assert r.status_code == 422
    assert issue_of(r) == ("not-found", "MRTC-REF-012", ["Observation.subject"])


async def test_valid_reference_forms_are_accepted(client: httpx.AsyncClient) -> None:
    pid = await new_patient(client)
    forms = [
        f"Patient/{pid}",
        f"http://testserver/Patient/{pid}",  # our own base: a local reference
        "https://other.example.org/fhir/Patient/123",  # another server: not looked up
    ]
    for subject in forms:
        r = await client.post("/Observation", json=observation(subject))
        assert r.status_code == 201, (subject, r.text)
    display_only = observation(performer=[{"display": "Dr Martin"}])  # no literal: nothing to check
    assert (await client.post("/Observation", json=display_only)).status_code == 201
    contained = observation(
        "#p1",
        contained=[{"resourceType": "Patient", "id": "p1", "gender": "female"}],
    )
    assert (await client.post("/Observation", json=contained)).status_code == 201


async def test_references_inside_data_types_extensions_and_contained_resources(
    client: httpx.AsyncClient,
) -> None:
    cases = [
        (
            observation(identifier=[{"value": "1", "assigner": {"reference": "Organization/x"}}]),
            "Observation.identifier[0].assigner",
        ),
        (
            observation(
                extension=[
                    {"url": "http://example.org/x", "valueReference": {"reference": "Patient/x"}}
                ]
            ),
            "Observation.extension[0].valueReference",
        ),
        (
            observation(
                specimen={"reference": "#sp"},
                contained=[
                    {
                        "resourceType": "Specimen",
                        "id": "sp",
                        "subject": {"reference": "Patient/gone"},
                    }
                ],
            ),
            "Observation.contained[0].subject",
        ),
        (
            observation(performer=[{"display": "a"}, {"reference": "Practitioner/x"}]),
            "Observation.performer[1]",
        ),
    ]
    for body, where in cases:
        r = await client.post("/Observation", json=body)
        assert r.status_code == 422, (where, r.text)
        assert issue_of(r)[2] == [where]


async def test_update_and_patch_check_references_too(client: httpx.AsyncClient) -> None:
    pid = await new_patient(client)
    created = (await client.post("/Observation", json=observation(f"Patient/{pid}"))).json()
    oid = created["id"]
    put = await client.put(
        f"/Observation/{oid}", json={**created, "subject": {"reference": "Foo/1"}}
    )
    assert put.status_code == 400 and issue_of(put)[1] == "MRTC-REF-002"
    dangling = {**created, "subject": {"reference": "Patient/missing"}}
    assert (await client.put(f"/Observation/{oid}", json=dangling)).status_code == 422
    ops = [{"op": "replace", "path": "/subject/reference", "value": "Patient/missing"}]
    patch = await client.patch(
        f"/Observation/{oid}", json=ops, headers={"Content-Type": "application/json-patch+json"}
    )
    assert patch.status_code == 422 and issue_of(patch)[2] == ["Observation.subject"]
    merge = await client.patch(
        f"/Observation/{oid}",
        content=json.dumps({"subject": {"reference": "Medication/1"}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert merge.status_code == 400 and issue_of(merge)[1] == "MRTC-REF-003"
    current = (await client.get(f"/Observation/{oid}")).json()
    assert current["subject"]["reference"] == f"Patient/{pid}"
    assert current["meta"]["versionId"] == "1"


async def test_delete_leaves_references_dangling_and_they_still_read(
    client: httpx.AsyncClient,
) -> None:
    """Decision 0012: deletes are allowed; a dangling reference is tolerated on read."""
    pid = await new_patient(client)
    obs = (await client.post("/Observation", json=observation(f"Patient/{pid}"))).json()
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204
    read = await client.get(f"/Observation/{obs['id']}")
    assert read.status_code == 200 and read.json()["subject"]["reference"] == f"Patient/{pid}"
    found = (await client.get("/Observation", params={"subject": f"Patient/{pid}"})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [obs["id"]]
    included = (
        await client.get(
            "/Observation",
            params={"_id": obs["id"], "_include": "Observation:subject"},
        )
    ).json()
    assert [e["resource"]["resourceType"] for e in included["entry"]] == ["Observation"]
    # The reference was checked when it was written; keeping it does not block an update.
    kept = await client.put(f"/Observation/{obs['id']}", json={**obs, "status": "amended"})
    assert kept.status_code == 200, kept.text


async def test_a_resource_may_reference_itself(client: httpx.AsyncClient) -> None:
    body = {
        **patient(),
        "id": "self-ref",
        "link": [{"other": {"reference": "Patient/self-ref"}, "type": "seealso"}],
    }
    assert (await client.put("/Patient/self-ref", json=body)).status_code == 201


async def test_referential_integrity_can_be_switched_off(mongo_uri: str) -> None:
    settings = make_settings(mongo_uri, referential_integrity=False)
    async with AppClient(settings) as http:
        r = await http.post("/Observation", json=observation("Patient/not-there"))
        assert r.status_code == 201, r.text
        bad = await http.post("/Observation", json=observation("Medication/1"))
        assert bad.status_code == 400  # format and target type are always checked


async def test_transaction_patch_entry_checks_references(client: httpx.AsyncClient) -> None:
    pid = await new_patient(client)
    obs = (await client.post("/Observation", json=observation(f"Patient/{pid}"))).json()
    ops = [{"op": "replace", "path": "/subject/reference", "value": "Patient/missing"}]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": base64.b64encode(json.dumps(ops).encode()).decode(),
                },
                "request": {"method": "PATCH", "url": f"Observation/{obs['id']}"},
            }
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 422, r.text
    assert issue_of(r)[2] == ["Bundle.entry[0]", "Observation.subject"]


async def test_a_profile_narrows_the_allowed_targets(client: httpx.AsyncClient) -> None:
    """Base R4 lets CarePlan.subject be a Group; the MRTC care-plan profile does not."""
    care_plan = json.loads((IG_DIR / "CarePlan-example-lea.json").read_text())
    care_plan.pop("id")
    care_plan["subject"] = {"reference": "Group/example-favourites-msp"}
    r = await client.post("/CarePlan", json=care_plan)
    assert r.status_code == 422, r.text
    found = [
        (i["details"]["coding"][0]["code"], i.get("expression"))
        for i in r.json()["issue"]
        if i["severity"] == "error"
    ]
    assert ("MRTC-PRF-010", ["CarePlan.subject"]) in found
