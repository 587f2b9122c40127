"""A pathway's summary follows its steps, whatever writes them (decision 0042).

The IG's derived CarePlan parameters ``next-step-date`` (the earliest open
step's date) and ``step-owner`` (the assignees of open steps) are what the
dashboard's ``next-step-before`` and ``owner`` criteria search; they are
recomputed in the transaction of every write of a step (operation, PUT,
PATCH, DELETE), survive new versions of the CarePlan and ``$reindex``, and are
derived at start for pathways stored without one. Checked through plain
FHIR searches, as any client would use them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests.conftest import AppClient, make_settings
from tests.pathway.test_apply import steps_of
from tests.pathway.test_complete_step import attach
from tests.pathway.world import PRINCIPALS

pytestmark = pytest.mark.asyncio(loop_scope="session")
OPEN = ("draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold")


def expected(tasks: list[dict[str, Any]]) -> tuple[str | None, set[str]]:
    """The next step's date and the open steps' owners, computed from the steps themselves."""
    open_steps = [t for t in tasks if t["status"] in OPEN]
    dates = sorted(
        t["restriction"]["period"]["start"]
        for t in open_steps
        if (t.get("restriction") or {}).get("period", {}).get("start")
    )
    owners = {t["owner"]["reference"] for t in open_steps if t.get("owner")}
    return (dates[0] if dates else None), owners


async def found(http: httpx.AsyncClient, plan_id: str, **criteria: str) -> bool:
    r = await http.get("/CarePlan", params={"_id": plan_id, **criteria})
    assert r.status_code == 200, r.text
    return [e["resource"]["id"] for e in r.json().get("entry", [])] == [plan_id]


async def check_summary(http: httpx.AsyncClient, plan_id: str) -> tuple[str | None, set[str]]:
    """The derived parameters find the pathway exactly as its steps say, and nothing else."""
    next_date, owners = expected(await steps_of(http, plan_id))
    assert next_date is not None and owners
    assert await found(http, plan_id, **{"next-step-date": next_date})
    assert not await found(http, plan_id, **{"next-step-date": f"lt{next_date}"})
    assert await found(http, plan_id, **{"next-step-date": f"le{next_date}"})
    everyone = {
        *owners,
        *(f"Practitioner/{p}" for p in ("gp", "doc", "diet", "psy", "coord", "other", "nobody")),
        "PractitionerRole/apa-msp",
        "Organization/msp",
    }
    for who in sorted(everyone):  # exactly the open steps' owners, nobody else
        assert await found(http, plan_id, **{"step-owner": who}) == (who in owners), who
    return next_date, owners


async def test_attaching_a_pathway_records_its_next_step_and_assignees(world: AppClient) -> None:
    attached = await attach(world, "summary-apply")
    plan_id = attached["plan"]["id"]
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        next_date, owners = await check_summary(coord, plan_id)
        assert next_date == "2026-04-01"  # the initial MSP appointment, on the start date
        assert len(owners) >= 2


async def test_moving_and_reassigning_a_step_moves_the_summary(world: AppClient) -> None:
    attached = await attach(world, "summary-move")
    plan_id = attached["plan"]["id"]
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        tasks = await steps_of(coord, plan_id)
        next_date, _ = expected(tasks)
        first = [
            t
            for t in tasks
            if (t.get("restriction") or {}).get("period", {}).get("start") == next_date
        ]
        # every step of the first day moves to a later working day (a person's PATCH)
        for task in first:
            r = await coord.patch(
                f"/Task/{task['id']}",
                json=[
                    {"op": "replace", "path": "/restriction/period/start", "value": "2026-04-08"},
                    {"op": "replace", "path": "/restriction/period/end", "value": "2026-04-08"},
                ],
                headers={"Content-Type": "application/json-patch+json"},
            )
            assert r.status_code == 200, r.text
        moved, _ = await check_summary(coord, plan_id)
        assert moved > next_date
        assert not await found(coord, plan_id, **{"next-step-date": next_date})

        # a step given to someone else (a PUT): the new owner is found, the old one only
        # while another open step is still theirs
        task = next(t for t in await steps_of(coord, plan_id) if t["status"] in OPEN)
        body = {k: v for k, v in task.items() if k != "meta"}
        body["owner"] = {"reference": "Practitioner/gp"}
        r = await coord.put(f"/Task/{task['id']}", json=body)
        assert r.status_code == 200, r.text
        _, owners = await check_summary(coord, plan_id)
        assert "Practitioner/gp" in owners


async def test_closed_and_deleted_steps_leave_the_summary(world: AppClient) -> None:
    attached = await attach(world, "summary-close")
    plan_id = attached["plan"]["id"]
    async with world.client_for() as system:  # the server's own account: import rules
        tasks = await steps_of(system, plan_id)
        _, owners = expected(tasks)
        gone = sorted(owners)[0]
        assert await found(system, plan_id, **{"step-owner": gone})
        for task in [t for t in tasks if t.get("owner", {}).get("reference") == gone]:
            r = await system.delete(f"/Task/{task['id']}")
            assert r.status_code in (200, 204), r.text
        assert not await found(system, plan_id, **{"step-owner": gone})
        # every remaining step cancelled: no open step, so no next step and no assignee
        for task in await steps_of(system, plan_id):
            body = {k: v for k, v in task.items() if k != "meta"}
            body["status"] = "cancelled"
            body["businessStatus"] = {
                "coding": [
                    {
                        "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-task-business-status",
                        "code": "cancelled",
                    }
                ]
            }
            r = await system.put(f"/Task/{task['id']}", json=body)
            assert r.status_code == 200, r.text
        r = await system.get("/CarePlan", params={"_id": plan_id, "next-step-date:missing": "true"})
        assert [e["resource"]["id"] for e in r.json().get("entry", [])] == [plan_id]
        r = await system.get("/CarePlan", params={"_id": plan_id, "step-owner:missing": "true"})
        assert [e["resource"]["id"] for e in r.json().get("entry", [])] == [plan_id]


async def test_a_new_version_of_the_careplan_and_a_reindex_keep_the_summary(
    world: AppClient,
) -> None:
    attached = await attach(world, "summary-keep")
    plan_id = attached["plan"]["id"]
    async with world.client_for() as system:
        before = await check_summary(system, plan_id)
        r = await system.get(f"/CarePlan/{plan_id}")
        body = {k: v for k, v in r.json().items() if k != "meta"}
        body["description"] = "Parcours suivi par la MSP"
        r = await system.put(f"/CarePlan/{plan_id}", json=body)
        assert r.status_code == 200, r.text
        assert await check_summary(system, plan_id) == before
        r = await system.post("/CarePlan/$reindex")
        assert r.status_code == 200, r.text
        assert await check_summary(system, plan_id) == before
        # sorted by the next step's date, as a client may ask
        r = await system.get(
            "/CarePlan", params={"_sort": "next-step-date", "step-owner:missing": "false"}
        )
        assert r.status_code == 200, r.text
        starts = [
            e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == "match"
        ]
        assert plan_id in starts


async def test_a_pathway_stored_without_a_summary_gets_one_at_start(
    world: AppClient, mongo_uri: str
) -> None:
    """Data written before summaries existed (or loaded around the API) is summarised at start."""
    attached = await attach(world, "summary-legacy")
    plan_id = attached["plan"]["id"]
    async with world.client_for() as system:
        before = await check_summary(system, plan_id)
    # what a store written by an earlier version holds: no summary, no derived values, and
    # not the counter that says every pathway was summarised
    with MongoClient(mongo_uri) as raw:
        db = raw[world.settings.database]
        db.CarePlan.update_one(
            {"_id": plan_id},
            {"$unset": {"drv": "", "idx.next-step-date": "", "idx.step-owner": ""}},
        )
        assert db["_generations"].delete_one({"_id": "CarePlan-summaries-v1"}).deleted_count == 1
    async with world.client_for() as system:
        assert not await found(system, plan_id, **{"next-step-date": before[0] or ""})
        # meanwhile its dashboard row is summarised from its steps at read time
        r = await system.get("/CarePlan/$dashboard", params={"_count": "100"})
        assert r.status_code == 200, r.text
        row = next(
            {p["name"]: p for p in item["part"]}
            for item in r.json()["parameter"]
            if item["name"] == "row"
            and item["part"][0]["valueReference"]["reference"] == f"CarePlan/{plan_id}"
        )
        assert row["nextStepDate"]["valueDateTime"] == before[0]
        assert row["nextStepOwner"]["valueReference"]["reference"] in before[1]
    restarted = AppClient(make_settings(mongo_uri, database=world.settings.database), drop=False)
    async with restarted, restarted.client_for() as system:
        assert await check_summary(system, plan_id) == before
        r = await system.get(f"/CarePlan/{plan_id}")
        assert r.status_code == 200
        assert "drv" not in r.text  # the summary is never part of the resource
    with MongoClient(mongo_uri) as raw:  # done once: the next start does not scan again
        marker = raw[world.settings.database]["_generations"].find_one(
            {"_id": "CarePlan-summaries-v1"}
        )
        assert marker is not None and marker["n"] == 1


async def test_concurrent_writes_of_one_pathways_steps_keep_its_summary_exact(
    world: AppClient,
) -> None:
    """Both writes update the CarePlan's summary: one transaction is re-run, none is lost."""
    attached = await attach(world, "summary-race")
    plan_id = attached["plan"]["id"]
    async with world.client_for() as system:
        tasks = [t for t in await steps_of(system, plan_id) if t["status"] in OPEN][:4]
        owners = ["Practitioner/gp", "Practitioner/diet", "Practitioner/psy", "Practitioner/doc"]

        async def give(task: dict[str, Any], owner: str) -> int:
            body = {k: v for k, v in task.items() if k != "meta"}
            body["owner"] = {"reference": owner}
            r = await system.put(f"/Task/{task['id']}", json=body)
            return r.status_code

        codes = await asyncio.gather(*(give(t, o) for t, o in zip(tasks, owners, strict=True)))
        assert codes == [200, 200, 200, 200]
        _, found_owners = await check_summary(system, plan_id)
        assert "Practitioner/gp" in found_owners


