"""Writes, scopes and the booklet's powers (issue 9, items 2, 3 and 4).

A write lands only inside a record the writer may see, never moves a
resource into one it may not; documents only in categories the writer's
profession may use; closing and reopening pathways, re-categorising documents
and "entered in error" only by whom the booklet names. Refused writes are 403.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AppClient
from tests.security.world import CATEGORY, PRINCIPALS, RPPS_DOCTOR, document, weight

pytestmark = pytest.mark.asyncio(loop_scope="session")


def new(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "id"}


@pytest.mark.parametrize(
    ("who", "body", "expected"),
    [
        ("doctor", new(weight("x", "lea")), 201),
        ("doctor", new(weight("x", "noah")), 403),
        ("manual", new(weight("x", "lea")), 403),
        ("other", new(weight("x", "lea")), 403),
        ("breaker", new(weight("x", "lea")), 403),
        ("dietitian", new(document("x", "lea", "dietary-followup")), 201),
        ("dietitian", new(document("x", "lea", "psychological-followup")), 403),
        ("psychologist", new(document("x", "lea", "psychological-followup")), 201),
        ("coordinator", new(document("x", "lea", "mrtc-summary")), 403),
        ("structure", new(document("x", "lea", "psychological-assessment")), 201),
        ("apa", new(document("x", "noah", "physical-condition-assessment")), 403),
        ("system", new(weight("x", "noah")), 201),
    ],
)
async def test_creates_land_only_in_records_the_writer_may_see(
    world: AppClient, who: str, body: dict[str, Any], expected: int
) -> None:
    async with world.client_for(PRINCIPALS[who]) as c:
        r = await c.post(f"/{body['resourceType']}", json=body)
    assert r.status_code == expected, r.text
    if expected == 403:
        assert r.json()["issue"][0]["code"] == "forbidden"


async def test_a_resource_cannot_be_moved_into_a_record_one_may_not_see(world: AppClient) -> None:
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        created = (await doc.post("/Observation", json=new(weight("x", "lea")))).json()
        moved = {**created, "subject": {"reference": "Patient/noah"}}
        r = await doc.put(f"/Observation/{created['id']}", json=moved)
        assert r.status_code == 403
        # and what it cannot see it cannot overwrite, whatever the new content says
        r = await doc.put("/Observation/noah-weight", json={**weight("noah-weight", "lea")})
        assert r.status_code == 403
        assert (await doc.delete("/Observation/noah-weight")).status_code == 404


async def test_the_creator_of_a_record_is_habilitated_on_it(world: AppClient) -> None:
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        r = await msp.post("/Patient", json={"resourceType": "Patient", "gender": "male"})
        assert r.status_code == 201
        pid = r.json()["id"]
        assert (await msp.get(f"/Patient/{pid}")).status_code == 200
        circle = (await msp.get("/CareTeam", params={"subject": f"Patient/{pid}"})).json()
        (team,) = [e["resource"] for e in circle["entry"]]
        (participant,) = team["participant"]
        assert participant["member"] == {"reference": "Organization/msp"}
        assert participant["extension"][0]["valueBoolean"] is True  # autoHabilitation
    async with world.client_for(PRINCIPALS["other"]) as other:
        assert (await other.get(f"/Patient/{pid}")).status_code == 404


async def test_document_powers_belong_to_the_super_user(world: AppClient) -> None:
    async with world.client_for() as system:
        doc = (
            await system.post("/DocumentReference", json=new(document("x", "lea", "mrtc-summary")))
        ).json()
    recategorised = {
        **doc,
        "category": [{"coding": [{"system": CATEGORY, "code": "final-assessment"}]}],
    }
    misfiled = {**doc, "status": "entered-in-error"}
    async with world.client_for(PRINCIPALS["doctor"]) as doctor:
        assert (
            await doctor.put(f"/DocumentReference/{doc['id']}", json=recategorised)
        ).status_code == 403
        assert (
            await doctor.put(f"/DocumentReference/{doc['id']}", json=misfiled)
        ).status_code == 403
    async with world.client_for(PRINCIPALS["super"]) as super_user:
        r = await super_user.put(f"/DocumentReference/{doc['id']}", json=recategorised)
        assert r.status_code == 200, r.text
        current = r.json()
        r = await super_user.put(
            f"/DocumentReference/{doc['id']}", json={**current, "status": "entered-in-error"}
        )
        assert r.status_code == 200, r.text


async def test_pathway_powers(world: AppClient) -> None:
    async with world.client_for() as system:
        plan = (await system.get("/CarePlan/lea-pathway")).json()
    closed = {**plan, "status": "completed"}
    for who in ("doctor", "super", "dietitian"):
        async with world.client_for(PRINCIPALS[who]) as c:
            assert (await c.put("/CarePlan/lea-pathway", json=closed)).status_code == 403, who
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.put("/CarePlan/lea-pathway", json=closed)
        assert r.status_code == 200, r.text
        reopened = {**r.json(), "status": "active"}
        assert (await coord.put("/CarePlan/lea-pathway", json=reopened)).status_code == 403
    async with world.client_for(PRINCIPALS["super"]) as super_user:
        r = await super_user.put("/CarePlan/lea-pathway", json=reopened)
        assert r.status_code == 200, r.text
        current = r.json()
    async with world.client_for(PRINCIPALS["structure"]) as msp:
        r = await msp.put("/CarePlan/lea-pathway", json={**current, "status": "completed"})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("scope", "method", "path", "expected"),
    [
        ("user/Observation.rs", "GET", "/Observation/lea-weight", 200),
        ("user/Observation.rs", "GET", "/Patient/lea", 403),
        ("user/Observation.rs", "POST", "/Observation", 403),
        ("user/Observation.read", "GET", "/Observation?subject=Patient/lea", 200),
        ("user/*.read", "GET", "/Patient/lea", 200),
        ("user/*.read", "POST", "/Observation", 403),
        ("user/*.write", "GET", "/Patient/lea", 403),
        ("user/*.write", "POST", "/Observation", 201),
        ("user/*.*", "POST", "/Observation", 201),
        ("user/*.cruds", "GET", "/_history", 200),
        ("user/Patient.r", "GET", "/Patient?_id=lea", 403),  # search needs 's'
        ("system/*.cruds", "GET", "/Patient/lea", 403),  # a person's token needs user/ scopes
    ],
)
async def test_scopes_only_narrow(
    world: AppClient, scope: str, method: str, path: str, expected: int
) -> None:
    async with world.client_for(PRINCIPALS["doctor"], scope=scope) as c:
        body = new(weight("x", "lea")) if method == "POST" else None
        r = await c.request(method, path, json=body)
    assert r.status_code == expected, r.text


async def test_system_scopes_limit_a_trusted_system(world: AppClient) -> None:
    async with world.client_for(scope="system/Observation.rs") as c:
        assert (await c.get("/Observation/noah-weight")).status_code == 200
        assert (await c.get("/Patient/noah")).status_code == 403
        assert (await c.post("/Observation", json=new(weight("x", "noah")))).status_code == 403


async def test_a_token_without_user_or_system_scope_is_refused(world: AppClient) -> None:
    async with world.client_for(scope="patient/*.read") as c:
        r = await c.get("/Patient")
    assert r.status_code == 403
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "MRTC-AUTH-023"


async def test_principals_from_claims(world: AppClient) -> None:
    """fhirUser absolute on this base, or the national identity provider's RPPS claims."""
    settings = world.settings
    from tests.conftest import token

    cases = {
        "absolute fhirUser": token(settings, fhir_user="http://testserver/Practitioner/doc"),
        "Pro Santé Connect SubjectNameID": token(
            settings, scope="user/*.cruds", SubjectNameID="8" + RPPS_DOCTOR
        ),
        "rpps claim": token(settings, scope="user/*.cruds", rpps=RPPS_DOCTOR),
    }
    for name, value in cases.items():
        async with world.client_for(raw=value) as c:
            assert (await c.get("/DocumentReference/lea-psy")).status_code == 200, name
            assert (await c.get("/Patient/noah")).status_code == 404, name
    refused = {
        "fhirUser of another server": token(
            settings, fhir_user="https://other.example/Practitioner/doc"
        ),
        "unknown fhirUser": token(settings, fhir_user="Practitioner/nobody"),
        "unknown RPPS": token(settings, scope="user/*.cruds", rpps="19999999999"),
    }
    for name, value in refused.items():
        async with world.client_for(raw=value) as c:
            assert (await c.get("/Patient")).status_code == 403, name


