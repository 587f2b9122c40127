"""Which format a response is written in (https://hl7.org/fhir/R4/http.html#mime-type)."""

from __future__ import annotations

import pytest

from fhir_server.api.formats import choose
from fhir_server.errors import NotAcceptable

XML = "application/fhir+xml"
JSON = "application/fhir+json"

CHOSEN = [
    # id, _format, Accept, request Content-Type, chosen
    ("nothing-asked", None, None, None, JSON),
    ("wildcard", None, "*/*", None, JSON),
    ("format-xml", "xml", None, None, XML),
    ("format-json", "json", None, None, JSON),
    ("format-fhir-xml", "application/fhir+xml", None, None, XML),
    ("format-plus-decoded-as-space", "application/fhir xml", None, None, XML),
    ("format-generic-xml", "application/xml", None, None, "application/xml"),
    ("format-text-xml", "text/xml", None, None, "text/xml"),
    ("format-beats-accept", "json", XML, None, JSON),
    ("format-xml-beats-accept-json", "xml", JSON, None, XML),
    ("accept-fhir-xml", None, XML, None, XML),
    ("accept-with-fhir-version", None, "application/fhir+xml; fhirVersion=4.0", None, XML),
    ("accept-generic-json", None, "application/json", None, "application/json"),
    ("accept-q-values", None, "application/fhir+xml;q=0.5, application/fhir+json", None, JSON),
    ("accept-q-values-xml-first", None, "application/fhir+json;q=0.4, text/xml", None, "text/xml"),
    ("accept-q-zero-excluded", None, "application/fhir+xml;q=0, */*;q=0.1", None, JSON),
    (
        "browser",
        None,
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        None,
        "application/xml",
    ),
    ("xml-body-no-preference", None, None, "application/fhir+xml; charset=utf-8", XML),
    ("xml-body-wildcard", None, "*/*", "text/xml", XML),
    ("xml-body-json-asked", None, JSON, XML, JSON),
    ("json-body", None, None, JSON, JSON),
]


@pytest.mark.parametrize(
    ("fmt", "accept", "content_type", "chosen"),
    [c[1:] for c in CHOSEN],
    ids=[c[0] for c in CHOSEN],
)
def test_the_response_format(
    fmt: str | None, accept: str | None, content_type: str | None, chosen: str
) -> None:
    assert choose(fmt, accept, content_type) == chosen


@pytest.mark.parametrize(
    ("fmt", "accept"),
    [
        ("ttl", None),
        ("html", None),
        ("application/pdf", XML),
        (None, "text/turtle"),
        (None, "text/html, image/png"),
        (None, "application/fhir+xml;q=0"),
    ],
)
def test_a_format_this_server_does_not_write_is_not_acceptable(
    fmt: str | None, accept: str | None
) -> None:
    with pytest.raises(NotAcceptable) as raised:
        choose(fmt, accept, None)
    assert raised.value.status == 406
    assert raised.value.msg_id == "MRTC-HTTP-406"
