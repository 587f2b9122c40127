"""The step lifecycle (issue 12, item 2): one transition table, every write path.

The table is the IG's business-status CodeSystem (``next`` / ``initial`` /
``final`` / ``taskStatus``); these tests drive it through PUT, PATCH, a
transaction bundle and an operation, and check that a refused transition
names the allowed ones, that each change is a version and is audited, and
that moving a step moves the later steps that depend on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AppClient
from tests.pathway.test_apply import by_step, steps_of
from tests.pathway.world import PLAN, PRINCIPALS, apply_body, new_child, outcome_id

pytestmark = pytest.mark.asyncio(loop_scope="session")
STATUS = "https://mrtc.example.org/fhir/CodeSystem/mrtc-task-business-status"
TABLE = json.loads(
    (Path(__file__).parents[2] / "ig" / "CodeSystem-mrtc-task-business-status.json").read_text()
)


def allowed(code: str) -> list[str]:
    concept = next(c for c in TABLE["concept"] if c["code"] == code)
    return [p["valueCode"] for p in concept["property"] if p["code"] == "next"]


def task_status(code: str) -> str:
    concept = next(c for c in TABLE["concept"] if c["code"] == code)
    return next(p["valueCode"] for p in concept["property"] if p["code"] == "taskStatus")


def with_status(task: dict[str, Any], code: str) -> dict[str, Any]:
    body = {k: v for k, v in task.items() if k != "meta"}
    body["status"] = task_status(code)
    body["businessStatus"] = {"coding": [{"system": STATUS, "code": code}]}
    return body


async def attached(
    world: AppClient, child: str, start: str = "2026-09-01"
) -> dict[tuple[str, str], dict[str, Any]]:
    async with world.client_for() as system:
        await new_child(system, child)
        r = await system.post(
            f"/{PLAN}/$apply", json=apply_body(f"Patient/{child}", startDate=start)
        )
        assert r.status_code == 201, r.text
        return by_step(await steps_of(system, r.json()["id"]))


async def put(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.put(f"/Task/{body['id']}", json=body)


async def test_the_table_is_the_ig_codesystem() -> None:
    """The test reads the same data the server does: a change of the IG changes both."""
    assert allowed("cancelled") == []
    assert "validated" in allowed("processed")
    assert "validated" not in allowed("to-do")


async def test_a_refused_transition_names_the_allowed_ones(world: AppClient) -> None:
    steps = await attached(world, "refused")
    form = steps[("initial-msp", "biometric-form")]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        r = await put(doc, with_status(form, "validated"))
    assert r.status_code == 422, r.text
    assert outcome_id(r) == "MRTC-PTH-001"
    issue = r.json()["issue"][0]
    assert issue["code"] == "business-rule"
    for code in allowed("to-do"):
        assert code in issue["diagnostics"]


async def test_every_path_runs_the_same_table(world: AppClient) -> None:
    steps = await attached(world, "paths")
    task = steps[("initial-msp", "transmit-report")]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        # PATCH (JSON Patch)
        patch = [
            {"op": "replace", "path": "/businessStatus/coding/0/code", "value": "validated"},
            {"op": "replace", "path": "/status", "value": "completed"},
        ]
        form = steps[("initial-msp", "biometric-form")]
        r = await doc.patch(
            f"/Task/{form['id']}",
            content=json.dumps(patch),
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert r.status_code == 422 and outcome_id(r) == "MRTC-PTH-001", r.text
        # a transaction bundle: the whole bundle is refused, nothing written
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": with_status(task, "cancelled"),
                    "request": {"method": "PUT", "url": f"Task/{task['id']}"},
                },
                {
                    "resource": with_status(steps[("initial-msp", "biometric-form")], "done"),
                    "request": {
                        "method": "PUT",
                        "url": f"Task/{steps[('initial-msp', 'biometric-form')]['id']}",
                    },
                },
                {
                    "resource": with_status(task, "to-do"),
                    "request": {"method": "PUT", "url": f"Task/{task['id']}"},
                },
            ],
        }
        r = await doc.post("/", json=bundle)
        assert r.status_code in (400, 422), r.text
        current = (await doc.get(f"/Task/{task['id']}")).json()
        assert current["businessStatus"]["coding"][0]["code"] == "to-do"
        assert current["meta"]["versionId"] == "1"
        # an operation: $complete-step on a cancelled step is refused by the same table
        r = await put(doc, with_status(task, "cancelled"))
        assert r.status_code == 200, r.text
        r = await put(doc, with_status(r.json(), "to-do"))
        assert (
            r.status_code == 422 and "nothing (final status)" in r.json()["issue"][0]["diagnostics"]
        )
        r = await doc.post(
            f"/Task/{task['id']}/$complete-step", json={"resourceType": "Parameters"}
        )
        assert r.status_code == 422, r.text


async def test_the_booklet_moves(world: AppClient) -> None:
    """Start, save, close a form, edit it, unschedule, reschedule, not honoured, cancel."""
    steps = await attached(world, "moves")
    form = steps[("initial-dietitian", "biometric-form")]
    async with world.client_for(PRINCIPALS["dietitian"]) as diet:
        body = form
        for code in ["in-progress", "in-progress", "done", "in-progress", "done"]:
            r = await put(diet, with_status(body, code))
            assert r.status_code == 200, (code, r.text)
            body = r.json()
        report = steps[("initial-dietitian", "transmit-report")]
        for code in ["unscheduled", "to-do", "not-honoured", "to-do", "cancelled"]:
            changed = with_status(report, code)
            if code == "unscheduled":
                changed["restriction"] = {
                    k: v for k, v in changed["restriction"].items() if k != "period"
                }
            r = await put(diet, changed)
            assert r.status_code == 200, (code, r.text)
            report = r.json()
        history = await diet.get(f"/Task/{form['id']}/_history")
        assert len(history.json()["entry"]) == 6  # every change is a version
    async with world.client_for() as system:
        audit = await system.get(
            "/AuditEvent", params={"entity": f"Task/{form['id']}", "_count": "50"}
        )
        assert len(audit.json().get("entry", [])) >= 5


async def test_status_must_match_the_business_status_and_creation_starts_early(
    world: AppClient,
) -> None:
    steps = await attached(world, "consistent")
    form = steps[("initial-msp", "biometric-form")]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        wrong = with_status(form, "done")
        wrong["status"] = "in-progress"
        r = await put(doc, wrong)
        assert r.status_code == 422 and outcome_id(r) == "MRTC-PTH-003", r.text
        created = with_status(form, "validated")
        del created["id"]
        r = await doc.post("/Task", json=created)
        assert r.status_code == 422 and outcome_id(r) == "MRTC-PTH-002", r.text
    async with world.client_for() as system:  # a regional platform importing a history
        r = await system.post("/Task", json=created)
        assert r.status_code == 201, r.text
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        dropped = {k: v for k, v in form.items() if k not in ("meta", "businessStatus")}
        r = await put(doc, dropped)
        assert r.status_code == 422 and outcome_id(r) == "MRTC-PTH-004", r.text


async def test_moving_a_step_moves_the_later_steps_that_depend_on_it(world: AppClient) -> None:
    # 2026-09-01 is a Tuesday; the initial MSP steps move 3 working days to Friday 4 Sept.
    steps = await attached(world, "shift", "2026-09-01")
    before = {k: t["restriction"]["period"]["start"] for k, t in steps.items()}
    done = steps[("initial-dietitian", "transmit-report")]
    async with world.client_for(PRINCIPALS["dietitian"]) as diet:
        r = await put(diet, with_status(done, "cancelled"))  # not "not started": stays
        assert r.status_code == 200
    moved = {k: v for k, v in steps[("initial-msp", "biometric-form")].items() if k != "meta"}
    moved["restriction"] = {
        **moved["restriction"],
        "period": {"start": "2026-09-04", "end": "2026-09-04"},
    }
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        r = await put(doc, moved)
        assert r.status_code == 200, r.text
        after = {
            k: t["restriction"]["period"]
            for k, t in by_step(
                await steps_of(doc, r.json()["basedOn"][0]["reference"].split("/")[1])
            ).items()
        }
    # same section: not a dependant of itself
    assert (
        after[("initial-msp", "transmit-report")]["start"]
        == before[("initial-msp", "transmit-report")]
    )
    # 2026-09-15 (Tuesday) + 3 working days = Friday 18 September
    assert before[("initial-dietitian", "biometric-form")] == "2026-09-15"
    assert after[("initial-dietitian", "biometric-form")] == {
        "start": "2026-09-18",
        "end": "2026-09-18",
    }
    # a cancelled step does not move
    assert after[("initial-dietitian", "transmit-report")]["start"] == "2026-09-15"
    # 2028-07-03 (Monday, J0 + 22 months) + 3 working days = Thursday 6 July 2028
    assert before[("final-dietitian", "biometric-form")] == "2028-07-03"
    assert after[("final-dietitian", "biometric-form")]["start"] == "2028-07-06"
    # 2028-09-01 (Friday) + 3 working days = Wednesday 6 September 2028
    assert after[("mrtc-end", "transmit-report")]["start"] == "2028-09-06"


async def test_a_step_moves_onto_working_days_only(world: AppClient) -> None:
    steps = await attached(world, "weekend", "2026-09-01")
    moved = {k: v for k, v in steps[("initial-msp", "biometric-form")].items() if k != "meta"}
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        for day, why, nxt in [
            ("2026-09-05", "not one of the pathway's working days", "2026-09-07"),  # a Saturday
            ("2026-11-11", "Armistice", "2026-11-12"),
        ]:
            moved["restriction"] = {**moved["restriction"], "period": {"start": day, "end": day}}
            r = await put(doc, moved)
            assert r.status_code == 422 and outcome_id(r) == "MRTC-PTH-005", r.text
            text = r.json()["issue"][0]["diagnostics"]
            assert nxt in text and why.split()[0] in text, text
