"""The audit trail's storage (decision 0038): one durable document per event, no history copy.

Every read still leaves its AuditEvent before the answer leaves; the event
reads, vreads and shows in its own history like any resource; and no copy of
it goes to the ``_history`` collection, which only versioned resources need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(mongo_uri: str) -> AsyncIterator[AppClient]:
    server = AppClient(make_settings(mongo_uri))
    async with server as http:
        r = await http.put("/Patient/lea", json={"resourceType": "Patient", "id": "lea"})
        assert r.status_code == 201, r.text
        yield server


async def _events_about(app: AppClient, ref: str) -> list[dict[str, object]]:
    assert app.http is not None
    r = await app.http.get("/AuditEvent", params={"entity": ref, "_count": "100"})
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry", [])]


async def test_every_concurrent_read_is_audited_before_it_is_answered(app: AppClient) -> None:
    import asyncio

    assert app.http is not None
    before = len(await _events_about(app, "Patient/lea"))
    answers = await asyncio.gather(*(app.http.get("/Patient/lea") for _ in range(12)))
    assert all(r.status_code == 200 for r in answers)
    # answered means stored: no waiting, the twelve events are there now
    assert len(await _events_about(app, "Patient/lea")) == before + 12


async def test_an_event_reads_vreads_and_has_its_one_version(app: AppClient) -> None:
    assert app.http is not None
    assert (await app.http.get("/Patient/lea")).status_code == 200
    # the latest event about her: this read's (a search without _sort is in id order, and
    # the ids are random, so its first entry may be the creation's event)
    r = await app.http.get(
        "/AuditEvent", params={"entity": "Patient/lea", "_sort": "-date", "_count": "1"}
    )
    assert r.status_code == 200, r.text
    eid = r.json()["entry"][0]["resource"]["id"]
    read = await app.http.get(f"/AuditEvent/{eid}")
    assert read.status_code == 200 and read.json()["action"] == "R"
    vread = await app.http.get(f"/AuditEvent/{eid}/_history/1")
    assert vread.status_code == 200, vread.text
    assert vread.json() == read.json()
    assert (await app.http.get(f"/AuditEvent/{eid}/_history/2")).status_code == 404
    history = await app.http.get(f"/AuditEvent/{eid}/_history")
    assert history.status_code == 200, history.text
    versions = [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]]
    assert versions == ["1"]
    assert history.json()["entry"][0]["request"]["method"] == "POST"
    typed = await app.http.get("/AuditEvent/_history", params={"_count": "500"})
    assert typed.status_code == 200, typed.text
    assert eid in {e["resource"]["id"] for e in typed.json()["entry"]}


async def test_no_history_copy_is_written_for_an_event(app: AppClient) -> None:
    assert app.http is not None
    assert (await app.http.get("/Patient/lea")).status_code == 200
    db = app.app.state.storage.db
    assert await db["_history"].count_documents({"t": "AuditEvent"}) == 0
    assert await db["_history"].count_documents({"t": "Patient"}) == 1
    assert await db["AuditEvent"].count_documents({}) >= 1
