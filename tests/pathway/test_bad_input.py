"""Bad input to the pathway operations is a clear 4xx, never a 500, and loses nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AppClient
from tests.pathway.test_complete_step import attach
from tests.pathway.world import PLAN, PRINCIPALS

pytestmark = pytest.mark.asyncio(loop_scope="session")

BODIES: list[Any] = [
    {"resourceType": "Parameters", "parameter": [{"name": "trigger"}]},
    {"resourceType": "Parameters", "parameter": [{"name": "trigger", "part": "x"}]},
    {"resourceType": "Parameters", "parameter": [{"name": "trigger", "part": [1, 2]}]},
    {
        "resourceType": "Parameters",
        "parameter": [{"name": "trigger", "part": [{"name": "action", "valueInteger": 3}]}],
    },
    {
        "resourceType": "Parameters",
        "parameter": [{"name": "actualDate", "valueDateTime": "yesterday"}],
    },
    {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "actualDate", "valueString": "2026-01-01"},
            {"name": "actualDate", "valueString": "2026-01-02"},
        ],
    },
    {
        "resourceType": "Parameters",
        "parameter": [{"name": "businessStatus", "valueCoding": {"code": "flying"}}],
    },
    {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "businessStatus", "valueCoding": {"system": "urn:x", "code": "done"}}
        ],
    },
    {
        "resourceType": "Parameters",
        "parameter": [{"name": "document", "valueReference": {"reference": "Patient/lea"}}],
    },
    {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "document", "valueReference": {"reference": "DocumentReference/none"}}
        ],
    },
    {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaireResponse", "valueString": "QuestionnaireResponse/x"}],
    },
    {
        "resourceType": "Parameters",
        "parameter": [{"name": "report", "resource": {"resourceType": "Patient"}}],
    },
    {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "report",
                "resource": {"resourceType": "DocumentReference", "content": {"attachment": 1}},
            }
        ],
    },
    {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "report",
                "resource": {"resourceType": "DocumentReference", "category": "x", "content": []},
            }
        ],
    },
    {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "report",
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "content": [{"attachment": {"contentType": "text/plain"}}],
                },
            }
        ],
    },
    {"resourceType": "Patient"},
    [],
    "text",
]


@pytest.mark.parametrize("body", BODIES)
async def test_complete_step_bad_bodies(world: AppClient, body: Any) -> None:
    attached = await attach(world, f"bad-{abs(hash(repr(body))) % 10**8}")
    task = attached["steps"][("initial-msp", "transmit-report")]
    async with world.client_for(PRINCIPALS["doctor"]) as doc:
        r = await doc.post(f"/Task/{task['id']}/$complete-step", json=body)
        assert 400 <= r.status_code < 500, r.text
        assert r.json()["resourceType"] == "OperationOutcome"
        after = (await doc.get(f"/Task/{task['id']}")).json()
        assert after["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    "body",
    [
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "subject", "valueReference": {"reference": 3}}],
        },
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "subject", "valueString": "Patient/"}],
        },
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "subject", "valueString": "Patient/lea"},
                {"name": "workingDay", "valueCode": 5},
            ],
        },
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "subject", "valueString": "Patient/lea"},
                {"name": "organization", "valueString": "Organization/none"},
            ],
        },
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "subject", "valueString": "Patient/lea"},
                {
                    "name": "planDefinition",
                    "resource": {"resourceType": "PlanDefinition", "url": "urn:other"},
                },
            ],
        },
        [],
    ],
)
async def test_apply_bad_bodies(world: AppClient, body: Any) -> None:
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.post(f"/{PLAN}/$apply", json=body)
        assert 400 <= r.status_code < 500, r.text
        found = await coord.get("/CarePlan", params={"subject": "Patient/lea"})
        assert found.json().get("entry", []) == []


@pytest.mark.parametrize("op", ["$close", "$reopen"])
async def test_close_and_reopen_take_no_parameters(world: AppClient, op: str) -> None:
    async with world.client_for(PRINCIPALS["coordinator"]) as coord:
        r = await coord.post(
            f"/CarePlan/none/{op}",
            json={"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "y"}]},
        )
        assert r.status_code == 400
        r = await coord.post(f"/CarePlan/none/{op}")
        assert r.status_code in (403, 404)
