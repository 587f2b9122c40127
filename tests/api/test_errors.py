"""Every error is an OperationOutcome with the right status, code and location.

Table-driven: each row is a request and the whole issue it must produce.
"""

from __future__ import annotations

import tempfile
from typing import Any

import httpx
import pytest

from fhir_server.storage.embedded import EmbeddedServer
from tests.conftest import AppClient, make_settings, patient

pytestmark = pytest.mark.asyncio(loop_scope="session")

JSON = {"Content-Type": "application/fhir+json"}

CASES: list[tuple[str, str, str, dict[str, str], Any, int, str, str, list[str] | None]] = [
    # id, method, url, headers, body, status, issue code, msg id, expression
    (
        "malformed-json",
        "POST",
        "/Patient",
        JSON,
        b'{"resourceType": "Patient",',
        400,
        "invalid",
        "MRTC-HTTP-400",
        None,
    ),
    ("unknown-type", "GET", "/Spaceship/1", {}, None, 404, "not-supported", "MRTC-REST-001", None),
    (
        "unknown-type-create",
        "POST",
        "/Spaceship",
        JSON,
        b"{}",
        404,
        "not-supported",
        "MRTC-REST-001",
        None,
    ),
    (
        "wrong-resource-type",
        "POST",
        "/Patient",
        JSON,
        b'{"resourceType": "Observation"}',
        400,
        "structure",
        "MRTC-REST-011",
        ["Patient.resourceType"],
    ),
    (
        "invalid-date",
        "POST",
        "/Patient",
        JSON,
        b'{"resourceType": "Patient", "birthDate": "31/12/2015"}',
        400,
        "value",
        "MRTC-REST-012",
        ["Patient.birthDate"],
    ),
    (
        "unknown-element",
        "POST",
        "/Patient",
        JSON,
        b'{"resourceType": "Patient", "shoeSize": 32}',
        400,
        "structure",
        "MRTC-REST-012",
        ["Patient.shoeSize"],
    ),
    (
        "wrong-type-in-list",
        "POST",
        "/Patient",
        JSON,
        b'{"resourceType": "Patient", "name": [{"given": "Lea"}]}',
        400,
        "structure",
        "MRTC-REST-012",
        ["Patient.name[0].given"],
    ),
    (
        "body-not-object",
        "POST",
        "/Patient",
        JSON,
        b"[1, 2]",
        400,
        "structure",
        "MRTC-REST-010",
        None,
    ),
    (
        "put-id-mismatch",
        "PUT",
        "/Patient/abc",
        JSON,
        b'{"resourceType": "Patient", "id": "xyz"}',
        400,
        "structure",
        "MRTC-REST-061",
        ["Patient.id"],
    ),
    (
        "put-id-missing",
        "PUT",
        "/Patient/abc",
        JSON,
        b'{"resourceType": "Patient"}',
        400,
        "structure",
        "MRTC-REST-060",
        ["Patient.id"],
    ),
    (
        "not-found",
        "GET",
        "/Patient/does-not-exist",
        {},
        None,
        404,
        "not-found",
        "MRTC-REST-020",
        None,
    ),
    ("bad-id", "GET", "/Patient/has_underscore!", {}, None, 400, "invalid", "MRTC-REST-006", None),
    (
        "bad-version",
        "GET",
        "/Patient/abc/_history/x1",
        {},
        None,
        400,
        "invalid",
        "MRTC-REST-007",
        None,
    ),
    (
        "method-not-allowed",
        "DELETE",
        "/metadata",
        {},
        None,
        405,
        "not-supported",
        "MRTC-REST-005",
        None,
    ),
    (
        "method-not-allowed-history",
        "POST",
        "/Patient/abc/_history",
        JSON,
        b"{}",
        405,
        "not-supported",
        "MRTC-REST-005",
        None,
    ),
    (
        "unsupported-media-type",
        "POST",
        "/Patient",
        {"Content-Type": "text/turtle"},
        b"[] a fhir:Patient .",
        415,
        "not-supported",
        "MRTC-HTTP-415",
        None,
    ),
    (
        "not-acceptable",
        "GET",
        "/metadata",
        {"Accept": "text/turtle"},
        None,
        406,
        "not-supported",
        "MRTC-HTTP-406",
        None,
    ),
    (
        "not-acceptable-format",
        "GET",
        "/metadata?_format=ttl",
        {},
        None,
        406,
        "not-supported",
        "MRTC-HTTP-406",
        None,
    ),
    (
        "bad-if-match",
        "PUT",
        "/Patient/abc",
        {**JSON, "If-Match": "yesterday"},
        b'{"resourceType": "Patient", "id": "abc"}',
        400,
        "invalid",
        "MRTC-REST-030",
        None,
    ),
    (
        "no-such-operation",
        "GET",
        "/Patient/$frobnicate",
        {},
        None,
        404,
        "not-found",
        "MRTC-OP-101",
        None,
    ),
    (
        "bad-patch-doc",
        "PATCH",
        "/Patient/abc",
        {"Content-Type": "application/json-patch+json"},
        b'{"op": "add"}',
        400,
        "invalid",
        "MRTC-REST-071",
        None,
    ),
    (
        "patch-xml",
        "PATCH",
        "/Patient/abc",
        {"Content-Type": "application/xml-patch+xml"},
        b"<x/>",
        415,
        "not-supported",
        "MRTC-HTTP-415",
        None,
    ),
    (
        "bundle-wrong-type",
        "POST",
        "/",
        JSON,
        b'{"resourceType": "Bundle", "type": "collection"}',
        400,
        "invalid",
        "MRTC-BNDL-005",
        ["Bundle.type"],
    ),
]


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "status", "code", "msg_id", "expression"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
async def test_error_table(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
    code: str,
    msg_id: str,
    expression: list[str] | None,
) -> None:
    r = await client.request(method, url, headers=headers, content=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert issue["code"] == code
    assert issue["details"]["coding"][0]["code"] == msg_id
    assert issue["diagnostics"]
    assert "Traceback" not in r.text
    if expression is not None:
        assert issue["expression"] == expression


async def test_405_names_the_allowed_methods(client: httpx.AsyncClient) -> None:
    r = await client.delete("/metadata")
    assert r.headers["allow"] == "GET"


async def test_invalid_resource_reports_every_problem(client: httpx.AsyncClient) -> None:
    body = {"resourceType": "Patient", "birthDate": "2015-13-45", "gender": 3, "foo": 1}
    r = await client.post("/Patient", json=body)
    assert r.status_code == 400
    locations = sorted(i["expression"][0] for i in r.json()["issue"])
    assert locations == ["Patient.birthDate", "Patient.foo", "Patient.gender"]


async def test_bad_input_loses_nothing(client: httpx.AsyncClient) -> None:
    created = (await client.post("/Patient", json=patient())).json()
    url = f"/Patient/{created['id']}"
    bad = {**created, "birthDate": "nope"}
    assert (await client.put(url, json=bad)).status_code == 400
    assert (await client.put(url, content=b"{oops", headers=JSON)).status_code == 400
    current = await client.get(url)
    assert current.json() == created


async def test_oversize_body_is_413(mongo_uri: str) -> None:
    async with AppClient(make_settings(mongo_uri, max_body_bytes=2048)) as http:
        big = patient(text={"status": "generated", "div": "<div>" + "x" * 4000 + "</div>"})
        r = await http.post("/Patient", json=big)
        assert r.status_code == 413
        assert r.json()["issue"][0]["code"] == "too-long"
        small = await http.post("/Patient", json=patient())
        assert small.status_code == 201


async def test_database_unreachable_is_503() -> None:
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedServer(data).start()
        settings = make_settings(server.uri, db_timeout_ms=500)
        # the temporary database goes with its directory: nothing to drop at the end (the
        # drop raced the restart below under the test's 0.5 s server-selection timeout)
        async with AppClient(settings, drop=False) as http:
            assert (await http.get("/readyz")).status_code == 200
            server.stop()
            r = await http.get("/Patient/abc")
            assert r.status_code == 503
            assert r.json()["issue"][0]["code"] == "transient"
            assert r.headers["retry-after"] == "2"
            assert (await http.get("/readyz")).status_code == 503
            assert (await http.get("/healthz")).status_code == 200
            server.start()  # back for the app's shutdown
        server.stop()


async def test_health_and_request_id_echo(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "abc-123"
    assert (await client.get("/readyz")).status_code == 200
