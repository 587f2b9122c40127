"""$complete-step: closing steps, filing reports, triggering what follows (issue 12, items 5, 6).

Each caller acts with its own token. A form closes "Réalisé" and its measures
are extracted; a report step goes "Traité" then "validée" once its document
is filed (DocumentReference + Binary, linked to the step); the answer lists
the triggered steps, the candidates not triggered yet and each section's
progress ("RDV INITIAL MSP 2/2").
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.conftest import AppClient
from tests.pathway.test_apply import by_step, steps_of
from tests.pathway.world import PLAN, PRINCIPALS, apply_body, new_child, outcome_id

pytestmark = pytest.mark.asyncio(loop_scope="session")
CATEGORY = "https://mrtc.example.org/fhir/CodeSystem/mrtc-document-category"
QUESTIONNAIRE = "https://mrtc.example.org/fhir/Questionnaire/mrtc-suivi-biometrique"
DOC_PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-documentreference"


async def attach(world: AppClient, child: str, start: str = "2026-04-01") -> dict[str, Any]:
    async with world.client_for() as system:
        await new_child(system, child)
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        r = await msp.post(f"/{PLAN}/$apply", json=apply_body(f"Patient/{child}", startDate=start))
        assert r.status_code == 201, r.text
        return {"plan": r.json(), "steps": by_step(await steps_of(msp, r.json()["id"]))}


def response(child: str, weight: float = 38.5, height: float = 140) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": QUESTIONNAIRE,
        "status": "completed",
        "subject": {"reference": f"Patient/{child}"},
        "authored": "2026-04-01T10:20:00+02:00",
        "item": [
            {
                "linkId": "measurement-date",
                "answer": [{"valueDateTime": "2026-04-01T10:05:00+02:00"}],
            },
            {"linkId": "weight", "answer": [{"valueDecimal": weight}]},
            {"linkId": "height", "answer": [{"valueDecimal": height}]},
        ],
    }


def report(category: str, title: str = "Bilan MSP 01/04/2026") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "meta": {"profile": [DOC_PROFILE]},
        "status": "current",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "subject": {"reference": "Patient/placeholder"},
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "data": base64.b64encode(b"%PDF-1.4 bilan").decode(),
                    "title": title,
                }
            }
        ],
        "context": {"period": {"start": "2026-04-01"}},
    }


def params(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(items)}


def trigger(action: str, **parts: Any) -> dict[str, Any]:
    out = [{"name": "action", "valueString": action}]
    if "date" in parts:
        out.append({"name": "date", "valueDate": parts["date"]})
    if "owner" in parts:
        out.append({"name": "owner", "valueReference": {"reference": parts["owner"]}})
    return {"name": "trigger", "part": out}


def named(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in result["parameter"] if p["name"] == name]


def part(parameter: dict[str, Any], name: str) -> Any:
    found = next(p for p in parameter["part"] if p["name"] == name)
    return next(v for k, v in found.items() if k.startswith("value"))


def labels(result: dict[str, Any]) -> list[str]:
    return [part(p, "label") for p in named(result, "progress")]


async def close_form(http: httpx.AsyncClient, task: dict[str, Any], child: str) -> httpx.Response:
    qr = await http.post("/QuestionnaireResponse", json=response(child))
    assert qr.status_code == 201, qr.text
    return await http.post(
        f"/Task/{task['id']}/$complete-step",
        json=params(
            {
                "name": "questionnaireResponse",
                "valueReference": {"reference": f"QuestionnaireResponse/{qr.json()['id']}"},
            },
            {"name": "actualDate", "valueDateTime": "2026-04-01T10:00:00+02:00"},
        ),
    )


async def test_initial_msp_form_then_report_offers_the_next_sections(world: AppClient) -> None:
    attached = await attach(world, "c1")
    steps = attached["steps"]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        r = await close_form(doc, steps[("initial-msp", "biometric-form")], "c1")
        assert r.status_code == 200, r.text
        step = named(r.json(), "step")[0]["resource"]
        assert step["businessStatus"]["coding"][0]["code"] == "done"
        assert step["status"] == "completed"
        assert step["executionPeriod"]["start"] == "2026-04-01"
        assert "RDV INITIAL MSP 1/2" in labels(r.json())
        assert named(r.json(), "candidate") == []  # the section still has an open step
        measures = await doc.get("/Observation", params={"subject": "Patient/c1"})
        codes = {e["resource"]["code"]["coding"][0]["code"] for e in measures.json()["entry"]}
        assert {"29463-7", "8302-2"} <= codes  # weight and height extracted
        # the report: "Traité", then "validée" once the document is attached
        task = steps[("initial-msp", "transmit-report")]
        r = await doc.post(
            f"/Task/{task['id']}/$complete-step",
            json=params(
                {"name": "actualDate", "valueDateTime": "2026-04-01"},
                {"name": "report", "resource": report("mrtc-summary")},
            ),
        )
        assert r.status_code == 200, r.text
        result = r.json()
        step = named(result, "step")[0]["resource"]
        assert step["businessStatus"]["coding"][0]["code"] == "validated"
        history = (await doc.get(f"/Task/{task['id']}/_history")).json()
        assert [e["resource"]["businessStatus"]["coding"][0]["code"] for e in history["entry"]] == [
            "validated",
            "processed",
            "to-do",
        ]
        doc_ref = next(o for o in step["output"] if o["type"]["coding"][0]["code"] == "document")
        filed = (await doc.get(f"/{doc_ref['valueReference']['reference']}")).json()
        assert filed["subject"] == {"reference": "Patient/c1"}
        assert {"reference": f"Task/{task['id']}"} in filed["context"]["related"]
        assert filed["content"][0]["attachment"]["title"] == "Bilan MSP 01/04/2026"
        binary_url = filed["content"][0]["attachment"]["url"]
        assert "data" not in filed["content"][0]["attachment"]
    # every profession reads the summary category, and its content
    async with world.client_for(PRINCIPALS["dietitian"]) as diet:
        assert (await diet.get(f"/{doc_ref['valueReference']['reference']}")).status_code == 200
        content = await diet.get(f"/{binary_url}")
        assert content.status_code == 200, content.text
    assert "RDV INITIAL MSP 2/2" in labels(result)
    candidates = {part(c, "action"): c for c in named(result, "candidate")}
    # initial dietitian assessment is fixed (already there): psychologist and APA are offered
    assert set(candidates) == {"initial-psychologist", "apa-assessment"}
    assert part(candidates["initial-psychologist"], "owner") == {"reference": "Practitioner/psy"}
    assert part(candidates["apa-assessment"], "owner") == {"reference": "PractitionerRole/apa-msp"}
    assert part(candidates["initial-psychologist"], "date") == "2026-04-15"  # +14 days
    assert part(candidates["apa-assessment"], "date") == "2026-04-22"  # +21 days
    assert named(result, "triggered") == []


async def test_the_chosen_sections_are_triggered_in_the_same_call(world: AppClient) -> None:
    attached = await attach(world, "c2")
    steps = attached["steps"]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        assert (
            await close_form(doc, steps[("initial-msp", "biometric-form")], "c2")
        ).status_code == 200
        r = await doc.post(
            f"/Task/{steps[('initial-msp', 'transmit-report')]['id']}/$complete-step",
            json=params(
                {"name": "report", "resource": report("mrtc-summary")},
                trigger("apa-assessment"),
                trigger("initial-psychologist", date="2026-04-18"),  # a Saturday
            ),
        )
    assert r.status_code == 200, r.text
    triggered = [p["resource"] for p in named(r.json(), "triggered")]
    by_section: dict[str, list[dict[str, Any]]] = {}
    for t in triggered:
        by_section.setdefault(t["extension"][0]["valueCoding"]["code"], []).append(t)
    assert {k: len(v) for k, v in by_section.items()} == {
        "apa-assessment": 2,
        "initial-psychologist": 2,
    }
    psy = by_section["initial-psychologist"][0]
    assert psy["owner"] == {"reference": "Practitioner/psy"}
    assert psy["restriction"]["period"]["start"] == "2026-04-20"  # moved to Monday
    assert psy["businessStatus"]["coding"][0]["code"] == "to-do"
    assert by_section["apa-assessment"][0]["owner"] == {"reference": "PractitionerRole/apa-msp"}
    assert named(r.json(), "candidate") == []  # both triggered
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        plan = (await msp.get(f"/CarePlan/{attached['plan']['id']}")).json()
    assert len(plan["activity"]) == 7 + 4
    # the APA educator now sees the step assigned to her
    async with world.client_for(PRINCIPALS["apa"]) as apa:
        seen = await apa.get(f"/Task/{by_section['apa-assessment'][0]['id']}")
        assert seen.status_code == 200


async def test_a_triggered_step_goes_only_to_a_member_of_the_care_circle(
    world: AppClient,
) -> None:
    attached = await attach(world, "c2-owner")
    steps = attached["steps"]
    report_step = steps[("initial-msp", "transmit-report")]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        assert (
            await close_form(doc, steps[("initial-msp", "biometric-form")], "c2-owner")
        ).status_code == 200
        url = f"/Task/{report_step['id']}/$complete-step"
        stranger = await doc.post(
            url,
            json=params(
                {"name": "report", "resource": report("mrtc-summary")},
                trigger("apa-assessment", owner="Practitioner/other"),
            ),
        )
        assert stranger.status_code == 422 and outcome_id(stranger) == "MRTC-PTH-028", stranger.text
        assert "Practitioner/gp" in stranger.json()["issue"][0]["diagnostics"]  # who may
        assert (await doc.get(f"/Task/{report_step['id']}")).json()["meta"]["versionId"] == "1"
        r = await doc.post(
            url,
            json=params(
                {"name": "report", "resource": report("mrtc-summary")},
                trigger("apa-assessment", owner="Practitioner/gp"),
            ),
        )
    assert r.status_code == 200, r.text
    owners = {p["resource"]["owner"]["reference"] for p in named(r.json(), "triggered")}
    assert owners == {"Practitioner/gp"}


async def test_refusals_name_why_and_change_nothing(world: AppClient) -> None:
    attached = await attach(world, "c3")
    steps = attached["steps"]
    report_step = steps[("initial-msp", "transmit-report")]
    url = f"/Task/{report_step['id']}/$complete-step"
    async with world.client_for(PRINCIPALS["dietitian"]) as diet:
        r = await diet.post(
            url, json=params({"name": "report", "resource": report("mrtc-summary")})
        )
        assert r.status_code == 403 and outcome_id(r) == "MRTC-PTH-021", r.text
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        wrong = await doc.post(
            url, json=params({"name": "report", "resource": report("psychological-assessment")})
        )
        assert wrong.status_code == 422 and outcome_id(wrong) == "MRTC-PTH-024", wrong.text
        assert "mrtc-summary" in wrong.json()["issue"][0]["diagnostics"]
        future = await doc.post(
            url,
            json=params(
                {"name": "actualDate", "valueDateTime": "2999-01-01"},
                {"name": "report", "resource": report("mrtc-summary")},
            ),
        )
        assert future.status_code == 400 and outcome_id(future) == "MRTC-PTH-020"
        nothing = await doc.post(url, json=params())
        assert nothing.status_code == 422 and outcome_id(nothing) == "MRTC-PTH-023"
        bad_data = report("mrtc-summary")
        bad_data["content"][0]["attachment"]["data"] = "not base64!"
        r = await doc.post(url, json=params({"name": "report", "resource": bad_data}))
        assert r.status_code == 400, r.text  # the base structure's base64 rule names the element
        assert "attachment.data" in r.text
        early = await doc.post(
            url,
            json=params(
                {"name": "report", "resource": report("mrtc-summary")},
                trigger("final-psychologist"),
            ),
        )
        assert early.status_code == 422 and outcome_id(early) == "MRTC-PTH-025", early.text
        # the form is still open, so nothing may be triggered yet
        assert "may be triggered now: nothing" in early.json()["issue"][0]["diagnostics"]
        docs = await doc.get("/DocumentReference", params={"subject": "Patient/c3"})
        assert docs.json().get("entry", []) == []
        task = (await doc.get(f"/Task/{report_step['id']}")).json()
        assert task["meta"]["versionId"] == "1"
        # a form in progress does not close its step
        qr = response("c3")
        qr["status"] = "in-progress"
        saved = (await doc.post("/QuestionnaireResponse", json=qr)).json()
        r = await doc.post(
            f"/Task/{steps[('initial-msp', 'biometric-form')]['id']}/$complete-step",
            json=params(
                {
                    "name": "questionnaireResponse",
                    "valueReference": {"reference": f"QuestionnaireResponse/{saved['id']}"},
                }
            ),
        )
        assert r.status_code == 422 and outcome_id(r) == "MRTC-PTH-027"


async def test_psychological_reports_stay_with_doctors_and_psychologists(world: AppClient) -> None:
    attached = await attach(world, "c4")
    steps = attached["steps"]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        await close_form(doc, steps[("initial-msp", "biometric-form")], "c4")
        r = await doc.post(
            f"/Task/{steps[('initial-msp', 'transmit-report')]['id']}/$complete-step",
            json=params(
                {"name": "report", "resource": report("mrtc-summary")},
                trigger("initial-psychologist"),
            ),
        )
        psy_steps = {
            p["resource"]["code"]["coding"][0]["code"]: p["resource"]
            for p in named(r.json(), "triggered")
        }
    async with world.client_for(PRINCIPALS["psychologist"]) as psy:
        r = await psy.post(
            f"/Task/{psy_steps['psychologist-assessment']['id']}/$complete-step",
            json=params({"name": "actualDate", "valueDateTime": "2026-04-16"}),
        )
        assert r.status_code == 200, r.text
        assert (
            named(r.json(), "step")[0]["resource"]["businessStatus"]["coding"][0]["code"]
            == "processed"
        )
        r = await psy.post(
            f"/Task/{psy_steps['transmit-report']['id']}/$complete-step",
            json=params(
                {"name": "report", "resource": report("psychological-assessment", "Bilan psy")}
            ),
        )
        assert r.status_code == 200, r.text
        step = named(r.json(), "step")[0]["resource"]
        ref = next(o for o in step["output"] if o["type"]["coding"][0]["code"] == "document")
        candidates = {part(c, "action") for c in named(r.json(), "candidate")}
        assert candidates == {"psychologist-followup"}
    async with world.client_for(PRINCIPALS["dietitian"]) as diet:
        assert (await diet.get(f"/{ref['valueReference']['reference']}")).status_code == 404
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        assert (await doc.get(f"/{ref['valueReference']['reference']}")).status_code == 200