@pytest.mark.parametrize("steps_first", [False, True])
async def test_a_transaction_bundle_writing_a_pathway_and_its_steps_summarises_it(
    world: AppClient, steps_first: bool
) -> None:
    """The bundle holds its writes until a read (decision 0041): the summary sees them,
    whether the steps come before or after their pathway in the bundle."""
    attached = await attach(world, f"summary-bundle-{steps_first}".lower())
    async with world.client_for() as system:
        plan = (await system.get(f"/CarePlan/{attached['plan']['id']}")).json()
        tasks = [t for t in await steps_of(system, plan["id"]) if t["status"] in OPEN][:2]
        new_plan = {k: v for k, v in plan.items() if k not in ("id", "meta", "activity")}
        new_plan["meta"] = {"profile": plan["meta"]["profile"]}
        new_plan["status"] = "on-hold"
        entries = [
            {
                "fullUrl": "urn:uuid:0c1a7c1e-0000-4000-8000-000000000001",
                "resource": new_plan,
                "request": {"method": "POST", "url": "CarePlan"},
            }
        ]
        owners = ["Practitioner/gp", "Practitioner/psy"]
        for task, owner in zip(tasks, owners, strict=True):
            body = {k: v for k, v in task.items() if k not in ("id", "meta")}
            body["meta"] = {"profile": task["meta"]["profile"]}
            body["basedOn"] = [{"reference": "urn:uuid:0c1a7c1e-0000-4000-8000-000000000001"}]
            body["owner"] = {"reference": owner}
            entries.append({"resource": body, "request": {"method": "POST", "url": "Task"}})
        if steps_first:
            entries = [*entries[1:], entries[0]]
        r = await system.post(
            "/", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
        )
        assert r.status_code == 200, r.text
        new_id = next(
            e["response"]["location"].split("/")[1]
            for e in r.json()["entry"]
            if e["response"]["location"].startswith("CarePlan/")
        )
        next_date, found_owners = await check_summary(system, new_id)
        assert found_owners == set(owners)
        assert next_date == min(t["restriction"]["period"]["start"] for t in tasks)