async def test_audit_events_never_change_through_the_api(world: AppClient) -> None:
    async with world.client_for() as system:
        event = (await system.get("/AuditEvent", params={"_count": "1"})).json()["entry"][0][
            "resource"
        ]
        for r in (
            await system.put(f"/AuditEvent/{event['id']}", json=event),
            await system.delete(f"/AuditEvent/{event['id']}"),
            await system.post("/AuditEvent", json={k: v for k, v in event.items() if k != "id"}),
            await system.patch(
                f"/AuditEvent/{event['id']}",
                json=[{"op": "replace", "path": "/outcome", "value": "4"}],
                headers={"Content-Type": "application/json-patch+json"},
            ),
            await system.delete("/AuditEvent", params={"_id": event["id"]}),
        ):
            assert r.status_code == 405, r.text


async def test_trusted_systems_cannot_break_glass(world: AppClient) -> None:
    async with world.client_for() as system:
        r = await system.post(
            "/Patient/lea/$break-glass",
            json={
                "resourceType": "Parameters",
                "parameter": [{"name": "reason", "valueString": "x"}],
            },
        )
    assert r.status_code == 403


async def test_a_binary_follows_its_document(world: AppClient) -> None:
    """The content of a document is readable exactly by who may read the document."""
    async with world.client_for(PRINCIPALS["dietitian"]) as diet:
        assert (await diet.get("/Binary/lea-summary-content")).status_code == 200
        assert (await diet.get("/Binary/lea-psy-content")).status_code == 404
        found = (await diet.get("/Binary", params={"_count": "100"})).json()
        listed = {e["resource"]["id"] for e in found.get("entry", [])}
        assert "lea-summary-content" in listed and "lea-psy-content" not in listed
        # nor can it attach content to a document it may not see
        sneaky = {
            "resourceType": "Binary",
            "contentType": "text/plain",
            "securityContext": {"reference": "DocumentReference/lea-psy"},
            "data": "eA==",
        }
        assert (await diet.post("/Binary", json=sneaky)).status_code == 403
    async with world.client_for(PRINCIPALS["psychologist"]) as psy:
        assert (await psy.get("/Binary/lea-psy-content")).status_code == 200
