"""Concurrent writers never lose a write; conditional creates never duplicate.

These run against a real uvicorn with separate HTTP clients, as EHRs and
regional systems would hit the server.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.conftest import LiveServer, patient

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_parallel_if_match_updates_exactly_one_wins_per_round(
    live_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(
        base_url=live_server, headers=live_server.headers, timeout=60
    ) as setup:
        created = (await setup.post("/Patient", json=patient())).json()
    url = f"/Patient/{created['id']}"
    clients = [
        httpx.AsyncClient(base_url=live_server, headers=live_server.headers, timeout=60)
        for _ in range(8)
    ]
    successes = 0
    try:
        for round_ in range(5):
            async with httpx.AsyncClient(
                base_url=live_server, headers=live_server.headers
            ) as reader:
                current = (await reader.get(url)).json()
            version = current["meta"]["versionId"]

            async def put(
                c: httpx.AsyncClient, k: int, version: str = version, current: dict = current
            ) -> int:
                body = {**current, "birthDate": f"2015-01-{k + 1:02d}"}
                r = await c.put(url, json=body, headers={"If-Match": f'W/"{version}"'})
                return r.status_code

            statuses = await asyncio.gather(*(put(c, k) for k, c in enumerate(clients)))
            assert statuses.count(200) == 1, (round_, statuses)
            assert set(statuses) <= {200, 409, 412}
            successes += 1
    finally:
        for c in clients:
            await c.aclose()
    async with httpx.AsyncClient(base_url=live_server, headers=live_server.headers) as reader:
        final = (await reader.get(url)).json()
        history = (await reader.get(f"{url}/_history?_count=100")).json()
    assert int(final["meta"]["versionId"]) == 1 + successes
    assert len(history["entry"]) == 1 + successes


async def test_parallel_unconditional_updates_are_all_recorded(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(
        base_url=live_server, headers=live_server.headers, timeout=60
    ) as c:
        created = (await c.post("/Patient", json=patient())).json()
        url = f"/Patient/{created['id']}"
        statuses = await asyncio.gather(*(c.put(url, json=created) for _ in range(12)))
        assert [s.status_code for s in statuses] == [200] * 12
        versions = sorted(int(s.json()["meta"]["versionId"]) for s in statuses)
        assert versions == list(range(2, 14))
        history = (await c.get(f"{url}/_history?_count=100")).json()
        assert len(history["entry"]) == 13


async def test_64_parallel_conditional_creates_make_one_resource(live_server: LiveServer) -> None:
    value = uuid.uuid4().hex
    condition = f"identifier=urn:oid:1.2.250.1.213.1.4.8|{value}"
    body = patient(identifier=[{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": value}])
    clients = [
        httpx.AsyncClient(base_url=live_server, headers=live_server.headers, timeout=120)
        for _ in range(64)
    ]
    try:
        responses = await asyncio.gather(
            *(c.post("/Patient", json=body, headers={"If-None-Exist": condition}) for c in clients)
        )
    finally:
        for c in clients:
            await c.aclose()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 63 + [201], statuses
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    async with httpx.AsyncClient(base_url=live_server, headers=live_server.headers) as c:
        found = (await c.get(f"/Patient?{condition}")).json()
    assert len(found.get("entry", [])) == 1


async def test_64_parallel_transactions_with_conditional_create_make_one(
    live_server: LiveServer,
) -> None:
    value = uuid.uuid4().hex
    condition = f"identifier=urn:oid:1.2.250.1.213.1.4.8|{value}"
    ident = [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": value}]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:p",
                "resource": patient(identifier=ident),
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": condition},
            },
        ],
    }
    clients = [
        httpx.AsyncClient(base_url=live_server, headers=live_server.headers, timeout=120)
        for _ in range(64)
    ]
    try:
        responses = await asyncio.gather(*(c.post("/", json=bundle) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses[:2]]
    statuses = sorted(r.json()["entry"][0]["response"]["status"] for r in responses)
    assert statuses == ["200 OK"] * 63 + ["201 Created"]
    async with httpx.AsyncClient(base_url=live_server, headers=live_server.headers) as c:
        found = (await c.get(f"/Patient?{condition}")).json()
    assert len(found.get("entry", [])) == 1
