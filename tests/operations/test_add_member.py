"""CareTeam/$add-member and the care-circle write rules (issue 11, items 3 and 6).

The coordinator of Léa's record (tests/security/world.py) adds, with her own
token: a directory professional, a directory unit, a family member and
manual professionals. The e-mail rules are checked on the outbox the
notifications go through: which answers of the manual form send the ROR
service-centre mail, a new mail when the details change, none otherwise.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.conftest import AppClient, loaded_app
from tests.security.world import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROLE = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
MANUAL = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-manual-member"
DESCRIPTION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careteam-member-description"
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
R95 = "https://mos.esante.gouv.fr/NOS/TRE_R95-UsagerTitre/FHIR/TRE-R95-UsagerTitre"
IDNAT = "urn:oid:1.2.250.1.71.4.2.1"
SERVICE_CENTRE = "aide@iess.fr"
IG = Path(__file__).resolve().parents[2] / "ig"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    async with loaded_app(mongo_uri, transaction()) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def coordinator(world: AppClient) -> AsyncIterator[httpx.AsyncClient]:
    async with world.client_for("Practitioner/coord") as http:
        yield http


def role(code: str) -> dict[str, Any]:
    return {"name": "role", "valueCoding": {"system": ROLE, "code": code}}


def params(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(items)}


def manual(**parts: Any) -> dict[str, Any]:
    out = []
    for name, value in parts.items():
        if isinstance(value, bool):
            out.append({"name": name, "valueBoolean": value})
        elif isinstance(value, dict):
            out.append({"name": name, "valueCoding": value})
        else:
            out.append({"name": name, "valueString": value})
    return {"name": "manual", "part": out}


def professional(family: str, **answers: Any) -> dict[str, Any]:
    return manual(
        professional=True,
        family=family,
        given="Gaëlle",
        city="Hyères",
        profession={"system": R95, "code": "93", "display": "Psychologue"},
        unit="Cabinet des Palmiers",
        phone="04 94 00 00 00",
        **answers,
    )


async def add(
    http: httpx.AsyncClient, body: dict[str, Any], team: str = "circle-lea"
) -> httpx.Response:
    return await http.post(f"/CareTeam/{team}/$add-member", json=body)


async def mails(world: AppClient, kind: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await world.app.state.services.notifier.outbox.messages(kind)
    return result


def participant(team: dict[str, Any], ref_prefix: str, family: str | None = None) -> dict[str, Any]:
    for p in team["participant"]:
        if p["member"]["reference"].startswith(ref_prefix) and (
            family is None or family in p["member"].get("display", "")
        ):
            return p
    raise AssertionError(f"no participant {ref_prefix} {family}")


def answers(p: dict[str, Any]) -> dict[str, Any]:
    ext = next(e for e in p["extension"] if e["url"] == MANUAL)
    return {
        s["url"]: s["valueBoolean"] if "valueBoolean" in s else s["valueString"]
        for s in ext["extension"]
    }


async def test_a_directory_professional_is_copied_once_and_told(
    world: AppClient, coordinator: httpx.AsyncClient
) -> None:
    found = (
        await coordinator.get("/$directory-search", params={"given": "T%se", "_count": 1})
    ).json()
    entry = next(e["resource"] for e in found["entry"] if e["search"]["mode"] == "match")
    practitioner = next(
        e["resource"]
        for e in found["entry"]
        if f"Practitioner/{e['resource']['id']}" == entry["practitioner"]["reference"]
    )
    r = await add(
        coordinator,
        params(
            role("dietitian"),
            {"name": "directoryEntry", "valueString": f"PractitionerRole/{entry['id']}"},
        ),
    )
    assert r.status_code == 200, r.text
    team = r.json()
    copies = (
        await world.http.get(
            "/Practitioner",
            params={"identifier": f"{IDNAT}|{practitioner['identifier'][0]['value']}"},
        )
    ).json()
    assert len(copies["entry"]) == 1
    local_practitioner = copies["entry"][0]["resource"]
    roles = (
        await world.http.get(
            "/PractitionerRole", params={"practitioner": f"Practitioner/{local_practitioner['id']}"}
        )
    ).json()
    local_role = roles["entry"][0]["resource"]
    ref = f"PractitionerRole/{local_role['id']}"
    member = participant(team, ref)
    assert member["role"][0]["coding"][0]["code"] == "dietitian"
    assert local_role["telecom"] == entry["telecom"]  # the phone comes with the member
    if any(e["url"] == DESCRIPTION for e in entry.get("extension", [])):
        assert member["extension"][0]["url"] == DESCRIPTION
    # the same entry added to another circle reuses the local copy
    r = await add(
        world.http,
        params(role("dietitian"), {"name": "directoryEntry", "valueString": entry["id"]}),
        "circle-noah",
    )
    assert r.status_code == 200, r.text
    assert participant(r.json(), ref)
    copies = (
        await world.http.get(
            "/Practitioner",
            params={"identifier": f"{IDNAT}|{practitioner['identifier'][0]['value']}"},
        )
    ).json()
    assert len(copies["entry"]) == 1
    # told by e-mail, at the MSSanté address of the directory entry, once per circle
    email = next(t["value"] for t in entry["telecom"] if t["system"] == "email")
    told = [m for m in await mails(world, "care-circle-added") if email in m["to"]]
    assert len(told) == 2
    assert "DUPONT Enfant" in told[0]["subject"]
    # members and their phones come with the CareTeam through _include
    bundle = (
        await coordinator.get(
            "/CareTeam", params={"_id": "circle-lea", "_include": "CareTeam:participant"}
        )
    ).json()
    assert ref in {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]
    }


async def test_a_directory_unit_and_a_family_member(
    world: AppClient, coordinator: httpx.AsyncClient
) -> None:
    units = (
        await coordinator.get(
            "/$directory-search",
            params={"kind": "unit", "organization": "pole enfants", "_count": 1},
        )
    ).json()
    unit = next(e["resource"] for e in units["entry"] if e["search"]["mode"] == "match")
    r = await add(
        coordinator,
        params(
            role("coordinating-structure"),
            {"name": "directoryEntry", "valueString": f"Organization/{unit['id']}"},
        ),
    )
    assert r.status_code == 200, r.text
    orgs = (
        await world.http.get("/Organization", params={"identifier": unit["identifier"][0]["value"]})
    ).json()
    assert participant(r.json(), f"Organization/{orgs['entry'][0]['resource']['id']}")
    before = len(await mails(world, "directory-request"))
    r = await add(
        coordinator,
        params(
            role("legal-representative"),
            manual(
                family="Dupont",
                given="Hélène",
                phone="06 12 34 56 78",
                relationship={
                    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                    "code": "MTH",
                },
            ),
        ),
    )
    assert r.status_code == 200, r.text
    mother = participant(r.json(), "RelatedPerson/")
    assert answers(mother) == {"professional": False}
    related = (await coordinator.get(f"/{mother['member']['reference']}")).json()
    assert related["patient"]["reference"] == "Patient/lea"
    assert related["telecom"] == [{"system": "phone", "value": "06 12 34 56 78"}]
    assert len(await mails(world, "directory-request")) == before  # never for the family


@pytest.mark.parametrize(
    ("access", "informed", "mailed"),
    [
        (False, False, False),
        (True, False, True),
        (False, True, True),
        (True, True, True),
        (None, None, False),
    ],
)
async def test_which_manual_answers_mail_the_service_centre(
    world: AppClient, coordinator: httpx.AsyncClient, access: Any, informed: Any, mailed: bool
) -> None:
    family = f"Manuel-{access}-{informed}"
    answered = {
        k: v for k, v in (("accessRequested", access), ("informed", informed)) if v is not None
    }
    before = await mails(world, "directory-request")
    r = await add(
        coordinator,
        params(
            role("psychologist"),
            professional(family, remarks="Doit accéder à la plateforme", **answered),
        ),
    )
    assert r.status_code == 200, r.text
    p = participant(r.json(), "Practitioner/", family)
    assert answers(p).get("directoryRequestPending", False) is mailed
    assert answers(p)["accessRequested"] is bool(access)  # "Non" by default
    assert p["onBehalfOf"]["display"] == "Cabinet des Palmiers"
    new = (await mails(world, "directory-request"))[len(before) :]
    if not mailed:
        assert new == []
        return
    assert len(new) == 1
    assert new[0]["to"] == [SERVICE_CENTRE]
    body = new[0]["body"]
    assert family in body and "Psychologue" in body and "Hyères" in body
    assert "Cabinet des Palmiers" in body and "Doit accéder à la plateforme" in body
    assert f"Doit accéder au dossier patient : {'Oui' if access else 'Non'}" in body


async def test_changing_a_manual_professional_mails_again(
    world: AppClient, coordinator: httpx.AsyncClient
) -> None:
    r = await add(
        coordinator, params(role("psychologist"), professional("Changeant", informed=True))
    )
    team = r.json()
    p = participant(team, "Practitioner/", "Changeant")
    count = len(await mails(world, "directory-request"))
    # an unrelated change of the circle: no mail
    team["name"] = "Cercle de soins de Léa"
    r = await coordinator.put("/CareTeam/circle-lea", json=team)
    assert r.status_code == 200, r.text
    assert len(await mails(world, "directory-request")) == count
    # the participant's answers change: a new mail
    team = r.json()
    p = participant(team, "Practitioner/", "Changeant")
    next(e for e in p["extension"] if e["url"] == MANUAL)["extension"].append(
        {"url": "remarks", "valueString": "Nouveau numéro"}
    )
    r = await coordinator.put("/CareTeam/circle-lea", json=team)
    assert r.status_code == 200, r.text
    sent = await mails(world, "directory-request")
    assert len(sent) == count + 1 and "modifiées" in sent[-1]["body"]
    # the Practitioner it references changes: a new mail
    practitioner = (await coordinator.get(f"/{p['member']['reference']}")).json()
    practitioner["telecom"] = [{"system": "phone", "value": "04 94 11 11 11"}]
    r = await world.http.put(f"/{p['member']['reference']}", json=practitioner)
    assert r.status_code == 200, r.text
    sent = await mails(world, "directory-request")
    assert len(sent) == count + 2 and "04 94 11 11 11" in sent[-1]["body"]
    # a directory entry replaces the manual member: the marker goes with it, no mail
    team = (await coordinator.get("/CareTeam/circle-lea")).json()
    for q in team["participant"]:
        if q["member"]["reference"] == p["member"]["reference"]:
            q["extension"] = [e for e in q["extension"] if e["url"] != MANUAL]
            if not q["extension"]:
                del q["extension"]
    r = await coordinator.put("/CareTeam/circle-lea", json=team)
    assert r.status_code == 200, r.text
    replaced = participant(r.json(), p["member"]["reference"])
    assert "extension" not in replaced
    assert len(await mails(world, "directory-request")) == count + 2


async def test_a_plain_put_follows_the_same_rules(
    world: AppClient, coordinator: httpx.AsyncClient
) -> None:
    before = len(await mails(world, "directory-request"))
    team = (await coordinator.get("/CareTeam/circle-lea")).json()
    team["participant"].append(
        {
            "extension": [
                {
                    "url": MANUAL,
                    "extension": [
                        {"url": "professional", "valueBoolean": True},
                        {"url": "accessRequested", "valueBoolean": True},
                    ],
                }
            ],
            "role": [{"coding": [{"system": ROLE, "code": "nurse"}]}],
            "member": {"reference": "Practitioner/manual"},
            "onBehalfOf": {"reference": "Organization/cabinet"},
        }
    )
    r = await coordinator.put("/CareTeam/circle-lea", json=team)
    assert r.status_code == 200, r.text
    assert len(await mails(world, "directory-request")) == before + 1
    # a client writing the whole CareTeam keeps its own order
    assert [p["member"]["reference"] for p in r.json()["participant"]] == [
        p["member"]["reference"] for p in team["participant"]
    ]


async def test_added_members_take_their_place_in_the_role_order(world: AppClient) -> None:
    """The IG's priority property (smaller first): coordinator 10, physician 30, dietitian 40."""
    priority = {
        c["code"]: next(p["valueInteger"] for p in c["property"] if p["code"] == "priority")
        for c in json.loads((IG / "CodeSystem-mrtc-care-circle-role.json").read_text())["concept"]
    }
    assert world.http is not None
    for ref, code in [
        ("Practitioner/diet", "dietitian"),
        ("Practitioner/coord", "coordinator"),
        ("Practitioner/psy", "psychologist"),
    ]:
        body = params(role(code), {"name": "member", "valueReference": {"reference": ref}})
        r = await add(world.http, body, "circle-noah")
        assert r.status_code == 200, r.text
    codes = [p["role"][0]["coding"][0]["code"] for p in r.json()["participant"]]
    # Noah's circle had its physician (and a dietitian from the directory test)
    assert codes[0] == "coordinator" and codes[-1] == "psychologist"
    assert [priority[c] for c in codes] == sorted(priority[c] for c in codes)


