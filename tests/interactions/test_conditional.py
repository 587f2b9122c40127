"""Conditional create, update, patch and delete (If-None-Exist, [type]?criteria)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import patient

pytestmark = pytest.mark.asyncio(loop_scope="session")
SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"


def with_ident(value: str, **extra: Any) -> dict[str, Any]:
    return patient(identifier=[{"system": SYSTEM, "value": value}], **extra)


async def test_conditional_create(client: httpx.AsyncClient) -> None:
    value = uuid.uuid4().hex
    cond = {"If-None-Exist": f"identifier={SYSTEM}|{value}"}
    first = await client.post("/Patient", json=with_ident(value), headers=cond)
    assert first.status_code == 201
    again = await client.post("/Patient", json=with_ident(value), headers=cond)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["etag"] == 'W/"1"'
    await client.post("/Patient", json=with_ident(value))  # a second match, unconditionally
    several = await client.post("/Patient", json=with_ident(value), headers=cond)
    assert several.status_code == 412
    assert several.json()["issue"][0]["code"] == "multiple-matches"


async def test_conditional_create_with_unknown_parameter_is_400(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/Patient", json=patient(), headers={"If-None-Exist": "shoeSize=32"})
    assert r.status_code == 400


async def test_conditional_create_again_after_update_and_delete(
    client: httpx.AsyncClient,
) -> None:
    value = uuid.uuid4().hex
    cond = {"If-None-Exist": f"identifier={SYSTEM}|{value}"}
    first = (await client.post("/Patient", json=with_ident(value), headers=cond)).json()
    await client.delete(f"/Patient/{first['id']}")
    second = await client.post("/Patient", json=with_ident(value), headers=cond)
    assert second.status_code == 201 and second.json()["id"] != first["id"]


async def test_conditional_update(client: httpx.AsyncClient) -> None:
    value = uuid.uuid4().hex
    url = f"/Patient?identifier={SYSTEM}|{value}"
    created = await client.put(url, json=with_ident(value))
    assert created.status_code == 201
    pid = created.json()["id"]
    updated = await client.put(url, json=with_ident(value, gender="male"))
    assert updated.status_code == 200
    assert updated.json()["id"] == pid and updated.json()["meta"]["versionId"] == "2"
    wrong_id = await client.put(url, json=with_ident(value, id="someone-else"))
    assert wrong_id.status_code == 400
    await client.post("/Patient", json=with_ident(value))
    assert (await client.put(url, json=with_ident(value))).status_code == 412


async def test_conditional_patch_and_delete(client: httpx.AsyncClient) -> None:
    value = uuid.uuid4().hex
    created = (await client.post("/Patient", json=with_ident(value))).json()
    url = f"/Patient?identifier={SYSTEM}|{value}"
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    r = await client.patch(url, json=ops, headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200 and r.json()["gender"] == "male"
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(f"/Patient/{created['id']}")).status_code == 410
    assert (await client.delete(url)).status_code == 204  # no match: nothing to do
    missing = await client.patch(
        url, json=ops, headers={"Content-Type": "application/json-patch+json"}
    )
    assert missing.status_code == 404


async def test_conditional_delete_with_several_matches_is_412(client: httpx.AsyncClient) -> None:
    value = uuid.uuid4().hex
    await client.post("/Patient", json=with_ident(value))
    await client.post("/Patient", json=with_ident(value))
    r = await client.delete(f"/Patient?identifier={SYSTEM}|{value}")
    assert r.status_code == 412


async def test_conditional_write_without_criteria_is_400(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/Patient")).status_code == 400
    assert (await client.put("/Patient", json=patient())).status_code == 400


async def test_a_create_that_does_not_meet_its_condition_never_locks_the_condition(
    client: httpx.AsyncClient,
) -> None:
    """The body lacks the identifier the condition names: every such create is a new 201."""
    value = uuid.uuid4().hex
    cond = {"If-None-Exist": f"identifier={SYSTEM}|{value}"}
    first = await client.post("/Patient", json=patient(), headers=cond)
    again = await client.post("/Patient", json=patient(), headers=cond)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] != again.json()["id"]
    # and a body that does meet it is created once, then found
    meets = await client.post("/Patient", json=with_ident(value), headers=cond)
    found = await client.post("/Patient", json=with_ident(value), headers=cond)
    assert (meets.status_code, found.status_code) == (201, 200)
    assert found.json()["id"] == meets.json()["id"]


async def test_a_conditional_update_that_creates_never_locks_the_condition(
    client: httpx.AsyncClient,
) -> None:
    value = uuid.uuid4().hex
    url = f"/Patient?identifier={SYSTEM}|{value}"
    first = await client.put(url, json=patient())  # does not carry the identifier
    second = await client.put(url, json=patient())
    assert (first.status_code, second.status_code) == (201, 201)
    cond = {"If-None-Exist": f"identifier={SYSTEM}|{value}"}
    created = await client.post("/Patient", json=with_ident(value), headers=cond)
    assert created.status_code == 201


@pytest.mark.parametrize("condition", ["Patient?", "", "   ", "_count=5"])
async def test_if_none_exist_without_criteria_is_refused(
    client: httpx.AsyncClient, condition: str
) -> None:
    before = (await client.get("/Patient", params={"_summary": "count"})).json()["total"]
    r = await client.post("/Patient", json=patient(), headers={"If-None-Exist": condition})
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    after = (await client.get("/Patient", params={"_summary": "count"})).json()["total"]
    assert after == before  # nothing stored
