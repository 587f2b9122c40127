"""Shared tasks between linked records ("tâches communes", issue 10 item 4).

Two children of one family, each created by a different structure (so each
structure's people are habilitated on one record only), linked as siblings.
A Task of the first child shared with the second (``restriction.recipient``)
shows in the second record too — read, and ``Task?shared-with=`` — for those
who may open it, and nowhere else; sharing with a record outside the family
is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import AppClient, loaded_app
from tests.resources.identity._patients import FAMILY_LINK, message_ids, mrtc_patient
from tests.security.world import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    async with loaded_app(mongo_uri, transaction()) as server:
        yield server


def sibling_link(patient_id: str) -> dict[str, Any]:
    return {
        "url": FAMILY_LINK,
        "extension": [
            {"url": "patient", "valueReference": {"reference": f"Patient/{patient_id}"}},
            {
                "url": "relationship",
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                            "code": "SIB",
                        }
                    ]
                },
            },
        ],
    }


def task(for_id: str, *shared: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "description": "Rendez-vous commun chez la diététicienne",
        "for": {"reference": f"Patient/{for_id}"},
    }
    if shared:
        body["restriction"] = {"recipient": [{"reference": f"Patient/{p}"} for p in shared]}
    return body


async def test_a_task_shared_with_a_sibling_shows_in_both_records_only(world: AppClient) -> None:
    async with world.client_for("PractitionerRole/msp-account") as msp:
        r = await msp.post("/Patient", json=mrtc_patient("BERNARD", "Jules", "2014-02-03", "male"))
        assert r.status_code == 201, r.text
        jules = r.json()["id"]
    async with world.client_for("Practitioner/other") as other:
        r = await other.post("/Patient", json=mrtc_patient("BERNARD", "Lina", "2016-05-06"))
        assert r.status_code == 201, r.text
        lina = r.json()["id"]
        r = await other.post("/Patient", json=mrtc_patient("ROUX", "Max", "2015-07-08", "male"))
        assert r.status_code == 201, r.text
        stranger = r.json()["id"]
    async with world.client_for() as system:
        body = (await system.get(f"/Patient/{jules}")).json()
        body.setdefault("extension", []).append(sibling_link(lina))
        r = await system.put(f"/Patient/{jules}", json=body)
        assert r.status_code == 200, r.text
        # outside the family: refused, nothing stored
        r = await system.post("/Task", json=task(jules, stranger))
        assert r.status_code == 422 and message_ids(r.json())[0] == "MRTC-IDN-045", r.text
        r = await system.post("/Task", json=task(jules, lina))
        assert r.status_code == 201, r.text
        shared = r.json()["id"]
        r = await system.post("/Task", json=task(jules))
        assert r.status_code == 201, r.text
        alone = r.json()["id"]

    async def sees(who: str) -> tuple[bool, set[str]]:
        async with world.client_for(who) as c:
            read = await c.get(f"/Task/{shared}")
            listed = await c.get("/Task", params={"shared-with": f"Patient/{lina}"})
            assert listed.status_code == 200, listed.text
            ids = {e["resource"]["id"] for e in listed.json().get("entry", [])}
            return read.status_code == 200, ids

    # Jules's structure and Lina's doctor (habilitated on Lina only) both see it
    assert await sees("PractitionerRole/msp-account") == (True, {shared})
    assert await sees("Practitioner/other") == (True, {shared})
    # nobody else; and Jules's task that is not shared stays in Jules's record
    assert await sees("Practitioner/breaker") == (False, set())
    async with world.client_for("Practitioner/other") as other:
        assert (await other.get(f"/Task/{alone}")).status_code == 404
