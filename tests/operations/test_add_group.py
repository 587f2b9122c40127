"""Favourite groups and CareTeam/$add-group (issue 11, items 4 and 6).

"Dans les deux cas, le créateur du groupe reste le seul à pouvoir ajouter
et/ou retirer un membre"; "les groupes créés au niveau de la structure sont
applicables à tout nouveau dossier". People of tests/security/world.py act
with their own tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import AppClient, loaded_app
from tests.security.world import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROLE = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
CATEGORY = "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category"
VISIBILITY = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-group-visibility"
MEMBER_ROLE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-group-member-role"
PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-favourites-group"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    async with loaded_app(mongo_uri, transaction()) as server:
        yield server


def member(ref: str, role: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"entity": {"reference": ref}}
    if role:
        body["extension"] = [{"url": MEMBER_ROLE, "valueCoding": {"system": ROLE, "code": role}}]
    return body


def group(
    manager: str, visibility: str, *members: dict[str, Any], name: str = "MRTC"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Group",
        "meta": {"profile": [PROFILE]},
        "extension": [{"url": VISIBILITY, "valueCode": visibility}],
        "active": True,
        "type": "practitioner",
        "actual": True,
        "code": {"coding": [{"system": CATEGORY, "code": "favourites-group"}]},
        "name": name,
        "managingEntity": {"reference": manager},
    }
    if members:
        body["member"] = list(members)
    return body


def add_group(ref: str, role: str | None = None) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "group", "valueReference": {"reference": ref}}]
    if role:
        params.append({"name": "role", "valueCoding": {"system": ROLE, "code": role}})
    return {"resourceType": "Parameters", "parameter": params}


def msg_id(response: Any) -> str:
    return str(response.json()["issue"][0]["details"]["coding"][0]["code"])


async def test_only_the_creator_changes_a_group(world: AppClient) -> None:
    coordinator = world.client_for("Practitioner/coord")
    doctor = world.client_for("Practitioner/doc")
    body = group("Practitioner/coord", "public", member("Practitioner/other", "mrtc-physician"))
    r = await coordinator.post("/Group", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    gid = created["id"]
    # someone else: neither add nor remove members, nor delete
    changed = {
        **created,
        "member": [*created["member"], member("Practitioner/doc", "mrtc-physician")],
    }
    r = await doctor.put(f"/Group/{gid}", json=changed)
    assert r.status_code == 403 and msg_id(r) == "MRTC-CC-011"
    r = await doctor.put(f"/Group/{gid}", json={k: v for k, v in created.items() if k != "member"})
    assert r.status_code == 403
    r = await doctor.delete(f"/Group/{gid}")
    assert r.status_code == 403
    # nor create a group in another's name
    r = await doctor.post("/Group", json=group("Practitioner/coord", "public"))
    assert r.status_code == 403 and msg_id(r) == "MRTC-CC-010"
    # the creator may; but the creator cannot hand the group over
    r = await coordinator.put(f"/Group/{gid}", json=changed)
    assert r.status_code == 200, r.text
    r = await coordinator.put(
        f"/Group/{gid}", json={**r.json(), "managingEntity": {"reference": "Practitioner/doc"}}
    )
    assert r.status_code == 403 and msg_id(r) == "MRTC-CC-012"
    assert len((await doctor.get(f"/Group/{gid}")).json()["member"]) == 2


async def test_add_group_adds_everyone_once_with_their_stored_roles(world: AppClient) -> None:
    coordinator = world.client_for("Practitioner/coord")
    body = group(
        "Practitioner/coord",
        "private",
        member("Practitioner/other", "mrtc-physician"),
        member("PractitionerRole/breaker-cab", "nurse"),
        member("Practitioner/doc", "mrtc-physician"),  # already in Léa's circle
    )
    gid = (await coordinator.post("/Group", json=body)).json()["id"]
    before = (await coordinator.get("/CareTeam/circle-lea")).json()
    r = await coordinator.post("/CareTeam/circle-lea/$add-group", json=add_group(f"Group/{gid}"))
    assert r.status_code == 200, r.text
    team = r.json()
    roles = {
        p["member"]["reference"]: p["role"][0]["coding"][0]["code"] for p in team["participant"]
    }
    assert roles["Practitioner/other"] == "mrtc-physician"
    assert roles["PractitionerRole/breaker-cab"] == "nurse"
    assert len(team["participant"]) == len(before["participant"]) + 2
    refs = [p["member"]["reference"] for p in team["participant"]]
    assert len(refs) == len(set(refs))
    # again: nothing new, no new version
    r = await coordinator.post("/CareTeam/circle-lea/$add-group", json=add_group(f"Group/{gid}"))
    assert r.json()["meta"]["versionId"] == team["meta"]["versionId"]
    # the new members now open the record (they are habilitated members)
    other = world.client_for("Practitioner/other")
    assert (await other.get("/Patient/lea")).status_code == 200


async def test_a_given_role_applies_to_all_and_a_missing_one_is_refused(world: AppClient) -> None:
    system = world.http
    assert system is not None
    gid = (
        await system.post(
            "/Group",
            json=group("Practitioner/super", "public", member("Practitioner/diet", None)),
        )
    ).json()["id"]
    r = await system.post("/CareTeam/circle-noah/$add-group", json=add_group(f"Group/{gid}"))
    assert r.status_code == 400 and msg_id(r) == "MRTC-CC-023"
    r = await system.post(
        "/CareTeam/circle-noah/$add-group", json=add_group(f"Group/{gid}", "dietitian")
    )
    assert r.status_code == 200, r.text
    assert any(
        p["member"]["reference"] == "Practitioner/diet"
        and p["role"][0]["coding"][0]["code"] == "dietitian"
        for p in r.json()["participant"]
    )


async def test_private_groups_serve_their_creator_and_its_structure_only(world: AppClient) -> None:
    structure = world.client_for("PractitionerRole/msp-account")
    r = await structure.post(
        "/Group",
        json=group("Organization/msp", "private", member("Practitioner/psy", "psychologist")),
    )
    assert r.status_code == 201, r.text
    msp_group = r.json()["id"]
    # a person of the structure uses the structure's group on its records
    coordinator = world.client_for("Practitioner/coord")
    r = await coordinator.post(
        "/CareTeam/circle-lea/$add-group", json=add_group(f"Group/{msp_group}")
    )
    assert r.status_code == 200, r.text
    # a doctor of another structure, on a record of its own, may not use it
    # (it cannot even see it: a refused read is a 404, decision 0020)
    other = world.client_for("Practitioner/other")
    r = await other.post("/CareTeam/circle-noah/$add-group", json=add_group(f"Group/{msp_group}"))
    assert r.status_code == 404, r.text
    # a plain Group is not a favourites group
    plain = {"resourceType": "Group", "type": "practitioner", "actual": True}
    gid = (await other.post("/Group", json=plain)).json()["id"]
    r = await other.post("/CareTeam/circle-noah/$add-group", json=add_group(f"Group/{gid}"))
    assert r.status_code == 400 and msg_id(r) == "MRTC-CC-021"
    r = await other.post("/CareTeam/circle-noah/$add-group", json={"resourceType": "Parameters"})
    assert r.status_code == 400 and msg_id(r) == "MRTC-CC-020"


async def test_a_private_group_is_read_by_its_creator_and_its_structure_only(
    world: AppClient,
) -> None:
    """ "privé ou public (c'est-à-dire rendu visible aux membres)": a private group is
    its creator's (and, for a structure's group, its people's); on every read path."""
    coordinator = world.client_for("Practitioner/coord")
    mine = (
        await coordinator.post(
            "/Group",
            json=group("Practitioner/coord", "private", member("Practitioner/doc", None)),
        )
    ).json()["id"]
    shared = (
        await coordinator.post(
            "/Group",
            json=group("Practitioner/coord", "public", member("Practitioner/doc", None)),
        )
    ).json()["id"]
    structure = world.client_for("PractitionerRole/msp-account")
    msp = (
        await structure.post(
            "/Group", json=group("Organization/msp", "private", member("Practitioner/psy", None))
        )
    ).json()["id"]

    async def sees(who: str) -> set[str]:
        async with world.client_for(who) as c:
            found = set()
            for gid in (mine, shared, msp):
                r = await c.get(f"/Group/{gid}")
                assert r.status_code in (200, 404), r.text
                if r.status_code == 200:
                    found.add(gid)
            listed = await c.get("/Group", params={"_count": "500"})
            in_search = {e["resource"]["id"] for e in listed.json().get("entry", [])}
            history = await c.get(f"/Group/{mine}/_history")
            shown = history.status_code == 200 and bool(history.json().get("entry"))
            assert shown == (mine in found), history.text
            assert found == in_search & {mine, shared, msp}, (who, found, in_search)
            return found

    assert await sees("Practitioner/coord") == {mine, shared, msp}  # creator; of the MSP
    assert await sees("PractitionerRole/msp-account") == {shared, msp}
    assert await sees("Practitioner/other") == {shared}  # another structure's doctor
    assert await sees("Practitioner/diet") == {shared, msp}  # a person of the MSP, not the creator