async def test_a_manual_member_never_opens_the_record(
    world: AppClient, coordinator: httpx.AsyncClient
) -> None:
    r = await add(
        coordinator, params(role("psychologist"), professional("Sansacces", accessRequested=True))
    )
    ref = participant(r.json(), "Practitioner/", "Sansacces")["member"]["reference"]
    async with world.client_for(ref) as manual_member:
        assert (await manual_member.get("/Patient/lea")).status_code == 404
        assert (await manual_member.get("/CareTeam/circle-lea")).status_code == 404
        assert (await manual_member.get("/Observation/lea-weight")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "msg_id"),
    [
        (params({"name": "directoryEntry", "valueString": "x"}), 400, "MRTC-CC-002"),
        (
            params(
                {"name": "role", "valueCoding": {"system": ROLE, "code": "astronaut"}},
                {"name": "member", "valueReference": {"reference": "Practitioner/doc"}},
            ),
            400,
            "MRTC-CC-002",
        ),
        (params(role("dietitian")), 400, "MRTC-CC-001"),
        (
            params(
                role("dietitian"),
                {"name": "member", "valueReference": {"reference": "Practitioner/doc"}},
                {"name": "directoryEntry", "valueString": "x"},
            ),
            400,
            "MRTC-CC-001",
        ),
        (
            params(
                role("dietitian"),
                {"name": "directoryEntry", "valueString": "PractitionerRole/nope"},
            ),
            404,
            "MRTC-DIR-020",
        ),
        (
            params(
                role("dietitian"),
                {"name": "member", "valueReference": {"reference": "Patient/lea"}},
            ),
            400,
            "MRTC-CC-004",
        ),
        (
            params(
                role("dietitian"),
                {"name": "member", "valueReference": {"reference": "Practitioner/ghost"}},
            ),
            404,
            "MRTC-REST-020",
        ),
        (
            params(
                role("psychologist"),
                manual(
                    professional=True,
                    family="Sansville",
                    given="A",
                    profession={"system": R95, "code": "93"},
                    unit="U",
                ),
            ),
            400,
            "MRTC-CC-006",
        ),
        (
            params(
                role("psychologist"),
                manual(
                    professional=True,
                    family="Sansunite",
                    given="A",
                    city="Gap",
                    profession={"system": R95, "code": "93"},
                ),
            ),
            400,
            "MRTC-CC-006",
        ),
        (
            params(
                role("main-caregiver"),
                manual(
                    family="Aidant",
                    given="A",
                    relationship={
                        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                        "code": "FTH",
                    },
                ),
            ),
            400,
            "MRTC-CC-006",
        ),
        (
            params(
                role("main-caregiver"),
                manual(
                    family="Aidant",
                    given="A",
                    phone="06",
                    informed=True,
                    relationship={
                        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                        "code": "FTH",
                    },
                ),
            ),
            400,
            "MRTC-CC-007",
        ),
        (
            params(role("psychologist"), manual(family="A", given="B", colour="blue")),
            400,
            "MRTC-OP-001",
        ),
    ],
)
async def test_bad_requests_change_nothing(
    world: AppClient, coordinator: httpx.AsyncClient, body: dict[str, Any], status: int, msg_id: str
) -> None:
    before = (await coordinator.get("/CareTeam/circle-lea")).json()["meta"]["versionId"]
    r = await add(coordinator, body)
    assert r.status_code == status, r.text
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == msg_id
    assert (await coordinator.get("/CareTeam/circle-lea")).json()["meta"]["versionId"] == before


async def test_who_cannot_open_the_record_cannot_add_to_its_circle(world: AppClient) -> None:
    async with world.client_for("Practitioner/other") as other:
        r = await add(
            other,
            params(
                role("dietitian"),
                {"name": "member", "valueReference": {"reference": "Practitioner/other"}},
            ),
        )
        assert r.status_code == 404
        r = await other.get("/CareTeam/circle-lea/$add-member")
        assert r.status_code in (404, 405)
