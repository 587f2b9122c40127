"""Closing, pausing, reopening and deleting a pathway (issue 12, item 8).

"Clôturer le parcours" once the final report has gone to the child's doctor
and the other professionals; pause and resume by the same people; reopening
by a super-user only; deleting a whole pathway removes its steps, never the
child's documents or measures. Each caller with its own token.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AppClient
from tests.pathway.test_complete_step import attach, close_form, named, params, report
from tests.pathway.world import PLAN, PRINCIPALS, apply_body, outcome_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


def with_status(plan: dict[str, Any], status: str) -> dict[str, Any]:
    return {**{k: v for k, v in plan.items() if k != "meta"}, "status": status}


async def test_closure_needs_the_final_report_sent_to_the_childs_doctor(world: AppClient) -> None:
    attached = await attach(world, "k1")
    plan_id, steps = attached["plan"]["id"], attached["steps"]
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        early = await coord.post(f"/CarePlan/{plan_id}/$close")
        assert early.status_code == 422 and outcome_id(early) == "MRTC-PTH-032", early.text
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        final = steps[("mrtc-end", "transmit-report")]
        r = await doc.post(
            f"/Task/{final['id']}/$complete-step",
            json=params({"name": "report", "resource": report("mrtc-summary", "Bilan final")}),
        )
        assert r.status_code == 200, r.text
        step = named(r.json(), "step")[0]["resource"]
        document = next(
            o["valueReference"]["reference"]
            for o in step["output"]
            if o["type"]["coding"][0]["code"] == "document"
        )
        refused = await doc.post(f"/CarePlan/{plan_id}/$close")
        assert refused.status_code == 403 and outcome_id(refused) == "MRTC-PTH-030"
    # the child's GP received the report, and so did the other professionals
    async with world.client_for(PRINCIPALS["gp"]) as gp:
        inbox = await gp.get("/Communication", params={"recipient": "Practitioner/gp"})
        notes = [e["resource"] for e in inbox.json().get("entry", [])]
        assert any(
            # the GP's inbox also holds notifications (care circle, steps): text payloads
            (p.get("contentReference") or {}).get("reference") == document
            for n in notes
            for p in n.get("payload", [])
        ), inbox.text
    async with world.client_for() as system:
        sent = await system.get("/Communication", params={"subject": "Patient/k1", "_count": "50"})
        # the report's Communications (notifications of steps and care circle aside)
        recipients = {
            r["reference"]
            for e in sent.json()["entry"]
            if any(
                (p.get("contentReference") or {}).get("reference") == document
                for p in e["resource"].get("payload", [])
            )
            for r in e["resource"]["recipient"]
        }
    assert {
        "Practitioner/gp",
        "Practitioner/diet",
        "Practitioner/psy",
        "PractitionerRole/apa-msp",
    } <= recipients
    assert "Practitioner/doc" not in recipients  # the sender
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        closed = await coord.post(f"/CarePlan/{plan_id}/$close")
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "completed"
        assert "end" in closed.json()["period"]
        again = await coord.post(f"/CarePlan/{plan_id}/$close")
        assert again.status_code == 422 and outcome_id(again) == "MRTC-PTH-031"
        # the steps still open were cancelled with it, the closed ones kept
        for key, status in [
            (("initial-msp", "biometric-form"), "cancelled"),
            (("final-dietitian", "transmit-report"), "cancelled"),
            (("mrtc-end", "transmit-report"), "validated"),
        ]:
            task = (await coord.get(f"/Task/{steps[key]['id']}")).json()
            assert task["businessStatus"]["coding"][0]["code"] == status, key
        # a coordinator may not reopen it ("déclôturer": super-user only)
        reopen = await coord.post(f"/CarePlan/{plan_id}/$reopen")
        assert reopen.status_code == 403 and outcome_id(reopen) == "MRTC-PTH-040"
        # nor through a plain update
        r = await coord.put(f"/CarePlan/{plan_id}", json=with_status(closed.json(), "active"))
        assert r.status_code == 403
    async with world.client_for(PRINCIPALS["super"]) as super_user:
        reopened = await super_user.post(f"/CarePlan/{plan_id}/$reopen")
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["status"] == "active"
        assert "end" not in reopened.json()["period"]
        history = await super_user.get(f"/CarePlan/{plan_id}/_history")
        assert [e["resource"]["status"] for e in history.json()["entry"]][:2] == [
            "active",
            "completed",
        ]


async def test_pause_and_resume_by_the_coordinator_or_the_structure(world: AppClient) -> None:
    attached = await attach(world, "k2")
    plan_id, steps = attached["plan"]["id"], attached["steps"]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        plan = (await doc.get(f"/CarePlan/{plan_id}")).json()
        r = await doc.put(f"/CarePlan/{plan_id}", json=with_status(plan, "on-hold"))
        assert r.status_code == 403 and outcome_id(r) == "MRTC-SEC-016"
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.put(f"/CarePlan/{plan_id}", json=with_status(plan, "on-hold"))
        assert r.status_code == 200, r.text
        paused = r.json()
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        r = await close_form(doc, steps[("initial-msp", "biometric-form")], "k2")
        assert r.status_code == 422 and outcome_id(r) == "MRTC-PTH-022"
        r = await doc.put(f"/CarePlan/{plan_id}", json=with_status(paused, "active"))
        assert r.status_code == 403
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        r = await msp.put(f"/CarePlan/{plan_id}", json=with_status(paused, "active"))
        assert r.status_code == 200, r.text
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        r = await close_form(doc, steps[("initial-msp", "biometric-form")], "k2")
        assert r.status_code == 200, r.text


async def test_deleting_a_pathway_keeps_documents_and_measures(world: AppClient) -> None:
    attached = await attach(world, "k3")
    plan_id, steps = attached["plan"]["id"], attached["steps"]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        assert (
            await close_form(doc, steps[("initial-msp", "biometric-form")], "k3")
        ).status_code == 200
        r = await doc.post(
            f"/Task/{steps[('initial-msp', 'transmit-report')]['id']}/$complete-step",
            json=params({"name": "report", "resource": report("mrtc-summary")}),
        )
        assert r.status_code == 200
        refused = await doc.delete(f"/CarePlan/{plan_id}")
        assert refused.status_code == 403
    async with world.client_for(PRINCIPALS["dietitian"]) as diet:
        assert (await diet.delete(f"/CarePlan/{plan_id}")).status_code == 403
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.delete(f"/CarePlan/{plan_id}")
        assert r.status_code == 204, r.text
    async with world.client_for() as system:  # a user is told 404 for what is gone (0020)
        assert (await system.get(f"/CarePlan/{plan_id}")).status_code == 410
        for task in steps.values():
            assert (await system.get(f"/Task/{task['id']}")).status_code == 410
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        docs = await doc.get("/DocumentReference", params={"subject": "Patient/k3"})
        assert len(docs.json()["entry"]) == 1
        measures = await doc.get("/Observation", params={"subject": "Patient/k3"})
        assert len(measures.json()["entry"]) >= 2
    # and a new pathway may be attached once the old one is gone
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.post(f"/{PLAN}/$apply", json=apply_body("Patient/k3"))
        assert r.status_code == 201, r.text
