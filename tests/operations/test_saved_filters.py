"""Saved dashboard filters through HTTP: private to their owner, one default, applied by $dashboard.

The booklet: « créer le filtre de recherche et l'enregistrer par défaut
permet d'éviter de refaire cette sélection à chaque fois ». A saved filter
is a Basic of the IG's mrtc-dashboard-filter profile (decision 0037).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import AppClient, loaded_app
from tests.operations.dashboard_world import PRINCIPALS, transaction
from tests.operations.test_dashboard import dashboard, plans

pytestmark = pytest.mark.asyncio(loop_scope="session")
PROFILE = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-dashboard-filter"
EXTENSION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-saved-filter"
CODE = {
    "coding": [
        {
            "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-dashboard",
            "code": "saved-filter",
        }
    ]
}


def saved_filter(
    owner: str, name: str, *criteria: str, default: bool | None = None, **extra: Any
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": "name", "valueString": name}]
    if default is not None:
        parts.append({"url": "default", "valueBoolean": default})
    parts += [{"url": "criterion", "valueString": c} for c in criteria]
    return {
        "resourceType": "Basic",
        "meta": {"profile": [PROFILE]},
        "extension": [{"url": EXTENSION, "extension": parts}],
        "code": CODE,
        "author": {"reference": owner},
        **extra,
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    async with loaded_app(mongo_uri, transaction()) as server:
        yield server


async def create(world: AppClient, who: str, body: dict[str, Any]) -> Any:
    async with world.client_for(PRINCIPALS[who]) as c:
        return await c.post("/Basic", json=body)


def msg_ids(outcome: dict[str, Any]) -> list[str]:
    return [i.get("details", {}).get("coding", [{}])[0].get("code") for i in outcome["issue"]]


async def test_the_default_filter_applies_when_no_criterion_is_given(world: AppClient) -> None:
    coord = PRINCIPALS["coordinator"]
    r = await create(
        world, "coordinator", saved_filter(coord, "En pause", "status=on-hold", default=True)
    )
    assert r.status_code == 201, r.text
    filter_id = r.json()["id"]
    body = await dashboard(world, "coordinator")
    assert plans(body) == ["CarePlan/cp-zoe"]
    used = [p["valueReference"] for p in body["parameter"] if p["name"] == "appliedFilter"]
    assert used == [{"reference": f"Basic/{filter_id}"}]
    # criteria given in the call replace the default filter
    explicit = await dashboard(world, "coordinator", "?status=active")
    assert plans(explicit) == ["CarePlan/cp-lea"]
    assert not [p for p in explicit["parameter"] if p["name"] == "appliedFilter"]
    # another person's dashboard is not affected by the coordinator's default
    assert plans(await dashboard(world, "dietitian")) == ["CarePlan/cp-lea"]


async def test_a_named_filter_applies_and_the_call_overrides_its_criteria(
    world: AppClient,
) -> None:
    coord = PRINCIPALS["coordinator"]
    r = await create(
        world,
        "coordinator",
        saved_filter(coord, "Tous", "status=active", "status=on-hold", "status=completed"),
    )
    assert r.status_code == 201, r.text
    filter_id = r.json()["id"]
    everything = await dashboard(world, "coordinator", f"?filter={filter_id}")
    assert sorted(plans(everything)) == [
        "CarePlan/cp-lea",
        "CarePlan/cp-zoe",
        "CarePlan/cp-zoe-old",
    ]
    narrowed = await dashboard(world, "coordinator", f"?filter={filter_id}&status=completed")
    assert plans(narrowed) == ["CarePlan/cp-zoe-old"]


async def test_a_saved_filter_is_private_to_its_owner(world: AppClient) -> None:
    coord = PRINCIPALS["coordinator"]
    r = await create(world, "coordinator", saved_filter(coord, "Privé", "status=active"))
    assert r.status_code == 201, r.text
    filter_id = r.json()["id"]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        read = await doc.get(f"/Basic/{filter_id}")
        listed = await doc.get(
            "/Basic?code=https://mrtc.example.org/fhir/CodeSystem/mrtc-dashboard|saved-filter"
        )
        used = await doc.get(f"/CarePlan/$dashboard?filter={filter_id}")
        changed = await doc.put(
            f"/Basic/{filter_id}",
            json=saved_filter(coord, "Volé", "status=completed") | {"id": filter_id},
        )
        deleted = await doc.delete(f"/Basic/{filter_id}")
    assert read.status_code == 404
    assert listed.status_code == 200 and "entry" not in listed.json()
    assert used.status_code == 404
    assert changed.status_code in (403, 404), changed.text
    assert deleted.status_code in (403, 404), deleted.text
    async with world.client_for(coord) as mine:
        still = await mine.get(f"/Basic/{filter_id}")
        own = await mine.get(
            "/Basic?code=https://mrtc.example.org/fhir/CodeSystem/mrtc-dashboard|saved-filter"
        )
    assert still.status_code == 200 and still.json()["meta"]["versionId"] == "1"
    assert filter_id in [e["resource"]["id"] for e in own.json()["entry"]]
    async with world.client_for(coord) as mine:
        renamed = await mine.put(
            f"/Basic/{filter_id}",
            json=saved_filter(coord, "Renommé", "status=active") | {"id": filter_id},
        )
        gone = await mine.delete(f"/Basic/{filter_id}")
        after = await mine.get(f"/Basic/{filter_id}")
    assert renamed.status_code == 200, renamed.text
    assert gone.status_code in (200, 204), gone.text
    assert after.status_code in (404, 410)  # a deleted version carries no access key


async def test_nobody_saves_a_filter_in_someone_elses_name(world: AppClient) -> None:
    r = await create(world, "doctor", saved_filter(PRINCIPALS["coordinator"], "Pour toi"))
    assert r.status_code == 403, r.text


async def test_a_second_default_is_refused_until_the_first_is_cleared(world: AppClient) -> None:
    doc = PRINCIPALS["doctor"]
    first = await create(world, "doctor", saved_filter(doc, "Un", "status=active", default=True))
    assert first.status_code == 201, first.text
    second = await create(
        world, "doctor", saved_filter(doc, "Deux", "status=on-hold", default=True)
    )
    assert second.status_code == 409, second.text
    assert "MRTC-DSH-011" in msg_ids(second.json())
    # moving the default in one transaction bundle: clear the first, mark the new one
    one = first.json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": saved_filter(doc, "Un", "status=active", default=False)
                | {"id": one["id"]},
                "request": {"method": "PUT", "url": f"Basic/{one['id']}"},
            },
            {  # PUTs run in entry order (a POST would run before the PUTs: refused)
                "resource": saved_filter(doc, "Deux", "status=on-hold", default=True)
                | {"id": "doc-default"},
                "request": {"method": "PUT", "url": "Basic/doc-default"},
            },
        ],
    }
    async with world.client_for(doc) as c:
        r = await c.post("/", json=bundle)
    assert r.status_code == 200, r.text
    assert plans(await dashboard(world, "doctor")) == ["CarePlan/cp-zoe"]


@pytest.mark.parametrize(
    ("body", "msg_id"),
    [
        (saved_filter("Practitioner/doc", "X", "assignee=Practitioner/doc"), "MRTC-DSH-010"),
        (saved_filter("Practitioner/doc", "X", "status"), "MRTC-DSH-010"),
        (
            {
                **saved_filter("Practitioner/doc", "X"),
                "extension": [
                    {
                        "url": EXTENSION,
                        "extension": [{"url": "criterion", "valueString": "status=active"}],
                    }
                ],
            },
            "MRTC-DSH-010",
        ),
        (
            saved_filter("Practitioner/doc", "X", default=True)
            | {
                "extension": [
                    {
                        "url": EXTENSION,
                        "extension": [
                            {"url": "name", "valueString": "X"},
                            {"url": "default", "valueString": "oui"},
                        ],
                    }
                ]
            },
            "MRTC-DSH-010",
        ),
        (saved_filter("Patient/lea", "X"), "MRTC-DSH-010"),
        (
            {k: v for k, v in saved_filter("Practitioner/doc", "X").items() if k != "extension"},
            "MRTC-DSH-010",
        ),
    ],
)
async def test_a_malformed_filter_is_refused_with_the_rule(
    world: AppClient, body: dict[str, Any], msg_id: str
) -> None:
    r = await create(world, "doctor", body)
    assert r.status_code in (400, 422), r.text
    assert msg_id in msg_ids(r.json()), r.json()


async def test_other_basic_resources_are_not_filters(world: AppClient) -> None:
    async with world.client_for() as system:
        r = await system.post("/Basic", json={"resourceType": "Basic", "code": {"text": "autre"}})
    assert r.status_code == 201, r.text
    other = r.json()["id"]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        read = await doc.get(f"/Basic/{other}")  # belongs to no patient: readable as before
        used = await doc.get(f"/CarePlan/$dashboard?filter={other}")
    assert read.status_code == 200
    assert used.status_code == 400 and "MRTC-DSH-004" in msg_ids(used.json())
