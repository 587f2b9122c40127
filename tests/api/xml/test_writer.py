"""FHIR XML out: order, attributes, primitives with extensions, narrative, numbers.

Expected documents are written by hand from https://hl7.org/fhir/R4/xml.html.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from lxml import etree

from fhir_server.api.xml import json_to_xml
from fhir_server.errors import NotAcceptable

HEAD = b"<?xml version='1.0' encoding='UTF-8'?>\n"
XHTML = "http://www.w3.org/1999/xhtml"


def write(resource: dict[str, Any], *, pretty: bool = False) -> str:
    out = json_to_xml(resource, pretty=pretty)
    assert out.startswith(HEAD)
    return out[len(HEAD) :].decode()


def test_elements_follow_the_definition_order_not_the_json_order() -> None:
    patient = {
        "birthDate": "2015-03-02",
        "gender": "female",
        "name": [{"given": ["Léa"], "family": "Durand", "use": "official"}],
        "active": True,
        "id": "p1",
        "resourceType": "Patient",
    }
    assert write(patient) == (
        '<Patient xmlns="http://hl7.org/fhir"><id value="p1"/><active value="true"/>'
        '<name><use value="official"/><family value="Durand"/><given value="Léa"/></name>'
        '<gender value="female"/><birthDate value="2015-03-02"/></Patient>'
    )


def test_ids_and_urls_are_attributes_except_the_resource_id() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "extension": [{"url": "http://e.org/a", "id": "x1", "valueBoolean": False}],
        "name": [{"id": "n1", "family": "D"}],
    }
    root = etree.fromstring(json_to_xml(patient))
    resource_id, extension, name = root
    assert (resource_id.tag, resource_id.attrib) == ("{http://hl7.org/fhir}id", {"value": "p1"})
    assert dict(extension.attrib) == {"url": "http://e.org/a", "id": "x1"}
    assert [(c.tag, dict(c.attrib)) for c in extension] == [
        ("{http://hl7.org/fhir}valueBoolean", {"value": "false"})
    ]
    assert dict(name.attrib) == {"id": "n1"}
    assert [c.tag for c in name] == ["{http://hl7.org/fhir}family"]


def test_primitive_extensions_and_null_aligned_arrays() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [
            {
                "given": ["Ann", None, "Lou"],
                "_given": [None, {"id": "g2", "extension": [{"url": "u", "valueString": "?"}]}],
            }
        ],
        "_birthDate": {"extension": [{"url": "v", "valueCode": "unknown"}]},
    }
    assert write(patient) == (
        '<Patient xmlns="http://hl7.org/fhir"><name><given value="Ann"/>'
        '<given id="g2"><extension url="u"><valueString value="?"/></extension></given>'
        '<given value="Lou"/></name>'
        '<birthDate><extension url="v"><valueCode value="unknown"/></extension></birthDate>'
        "</Patient>"
    )


def test_numbers_are_written_as_the_json_output_writes_them() -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "w"},
        "valueQuantity": {"value": 1.5, "unit": "kg"},
        "component": [
            {"code": {"text": "a"}, "valueQuantity": {"value": 1e-7}},
            {"code": {"text": "b"}, "valueInteger": 12},
            {"code": {"text": "c"}, "valueQuantity": {"value": Decimal("1.50")}},
        ],
    }
    xml = write(obs)
    assert '<valueQuantity><value value="1.5"/><unit value="kg"/></valueQuantity>' in xml
    assert f'<value value="{orjson.dumps(1e-7).decode()}"/>' in xml
    assert '<valueInteger value="12"/>' in xml
    assert '<value value="1.50"/>' in xml  # exact decimals (Decimal) keep their digits


def test_contained_and_entry_resources_are_wrapped_in_their_container() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "contained": [{"resourceType": "Organization", "id": "o"}],
                },
                "search": {"mode": "match"},
            }
        ],
    }
    assert write(bundle) == (
        '<Bundle xmlns="http://hl7.org/fhir"><type value="searchset"/><entry><resource>'
        '<Patient><contained><Organization><id value="o"/></Organization></contained>'
        '</Patient></resource><search><mode value="match"/></search></entry></Bundle>'
    )


def test_an_element_typed_with_a_resource_is_a_container_too() -> None:
    # R4 types Bundle.entry.response.outcome as OperationOutcome, not Resource.
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"response": {"status": "404", "outcome": outcome}}],
    }
    assert write(bundle) == (
        '<Bundle xmlns="http://hl7.org/fhir"><type value="batch-response"/><entry><response>'
        '<status value="404"/><outcome><OperationOutcome><issue><severity value="error"/>'
        '<code value="x"/></issue></OperationOutcome></outcome></response></entry></Bundle>'
    )


def test_the_narrative_is_embedded_as_xhtml_and_pretty_printing_leaves_it_alone() -> None:
    div = f'<div xmlns="{XHTML}"><p>L&#233;a &amp; <b>Tom</b></p><p>x</p></div>'
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    compact = write(patient)
    assert f'<div xmlns="{XHTML}"><p>Léa &amp; <b>Tom</b></p><p>x</p></div>' in compact
    root = etree.fromstring(json_to_xml(patient))
    assert root[0][1].tag == f"{{{XHTML}}}div"  # an element, not escaped text
    pretty = write(patient, pretty=True)
    assert f'<div xmlns="{XHTML}"><p>Léa &amp; <b>Tom</b></p><p>x</p></div>' in pretty
    assert pretty.startswith('<Patient xmlns="http://hl7.org/fhir">\n  <text>\n')


def test_special_characters_survive_as_character_references() -> None:
    patient = {"resourceType": "Patient", "name": [{"text": 'a<b>&"c"\n\td'}]}
    xml = json_to_xml(patient)
    assert etree.fromstring(xml)[0][0].get("value") == 'a<b>&"c"\n\td'


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient", "name": [{"text": "nul\u0000byte"}]},
        {"resourceType": "Patient", "nickname": "x"},
        {"resourceType": "Patient", "_name": [{"id": "x"}]},
        {"resourceType": "Patient", "text": {"status": "generated", "div": "<div>unclosed"}},
        {"resourceType": "Patient", "text": {"status": "generated", "div": "<p>not a div</p>"}},
        {"resourceType": "Spaceship"},
        {"resourceType": "Patient", "name": "not an object"},
    ],
    ids=[
        "control-char",
        "unknown-key",
        "underscore-complex",
        "bad-div",
        "not-div",
        "type",
        "shape",
    ],
)
def test_what_xml_cannot_carry_is_a_406_not_broken_xml(resource: dict[str, Any]) -> None:
    with pytest.raises(NotAcceptable) as raised:
        json_to_xml(resource)
    assert raised.value.msg_id == "MRTC-XML-406"
    assert raised.value.status == 406
