"""A request body's Content-Type is checked against the interaction; UTF-8 only.

Every refusal is a 415 OperationOutcome and writes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import patient

pytestmark = pytest.mark.asyncio(loop_scope="session")

SYSTEM = "urn:test:content"
PATIENT_JSON = orjson.dumps(patient())
PATCH_DOC = orjson.dumps([{"op": "replace", "path": "/gender", "value": "male"}])
MERGE_DOC = orjson.dumps({"gender": "male"})
BUNDLE = orjson.dumps({"resourceType": "Bundle", "type": "batch"})
FORM = b"name=Dupont"


def marked(marker: str) -> bytes:
    return orjson.dumps(patient(identifier=[{"system": SYSTEM, "value": marker}]))


REFUSED: list[tuple[str, str, str, str, bytes]] = [
    # id, method, url ({id}: an existing Patient), Content-Type, body
    ("create-as-json-patch", "POST", "/Patient", "application/json-patch+json", PATIENT_JSON),
    ("create-as-merge-patch", "POST", "/Patient", "application/merge-patch+json", PATIENT_JSON),
    ("create-as-form", "POST", "/Patient", "application/x-www-form-urlencoded", FORM),
    ("create-as-text", "POST", "/Patient", "text/plain", PATIENT_JSON),
    ("create-without-type", "POST", "/Patient", "", PATIENT_JSON),
    (
        "create-utf16-declared",
        "POST",
        "/Patient",
        "application/fhir+json; charset=utf-16",
        PATIENT_JSON,
    ),
    (
        "create-latin1-declared",
        "POST",
        "/Patient",
        "application/json;charset=ISO-8859-1",
        PATIENT_JSON,
    ),
    ("update-as-json-patch", "PUT", "/Patient/{id}", "application/json-patch+json", PATCH_DOC),
    ("patch-as-form", "PATCH", "/Patient/{id}", "application/x-www-form-urlencoded", FORM),
    ("patch-as-text", "PATCH", "/Patient/{id}", "text/plain", PATCH_DOC),
    (
        "patch-utf16-declared",
        "PATCH",
        "/Patient/{id}",
        "application/json-patch+json; charset=UTF-16",
        PATCH_DOC,
    ),
    ("bundle-as-merge-patch", "POST", "/", "application/merge-patch+json", BUNDLE),
    ("search-as-json", "POST", "/Patient/_search", "application/fhir+json", MERGE_DOC),
    ("operation-as-form", "POST", "/Patient/$validate", "application/x-www-form-urlencoded", FORM),
]


@pytest.mark.parametrize(
    ("method", "url", "content_type", "body"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
async def test_a_body_the_interaction_does_not_take_is_415(
    client: httpx.AsyncClient, method: str, url: str, content_type: str, body: bytes
) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    before = (await client.get("/Patient/_history", params={"_count": 1000})).json()
    headers = {"Content-Type": content_type} if content_type else {}
    r = await client.request(method, url.format(id=created["id"]), content=body, headers=headers)
    assert r.status_code == 415, r.text
    issue = r.json()["issue"][0]
    assert issue["code"] == "not-supported"
    assert issue["details"]["coding"][0]["code"] == "MRTC-HTTP-415"
    after = (await client.get("/Patient/_history", params={"_count": 1000})).json()
    assert len(after.get("entry", [])) == len(before.get("entry", []))  # nothing written


ACCEPTED: list[tuple[str, str, str, str, Any, int]] = [
    ("create-fhir-json", "POST", "/Patient", "application/fhir+json", None, 201),
    ("create-json", "POST", "/Patient", "application/json", None, 201),
    ("create-utf8-declared", "POST", "/Patient", "application/fhir+json; charset=UTF-8", None, 201),
    ("create-utf8-quoted", "POST", "/Patient", 'application/fhir+json;charset="utf-8"', None, 201),
    (
        "create-fhir-version",
        "POST",
        "/Patient",
        "application/fhir+json; fhirVersion=4.0",
        None,
        201,
    ),
    ("json-patch", "PATCH", "/Patient/{id}", "application/json-patch+json", PATCH_DOC, 200),
    ("merge-patch", "PATCH", "/Patient/{id}", "application/merge-patch+json", MERGE_DOC, 200),
    ("patch-plain-json", "PATCH", "/Patient/{id}", "application/json", PATCH_DOC, 200),
    ("search-form", "POST", "/Patient/_search", "application/x-www-form-urlencoded", FORM, 200),
    ("bundle", "POST", "/", "application/fhir+json", BUNDLE, 200),
]


@pytest.mark.parametrize(
    ("method", "url", "content_type", "body", "status"),
    [c[1:] for c in ACCEPTED],
    ids=[c[0] for c in ACCEPTED],
)
async def test_the_media_types_an_interaction_takes(
    client: httpx.AsyncClient, method: str, url: str, content_type: str, body: Any, status: int
) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    marker = uuid.uuid4().hex
    r = await client.request(
        method,
        url.format(id=created["id"]),
        content=body if body is not None else marked(marker),
        headers={"Content-Type": content_type},
    )
    assert r.status_code == status, r.text


async def test_a_search_form_body_is_still_read(client: httpx.AsyncClient) -> None:
    marker = uuid.uuid4().hex
    await client.post(
        "/Patient", content=marked(marker), headers={"Content-Type": "application/fhir+json"}
    )
    r = await client.post(
        "/Patient/_search",
        content=f"identifier={SYSTEM}|{marker}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and len(r.json()["entry"]) == 1
