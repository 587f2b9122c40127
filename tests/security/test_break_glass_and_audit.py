"""Break-glass, the audit trail and the news feed (issue 9, items 5, 6 and 8).

A short scenario over HTTP with real tokens: a doctor of another structure
breaks the glass on Léa's record with a reason, reads it, loses access when
the grant expires; every step leaves an AuditEvent, in order, searchable by
patient, entity, agent and date; the habilitated members get the booklet's
notification; the news feed shows the grant, newest first.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import AppClient
from tests.security.conftest import BREAK_GLASS_SECONDS
from tests.security.world import EVERYTHING, LEA, LEA_PSY, PRINCIPALS, PUBLIC, weight

pytestmark = pytest.mark.asyncio(loop_scope="session")
REASON = "Appel du SAMU, enfant hospitalisé"


def reason(text: str | None) -> dict[str, Any]:
    params = [] if text is None else [{"name": "reason", "valueString": text}]
    return {"resourceType": "Parameters", "parameter": params}


def entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]


async def visible(c: Any) -> set[str]:
    out = set()
    for ref in sorted(EVERYTHING):
        if (await c.get(f"/{ref}")).status_code == 200:
            out.add(ref)
    return out


async def test_break_glass_opens_the_record_notifies_and_expires(world: AppClient) -> None:
    async with world.client_for(PRINCIPALS["breaker"]) as breaker:
        assert await visible(breaker) == PUBLIC
        for empty in (None, "", "   "):
            r = await breaker.post("/Patient/lea/$break-glass", json=reason(empty))
            assert r.status_code == 400, r.text
        assert (await breaker.get("/Patient/lea/$break-glass")).status_code == 405
        r = await breaker.post("/Patient/lea/$break-glass", json=reason(REASON))
        assert r.status_code == 200, r.text
        out = {p["name"]: p for p in r.json()["parameter"]}
        audit_ref = out["auditEvent"]["valueReference"]["reference"]
        assert out["expires"]["valueInstant"]
        # the grant works at once, on every path, for a doctor's documents
        assert await visible(breaker) == LEA | LEA_PSY | PUBLIC
        obs = weight("x", "lea")
        del obs["id"]
        assert (await breaker.post("/Observation", json=obs)).status_code == 201
        await asyncio.sleep(BREAK_GLASS_SECONDS + 0.5)
        assert await visible(breaker) == PUBLIC  # expired: refused again
    async with world.client_for() as system:
        event = (await system.get(f"/{audit_ref}")).json()
        assert event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
        assert event["purposeOfEvent"][0]["text"] == REASON
        assert event["agent"][0]["who"]["reference"] == "Practitioner/breaker"
        found = await system.get(
            "/Communication",
            params={
                "subject": "Patient/lea",
                "category": "https://mrtc.example.org/fhir/CodeSystem/mrtc-audit-subtype|break-glass",
                "_count": "100",
                "_elements": "recipient,payload,about",
            },
        )
        notes = [n for n in entries(found.json()) if n["about"][0]["reference"] == audit_ref]
        recipients = {n["recipient"][0]["reference"] for n in notes}
        # every habilitated member of Léa's circle, never the manually added one
        assert recipients == {
            "Organization/msp",
            "Practitioner/coord",
            "Practitioner/doc",
            "Practitioner/diet",
            "Practitioner/psy",
            "PractitionerRole/apa-msp",
            "Practitioner/super",
        }
        wording = "Accès en mode bris de glace par TOUATI Faïka - motif : " + REASON
        assert {n["payload"][0]["contentString"] for n in notes} == {wording}
    async with world.client_for(PRINCIPALS["doctor"]) as doctor:
        feed = (await doctor.get("/Patient/lea/$news-feed")).json()
        assert feed["type"] == "searchset"
        events = entries(feed)
        assert any(f"AuditEvent/{e['id']}" == audit_ref for e in events)
        recorded = [e["recorded"] for e in events]
        assert recorded == sorted(recorded, reverse=True)  # newest first
        assert any(e.get("outcomeDesc") == wording for e in events)
    async with world.client_for(PRINCIPALS["other"]) as other:
        assert (await other.get("/Patient/lea/$news-feed")).status_code == 404


async def test_the_audit_trail_of_a_short_scenario_is_complete_and_ordered(
    world: AppClient,
) -> None:
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        pid = (
            await msp.post("/Patient", json={"resourceType": "Patient", "gender": "male"})
        ).json()["id"]
        team = entries((await msp.get("/CareTeam", params={"subject": f"Patient/{pid}"})).json())[0]
        team["participant"].append(
            {
                "role": [
                    {
                        "coding": [
                            {
                                "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role",
                                "code": "dietitian",
                            }
                        ]
                    }
                ],
                "member": {"reference": "Practitioner/diet"},
            }
        )
        assert (await msp.put(f"/CareTeam/{team['id']}", json=team)).status_code == 200
    async with world.client_for(PRINCIPALS["dietitian"]) as diet:
        obs = weight("x", pid)
        del obs["id"]
        oid = (await diet.post("/Observation", json=obs)).json()["id"]
        assert (await diet.get(f"/Observation/{oid}")).status_code == 200
        assert (
            await diet.get("/Observation", params={"subject": f"Patient/{pid}"})
        ).status_code == 200
    async with world.client_for(PRINCIPALS["other"]) as other:
        assert (await other.get(f"/Observation/{oid}")).status_code == 404
    async with world.client_for() as system:
        trail = entries(
            (
                await system.get(
                    "/AuditEvent",
                    params={"patient": f"Patient/{pid}", "_sort": "date", "_count": "100"},
                )
            ).json()
        )
        steps = [
            (
                e["agent"][0]["who"].get("reference"),
                e["action"],
                e["subtype"][0]["code"],
                e["outcome"],
            )
            for e in trail
        ]
        assert steps == [
            ("PractitionerRole/msp-account", "C", "create", "0"),  # the record
            ("PractitionerRole/msp-account", "E", "search-type", "0"),  # its care circle
            ("PractitionerRole/msp-account", "U", "update", "0"),  # the dietitian added
            ("Practitioner/diet", "C", "create", "0"),
            ("Practitioner/diet", "R", "read", "0"),
            ("Practitioner/diet", "E", "search-type", "0"),
            ("Practitioner/other", "R", "read", "4"),  # refused
        ], steps
        # the refused read is in the trail too, by entity and agent
        by_entity = entries(
            (await system.get("/AuditEvent", params={"entity": f"Observation/{oid}"})).json()
        )
        refused = [
            e for e in by_entity if e["agent"][0]["who"].get("reference") == "Practitioner/other"
        ]
        assert refused and refused[0]["outcome"] == "4"
        by_agent = entries(
            (
                await system.get(
                    "/AuditEvent", params={"agent": "Practitioner/diet", "_count": "100"}
                )
            ).json()
        )
        assert {
            e["id"] for e in trail if e["agent"][0]["who"].get("reference") == "Practitioner/diet"
        } <= {e["id"] for e in by_agent}
        first = trail[0]["recorded"]
        since = entries(
            (
                await system.get(
                    "/AuditEvent",
                    params={"patient": f"Patient/{pid}", "date": f"ge{first}", "_count": "100"},
                )
            ).json()
        )
        assert len(since) == len(trail)
        # who, from where, which request
        event = trail[-1]
        assert event["agent"][0]["network"]["address"]
        assert any(
            (x.get("what") or {}).get("identifier", {}).get("system") == "urn:mrtc-fhir:request-id"
            for x in event["entity"]
        )
