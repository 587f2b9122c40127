"""GET /metadata states exactly what the server implements."""

from __future__ import annotations

import httpx
import pytest

from fhir_server.resource_types import SUPPORTED_TYPES

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_capability_statement(client: httpx.AsyncClient) -> None:
    r = await client.get("/metadata")
    assert r.status_code == 200
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["kind"] == "instance"
    assert "application/fhir+json" in cs["format"]
    rest = cs["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {
        "transaction",
        "batch",
        "search-system",
        "history-system",
    }
    types = [r["type"] for r in rest["resource"]]
    assert types == list(SUPPORTED_TYPES)
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert patient["versioning"] == "versioned-update"
    assert patient["conditionalCreate"] is True
    assert patient["conditionalDelete"] == "single"
    assert {i["code"] for i in patient["interaction"]} >= {"read", "vread", "patch", "delete"}
    codes = {p["name"] for p in patient["searchParam"]}
    assert {"identifier", "family", "birthdate", "_id"} <= codes


async def test_every_listed_type_is_readable(client: httpx.AsyncClient) -> None:
    """No more than implemented: each listed type answers a read with 404, not 500."""
    cs = (await client.get("/metadata")).json()
    for entry in cs["rest"][0]["resource"][:40]:
        r = await client.get(f"/{entry['type']}/nope")
        assert r.status_code == 404, entry["type"]
