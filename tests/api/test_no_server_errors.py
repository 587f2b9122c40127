"""No input answers 5xx: generated requests against the real server over real HTTP.

Hypothesis generates requests a careless or hostile client could send: bodies
that are almost FHIR (resources with mistyped, null, empty, deep or unknown
elements; JSON Patch and merge-patch documents; bundles with odd entries),
raw bytes and wrong media types, search query strings built from real
parameter names with prefixes, modifiers, chains and injection attempts,
odd ids, versions and conditional headers. Every answer must be a 4xx or 2xx
with a FHIR body; a 5xx (other than 503 for a database that went away, which
these tests never cause) is a defect. The number of requests each run made is
printed, for the record.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LiveServer

TYPES = ["Patient", "Observation", "Bundle", "CarePlan", "Task", "Basic", "Unicorn", "patient"]
FIELDS = [
    "resourceType", "id", "meta", "active", "name", "given", "family", "gender", "birthDate",
    "identifier", "system", "value", "status", "code", "coding", "subject", "reference",
    "valueQuantity", "unit", "effectiveDateTime", "extension", "url", "valueString",
    "_birthDate", "contained", "entry", "request", "method", "resource", "fullUrl", "text",
    "div", "multipleBirthInteger", "deceasedBoolean", "telecom", "$where", "__proto__",
]  # fmt: skip
SEARCH_PARAMS = [
    "_id", "_lastUpdated", "_count", "_sort", "_include", "_revinclude", "_summary",
    "_elements", "_total", "_cursor", "_type", "_has:Observation:subject:code", "family",
    "given", "name", "birthdate", "gender", "identifier", "subject", "subject.family",
    "patient", "code", "date", "value-quantity", "status", "family:exact", "given:wildcard",
    "name:contains", "code:not", "code:text", "subject:Patient", "birthdate:missing",
    "family:unknown", "_format", "_pretty",
]  # fmt: skip
PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "zz"]
CONTENT_TYPES = [
    "application/fhir+json",
    "application/json",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/fhir+xml",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/fhir+json; charset=utf-16",
    "",
]
COUNTS = {"requests": 0}

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=20)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.sampled_from(["2015-03-04", "2015-13-45", "Patient/1", "urn:uuid:x", "#c", "", " "]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS) | text, children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8))
    body["resourceType"] = draw(st.sampled_from(TYPES))
    return body


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    entries = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "request": st.fixed_dictionaries(
                        {
                            "method": st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
                            "url": st.sampled_from(
                                ["Patient", "Patient/1", "Observation?code=x", "", "/", "::"]
                            )
                            | text,
                        }
                    ),
                },
                optional={
                    "resource": resources() | json_values,
                    "fullUrl": st.sampled_from(["urn:uuid:1", "urn:uuid:1", "x"]) | text,
                },
            ),
            max_size=4,
        )
    )
    return {
        "resourceType": "Bundle",
        "type": draw(st.sampled_from(["transaction", "batch", "collection", "x"])),
        "entry": entries,
    }


def _patches() -> st.SearchStrategy[Any]:
    op = st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "replace", "remove", "move", "copy", "test", "x"]),
            "path": st.sampled_from(["/active", "gender", "/name/0/given/-", "/", "", "/a~2"])
            | text,
        },
        optional={"value": json_values, "from": st.sampled_from(["/name", "x"])},
    )
    return st.lists(op, max_size=4) | json_values


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, headers=live_server.headers, timeout=30) as client:
        created = client.post(
            "/Patient",
            json={"resourceType": "Patient", "id": "x", "name": [{"family": "Prop"}]},
            headers={"Content-Type": "application/fhir+json"},
        )
        assert created.status_code == 201
        yield client
    print(f"\nno-5xx property tests: {COUNTS['requests']} generated requests, no 5xx")


def _check(response: httpx.Response) -> None:
    COUNTS["requests"] += 1
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if (
        response.status_code >= 400
        and response.content  # HEAD answers carry no body
        and response.headers.get("content-type", "").startswith("application/fhir+json")
    ):
        assert response.json()["resourceType"] == "OperationOutcome"


# 300 per test in the suite; FHIR_TEST_PROPERTY_EXAMPLES=5000 for a long run.
PROFILE = settings(
    max_examples=int(os.environ.get("FHIR_TEST_PROPERTY_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@PROFILE
@given(
    type_=st.sampled_from(TYPES),
    body=resources() | json_values | bundles(),
    content_type=st.sampled_from(CONTENT_TYPES),
    method=st.sampled_from(["POST", "PUT"]),
    id_=st.sampled_from(["x", "new-id", "a b", "x" * 70, "..", "%00"]),
)
def test_writes_never_answer_5xx(
    http: httpx.Client, type_: str, body: Any, content_type: str, method: str, id_: str
) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    url = f"/{type_}" if method == "POST" else f"/{type_}/{id_}"
    headers = {"Content-Type": content_type} if content_type else {}
    _check(http.request(method, url, content=raw, headers=headers))


@PROFILE
@given(body=bundles(), content_type=st.sampled_from(CONTENT_TYPES[:2]))
def test_bundles_never_answer_5xx(http: httpx.Client, body: Any, content_type: str) -> None:
    _check(http.post("/", json=body, headers={"Content-Type": content_type}))


@PROFILE
@given(
    patch=_patches(),
    content_type=st.sampled_from(CONTENT_TYPES[:4]),
    if_match=st.sampled_from([None, 'W/"1"', '"x"', "*", ""]),
)
def test_patches_never_answer_5xx(
    http: httpx.Client, patch: Any, content_type: str, if_match: str | None
) -> None:
    headers = {"Content-Type": content_type}
    if if_match is not None:
        headers["If-Match"] = if_match
    _check(http.patch("/Patient/x", content=json.dumps(patch).encode(), headers=headers))


@PROFILE
@given(
    type_=st.sampled_from([*TYPES, ""]),
    params=st.lists(
        st.tuples(
            st.sampled_from(SEARCH_PARAMS) | text,
            st.tuples(
                st.sampled_from(PREFIXES),
                st.sampled_from(
                    [
                        "2015",
                        "2015-03-04",
                        "1985-06-30T10:00Z",
                        "http://x|1",
                        "Patient/x",
                        "5.5",
                        "kg",
                        "dup",
                        "%",
                        "T%se",
                        "\\,",
                        "$ne",
                        '{"$gt": ""}',
                        ".*",
                        "-birthdate",
                        "Observation:subject",
                        "*",
                        "count",
                        "true",
                        "-1",
                        "9" * 30,
                        "",
                    ]
                )
                | text,
            ).map("".join),
        ),
        max_size=5,
    ),
    strict=st.booleans(),
)
def test_searches_never_answer_5xx(
    http: httpx.Client, type_: str, params: list[tuple[str, str]], strict: bool
) -> None:
    headers = {"Prefer": "handling=strict"} if strict else {}
    _check(http.get(f"/{type_}", params=params, headers=headers))


@PROFILE
@given(
    path=st.lists(
        st.sampled_from(
            [
                "Patient",
                "x",
                "_history",
                "1",
                "$validate",
                "$everything",
                "metadata",
                "..",
                "_search",
            ]
        )
        | st.text(alphabet=string.printable, max_size=8),
        max_size=4,
    ).map("/".join),
    method=st.sampled_from(["GET", "HEAD", "DELETE", "OPTIONS", "POST"]),
    headers=st.dictionaries(
        st.sampled_from(
            ["If-None-Match", "If-Modified-Since", "If-None-Exist", "Accept", "Prefer", "If-Match"]
        ),
        st.sampled_from(["*", 'W/"1"', "garbage", "", "application/fhir+xml", "return=minimal"])
        | st.text(alphabet=string.printable, max_size=12),
        max_size=3,
    ),
)
def test_any_path_and_header_never_answers_5xx(
    http: httpx.Client, path: str, method: str, headers: dict[str, str]
) -> None:
    try:
        response = http.request(method, "/" + path, headers=headers)
    except (httpx.InvalidURL, httpx.LocalProtocolError):  # the client would not send it
        return
    _check(response)
