"""Date searches and date-sorted pages over HTTP, on the server's own database client.

The server's client is time-zone aware; these searches answered 500 ("can't
compare offset-naive and offset-aware datetimes") and date-sorted pages
repeated their boundary entry when tests built a naive client of their own.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def family(client: httpx.AsyncClient) -> str:
    name = f"Fam{uuid.uuid4().hex[:8]}"
    births = ["1985-06-30", "1985-06-30", "2015-03-04", "2015-03", "2016", "1990-01-01"]
    for i, born in enumerate(births):
        body: dict[str, Any] = {
            "resourceType": "Patient",
            "name": [{"family": name, "given": [f"G{i}"]}],
            "birthDate": born,
        }
        assert (await client.post("/Patient", json=body)).status_code == 201
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "effectiveDateTime": "2015-02-07T10:00:00+01:00",
        "valueQuantity": {"value": 30, "unit": "kg", "system": "http://unitsofmeasure.org"},
        "note": [{"text": name}],
    }
    assert (await client.post("/Observation", json=obs)).status_code == 201
    return name


async def _births(client: httpx.AsyncClient, family: str, **params: str) -> list[str]:
    r = await client.get("/Patient", params={"family": family, **params})
    assert r.status_code == 200, r.text
    return sorted(e["resource"]["birthDate"] for e in r.json().get("entry", []))


@pytest.mark.parametrize(
    ("birthdate", "expected"),
    [
        ("1985-06-30", ["1985-06-30", "1985-06-30"]),
        ("eq1985-06-30", ["1985-06-30", "1985-06-30"]),
        ("ne1985-06-30", ["1990-01-01", "2015-03", "2015-03-04", "2016"]),
        ("2015", ["2015-03", "2015-03-04"]),
        ("2015-03", ["2015-03", "2015-03-04"]),
        ("ge2016", ["2016"]),
    ],
)
async def test_birth_date_searches_answer(
    client: httpx.AsyncClient, family: str, birthdate: str, expected: list[str]
) -> None:
    assert await _births(client, family, birthdate=birthdate) == expected


async def test_observation_date_search_answers(client: httpx.AsyncClient, family: str) -> None:
    r = await client.get("/Observation", params={"date": "2015-02-07", "code": "29463-7"})
    assert r.status_code == 200, r.text
    assert any(e["resource"].get("note", [{}])[0].get("text") == family for e in r.json()["entry"])


@pytest.mark.parametrize("sort", ["birthdate", "-birthdate"])
async def test_pages_sorted_by_birth_date_neither_repeat_nor_skip(
    client: httpx.AsyncClient, family: str, sort: str
) -> None:
    r = await client.get("/Patient", params={"family": family, "_sort": sort, "_count": "2"})
    seen: list[str] = []
    for _ in range(10):  # 6 patients, 2 a page: a paging loop that never ends fails here
        assert r.status_code == 200, r.text
        bundle = r.json()
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        nxt = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if nxt is None:
            break
        r = await client.get(nxt)
    else:
        raise AssertionError(f"still paging after 10 pages: {seen}")
    assert len(seen) == 6 and len(set(seen)) == 6
