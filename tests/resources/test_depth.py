"""Nesting: bodies and resources deeper than FHIR_MAX_DEPTH are a 400, never a 500.

JSON nests 1,024 levels before orjson refuses it, the database about 100, and
Python's recursion limit sits in between; the server refuses anything deeper
than its documented limit (64 by default) before any of them is reached. Depth
counts objects and arrays: ``{"a": [{}]}`` is 3 levels deep.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SYSTEM = "urn:test:depth"
LIMIT = 64  # the default FHIR_MAX_DEPTH


def nested_extension(levels: int, innermost: dict[str, Any]) -> dict[str, Any]:
    """``levels`` extensions each holding the next; the last holds ``innermost``."""
    ext: dict[str, Any] = {"url": "http://example.org/level", **innermost}
    for _ in range(levels - 1):
        ext = {"url": "http://example.org/level", "extension": [ext]}
    return ext


def deep_patient(
    levels: int, marker: str, innermost: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Valid FHIR, 2 * levels + 1 deep (+1 when ``innermost`` holds an object)."""
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYSTEM, "value": marker}],
        "extension": [nested_extension(levels, innermost or {"valueString": "deep"})],
    }


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def nested_objects(levels: int) -> bytes:
    """``{"resourceType": "Patient", "x": {"x": ...}}`` without recursion limits."""
    head = b'{"resourceType": "Patient", "x": ' + b'{"x": ' * (levels - 2) + b"{}"
    return head + b"}" * (levels - 1)


async def count(client: httpx.AsyncClient, marker: str) -> int:
    r = await client.get("/Patient", params={"identifier": f"{SYSTEM}|{marker}"})
    return len(r.json().get("entry", []))


async def test_a_resource_at_the_limit_is_stored(client: httpx.AsyncClient) -> None:
    marker = uuid.uuid4().hex
    body = deep_patient(31, marker, {"valueCoding": {"code": "x"}})
    assert depth(body) == LIMIT
    r = await client.post("/Patient", json=body)
    assert r.status_code == 201, r.text
    assert (await client.get(f"/Patient/{r.json()['id']}")).json()["extension"] == body["extension"]


@pytest.mark.parametrize("levels", [65, 120, 300, 1000, 1024, 1025, 5000])
async def test_deeper_bodies_are_refused_before_the_database(
    client: httpx.AsyncClient, levels: int
) -> None:
    raw = nested_objects(levels)
    r = await client.post(
        "/Patient", content=raw, headers={"Content-Type": "application/fhir+json"}
    )
    assert r.status_code == 400, r.text
    issue = r.json()["issue"][0]
    # past orjson's own limit (1,024) the body is malformed JSON; below it, too deep
    expected = "MRTC-HTTP-400" if levels > 1024 else "MRTC-JSON-002"
    assert issue["details"]["coding"][0]["code"] == expected
    if levels <= 1024:
        assert f"deeper than {LIMIT} levels" in issue["diagnostics"]


@pytest.mark.parametrize("where", ["post", "put", "batch", "transaction"])
@pytest.mark.parametrize("levels", [60, 150])  # 121 levels were stored, 301 were a 500
async def test_deep_valid_fhir_is_refused_on_every_write_path(
    client: httpx.AsyncClient, where: str, levels: int
) -> None:
    marker = uuid.uuid4().hex
    body = deep_patient(levels, marker)  # valid FHIR, 2 * levels + 1 deep
    if where == "post":
        r = await client.post("/Patient", json=body)
    elif where == "put":
        r = await client.put(f"/Patient/{marker}", json={**body, "id": marker})
    else:
        entry = {"resource": body, "request": {"method": "POST", "url": "Patient"}}
        r = await client.post("/", json={"resourceType": "Bundle", "type": where, "entry": [entry]})
    assert r.status_code == 400, r.text
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "MRTC-JSON-002"
    assert await count(client, marker) == 0


async def test_a_patch_cannot_build_what_a_body_could_not_carry(client: httpx.AsyncClient) -> None:
    """Each body is within the limit; the patched resource would not be."""
    marker = uuid.uuid4().hex
    created = (await client.post("/Patient", json=deep_patient(20, marker))).json()
    url = f"/Patient/{created['id']}"
    innermost = "/extension/0" + "/extension/0" * 19
    ops = [
        {"op": "replace", "path": innermost, "value": nested_extension(20, {"valueString": "x"})}
    ]
    assert depth(ops) < LIMIT
    r = await client.patch(url, json=ops, headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 400, r.text
    codes = {i["details"]["coding"][0]["code"] for i in r.json()["issue"]}
    assert "MRTC-JSON-002" in codes
    assert (await client.get(url)).json() == created
    # the same inside a transaction, as a Binary
    data = base64.b64encode(orjson.dumps(ops)).decode()
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": binary, "request": {"method": "PATCH", "url": url[1:]}}],
    }
    r = await client.post("/", json=bundle)
    assert r.status_code == 400, r.text
    assert (await client.get(url)).json() == created


async def test_the_limit_is_a_setting(mongo_uri: str) -> None:
    async with AppClient(make_settings(mongo_uri, max_depth=16)) as http:
        marker = uuid.uuid4().hex
        r = await http.post("/Patient", json=deep_patient(8, marker))  # 17 levels
        assert r.status_code == 400
        assert "deeper than 16 levels" in r.json()["issue"][0]["diagnostics"]
        assert (await http.post("/Patient", json=deep_patient(7, marker))).status_code == 201
