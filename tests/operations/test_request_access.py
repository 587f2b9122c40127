"""Patient/$request-access: a lasting access asked of the care circle (issue 11, item 3).

After break-glass, "une demande d'accès définitif auprès d'un membre du
cercle de soins est nécessaire": the request is a Task for the habilitated
members; accepting it adds the requester to the care circle, refusing it
closes it; both sides are told.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import AppClient, loaded_app
from tests.security.world import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")
NOTIFICATION = "https://mrtc.example.org/fhir/CodeSystem/mrtc-notification"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    async with loaded_app(mongo_uri, transaction()) as server:
        yield server


def reason(text: str) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": text}]}


async def told(world: AppClient, kind: str, recipient: str) -> list[dict[str, Any]]:
    assert world.http is not None
    r = await world.http.get(
        "/Communication",
        params={"category": f"{NOTIFICATION}|{kind}", "recipient": recipient},
    )
    return [e["resource"] for e in r.json().get("entry", [])]


async def test_an_accepted_request_opens_the_record_for_good(world: AppClient) -> None:
    breaker = world.client_for("Practitioner/breaker")
    coordinator = world.client_for("Practitioner/coord")
    assert (await breaker.get("/Patient/lea")).status_code == 404
    r = await breaker.post(
        "/Patient/lea/$request-access", json=reason("Suivi de l'enfant en ville")
    )
    assert r.status_code == 200, r.text
    task_ref = r.json()["parameter"][0]["valueReference"]["reference"]
    assert (await breaker.get(f"/{task_ref}")).status_code == 404  # not its record
    assert (await breaker.get("/Patient/lea")).status_code == 404
    # every habilitated member is asked (not the manual member)
    task = (await coordinator.get(f"/{task_ref}")).json()
    recipients = {x["reference"] for x in task["restriction"]["recipient"]}
    assert {"Practitioner/coord", "Organization/msp", "Practitioner/doc"} <= recipients
    assert "Practitioner/manual" not in recipients
    assert task["requester"]["reference"] == "Practitioner/breaker"
    assert await told(world, "access-request", "Practitioner/coord")
    # the coordinator accepts
    task["status"] = "accepted"
    r = await coordinator.put(f"/{task_ref}", json=task)
    assert r.status_code == 200, r.text
    assert (await breaker.get("/Patient/lea")).status_code == 200
    team = (await coordinator.get("/CareTeam/circle-lea")).json()
    assert "Practitioner/breaker" in {p["member"]["reference"] for p in team["participant"]}
    granted = await told(world, "access-granted", "Practitioner/breaker")
    assert len(granted) == 1 and "acceptée" in granted[0]["payload"][0]["contentString"]
    # an answer is given once: completing the task later adds nothing more
    task = (await coordinator.get(f"/{task_ref}")).json()
    task["status"] = "completed"
    assert (await coordinator.put(f"/{task_ref}", json=task)).status_code == 200
    assert len(await told(world, "access-granted", "Practitioner/breaker")) == 1


async def test_a_refused_request_closes_and_tells_the_requester(world: AppClient) -> None:
    other = world.client_for("Practitioner/other")
    doctor = world.client_for("Practitioner/doc")
    r = await other.post("/Patient/lea/$request-access", json=reason("Remplacement"))
    task_ref = r.json()["parameter"][0]["valueReference"]["reference"]
    task = (await doctor.get(f"/{task_ref}")).json()
    task["status"] = "rejected"
    assert (await doctor.put(f"/{task_ref}", json=task)).status_code == 200
    assert (await other.get("/Patient/lea")).status_code == 404
    assert len(await told(world, "access-refused", "Practitioner/other")) == 1


async def test_bad_requests(world: AppClient) -> None:
    other = world.client_for("Practitioner/other")
    r = await other.post("/Patient/lea/$request-access", json=reason("  "))
    assert r.status_code == 400
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "MRTC-CC-030"
    assert world.http is not None
    r = await world.http.post("/Patient/lea/$request-access", json=reason("batch"))
    assert r.status_code == 403
    r = await other.post("/Patient/nobody/$request-access", json=reason("x"))
    assert r.status_code == 404
