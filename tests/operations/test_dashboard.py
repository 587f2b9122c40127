"""CarePlan/$dashboard through HTTP: rows, criteria, paging, the policy, bad input.

The booklet's « tableau de bord des parcours »: each person sees the
pathways of the records they may open, with per-section progress, the next
step and the overdue flag (tests/operations/dashboard_world.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from tests.conftest import AppClient, loaded_app, make_settings
from tests.operations.dashboard_world import PRINCIPALS, day, transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")
URL = "/CarePlan/$dashboard"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    async with loaded_app(mongo_uri, transaction()) as server:
        yield server


def parts(row: dict[str, Any]) -> dict[str, Any]:
    """A row's parts by name (sections as their text, in order)."""
    out: dict[str, Any] = {"section": []}
    for part in row["part"]:
        if part["name"] == "section":
            sub = {
                p["name"]: next(v for k, v in p.items() if k.startswith("value"))
                for p in part["part"]
            }
            out["section"].append(sub)
        else:
            out[part["name"]] = next(v for k, v in part.items() if k.startswith("value"))
    return out


def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert body["resourceType"] == "Parameters", body
    return [parts(p) for p in body["parameter"] if p["name"] == "row"]


def plans(body: dict[str, Any]) -> list[str]:
    return [r["carePlan"]["reference"] for r in rows(body)]


def link(body: dict[str, Any], name: str) -> str | None:
    return next((p["valueUri"] for p in body["parameter"] if p["name"] == name), None)


async def dashboard(world: AppClient, who: str | None, query: str = "") -> dict[str, Any]:
    async with world.client_for(PRINCIPALS[who] if who else None) as c:
        r = await c.get(URL + query)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_row_shows_patient_start_status_progress_next_step_and_overdue(
    world: AppClient,
) -> None:
    body = await dashboard(world, "coordinator")
    lea = next(r for r in rows(body) if r["carePlan"]["reference"] == "CarePlan/cp-lea")
    assert lea["patient"] == {"reference": "Patient/lea", "display": "Léa DUPONT"}
    assert lea["start"] == "2026-03-02"
    assert lea["status"] == "active"
    # PlanDefinition order; the cancelled follow-up is not planned, the missed one is
    assert [s["text"] for s in lea["section"]] == [
        "RDV initial MSP 2/2",
        "RDV bilan initial diététicien 0/1",
        "Suivi diététicien 0/1",
        "Bilan final diététicien 0/1",
        "Fin MRTC 0/1",
    ]
    first = lea["section"][0]
    assert first["code"]["code"] == "initial-msp" and (first["done"], first["total"]) == (2, 2)
    assert lea["nextStep"] == {"reference": "Task/lea-3"}
    assert lea["nextStepCode"]["code"] == "biometric-form"
    assert lea["nextStepLabel"] == "RDV bilan initial diététicien : MRTC Suivi Biométrique"
    assert lea["nextStepDate"] == day(-3)
    assert lea["nextStepOwner"] == {"reference": "Practitioner/diet"}
    assert lea["overdue"] is True


async def test_a_step_due_later_is_not_overdue_and_an_unscheduled_one_is_never_next(
    world: AppClient,
) -> None:
    body = await dashboard(world, "coordinator", "?status=on-hold")
    (zoe,) = rows(body)
    assert zoe["carePlan"] == {"reference": "CarePlan/cp-zoe"}
    assert zoe["nextStep"] == {"reference": "Task/zoe-1"} and zoe["nextStepDate"] == day(10)
    assert zoe["overdue"] is False
    assert [s["text"] for s in zoe["section"]] == ["RDV initial MSP 0/2"]


