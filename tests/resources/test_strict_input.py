"""Strict FHIR JSON on every write path: invalid FHIR is refused, located, and not stored.

Table-driven: each case is a change that makes a valid resource invalid under the
R4 JSON rules, and the element the OperationOutcome must name. Each is sent
through POST, PUT, JSON Patch, JSON Merge Patch, a batch entry and a transaction
entry; each must answer 400 with an issue naming the element (msg id
MRTC-REST-012) and leave the database as it was.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")

SYSTEM = "urn:test:strict-input"
ABSENT = object()  # the case removes the element
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def valid(type_: str, marker: str) -> dict[str, Any]:
    identifier = [{"system": SYSTEM, "value": marker}]
    if type_ == "Observation":
        return {
            "resourceType": "Observation",
            "identifier": identifier,
            "status": "final",
            "code": {"text": "weight"},
            "valueQuantity": {"value": 30.5, "unit": "kg"},
        }
    return {
        "resourceType": "Patient",
        "identifier": identifier,
        "name": [{"family": "Valide", "given": ["Léa"]}],
        "gender": "female",
        "birthDate": "2015-03-04",
    }


CASES: list[tuple[str, str, dict[str, Any], str]] = [
    # id, type, elements set (or removed) on a valid resource, element named
    ("boolean-as-string", "Patient", {"active": "yes"}, "Patient.active"),
    ("boolean-as-number", "Patient", {"active": 0}, "Patient.active"),
    ("integer-as-string", "Patient", {"multipleBirthInteger": "5"}, "Patient.multipleBirthInteger"),
    (
        "integer-as-boolean",
        "Patient",
        {"multipleBirthInteger": True},
        "Patient.multipleBirthInteger",
    ),
    (
        "integer-with-fraction",
        "Patient",
        {"multipleBirthInteger": 2.5},
        "Patient.multipleBirthInteger",
    ),
    (
        "integer-out-of-range",
        "Patient",
        {"multipleBirthInteger": 2**31},
        "Patient.multipleBirthInteger",
    ),
    (
        "decimal-as-string",
        "Observation",
        {"valueQuantity": {"value": "5.5", "unit": "kg"}},
        "Observation.valueQuantity.value",
    ),
    ("empty-array", "Patient", {"name": []}, "Patient.name"),
    ("null", "Patient", {"gender": None}, "Patient.gender"),
    ("null-in-array", "Patient", {"name": [{"given": ["Ann", None]}]}, "Patient.name[0].given[1]"),
    ("empty-object", "Patient", {"name": [{}]}, "Patient.name[0]"),
    ("only-an-id", "Patient", {"name": [{"id": "n1"}]}, "Patient.name[0]"),
    (
        "control-character",
        "Patient",
        {"name": [{"family": "a\u0000b"}]},
        "Patient.name[0].family",
    ),
    ("empty-string", "Patient", {"gender": ""}, "Patient.gender"),
    ("code-with-outer-space", "Patient", {"gender": "female "}, "Patient.gender"),
    ("date-not-in-calendar", "Patient", {"birthDate": "2015-02-30"}, "Patient.birthDate"),
    ("date-as-number", "Patient", {"birthDate": 2015}, "Patient.birthDate"),
    ("unknown-element", "Patient", {"shoeSize": 32}, "Patient.shoeSize"),
    (
        "primitive-extension-checked",
        "Patient",
        {"_active": {"extension": [{"url": "http://example.org/x", "valueBoolean": "yes"}]}},
        "Patient.active.extension[0].valueBoolean",
    ),
    (
        "primitive-array-misaligned",
        "Patient",
        {"name": [{"given": ["Ann"], "_given": [None, {"id": "x"}]}]},
        "Patient.name[0].given",
    ),
    (
        "extension-value-and-children",
        "Patient",
        {
            "extension": [
                {
                    "url": "http://example.org/x",
                    "valueString": "a",
                    "extension": [{"url": "y", "valueCode": "b"}],
                }
            ]
        },
        "Patient.extension[0]",
    ),
    (
        "two-choices",
        "Patient",
        {"deceasedBoolean": False, "deceasedDateTime": "2020-01-01"},
        "Patient.deceasedDateTime",
    ),
    ("single-as-array", "Patient", {"gender": ["female"]}, "Patient.gender"),
    ("array-as-single", "Patient", {"name": {"family": "X"}}, "Patient.name"),
    (
        "contained-checked",
        "Patient",
        {"contained": [{"resourceType": "Organization", "id": "o1", "active": "yes"}]},
        "Patient.contained[0].active",
    ),
    ("required-missing", "Observation", {"status": ABSENT}, "Observation.status"),
]

PATHS = ["post", "put", "json-patch", "merge-patch", "batch", "transaction"]
# A merge patch's null removes the element: sending it is a valid patch, not a null.
NOT_APPLICABLE = {("null", "merge-patch")}


def apply(resource: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(resource)
    for key, value in change.items():
        if value is ABSENT:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def issue_naming(outcome: dict[str, Any], element: str) -> dict[str, Any]:
    assert outcome["resourceType"] == "OperationOutcome"
    for issue in outcome["issue"]:
        if element in issue.get("expression", []):
            return issue
    raise AssertionError(f"no issue names {element}: {outcome}")


async def stored(client: httpx.AsyncClient, type_: str, marker: str) -> int:
    r = await client.get(f"/{type_}", params={"identifier": f"{SYSTEM}|{marker}"})
    assert r.status_code == 200, r.text
    return len(r.json().get("entry", []))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("case", "type_", "change", "element"), CASES, ids=[c[0] for c in CASES])
async def test_invalid_fhir_is_refused_and_not_stored(
    client: httpx.AsyncClient,
    path: str,
    case: str,
    type_: str,
    change: dict[str, Any],
    element: str,
) -> None:
    if (case, path) in NOT_APPLICABLE:
        pytest.skip("not an invalid request on this path")
    marker = uuid.uuid4().hex
    good = valid(type_, marker)
    bad = apply(good, change)

    if path == "post":
        r = await client.post(f"/{type_}", json=bad)
        outcome = r.json()
        assert r.status_code == 400, r.text
        assert await stored(client, type_, marker) == 0
    elif path == "put":
        id_ = uuid.uuid4().hex
        r = await client.put(f"/{type_}/{id_}", json={**bad, "id": id_})
        outcome = r.json()
        assert r.status_code == 400, r.text
        assert (await client.get(f"/{type_}/{id_}")).status_code == 404
    elif path in ("json-patch", "merge-patch"):
        created = (await client.post(f"/{type_}", json=good)).json()
        url = f"/{type_}/{created['id']}"
        if path == "json-patch":
            ops = [
                {"op": "remove", "path": f"/{k}"}
                if v is ABSENT
                else {"op": "add", "path": f"/{k}", "value": v}
                for k, v in change.items()
            ]
            r = await client.patch(url, json=ops, headers=JSON_PATCH)
        else:
            merge = {k: None if v is ABSENT else v for k, v in change.items()}
            r = await client.patch(url, json=merge, headers=MERGE_PATCH)
        outcome = r.json()
        assert r.status_code == 400, r.text
        assert (await client.get(url)).json() == created  # nothing lost, nothing added
    elif path == "batch":
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"resource": bad, "request": {"method": "POST", "url": type_}}],
        }
        r = await client.post("/", json=bundle)
        assert r.status_code == 200, r.text
        response = r.json()["entry"][0]["response"]
        assert response["status"] == "400 Bad Request"
        outcome = response["outcome"]
        assert await stored(client, type_, marker) == 0
    else:
        other = uuid.uuid4().hex
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": valid("Patient", other),
                    "request": {"method": "POST", "url": "Patient"},
                },
                {"resource": bad, "request": {"method": "POST", "url": type_}},
            ],
        }
        r = await client.post("/", json=bundle)
        outcome = r.json()
        assert r.status_code == 400, r.text
        assert "Bundle.entry[1]" in issue_naming(outcome, element)["expression"]
        assert await stored(client, type_, marker) == 0
        assert await stored(client, "Patient", other) == 0  # all or nothing

    issue = issue_naming(outcome, element)
    assert issue["severity"] == "error"
    assert issue["details"]["coding"][0]["code"] == "MRTC-REST-012"
    assert element in issue["diagnostics"]


async def test_valid_edge_cases_are_stored_exactly_as_sent(client: httpx.AsyncClient) -> None:
    """What the rules allow is kept verbatim: aligned nulls, a non-breaking space, numbers."""
    marker = uuid.uuid4().hex
    body = valid("Patient", marker)
    body["name"] = [
        {
            "family": "Martin\u00a0Durand",  # French typography: a non-breaking space
            "given": ["Ann", None],
            "_given": [None, {"extension": [{"url": "http://example.org/x", "valueCode": "b"}]}],
        }
    ]
    body["multipleBirthInteger"] = 2
    body["_birthDate"] = {"id": "bd"}  # an id beside a value is enough
    body["extension"] = [
        {"url": "http://example.org/outer", "extension": [{"url": "inner", "valueDecimal": 1.5}]}
    ]
    body["text"] = {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">line 1\r\n\tline 2</div>',
    }
    r = await client.post("/Patient", json=body)
    assert r.status_code == 201, r.text
    served = (await client.get(f"/Patient/{r.json()['id']}")).json()
    for key, value in body.items():
        assert served[key] == value


DUPLICATES: list[tuple[str, bytes]] = [
    ("post", b'{"resourceType": "Patient", "active": true, "active": false}'),
    ("post-nested", b'{"resourceType": "Patient", "name": [{"family": "A", "family": "B"}]}'),
    (
        "post-escaped",
        b'{"resourceType": "Patient", "gender": "male", "gend\\u0065r": "female"}',
    ),
    ("json-patch", b'[{"op": "add", "path": "/active", "path": "/gender", "value": "male"}]'),
    ("merge-patch", b'{"gender": "male", "gender": "other"}'),
    (
        "transaction",
        b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"request": '
        b'{"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient", '
        b'"birthDate": "2015-01-01", "birthDate": "2016-01-01"}}]}',
    ),
]


@pytest.mark.parametrize(("path", "raw"), DUPLICATES, ids=[d[0] for d in DUPLICATES])
async def test_duplicate_keys_are_a_400(client: httpx.AsyncClient, path: str, raw: bytes) -> None:
    before = (await client.get("/Patient/_history", params={"_count": 1000})).json()
    if path in ("json-patch", "merge-patch"):
        created = (await client.post("/Patient", json=valid("Patient", uuid.uuid4().hex))).json()
        headers = JSON_PATCH if path == "json-patch" else MERGE_PATCH
        r = await client.patch(f"/Patient/{created['id']}", content=raw, headers=headers)
        assert (await client.get(f"/Patient/{created['id']}")).json() == created
    else:
        url = "/" if path == "transaction" else "/Patient"
        r = await client.post(url, content=raw, headers={"Content-Type": "application/fhir+json"})
        after = (await client.get("/Patient/_history", params={"_count": 1000})).json()
        assert len(after.get("entry", [])) == len(before.get("entry", []))
    assert r.status_code == 400, r.text
    issue = r.json()["issue"][0]
    assert issue["code"] == "invalid"
    assert issue["details"]["coding"][0]["code"] == "MRTC-JSON-001"


async def test_a_string_holding_quote_colon_is_not_a_duplicate(client: httpx.AsyncClient) -> None:
    """The cheap duplicate-key count must not refuse text that merely contains '":'."""
    raw = b'{"resourceType": "Patient", "name": [{"text": "say \\": hello", "family": "A"}]}'
    r = await client.post(
        "/Patient", content=raw, headers={"Content-Type": "application/fhir+json"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"][0]["text"] == 'say ": hello'


ENVELOPES: list[tuple[str, dict[str, Any], str]] = [
    # id, a batch or transaction Bundle's own elements, element named
    (
        "entry-not-an-array",
        {"entry": {"request": {"method": "GET", "url": "Patient"}}},
        "Bundle.entry",
    ),
    ("entry-empty", {"entry": []}, "Bundle.entry"),
    ("unknown-bundle-element", {"foo": 1}, "Bundle.foo"),
    ("bad-timestamp", {"timestamp": "yesterday"}, "Bundle.timestamp"),
]


@pytest.mark.parametrize("kind", ["batch", "transaction"])
@pytest.mark.parametrize(
    ("extra", "element"), [e[1:] for e in ENVELOPES], ids=[e[0] for e in ENVELOPES]
)
async def test_the_bundle_itself_is_checked(
    client: httpx.AsyncClient, kind: str, extra: dict[str, Any], element: str
) -> None:
    r = await client.post("/", json={"resourceType": "Bundle", "type": kind, **extra})
    assert r.status_code == 400, r.text
    assert issue_naming(r.json(), element)["details"]["coding"][0]["code"] == "MRTC-REST-012"


@pytest.mark.parametrize("kind", ["batch", "transaction"])
async def test_each_entry_envelope_is_checked(client: httpx.AsyncClient, kind: str) -> None:
    marker = uuid.uuid4().hex
    entry = {
        "resource": valid("Patient", marker),
        "request": {"method": "POST", "url": "Patient", "ifNoneExist": ""},
        "search": {"mode": "match", "score": "high"},
    }
    r = await client.post("/", json={"resourceType": "Bundle", "type": kind, "entry": [entry]})
    if kind == "batch":
        assert r.status_code == 200, r.text
        response = r.json()["entry"][0]["response"]
        assert response["status"] == "400 Bad Request"
        outcome = response["outcome"]
    else:
        assert r.status_code == 400, r.text
        outcome = r.json()
    issue_naming(outcome, "Bundle.entry[0].request.ifNoneExist")  # empty string
    issue_naming(outcome, "Bundle.entry[0].search.score")  # a decimal sent as a string
    assert await stored(client, "Patient", marker) == 0
