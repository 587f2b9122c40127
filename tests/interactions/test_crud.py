"""create, read, vread, update, delete, conditional read — through real HTTP semantics."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_create_assigns_id_version_and_headers(client: httpx.AsyncClient) -> None:
    r = await client.post("/Patient", json=patient(id="ignored-client-id"))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "ignored-client-id"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"] == f"http://testserver/Patient/{body['id']}/_history/1"
    assert r.headers["last-modified"].endswith("GMT")
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.headers["x-request-id"]


async def test_read_serves_the_stored_json(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    r = await client.get(f"/Patient/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    assert r.headers["etag"] == 'W/"1"'


async def test_update_makes_a_new_version_and_vread_keeps_the_old(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    changed = {**created, "gender": "male"}
    r = await client.put(f"/Patient/{created['id']}", json=changed)
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    assert r.headers["etag"] == 'W/"2"'
    old = await client.get(f"/Patient/{created['id']}/_history/1")
    assert old.status_code == 200 and old.json()["gender"] == "female"
    new = await client.get(f"/Patient/{created['id']}/_history/2")
    assert new.json()["gender"] == "male"
    missing = await client.get(f"/Patient/{created['id']}/_history/9")
    assert missing.status_code == 404


async def test_update_as_create_uses_the_client_id(client: httpx.AsyncClient) -> None:
    r = await client.put("/Patient/child-42", json=patient(id="child-42"))
    assert r.status_code == 201
    assert r.headers["location"].endswith("/Patient/child-42/_history/1")
    again = await client.put("/Patient/child-42", json=patient(id="child-42"))
    assert again.status_code == 200 and again.json()["meta"]["versionId"] == "2"


async def test_if_match_mismatch_is_412_and_match_succeeds(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    url = f"/Patient/{created['id']}"
    stale = await client.put(url, json=created, headers={"If-Match": 'W/"7"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    ok = await client.put(url, json=created, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == 'W/"2"'


async def test_delete_is_logical_then_read_is_410(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    url = f"/Patient/{created['id']}"
    r = await client.delete(url)
    assert r.status_code == 204
    assert r.headers["etag"] == 'W/"2"'
    gone = await client.get(url)
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    assert (await client.get(f"{url}/_history/1")).status_code == 200
    assert (await client.get(f"{url}/_history/2")).status_code == 410
    assert (await client.delete(url)).status_code == 204  # idempotent
    revived = await client.put(url, json=created)
    assert revived.status_code == 201 and revived.json()["meta"]["versionId"] == "3"


async def test_delete_of_unknown_resource_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/Patient/never-there")).status_code == 404


async def test_conditional_read(client: httpx.AsyncClient) -> None:
    created = await client.post("/Patient", json=patient())
    url = f"/Patient/{created.json()['id']}"
    same = await client.get(url, headers={"If-None-Match": 'W/"1"'})
    assert same.status_code == 304 and same.content == b""
    other = await client.get(url, headers={"If-None-Match": 'W/"0"'})
    assert other.status_code == 200
    later = await client.get(url, headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert later.status_code == 304
    earlier = await client.get(url, headers={"If-Modified-Since": "Fri, 01 Jan 2010 00:00:00 GMT"})
    assert earlier.status_code == 200


@pytest.mark.parametrize(
    ("prefer", "expect"),
    [
        ("return=minimal", None),
        ("return=representation", "Patient"),
        ("return=OperationOutcome", "OperationOutcome"),
    ],
)
async def test_prefer_return(client: httpx.AsyncClient, prefer: str, expect: str | None) -> None:
    r = await client.post("/Patient", json=patient(), headers={"Prefer": prefer})
    assert r.status_code == 201
    assert r.headers["location"]
    if expect is None:
        assert r.content == b""
    else:
        assert r.json()["resourceType"] == expect


async def test_patch_with_json_patch(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    url = f"/Patient/{created['id']}"
    ops = [
        {"op": "test", "path": "/gender", "value": "female"},
        {"op": "replace", "path": "/birthDate", "value": "2014-12-31"},
    ]
    r = await client.patch(url, json=ops, headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["birthDate"] == "2014-12-31" and r.json()["meta"]["versionId"] == "2"
    failing = [{"op": "test", "path": "/gender", "value": "male"}]
    r = await client.patch(
        url, json=failing, headers={"Content-Type": "application/json-patch+json"}
    )
    assert r.status_code == 422
    breaking = [{"op": "replace", "path": "/birthDate", "value": "not-a-date"}]
    r = await client.patch(
        url, json=breaking, headers={"Content-Type": "application/json-patch+json"}
    )
    assert r.status_code == 400
    assert "Patient.birthDate" in r.json()["issue"][0]["expression"]
    id_change = [{"op": "replace", "path": "/id", "value": "other"}]
    r = await client.patch(
        url, json=id_change, headers={"Content-Type": "application/json-patch+json"}
    )
    assert r.status_code == 400
    assert (await client.get(url)).json()["meta"]["versionId"] == "2"  # nothing lost


async def test_head_and_format_and_pretty(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    r = await client.get(f"/Patient/{created['id']}?_format=json&_pretty=true")
    assert r.status_code == 200 and b"\n  " in r.content
    r = await client.get(f"/Patient/{created['id']}", headers={"Accept": "application/json"})
    assert r.headers["content-type"].startswith("application/json")


async def test_gzip_when_asked(client: httpx.AsyncClient) -> None:
    r = await client.get("/metadata", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.json()["resourceType"] == "CapabilityStatement"


async def test_patch_with_json_merge_patch(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Patient", json=patient(active=True))).json()
    url = f"/Patient/{created['id']}"
    merge = {"birthDate": "2014-01-02", "active": None, "name": [{"family": "Durand"}]}
    r = await client.patch(
        url, json=merge, headers={"Content-Type": "application/merge-patch+json"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["birthDate"] == "2014-01-02"
    assert "active" not in body  # null removes
    assert body["name"] == [{"family": "Durand"}]  # arrays are replaced whole
    assert body["gender"] == "female"  # untouched
    # a plain JSON object is read as a merge patch too (what fhirpy sends)
    r = await client.patch(url, json={"gender": "male"})
    assert r.status_code == 200 and r.json()["gender"] == "male"
    bad = await client.patch(
        url, json=[{"op": "add"}], headers={"Content-Type": "application/merge-patch+json"}
    )
    assert bad.status_code == 400
    invalid = await client.patch(url, json={"birthDate": "02/01/2014"})
    assert invalid.status_code == 400
    assert (await client.get(url)).json()["meta"]["versionId"] == "3"