async def test_each_person_sees_the_pathways_of_the_records_they_may_open(
    world: AppClient,
) -> None:
    # default statuses: active and on-hold (the completed pathway is left out)
    assert sorted(plans(await dashboard(world, "coordinator"))) == [
        "CarePlan/cp-lea",
        "CarePlan/cp-zoe",
    ]
    assert plans(await dashboard(world, "dietitian")) == ["CarePlan/cp-lea"]
    assert plans(await dashboard(world, "other")) == ["CarePlan/cp-noah"]
    assert sorted(plans(await dashboard(world, None))) == [  # a trusted system: every record
        "CarePlan/cp-lea",
        "CarePlan/cp-noah",
        "CarePlan/cp-zoe",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=completed", ["CarePlan/cp-zoe-old"]),
        (
            "?status=active,completed",
            ["CarePlan/cp-lea", "CarePlan/cp-noah", "CarePlan/cp-zoe-old"],
        ),
        (
            "?status=active&status=on-hold",
            ["CarePlan/cp-lea", "CarePlan/cp-noah", "CarePlan/cp-zoe"],
        ),
        ("?organization=Organization/cabinet", ["CarePlan/cp-noah"]),
        ("?organization=msp", ["CarePlan/cp-lea", "CarePlan/cp-zoe"]),
        ("?owner=Practitioner/diet", ["CarePlan/cp-lea"]),
        # the doctor owns open steps of Léa's (end report) and Zoé's (unscheduled one too)
        ("?owner=Practitioner/doc", ["CarePlan/cp-lea", "CarePlan/cp-zoe"]),
        ("?owner=Practitioner/coord", []),
        (f"?next-step-before={day(0)}", ["CarePlan/cp-lea"]),
        (f"?next-step-before={day(5)}", ["CarePlan/cp-lea", "CarePlan/cp-noah"]),
        (
            f"?next-step-before={day(30)}",
            ["CarePlan/cp-lea", "CarePlan/cp-noah", "CarePlan/cp-zoe"],
        ),
        (
            f"?owner=Practitioner/doc&next-step-before={day(30)}",
            ["CarePlan/cp-lea", "CarePlan/cp-zoe"],
        ),
        (f"?owner=Practitioner/doc&next-step-before={day(5)}", ["CarePlan/cp-lea"]),
        ("?owner=Practitioner/doc&status=on-hold", ["CarePlan/cp-zoe"]),
        (
            f"?pathway={'https://mrtc.example.org/fhir/PlanDefinition/mrtc-pathway|0.1.0'}&status=active",
            ["CarePlan/cp-lea", "CarePlan/cp-noah"],
        ),
        ("?pathway=https://example.org/PlanDefinition/other", []),
    ],
)
async def test_criteria_combine(world: AppClient, query: str, expected: list[str]) -> None:
    assert sorted(plans(await dashboard(world, None, query))) == expected


async def test_post_with_a_parameters_body_is_the_same_as_get(world: AppClient) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "status", "valueCode": "active"},
            {"name": "owner", "valueString": "Practitioner/doc"},
        ],
    }
    async with world.client_for() as c:
        r = await c.post(URL, json=body)
    assert r.status_code == 200, r.text
    assert plans(r.json()) == ["CarePlan/cp-lea"]


async def test_pages_follow_next_and_previous_links_without_repeating(world: AppClient) -> None:
    seen: list[str] = []
    body = await dashboard(world, None, "?status=active,on-hold,completed&_count=1")
    first = body
    assert link(body, "self") and link(body, "previous") is None
    pages = 0
    while True:
        pages += 1
        assert pages <= 10, "paging does not end"
        (row,) = rows(body)
        seen.append(row["carePlan"]["reference"])
        nxt = link(body, "next")
        if nxt is None:
            break
        assert nxt.startswith("http://testserver/CarePlan/$dashboard?")
        target = urlsplit(nxt)
        async with world.client_for() as c:
            r = await c.get(f"{target.path}?{target.query}")
        assert r.status_code == 200, r.text
        body = r.json()
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 4
    prev = link(body, "previous")
    assert prev is not None
    target = urlsplit(prev)
    async with world.client_for() as c:
        r = await c.get(f"{target.path}?{target.query}")
    assert plans(r.json()) == [seen[-2]]
    assert plans(first) == [seen[0]]


