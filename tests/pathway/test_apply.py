"""$apply: attaching the MRTC pathway (issue 12, item 1).

The booklet's "Rattachement du parcours MRTC" through real HTTP, each caller
with its own token: one CarePlan and one Task per fixed step, dated from the
PlanDefinition on working days (French holidays skipped, Alsace-Moselle's
where the structure is), owned by the care-circle member of the section's
profession, every member a recipient; and the refusals, each naming why.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import AppClient
from tests.pathway.world import PLAN, PRINCIPALS, apply_body, new_child, outcome_id

pytestmark = pytest.mark.asyncio(loop_scope="session")
SECTION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-task-section"


async def steps_of(http: httpx.AsyncClient, plan_id: str) -> list[dict[str, Any]]:
    r = await http.get("/Task", params={"based-on": f"CarePlan/{plan_id}", "_count": "100"})
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry", [])]


def by_step(tasks: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (
            next(e for e in t["extension"] if e["url"] == SECTION)["valueCoding"]["code"],
            t["code"]["coding"][0]["code"],
        ): t
        for t in tasks
    }


async def test_attach_creates_the_careplan_and_one_task_per_fixed_step(world: AppClient) -> None:
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.post(
            f"/{PLAN}/$apply", json=apply_body("Patient/lea", startDate="2026-04-30")
        )
        assert r.status_code == 201, r.text
        plan = r.json()
        assert r.headers["Location"].endswith(f"/CarePlan/{plan['id']}/_history/1")
        assert plan["instantiatesCanonical"] == [
            "https://mrtc.example.org/fhir/PlanDefinition/mrtc-pathway|0.1.0"
        ]
        assert plan["status"] == "active" and plan["intent"] == "plan"
        assert plan["period"] == {"start": "2026-04-30"}
        assert plan["author"] == {"reference": "Organization/msp"}
        assert plan["careTeam"] == [{"reference": "CareTeam/circle-lea"}]
        assert [e["valueCode"] for e in plan["extension"]] == ["mon", "tue", "wed", "thu", "fri"]
        tasks = by_step(await steps_of(coord, plan["id"]))
    # the fixed steps ("étapes figées") and only them; sections are groupings, not Tasks
    assert set(tasks) == {
        ("initial-msp", "biometric-form"),
        ("initial-msp", "transmit-report"),
        ("initial-dietitian", "biometric-form"),
        ("initial-dietitian", "transmit-report"),
        ("final-dietitian", "biometric-form"),
        ("final-dietitian", "transmit-report"),
        ("mrtc-end", "transmit-report"),
    }
    assert {a["reference"]["reference"] for a in plan["activity"]} == {
        f"Task/{t['id']}" for t in tasks.values()
    }
    when = {k: t["restriction"]["period"]["start"] for k, t in tasks.items()}
    assert when[("initial-msp", "biometric-form")] == "2026-04-30"  # J0, a Thursday
    # J0 + 14 days is Ascension Thursday 2026 (14 May): moved to the next working day
    assert when[("initial-dietitian", "biometric-form")] == "2026-05-15"
    # J0 + 22 months: 30 Feb 2028 does not exist, so the month's last day (a Tuesday)
    assert when[("final-dietitian", "transmit-report")] == "2028-02-29"
    # J0 + 24 months is a Sunday, the Monday is 1 May: Tuesday 2 May 2028
    assert when[("mrtc-end", "transmit-report")] == "2028-05-02"
    owners = {k: t["owner"]["reference"] for k, t in tasks.items()}
    # the MSP doctor's steps go to the mrtc-physician member, never to the child's GP
    assert owners[("initial-msp", "transmit-report")] == "Practitioner/doc"
    assert owners[("mrtc-end", "transmit-report")] == "Practitioner/doc"
    assert owners[("initial-dietitian", "biometric-form")] == "Practitioner/diet"
    recipients = {
        r["reference"] for r in tasks[("initial-msp", "biometric-form")]["restriction"]["recipient"]
    }
    assert {"Practitioner/gp", "PractitionerRole/apa-msp", "Organization/msp"} <= recipients
    assert "Practitioner/manual" not in recipients  # a manual member never gains access
    form = tasks[("initial-msp", "biometric-form")]
    assert form["restriction"]["period"] == {"start": "2026-04-30", "end": "2026-04-30"}
    assert form["status"] == "ready"
    assert form["businessStatus"]["coding"][0]["code"] == "to-do"
    assert form["basedOn"] == [{"reference": f"CarePlan/{plan['id']}"}]
    assert form["for"] == {"reference": "Patient/lea"}
    assert form["input"][0]["valueCanonical"].endswith("/Questionnaire/mrtc-suivi-biometrique")
    # the IG's scheduled SearchParameter finds the steps by date
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        r = await msp.get("/Task", params={"scheduled": "2026-05-15", "patient": "Patient/lea"})
        assert {e["resource"]["id"] for e in r.json()["entry"]} == {
            tasks[("initial-dietitian", "biometric-form")]["id"],
            tasks[("initial-dietitian", "transmit-report")]["id"],
        }


async def test_a_child_already_in_an_open_pathway_is_refused(world: AppClient) -> None:
    async with world.client_for() as system:
        await new_child(system, "twice")
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        first = await msp.post(f"/{PLAN}/$apply", json=apply_body("Patient/twice"))
        assert first.status_code == 201, first.text
        again = await msp.post(f"/{PLAN}/$apply", json=apply_body("Patient/twice"))
    assert again.status_code == 422
    assert outcome_id(again) == "MRTC-PTH-013"
    assert first.json()["id"] in again.json()["issue"][0]["diagnostics"]
    assert again.json()["issue"][0]["code"] == "business-rule"


async def test_without_an_active_consent_nothing_is_attached(world: AppClient) -> None:
    async with world.client_for() as system:
        await new_child(system, "noconsent", with_consent=False)
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.post(f"/{PLAN}/$apply", json=apply_body("Patient/noconsent"))
        assert r.status_code == 422
        assert outcome_id(r) == "MRTC-PTH-012"
        found = await coord.get("/CarePlan", params={"subject": "Patient/noconsent"})
        assert found.json().get("entry", []) == []


@pytest.mark.parametrize("who", ["doctor", "dietitian", "super"])
async def test_only_a_coordinator_or_a_structure_account_attaches(
    world: AppClient, who: str
) -> None:
    async with world.client_for() as system:
        await new_child(system, f"by-{who}")
    async with world.client_for(PRINCIPALS[who]) as c:
        r = await c.post(f"/{PLAN}/$apply", json=apply_body(f"Patient/by-{who}"))
    assert r.status_code == 403
    assert outcome_id(r) == "MRTC-PTH-011"


async def test_alsace_moselle_holidays_follow_the_structure(world: AppClient) -> None:
    """Good Friday 2027 (26 March) is a holiday in Moselle only; Easter Monday everywhere."""
    async with world.client_for() as system:
        await new_child(system, "in-metz", "metz")
        await new_child(system, "in-marseille", "msp")
        metz = await system.post(
            f"/{PLAN}/$apply",
            json=apply_body(
                "Patient/in-metz", startDate="2027-03-26", organization="Organization/metz"
            ),
        )
        marseille = await system.post(
            f"/{PLAN}/$apply",
            json=apply_body(
                "Patient/in-marseille", startDate="2027-03-26", organization="Organization/msp"
            ),
        )
        assert metz.status_code == marseille.status_code == 201, metz.text
        first_metz = by_step(await steps_of(system, metz.json()["id"]))
        first_marseille = by_step(await steps_of(system, marseille.json()["id"]))
    key = ("initial-msp", "biometric-form")
    assert first_marseille[key]["restriction"]["period"]["start"] == "2027-03-26"
    assert first_metz[key]["restriction"]["period"]["start"] == "2027-03-30"


async def test_working_days_are_the_callers_choice(world: AppClient) -> None:
    async with world.client_for() as system:
        await new_child(system, "wednesdays")
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        r = await msp.post(
            f"/{PLAN}/$apply",
            json=apply_body(
                "Patient/wednesdays", startDate="2026-06-01", workingDay="wed", assignCareTeam=False
            ),
        )
        assert r.status_code == 201, r.text
        assert [e["valueCode"] for e in r.json()["extension"]] == ["wed"]
        tasks = by_step(await steps_of(msp, r.json()["id"]))
    assert (
        tasks[("initial-msp", "biometric-form")]["restriction"]["period"]["start"] == "2026-06-03"
    )
    # without assignCareTeam, only the owner is assigned
    assert "recipient" not in tasks[("initial-msp", "biometric-form")]["restriction"]


async def test_persist_false_returns_the_plan_and_stores_nothing(world: AppClient) -> None:
    async with world.client_for() as system:
        await new_child(system, "preview")
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.post(f"/{PLAN}/$apply", json=apply_body("Patient/preview", persist=False))
        assert r.status_code == 200, r.text
        plan = r.json()
        assert len(plan["contained"]) == 7
        assert all(a["reference"]["reference"].startswith("#") for a in plan["activity"])
        found = await coord.get("/CarePlan", params={"subject": "Patient/preview"})
        assert found.json().get("entry", []) == []


@pytest.mark.parametrize(
    ("body", "status", "msg"),
    [
        ({"resourceType": "Parameters", "parameter": []}, 400, "MRTC-PTH-010"),
        (apply_body("Observation/1"), 400, "MRTC-PTH-010"),
        (apply_body("Patient/lea", startDate="30/04/2026"), 400, "MRTC-PTH-010"),
        (apply_body("Patient/lea", workingDay="lundi"), 400, "MRTC-PTH-010"),
        (apply_body("Patient/lea", assignCareTeam="yes"), 400, "MRTC-OP-001"),
        (apply_body("Patient/nobody"), 404, "MRTC-REST-020"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "colour", "valueString": "x"}]},
            400,
            "MRTC-OP-001",
        ),
    ],
)
async def test_bad_input_is_a_clear_error(
    world: AppClient, body: dict[str, Any], status: int, msg: str
) -> None:
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.post(f"/{PLAN}/$apply", json=body)
    assert r.status_code == status, r.text
    assert outcome_id(r) == msg


async def test_apply_only_attaches_the_mrtc_plan_and_only_by_post(world: AppClient) -> None:
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        other = await coord.post("/PlanDefinition/other/$apply", json=apply_body("Patient/lea"))
        get = await coord.get(f"/{PLAN}/$apply", params={"subject": "Patient/lea"})
    assert other.status_code == 422 and outcome_id(other) == "MRTC-PTH-014"
    assert get.status_code == 405


async def test_a_read_only_token_cannot_change_a_pathway(world: AppClient) -> None:
    async with world.client_for() as system:
        await new_child(system, "readonly")
    async with world.client_for(PRINCIPALS["structure"], scope="user/*.rs") as msp:
        r = await msp.post(f"/{PLAN}/$apply", json=apply_body("Patient/readonly"))
    assert r.status_code == 403 and outcome_id(r) == "MRTC-SEC-004"


async def test_concurrent_attachments_leave_one_pathway(world: AppClient) -> None:
    """Eight coordinators' clients attaching the same child at once: each transaction
    alone sees no open pathway, so only a unique key on the open pathway can stop the
    second one; exactly one is created, the others are refused as already attached."""
    import asyncio

    async with world.client_for() as system:
        await new_child(system, "race")

    async def attach() -> httpx.Response:
        async with world.client_for(PRINCIPALS["coordinator"]) as coord:
            return await coord.post(f"/{PLAN}/$apply", json=apply_body("Patient/race"))

    answers = await asyncio.gather(*(attach() for _ in range(8)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [422] * 7, [r.text for r in answers]
    assert all(outcome_id(r) == "MRTC-PTH-013" for r in answers if r.status_code == 422)
    async with world.client_for() as system:
        plans = await system.get(
            "/CarePlan", params={"subject": "Patient/race", "_total": "accurate"}
        )
    assert plans.json()["total"] == 1, plans.text
