"""A bad JSON Patch is a 400 (malformed) or a 422 (does not fit), never a 500.

Each case goes through PATCH [type]/[id], a transaction PATCH entry and a batch
PATCH entry (the patch in a Binary), and the resource must be left untouched.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import patient

pytestmark = pytest.mark.asyncio(loop_scope="session")

JSON_PATCH = "application/json-patch+json"

CASES: list[tuple[str, list[dict[str, Any]], int, str]] = [
    # id, patch, status, msg id
    (
        "no-leading-slash",
        [{"op": "replace", "path": "gender", "value": "male"}],
        400,
        "MRTC-REST-071",
    ),
    ("path-not-a-string", [{"op": "replace", "path": 5, "value": "male"}], 400, "MRTC-REST-071"),
    ("bad-escape", [{"op": "remove", "path": "/a~2b"}], 400, "MRTC-REST-071"),
    ("unknown-op", [{"op": "frobnicate", "path": "/gender"}], 400, "MRTC-REST-071"),
    ("no-op", [{"path": "/gender", "value": "male"}], 400, "MRTC-REST-071"),
    ("add-without-value", [{"op": "add", "path": "/active"}], 400, "MRTC-REST-071"),
    ("from-without-slash", [{"op": "copy", "from": "gender", "path": "/x"}], 400, "MRTC-REST-071"),
    (
        "into-nothing",
        [{"op": "replace", "path": "/name/5/family", "value": "X"}],
        422,
        "MRTC-REST-072",
    ),
    ("into-a-primitive", [{"op": "add", "path": "/gender/x", "value": 1}], 422, "MRTC-REST-072"),
    (
        "index-not-a-number",
        [{"op": "replace", "path": "/name/abc", "value": {}}],
        422,
        "MRTC-REST-072",
    ),
    ("index-with-leading-zero", [{"op": "remove", "path": "/name/00"}], 422, "MRTC-REST-072"),
    (
        "past-the-end-of-a-list",
        [{"op": "add", "path": "/name/-/x", "value": 1}],
        422,
        "MRTC-REST-072",
    ),
    ("remove-what-is-absent", [{"op": "remove", "path": "/active"}], 422, "MRTC-REST-072"),
    ("failed-test", [{"op": "test", "path": "/gender", "value": "male"}], 422, "MRTC-REST-072"),
    (
        "move-into-itself",
        [{"op": "move", "from": "/name", "path": "/name/0"}],
        422,
        "MRTC-REST-072",
    ),
]


def binary(patch: Any, content_type: Any = JSON_PATCH) -> dict[str, Any]:
    data = base64.b64encode(orjson.dumps(patch)).decode()
    return {"resourceType": "Binary", "contentType": content_type, "data": data}


def entry(url: str, resource: Any) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "PATCH", "url": url}}


@pytest.mark.parametrize("where", ["direct", "transaction", "batch"])
@pytest.mark.parametrize(
    ("patch", "status", "msg_id"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_bad_json_patch(
    client: httpx.AsyncClient, where: str, patch: list[dict[str, Any]], status: int, msg_id: str
) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    url = f"Patient/{created['id']}"
    if where == "direct":
        r = await client.patch(f"/{url}", json=patch, headers={"Content-Type": JSON_PATCH})
        assert r.status_code == status, r.text
        issue = r.json()["issue"][0]
    elif where == "transaction":
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [entry(url, binary(patch))],
        }
        r = await client.post("/", json=bundle)
        assert r.status_code == status, r.text
        issue = r.json()["issue"][0]
        assert issue["expression"][0] == "Bundle.entry[0]"
    else:
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry(url, binary(patch))]}
        r = await client.post("/", json=bundle)
        assert r.status_code == 200, r.text
        response = r.json()["entry"][0]["response"]
        assert response["status"].startswith(str(status)), response
        issue = response["outcome"]["issue"][0]
    assert issue["details"]["coding"][0]["code"] == msg_id
    assert (await client.get(f"/{url}")).json() == created


BINARIES: list[tuple[str, Any, str]] = [
    # id, entry.resource, element or message the error names
    ("not-a-binary", {"resourceType": "Patient"}, "Binary"),
    (
        "data-not-base64",
        {"resourceType": "Binary", "contentType": JSON_PATCH, "data": "@@@"},
        "Binary.data",
    ),
    (
        "data-a-number",
        {"resourceType": "Binary", "contentType": JSON_PATCH, "data": 5},
        "Binary.data",
    ),
    ("no-content-type", {"resourceType": "Binary", "data": "W10="}, "Binary.contentType"),
    (
        "content-type-a-number",
        {"resourceType": "Binary", "contentType": 5, "data": "W10="},
        "Binary.contentType",
    ),
    ("no-data", {"resourceType": "Binary", "contentType": JSON_PATCH}, "base64 JSON"),
    (
        "data-not-json",
        {
            "resourceType": "Binary",
            "contentType": JSON_PATCH,
            "data": base64.b64encode(b"{oops").decode(),
        },
        "not valid JSON",
    ),
    ("unsupported-patch-format", binary([], "application/fhir+xml"), "FHIRPath Patch"),
]


@pytest.mark.parametrize("kind", ["transaction", "batch"])
@pytest.mark.parametrize(
    ("resource", "named"), [b[1:] for b in BINARIES], ids=[b[0] for b in BINARIES]
)
async def test_bad_patch_entry_binary(
    client: httpx.AsyncClient, kind: str, resource: Any, named: str
) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    url = f"Patient/{created['id']}"
    r = await client.post(
        "/", json={"resourceType": "Bundle", "type": kind, "entry": [entry(url, resource)]}
    )
    if kind == "transaction":
        assert 400 <= r.status_code < 500, r.text
        outcome = r.json()
    else:
        assert r.status_code == 200, r.text
        response = r.json()["entry"][0]["response"]
        assert response["status"][:1] == "4", response
        outcome = response["outcome"]
    text = orjson.dumps(outcome).decode()
    assert named in text, text
    assert (await client.get(f"/{url}")).json() == created
