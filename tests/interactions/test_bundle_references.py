"""References between bundle entries, conditional references, and fullUrl rules.

Issue #15 (urn:uuid placeholders stored as sent by batches; conditional
references of generators) and #7 (unresolved placeholders and duplicate
fullUrls committed by transactions; a batch GET with a URL in a parameter).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def observation(subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
        "subject": {"reference": subject},
        **extra,
    }


def post(resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def statuses(response: httpx.Response) -> list[str]:
    return [e["response"]["status"] for e in response.json()["entry"]]


def outcome_of(entry: dict[str, Any]) -> dict[str, Any]:
    issue = entry["response"]["outcome"]["issue"][0]
    return {
        "code": issue["code"],
        "msg_id": issue["details"]["coding"][0]["code"],
        "diagnostics": issue["diagnostics"],
        "expression": issue.get("expression", []),
    }


async def count(client: httpx.AsyncClient, type_: str) -> int:
    history = (await client.get(f"/{type_}/_history", params={"_count": 1000})).json()
    return len({e["fullUrl"] for e in history.get("entry", [])})


async def test_batch_resolves_placeholders_in_dependency_order(client: httpx.AsyncClient) -> None:
    p, enc = urn(), urn()
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": p},
    }
    r = await client.post(
        "/",
        json=bundle(
            "batch",
            post(observation(p, encounter={"reference": enc}), urn()),  # needs both below
            post(encounter, enc),  # needs the patient
            post(patient(), p),
        ),
    )
    assert r.status_code == 200, r.text
    assert statuses(r) == ["201 Created"] * 3
    obs, encounter_out, patient_out = (e["resource"] for e in r.json()["entry"])
    assert obs["subject"]["reference"] == f"Patient/{patient_out['id']}"
    assert obs["encounter"]["reference"] == f"Encounter/{encounter_out['id']}"
    assert encounter_out["subject"]["reference"] == f"Patient/{patient_out['id']}"
    found = (
        await client.get("/Encounter", params={"subject": f"Patient/{patient_out['id']}"})
    ).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [encounter_out["id"]]


async def test_batch_resolves_absolute_and_relative_full_urls(client: httpx.AsyncClient) -> None:
    base = "http://elsewhere.example.org/fhir"
    r = await client.post(
        "/",
        json=bundle(
            "batch",
            post(observation("Patient/p1"), f"{base}/Observation/o1"),  # relative to its base
            post(observation(f"{base}/Patient/p1"), f"{base}/Observation/o2"),  # absolute
            post(patient(), f"{base}/Patient/p1"),
        ),
    )
    assert statuses(r) == ["201 Created"] * 3, r.text
    pid = r.json()["entry"][2]["resource"]["id"]
    assert pid != "p1"
    subjects = [e["resource"]["subject"]["reference"] for e in r.json()["entry"][:2]]
    assert subjects == [f"Patient/{pid}", f"Patient/{pid}"]


async def test_batch_entry_needing_a_failed_entry_fails_with_the_reason(
    client: httpx.AsyncClient,
) -> None:
    p = urn()
    before = await count(client, "Observation")
    r = await client.post(
        "/",
        json=bundle(
            "batch",
            post({**patient(), "birthDate": "not-a-date"}, p),
            post(observation(p), urn()),
            post(observation("Patient/" + "x"), urn()),  # independent; fails on its own
            post(patient(), urn()),  # independent; succeeds
        ),
    )
    assert r.status_code == 200
    assert statuses(r) == [
        "400 Bad Request",
        "424 Failed Dependency",
        "422 Unprocessable Entity",
        "201 Created",
    ]
    dependent = outcome_of(r.json()["entry"][1])
    assert dependent["msg_id"] == "MRTC-BNDL-013"
    assert dependent["expression"] == ["Observation.subject"]
    assert "Bundle.entry[0]" in dependent["diagnostics"]
    assert "400 Bad Request" in dependent["diagnostics"]
    assert await count(client, "Observation") == before


async def test_batch_placeholder_naming_no_entry_fails_that_entry_only(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/",
        json=bundle("batch", post(observation(urn()), urn()), post(patient(), urn())),
    )
    assert statuses(r) == ["400 Bad Request", "201 Created"]
    failed = outcome_of(r.json()["entry"][0])
    assert failed["msg_id"] == "MRTC-BNDL-012"
    assert failed["expression"] == ["Observation.subject"]


def linked_pair(kind: str) -> dict[str, Any]:
    a, b = urn(), urn()
    return bundle(
        kind,
        post({**patient(), "link": [{"other": {"reference": b}, "type": "seealso"}]}, a),
        post({**patient(), "link": [{"other": {"reference": a}, "type": "seealso"}]}, b),
    )


async def test_reference_cycle_fails_in_a_batch_and_resolves_in_a_transaction(
    client: httpx.AsyncClient,
) -> None:
    before = await count(client, "Patient")
    r = await client.post("/", json=linked_pair("batch"))
    assert statuses(r) == ["400 Bad Request", "400 Bad Request"]
    assert {outcome_of(e)["msg_id"] for e in r.json()["entry"]} == {"MRTC-BNDL-014"}
    assert await count(client, "Patient") == before
    t = await client.post("/", json=linked_pair("transaction"))
    assert t.status_code == 200, t.text
    first, second = (e["resource"] for e in t.json()["entry"])
    assert first["link"][0]["other"]["reference"] == f"Patient/{second['id']}"
    assert second["link"][0]["other"]["reference"] == f"Patient/{first['id']}"


@pytest.mark.parametrize("kind", ["batch", "transaction"])
async def test_duplicate_full_urls_refuse_the_bundle_naming_the_entries(
    client: httpx.AsyncClient, kind: str
) -> None:
    same = urn()
    before = await count(client, "Patient")
    r = await client.post(
        "/", json=bundle(kind, post(patient(), urn()), post(patient(), same), post(patient(), same))
    )
    assert r.status_code == 400, r.text
    issue = r.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "MRTC-BNDL-011"
    assert issue["expression"] == ["Bundle.entry[1].fullUrl", "Bundle.entry[2].fullUrl"]
    assert await count(client, "Patient") == before


async def test_transaction_with_a_placeholder_no_entry_defines_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    before = await count(client, "Patient")
    dangling = urn()
    r = await client.post(
        "/", json=bundle("transaction", post(patient(), urn()), post(observation(dangling), urn()))
    )
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "MRTC-BNDL-012"
    assert issue["expression"] == ["Bundle.entry[1]", "Observation.subject"]
    assert dangling in issue["diagnostics"]
    assert await count(client, "Patient") == before


async def test_transaction_checks_existence_after_every_entry_is_written(
    client: httpx.AsyncClient,
) -> None:
    doomed = (await client.post("/Patient", json=patient())).json()["id"]
    before = await count(client, "Observation")
    r = await client.post(
        "/",
        json=bundle(
            "transaction",
            post(observation(f"Patient/{doomed}"), urn()),
            {"request": {"method": "DELETE", "url": f"Patient/{doomed}"}},
        ),
    )
    assert r.status_code == 422, r.text
    issue = r.json()["issue"][0]
    assert issue["code"] == "not-found"
    assert issue["expression"] == ["Bundle.entry[0]", "Observation.subject"]
    assert (await client.get(f"/Patient/{doomed}")).status_code == 200
    assert await count(client, "Observation") == before


async def test_batch_get_with_a_url_in_a_parameter_value(client: httpx.AsyncClient) -> None:
    ident = {"system": "http://example.org/sys", "value": f"v-{uuid.uuid4().hex[:8]}"}
    pid = (await client.post("/Patient", json=patient(identifier=[ident]))).json()["id"]
    url = f"Patient?identifier={ident['system']}|{ident['value']}"
    r = await client.post("/", json=bundle("batch", {"request": {"method": "GET", "url": url}}))
    assert statuses(r) == ["200 OK"], r.text
    found = r.json()["entry"][0]["resource"]
    assert [e["resource"]["id"] for e in found["entry"]] == [pid]


def organization(system: str, value: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "name": value,
        "identifier": [{"system": system, "value": value}],
    }


def encounter_with(provider: str, practitioner: str, subject: str) -> dict[str, Any]:
    """The shape Synthea gives an Encounter when hospitals and clinicians live elsewhere."""
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": subject},
        "serviceProvider": {"reference": provider, "display": "General Hospital"},
        "participant": [{"individual": {"reference": practitioner, "display": "Dr X"}}],
    }


@pytest.mark.parametrize("kind", ["batch", "transaction"])
async def test_conditional_references_of_generators_resolve(
    client: httpx.AsyncClient, kind: str
) -> None:
    org_id = uuid.uuid4().hex
    npi = str(uuid.uuid4().int)[:10]
    org = (
        await client.post(
            "/Organization", json=organization("https://github.com/synthetichealth/synthea", org_id)
        )
    ).json()
    practitioner = {
        "resourceType": "Practitioner",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": npi}],
    }
    doc = (await client.post("/Practitioner", json=practitioner)).json()
    p = urn()
    r = await client.post(
        "/",
        json=bundle(
            kind,
            post(patient(), p),
            post(
                encounter_with(
                    f"Organization?identifier=https://github.com/synthetichealth/synthea|{org_id}",
                    f"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|{npi}",
                    p,
                ),
                urn(),
            ),
        ),
    )
    assert r.status_code == 200, r.text
    encounter = r.json()["entry"][1]["resource"]
    assert encounter["serviceProvider"]["reference"] == f"Organization/{org['id']}"
    assert encounter["participant"][0]["individual"]["reference"] == f"Practitioner/{doc['id']}"


async def test_conditional_reference_matching_none_or_several_is_refused(
    client: httpx.AsyncClient,
) -> None:
    twin = uuid.uuid4().hex
    for _ in range(2):
        await client.post("/Organization", json=organization("urn:ex:orgs", twin))
    none = encounter_with(
        "Organization?identifier=urn:ex:orgs|nobody", "Practitioner/x", "Patient/x"
    )
    several = encounter_with(
        f"Organization?identifier=urn:ex:orgs|{twin}", "Practitioner/x", "Patient/x"
    )
    shaping = encounter_with(
        f"Organization?identifier=urn:ex:orgs|{twin}&_count=1", "Practitioner/x", "Patient/x"
    )
    r = await client.post("/", json=bundle("batch", post(none), post(several), post(shaping)))
    assert statuses(r) == ["412 Precondition Failed", "412 Precondition Failed", "400 Bad Request"]
    outcomes = [outcome_of(e) for e in r.json()["entry"]]
    assert [o["msg_id"] for o in outcomes] == ["MRTC-BNDL-010", "MRTC-BNDL-015", "MRTC-BNDL-017"]
    assert [o["code"] for o in outcomes[:2]] == ["conflict", "multiple-matches"]
    assert all(o["expression"] == ["Encounter.serviceProvider"] for o in outcomes)
    assert "matches no Organization" in outcomes[0]["diagnostics"]
    assert "matches 2 Organization" in outcomes[1]["diagnostics"]
    t = await client.post("/", json=bundle("transaction", post(patient(), urn()), post(several)))
    assert t.status_code == 412
    assert t.json()["issue"][0]["expression"] == ["Bundle.entry[1]", "Encounter.serviceProvider"]


async def test_batch_conditional_reference_sees_earlier_entries(client: httpx.AsyncClient) -> None:
    """Generators send the hospitals bundle first; in one batch, earlier entries count too."""
    org_id = uuid.uuid4().hex
    p = urn()
    r = await client.post(
        "/",
        json=bundle(
            "batch",
            post(organization("urn:ex:hospitals", org_id), urn()),
            post(patient(), p),
            post(
                {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": p},
                    "serviceProvider": {
                        "reference": f"Organization?identifier=urn:ex:hospitals|{org_id}"
                    },
                },
                urn(),
            ),
        ),
    )
    assert statuses(r) == ["201 Created"] * 3, r.text
    org = r.json()["entry"][0]["resource"]
    assert (
        r.json()["entry"][2]["resource"]["serviceProvider"]["reference"]
        == f"Organization/{org['id']}"
    )
