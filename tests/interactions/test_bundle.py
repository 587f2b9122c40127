"""batch and transaction bundles: atomicity, ordering, reference resolution."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.conftest import patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


def weight(subject: str, value: float = 32.5) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": subject},
        "valueQuantity": {
            "value": value,
            "unit": "kg",
            "system": "http://unitsofmeasure.org",
            "code": "kg",
        },
    }


async def count(client: httpx.AsyncClient, type_: str) -> int:
    bundle = (await client.get(f"/{type_}/_history?_count=1000")).json()
    return len({e["fullUrl"] for e in bundle.get("entry", [])})


async def test_transaction_resolves_urn_uuid_and_answers_in_order(
    client: httpx.AsyncClient,
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:obs-1",
                "resource": weight("urn:uuid:pat-1"),
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "urn:uuid:pat-1",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    obs_resp, pat_resp = out["entry"]
    assert obs_resp["response"]["status"] == "201 Created"
    assert pat_resp["response"]["location"].startswith("Patient/")
    pid = pat_resp["resource"]["id"]
    assert obs_resp["resource"]["subject"]["reference"] == f"Patient/{pid}"
    stored = await client.get(f"/Observation/{obs_resp['resource']['id']}")
    assert stored.json()["subject"]["reference"] == f"Patient/{pid}"
    assert obs_resp["response"]["etag"] == 'W/"1"'


async def test_transaction_failing_in_last_entry_leaves_no_trace(
    client: httpx.AsyncClient,
) -> None:
    before_p, before_o = await count(client, "Patient"), await count(client, "Observation")
    existing = (await client.post("/Patient", json=patient())).json()
    doomed = (await client.post("/Patient", json=patient())).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:p",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": weight("urn:uuid:p"), "request": {"method": "POST", "url": "Observation"}},
            {
                "resource": {**existing, "gender": "male"},
                "request": {"method": "PUT", "url": f"Patient/{existing['id']}"},
            },
            {"request": {"method": "DELETE", "url": f"Patient/{doomed['id']}"}},
            {
                "resource": {"resourceType": "Patient", "birthDate": "bad"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["expression"][0] == "Bundle.entry[4]"
    assert "Bundle.entry[4]" in issue["diagnostics"]
    assert await count(client, "Observation") == before_o
    assert await count(client, "Patient") == before_p + 2  # only `existing` and `doomed`
    current = await client.get(f"/Patient/{existing['id']}")
    assert current.status_code == 200 and current.json() == existing
    assert (await client.get(f"/Patient/{doomed['id']}")).status_code == 200


async def test_transaction_processing_order_delete_before_create(
    client: httpx.AsyncClient,
) -> None:
    existing = (await client.post("/Patient", json=patient(gender="male"))).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "GET", "url": f"Patient/{existing['id']}"}},
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "DELETE", "url": f"Patient/{existing['id']}"}},
        ],
    }
    r = await client.post("/", json=bundle)
    # GET runs last, after the DELETE: the read fails with 410 and so the transaction fails
    # (had the GET run first, in entry order, the transaction would have succeeded)
    assert r.status_code == 410, r.text
    assert r.json()["issue"][0]["expression"][0] == "Bundle.entry[0]"
    assert (await client.get(f"/Patient/{existing['id']}")).status_code == 200


async def test_transaction_conditional_reference_and_if_none_exist(
    client: httpx.AsyncClient,
) -> None:
    ident = {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "2150399999999"}
    known = (await client.post("/Patient", json=patient(identifier=[ident]))).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": weight(f"Patient?identifier={ident['system']}|{ident['value']}"),
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "urn:uuid:again",
                "resource": patient(identifier=[ident]),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={ident['system']}|{ident['value']}",
                },
            },
            {
                "resource": weight("urn:uuid:again", 33.0),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 200, r.text
    e0, e1, e2 = r.json()["entry"]
    assert e0["resource"]["subject"]["reference"] == f"Patient/{known['id']}"
    assert e1["response"]["status"] == "200 OK"
    assert e2["resource"]["subject"]["reference"] == f"Patient/{known['id']}"


async def test_transaction_unresolvable_conditional_reference_fails(
    client: httpx.AsyncClient,
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": weight("Patient?identifier=urn:x|nobody"),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 412


async def test_transaction_patch_entry_with_binary(client: httpx.AsyncClient) -> None:
    existing = (await client.post("/Patient", json=patient())).json()
    ops = [{"op": "replace", "path": "/gender", "value": "other"}]
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
                "request": {"method": "PATCH", "url": f"Patient/{existing['id']}"},
            },
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 200, r.text
    assert (await client.get(f"/Patient/{existing['id']}")).json()["gender"] == "other"


async def test_batch_entries_succeed_or_fail_independently(client: httpx.AsyncClient) -> None:
    existing = (await client.post("/Patient", json=patient())).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient/not-there"}},
            {
                "resource": {"resourceType": "Patient", "birthDate": "x"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": f"Patient/{existing['id']}"}},
            {
                "request": {"method": "PUT", "url": f"Patient/{existing['id']}"},
                "resource": existing,
            },
            {"request": {"method": "GET", "url": "Spaceship/1"}},
            {"request": {"url": "Patient"}},
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 200
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses == [
        "201 Created",
        "404 Not Found",
        "400 Bad Request",
        "200 OK",
        "200 OK",
        "404 Not Found",
        "400 Bad Request",
    ]
    failed = r.json()["entry"][1]["response"]["outcome"]
    assert failed["resourceType"] == "OperationOutcome"


async def test_prefer_minimal_in_transaction(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient(), "request": {"method": "POST", "url": "Patient"}}],
    }
    r = await client.post("/", json=bundle, headers={"Prefer": "return=minimal"})
    entry = r.json()["entry"][0]
    assert "resource" not in entry and entry["response"]["location"]


async def test_transaction_rejects_two_entries_on_one_resource(
    client: httpx.AsyncClient,
) -> None:
    existing = (await client.post("/Patient", json=patient())).json()
    url = f"Patient/{existing['id']}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": existing, "request": {"method": "PUT", "url": url}},
            {"request": {"method": "DELETE", "url": url}},
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 400
