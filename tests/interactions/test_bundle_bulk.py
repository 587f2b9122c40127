"""Transaction bundles whose writes are held and sent in bulk (decision 0041).

The writes of a transaction go to the database together (one ordered
bulk_write per collection) and the entries' targets are read ahead, one query
per type. What a client sees must not change: each entry's own outcome
(status, Location, ETag, lastModified), all or nothing, versions guarded
against concurrent writers, and a read inside the transaction seeing what the
transaction wrote before it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import patient

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOINC = "http://loinc.org"


def bmi(subject: str, value: float = 17.0, when: str = "2024-03-01") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "39156-5"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "kg/m2",
            "system": "http://unitsofmeasure.org",
            "code": "kg/m2",
        },
    }


def transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def marked(tag: str, **extra: Any) -> dict[str, Any]:
    """A Patient findable by ``identifier=urn:test:bulk|<tag>``."""
    return patient(identifier=[{"system": "urn:test:bulk", "value": tag}], **extra)


async def total(client: httpx.AsyncClient, query: str) -> int:
    r = await client.get(f"/{query}&_summary=count")
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


async def test_many_creates_and_puts_each_answer_their_own_outcome(
    client: httpx.AsyncClient,
) -> None:
    tag = uuid.uuid4().hex
    put_ids = [str(uuid.uuid4()) for _ in range(30)]
    entries = [
        {"resource": marked(tag), "request": {"method": "POST", "url": "Patient"}}
        for _ in range(30)
    ] + [
        {"resource": {**marked(tag), "id": i}, "request": {"method": "PUT", "url": f"Patient/{i}"}}
        for i in put_ids
    ]
    r = await client.post("/", json=transaction(entries))
    assert r.status_code == 200, r.text
    out = r.json()["entry"]
    assert len(out) == 60
    seen = set()
    for i, entry in enumerate(out):
        response = entry["response"]
        assert response["status"] == "201 Created"
        assert response["etag"] == 'W/"1"'
        type_, id_, _, version = response["location"].split("/")
        assert (type_, version) == ("Patient", "1")
        if i >= 30:
            assert id_ == put_ids[i - 30]  # PUT keeps the client's id, in the request's order
        assert entry["resource"]["id"] == id_
        assert entry["resource"]["meta"]["lastUpdated"] == response["lastModified"]
        seen.add(id_)
    assert len(seen) == 60
    assert await total(client, f"Patient?identifier=urn:test:bulk|{tag}") == 60
    for id_ in put_ids[:3]:
        read = await client.get(f"/Patient/{id_}")
        assert read.status_code == 200 and read.headers["etag"] == 'W/"1"'
        history = (await client.get(f"/Patient/{id_}/_history")).json()
        assert [e["response"]["status"] for e in history["entry"]] == ["201 Created"]


async def test_updates_in_bulk_get_the_next_version_and_their_history(
    client: httpx.AsyncClient,
) -> None:
    tag = uuid.uuid4().hex
    created = [(await client.post("/Patient", json=marked(tag))).json() for _ in range(12)]
    entries = [
        {
            "resource": {**p, "gender": "male"},
            "request": {"method": "PUT", "url": f"Patient/{p['id']}", "ifMatch": 'W/"1"'},
        }
        for p in created
    ]
    r = await client.post("/", json=transaction(entries))
    assert r.status_code == 200, r.text
    for p, entry in zip(created, r.json()["entry"], strict=True):
        assert entry["response"]["status"] == "200 OK"
        assert entry["response"]["etag"] == 'W/"2"'
        assert "location" not in entry["response"]
        current = (await client.get(f"/Patient/{p['id']}")).json()
        assert current["gender"] == "male" and current["meta"]["versionId"] == "2"
        history = (await client.get(f"/Patient/{p['id']}/_history")).json()
        assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]


async def test_a_failing_last_entry_rolls_back_every_held_write(
    client: httpx.AsyncClient,
) -> None:
    tag = uuid.uuid4().hex
    existing = (await client.post("/Patient", json=marked(tag))).json()
    entries: list[dict[str, Any]] = [
        {"resource": marked(tag), "request": {"method": "POST", "url": "Patient"}}
        for _ in range(40)
    ]
    entries.append(
        {
            "resource": {**existing, "gender": "male"},
            "request": {"method": "PUT", "url": f"Patient/{existing['id']}"},
        }
    )
    entries.append(  # a version that is not the current one: 412, after 41 held writes
        {
            "resource": {**existing, "gender": "other"},
            "request": {"method": "PUT", "url": "Patient/" + str(uuid.uuid4()), "ifMatch": 'W/"4"'},
        }
    )
    entries[-1]["resource"]["id"] = entries[-1]["request"]["url"].split("/")[1]
    r = await client.post("/", json=transaction(entries))
    assert r.status_code == 412, r.text
    assert r.json()["issue"][0]["expression"][0] == "Bundle.entry[41]"
    assert await total(client, f"Patient?identifier=urn:test:bulk|{tag}") == 1
    current = await client.get(f"/Patient/{existing['id']}")
    assert current.json() == existing
    history = (await client.get(f"/Patient/{existing['id']}/_history")).json()
    assert len(history["entry"]) == 1


async def test_a_missing_reference_target_rolls_back_the_bulk(client: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex
    p = (await client.post("/Patient", json=marked(tag))).json()
    entries = [
        {"resource": bmi(f"Patient/{p['id']}"), "request": {"method": "POST", "url": "Observation"}}
        for _ in range(25)
    ]
    entries.append(
        {
            "resource": bmi(f"Patient/{uuid.uuid4()}"),
            "request": {"method": "POST", "url": "Observation"},
        }
    )
    r = await client.post("/", json=transaction(entries))
    assert r.status_code == 422, r.text
    assert "Bundle.entry[25]" in r.json()["issue"][0]["diagnostics"]
    assert await total(client, f"Observation?subject=Patient/{p['id']}") == 0


async def test_rules_read_what_earlier_entries_of_the_transaction_wrote(
    client: httpx.AsyncClient,
) -> None:
    """The BMI rule reads the child written earlier in the same bundle (held, not yet sent)."""
    entries = [
        {
            "fullUrl": "urn:uuid:7c1d8a0e-5b1f-4a43-9d51-0c4a5c1f9e11",
            "resource": patient(gender="male", birthDate="2014-06-01"),
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "resource": bmi("urn:uuid:7c1d8a0e-5b1f-4a43-9d51-0c4a5c1f9e11", 24.0),
            "request": {"method": "POST", "url": "Observation"},
        },
    ]
    r = await client.post("/", json=transaction(entries))
    assert r.status_code == 200, r.text
    pid = r.json()["entry"][0]["resource"]["id"]
    graded = r.json()["entry"][1]["resource"]
    assert graded["meta"]["versionId"] == "1"
    assert graded["interpretation"][0]["coding"][0]["system"].endswith("mrtc-bmi-for-age")
    # the same read-ahead path for a patient that already exists: one query, same grade
    again = await client.post(
        "/",
        json=transaction(
            [
                {
                    "resource": bmi(f"Patient/{pid}", 24.0),
                    "request": {"method": "POST", "url": "Observation"},
                }
                for _ in range(5)
            ]
        ),
    )
    assert again.status_code == 200, again.text
    for entry in again.json()["entry"]:
        assert entry["resource"]["interpretation"] == graded["interpretation"]


async def test_concurrent_transactions_creating_one_id_race_cleanly(
    client: httpx.AsyncClient,
) -> None:
    """Both held creates of one new id: one creates it, the other is re-run and updates it."""
    pid = str(uuid.uuid4())
    tag = uuid.uuid4().hex

    def bundle(gender: str) -> dict[str, Any]:
        return transaction(
            [
                {
                    "resource": {**marked(tag, gender=gender), "id": pid},
                    "request": {"method": "PUT", "url": f"Patient/{pid}"},
                }
            ]
            + [
                {"resource": marked(tag), "request": {"method": "POST", "url": "Patient"}}
                for _ in range(10)
            ]
        )

    first, second = await asyncio.gather(
        client.post("/", json=bundle("male")), client.post("/", json=bundle("female"))
    )
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    statuses = sorted(r.json()["entry"][0]["response"]["status"] for r in (first, second))
    assert statuses == ["200 OK", "201 Created"]
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert await total(client, f"Patient?identifier=urn:test:bulk|{tag}") == 21


async def test_bmis_processed_before_their_patients_are_graded_once_they_exist(
    client: httpx.AsyncClient,
) -> None:
    """POSTs run before PUTs: each BMI is held ungraded, then her Patient's regrade finds it.

    The read-ahead saw the patients absent; the regrade's search must see the held BMIs.
    """
    pids = [str(uuid.uuid4()) for _ in range(8)]
    entries = [
        {
            "resource": bmi(f"Patient/{pid}", 24.0),
            "request": {"method": "POST", "url": "Observation"},
        }
        for pid in pids
    ] + [
        {
            "resource": {**patient(gender="male", birthDate="2014-06-01"), "id": pid},
            "request": {"method": "PUT", "url": f"Patient/{pid}"},
        }
        for pid in pids
    ]
    r = await client.post("/", json=transaction(entries))
    assert r.status_code == 200, r.text
    for entry in r.json()["entry"][:8]:
        assert "interpretation" not in entry["resource"]  # written before her Patient
        current = await client.get(entry["response"]["location"].rsplit("/_history", 1)[0])
        stored = current.json()
        assert stored["meta"]["versionId"] == "2"  # regraded in the same transaction
        assert stored["interpretation"][0]["coding"][0]["system"].endswith("mrtc-bmi-for-age")