@pytest.mark.parametrize(
    ("query", "status", "msg_id"),
    [
        ("?status=closed", 400, "MRTC-DSH-001"),
        ("?owner=Patient/lea", 400, "MRTC-DSH-001"),
        ("?owner=Practitioner/", 400, "MRTC-DSH-001"),
        ("?organization=Practitioner/doc", 400, "MRTC-DSH-001"),
        ("?next-step-before=2026-13-01", 400, "MRTC-DSH-001"),
        ("?next-step-before=tomorrow", 400, "MRTC-DSH-001"),
        ("?pathway=", 400, "MRTC-DSH-001"),
        ("?owner=Practitioner/doc&owner=Practitioner/diet", 400, "MRTC-OP-001"),
        ("?_count=-1", 400, "MRTC-OP-001"),
        ("?_count=many", 400, "MRTC-OP-001"),
        ("?assignee=Practitioner/doc", 400, "MRTC-OP-001"),
        ("?_cursor=not-a-cursor", 400, None),
        ("?filter=../x", 400, "MRTC-DSH-003"),
        ("?filter=missing", 404, None),
    ],
)
async def test_bad_input_is_a_clear_error(
    world: AppClient, query: str, status: int, msg_id: str | None
) -> None:
    async with world.client_for(PRINCIPALS["coordinator"]) as c:
        r = await c.get(URL + query)
    assert r.status_code == status, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if msg_id:
        codes = [i["details"]["coding"][0]["code"] for i in outcome["issue"]]
        assert msg_id in codes, outcome


async def test_the_dashboard_is_read_only_and_type_level(world: AppClient) -> None:
    async with world.client_for() as c:
        instance = await c.get("/CarePlan/cp-lea/$dashboard")
        other_type = await c.get("/Task/$dashboard")
    assert instance.status_code == 404 and other_type.status_code == 404


async def test_a_token_without_search_scope_on_careplan_is_refused(world: AppClient) -> None:
    async with world.client_for(PRINCIPALS["coordinator"], scope="user/CarePlan.r") as c:
        r = await c.get(URL)
    assert r.status_code == 403, r.text


async def test_the_capability_statement_lists_the_operation(world: AppClient) -> None:
    async with world.client_for() as c:
        r = await c.get("/metadata")
    careplan = next(x for x in r.json()["rest"][0]["resource"] if x["type"] == "CarePlan")
    assert {
        "name": "dashboard",
        "definition": "https://mrtc.example.org/fhir/OperationDefinition/CarePlan-dashboard",
    } in (careplan.get("operation", []))


async def test_a_long_restriction_checked_on_candidates_gives_the_same_rows(
    mongo_uri: str,
) -> None:
    # FHIR_SEARCH_RESTRICTION_IN_LIMIT=1: every restriction of more than one record is
    # applied as a predicate on the candidates of the query's own criteria (storage.query)
    settings = make_settings(mongo_uri)
    settings.search.restriction_in_limit = 1
    server = AppClient(settings)
    async with server as system:
        r = await system.post("/", json=transaction())
        assert r.status_code == 200, r.text
        assert sorted(plans(await dashboard(server, "coordinator"))) == [
            "CarePlan/cp-lea",
            "CarePlan/cp-zoe",
        ]
        assert plans(await dashboard(server, "coordinator", "?status=completed")) == [
            "CarePlan/cp-zoe-old"
        ]
        assert plans(await dashboard(server, "dietitian")) == ["CarePlan/cp-lea"]
        assert plans(await dashboard(server, "other")) == ["CarePlan/cp-noah"]
        owned = await dashboard(server, "coordinator", "?owner=Practitioner/other")
        assert plans(owned) == []  # Noah's step exists, but not in the coordinator's records
        async with server.client_for(PRINCIPALS["coordinator"]) as c:
            listed = await c.get("/Task?owner=Practitioner/other")
            patients = await c.get("/Patient?_count=10")
        assert listed.status_code == 200 and "entry" not in listed.json()
        assert sorted(e["resource"]["id"] for e in patients.json()["entry"]) == ["lea", "zoe"]
