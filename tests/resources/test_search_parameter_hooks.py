"""A SearchParameter serves exactly while it is stored: hooks run in their honest phases.

Creating one over REST makes it live once its transaction commits; deleting
or retiring it stops it at once; one written in a transaction that aborts
never starts serving.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")
NICKNAME = "http://example.org/fhir/StructureDefinition/nickname"


def definition(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "SearchParameter",
        "url": f"http://example.org/fhir/SearchParameter/{code}",
        "name": code.replace("-", ""),
        "status": "active",
        "description": "A patient's nickname, for a hooks test",
        "code": code,
        "base": ["Patient"],
        "type": "string",
        "expression": f"Patient.extension('{NICKNAME}').value",
        **extra,
    }


def nicknamed(nickname: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "extension": [{"url": NICKNAME, "valueString": nickname}],
    }


async def search(client: httpx.AsyncClient, code: str, value: str) -> httpx.Response:
    return await client.get("/Patient", params={code: value}, headers={"Prefer": "handling=strict"})


async def test_created_serves_and_deleted_stops_at_once(client: httpx.AsyncClient) -> None:
    code = f"nick-{uuid.uuid4().hex[:6]}"
    assert (await search(client, code, "x")).status_code == 400  # unknown parameter
    created = await client.post("/SearchParameter", json=definition(code))
    assert created.status_code == 201, created.text
    nickname = uuid.uuid4().hex
    assert (await client.post("/Patient", json=nicknamed(nickname))).status_code == 201
    found = await search(client, code, nickname)
    assert found.status_code == 200 and len(found.json()["entry"]) == 1
    deleted = await client.delete(f"/SearchParameter/{created.json()['id']}")
    assert deleted.status_code == 204
    assert (await search(client, code, nickname)).status_code == 400  # no restart needed
    metadata = (await client.get("/metadata")).json()
    patient = next(r for r in metadata["rest"][0]["resource"] if r["type"] == "Patient")
    assert code not in {p["name"] for p in patient["searchParam"]}


async def test_retired_stops_serving(client: httpx.AsyncClient) -> None:
    code = f"nick-{uuid.uuid4().hex[:6]}"
    created = (await client.post("/SearchParameter", json=definition(code))).json()
    assert (await search(client, code, "x")).status_code == 200
    retired = {**created, "status": "retired"}
    assert (await client.put(f"/SearchParameter/{created['id']}", json=retired)).status_code == 200
    assert (await search(client, code, "x")).status_code == 400


async def test_one_in_an_aborted_transaction_never_serves(client: httpx.AsyncClient) -> None:
    code = f"nick-{uuid.uuid4().hex[:6]}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": definition(code), "request": {"method": "POST", "url": "SearchParameter"}},
            {  # fails: no such resource to update conditionally on a version
                "resource": {"resourceType": "Patient", "id": "nope"},
                "request": {"method": "PUT", "url": "Patient/nope", "ifMatch": 'W/"7"'},
            },
        ],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 412, r.text
    assert (await search(client, code, "x")).status_code == 400
    stored = await client.get("/SearchParameter", params={"code": code})
    assert stored.json().get("entry", []) == []


async def test_an_unusable_expression_is_refused_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    code = f"nick-{uuid.uuid4().hex[:6]}"
    bad = definition(code, expression="Patient.extension(")
    r = await client.post("/SearchParameter", json=bad)
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["SearchParameter.expression"]
    assert (await client.get("/SearchParameter", params={"code": code})).json().get("entry") is None
