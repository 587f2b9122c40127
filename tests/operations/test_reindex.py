"""SearchParameters created at runtime, and $reindex for the resources already stored."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AppClient, make_settings, patient

pytestmark = pytest.mark.asyncio(loop_scope="session")

NICKNAME = {
    "resourceType": "SearchParameter",
    "url": "https://region.example.org/fhir/SearchParameter/patient-nickname",
    "name": "PatientNickname",
    "status": "active",
    "description": "A patient's nickname (name.use = nickname)",
    "code": "nickname",
    "base": ["Patient"],
    "type": "string",
    "expression": "Patient.name.where(use = 'nickname').given",
}


def nicknamed(nick: str) -> dict:
    return patient(
        name=[{"family": "Martin", "given": ["Léa"]}, {"use": "nickname", "given": [nick]}]
    )


async def found(client: httpx.AsyncClient, query: str) -> list[str]:
    bundle = (await client.get(f"/Patient?{query}")).json()
    return sorted(
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") == "match"
    )


async def test_runtime_search_parameter_then_reindex(mongo_uri: str) -> None:
    settings = make_settings(mongo_uri)
    async with AppClient(settings, drop=False) as client:
        before = (await client.post("/Patient", json=nicknamed("Lulu"))).json()["id"]
        unknown = await client.get("/Patient?nickname=lulu", headers={"Prefer": "handling=strict"})
        assert unknown.status_code == 400
        created = await client.post("/SearchParameter", json=NICKNAME)
        assert created.status_code == 201, created.text
        after = (await client.post("/Patient", json=nicknamed("Lupin"))).json()["id"]
        assert await found(client, "nickname=lu") == [after]  # new writes are indexed
        r = await client.post("/Patient/$reindex")
        assert r.status_code == 200
        assert r.json()["parameter"][0]["valueInteger"] >= 2
        assert await found(client, "nickname=lu") == sorted([before, after])
        cs = (await client.get("/metadata")).json()
        rest = cs["rest"][0]
        patient_entry = next(r for r in rest["resource"] if r["type"] == "Patient")
        assert "nickname" in {p["name"] for p in patient_entry["searchParam"]}
        assert "reindex" in {o["name"] for o in rest["operation"]}
    async with AppClient(settings) as again:  # a restarted server still knows it
        assert await found(again, "nickname=lupin") == [after]


async def test_invalid_expression_is_refused(client: httpx.AsyncClient) -> None:
    broken = {**NICKNAME, "code": "broken", "expression": "Patient.name.where(use = "}
    r = await client.post("/SearchParameter", json=broken)
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["SearchParameter.expression"]


async def test_reindex_is_post_only_and_checks_parameters(client: httpx.AsyncClient) -> None:
    assert (await client.get("/$reindex")).status_code == 405
    assert (await client.post("/$reindex?everything=1")).status_code == 400
    r = await client.post("/$reindex?stale=true")
    assert r.status_code == 200
    assert r.json()["parameter"][0]["valueInteger"] == 0
