"""history at instance, type and system level, with _since, _count and paging."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _versions(client: httpx.AsyncClient, n: int) -> str:
    created = (await client.post("/Patient", json=patient())).json()
    for i in range(n - 1):
        body = {**created, "birthDate": f"2015-01-{i + 10:02d}"}
        assert (await client.put(f"/Patient/{created['id']}", json=body)).status_code == 200
    return str(created["id"])


async def test_instance_history_newest_first(client: httpx.AsyncClient) -> None:
    pid = await _versions(client, 3)
    await client.delete(f"/Patient/{pid}")
    r = await client.get(f"/Patient/{pid}/_history")
    assert r.status_code == 200
    bundle = r.json()
    assert bundle["type"] == "history"
    entries = bundle["entry"]
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert entries[0]["request"] == {"method": "DELETE", "url": f"Patient/{pid}"}
    assert "resource" not in entries[0]
    assert entries[-1]["request"] == {"method": "POST", "url": "Patient"}
    assert entries[-1]["response"]["status"] == "201 Created"
    assert entries[1]["resource"]["meta"]["versionId"] == "3"
    assert bundle["link"][0]["relation"] == "self"
    assert bundle["link"][0]["url"].startswith("http://testserver/Patient/")


async def test_history_of_unknown_resource_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/Patient/nobody/_history")).status_code == 404


async def test_paging_with_count_has_no_gaps_or_duplicates(client: httpx.AsyncClient) -> None:
    pid = await _versions(client, 7)
    seen: list[str] = []
    url: str | None = f"/Patient/{pid}/_history?_count=3"
    pages = 0
    while url:
        bundle = (await client.get(url)).json()
        seen += [e["response"]["etag"] for e in bundle["entry"]]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0] if nxt else None
        pages += 1
        if pages == 1:  # a write between pages must not shift the next page
            body = (await client.get(f"/Patient/{pid}")).json()
            await client.put(f"/Patient/{pid}", json=body)
    assert seen == [f'W/"{v}"' for v in range(7, 0, -1)]
    assert pages == 3


async def test_type_and_system_history_with_since(client: httpx.AsyncClient) -> None:
    first = await _versions(client, 1)
    stamp = (await client.get(f"/Patient/{first}")).json()["meta"]["lastUpdated"]
    second = await _versions(client, 2)
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
    }
    await client.post("/Observation", json=obs)
    r = await client.get(f"/Patient/_history?_since={stamp}")
    ids = {e["resource"]["id"] for e in r.json()["entry"]}
    assert second in ids and all(
        e["request"]["url"].startswith("Patient") for e in r.json()["entry"]
    )
    system = (await client.get(f"/_history?_since={stamp}&_count=100")).json()
    types = {e["resource"]["resourceType"] for e in system["entry"]}
    # the audit trail of these requests is history too (docs/security.md)
    assert types - {"AuditEvent"} == {"Patient", "Observation"}
    assert (await client.get("/_history?_since=yesterday")).status_code == 400
