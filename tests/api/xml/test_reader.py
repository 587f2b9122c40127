"""FHIR XML in: the spec's representation rules, each against JSON written by hand.

https://hl7.org/fhir/R4/xml.html and json.html. The expected JSON here is
written from the spec, not produced by our writer, so a mistake shared by the
reader and the writer (both read the same definitions) still shows.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from fhir_server.api.xml import xml_to_json
from fhir_server.errors import FhirError, InvalidRequest, InvalidResource

NS = 'xmlns="http://hl7.org/fhir"'
XHTML = "http://www.w3.org/1999/xhtml"


def read(xml: str) -> dict[str, Any]:
    return orjson.loads(xml_to_json(xml.encode()))


def test_primitives_take_their_json_types_from_the_definitions() -> None:
    patient = read(
        f'<Patient {NS}><id value="p1"/><active value="true"/>'
        '<gender value="female"/><birthDate value="2015-03-02"/>'
        '<multipleBirthInteger value="2"/></Patient>'
    )
    assert patient == {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "gender": "female",
        "birthDate": "2015-03-02",
        "multipleBirthInteger": 2,
    }


def _observation_with(value: str) -> bytes:
    return (
        f'<Observation {NS}><status value="final"/><code><text value="w"/></code>'
        f'<valueQuantity><value value="{value}"/></valueQuantity></Observation>'
    ).encode()


@pytest.mark.parametrize(
    "written", ["1.50", "0.0000001", "-0.5", "1e3", "12345678901234567890.123456789"]
)
def test_decimals_keep_the_digits_as_written(written: str) -> None:
    assert f'"valueQuantity":{{"value":{written}}}'.encode() in xml_to_json(
        _observation_with(written)
    )


def test_positive_and_unsigned_ints_are_json_numbers() -> None:
    plan = read(
        f'<Questionnaire {NS}><status value="draft"/><item><linkId value="1"/>'
        '<type value="string"/><maxLength value="20"/></item></Questionnaire>'
    )
    assert plan["item"][0]["maxLength"] == 20


def test_element_id_and_extension_url_are_attributes_resource_id_an_element() -> None:
    patient = read(
        f'<Patient {NS}><id value="p1"/>'
        '<extension url="http://example.org/ext"><valueString value="x"/></extension>'
        '<name id="n1"><family value="Durand"/></name></Patient>'
    )
    assert patient == {
        "resourceType": "Patient",
        "id": "p1",
        "extension": [{"url": "http://example.org/ext", "valueString": "x"}],
        "name": [{"id": "n1", "family": "Durand"}],
    }


def test_a_primitive_id_and_extensions_go_to_the_underscore_sibling() -> None:
    patient = read(
        f'<Patient {NS}><birthDate id="bd" value="1970-03-30">'
        '<extension url="http://hl7.org/fhir/StructureDefinition/patient-birthTime">'
        '<valueDateTime value="1970-03-30T14:35:45-05:00"/></extension></birthDate></Patient>'
    )
    assert patient == {
        "resourceType": "Patient",
        "birthDate": "1970-03-30",
        "_birthDate": {
            "id": "bd",
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                    "valueDateTime": "1970-03-30T14:35:45-05:00",
                }
            ],
        },
    }


def test_a_primitive_with_only_an_extension_has_no_value_in_json() -> None:
    patient = read(
        f'<Patient {NS}><gender><extension url="http://hl7.org/fhir/StructureDefinition/'
        'data-absent-reason"><valueCode value="unknown"/></extension></gender></Patient>'
    )
    assert "gender" not in patient
    assert patient["_gender"]["extension"][0]["valueCode"] == "unknown"


def test_primitive_arrays_are_aligned_with_nulls() -> None:
    # json.html: "given": ["Ann", null, "Lou"], "_given": [null, {...}, null]
    patient = read(
        f'<Patient {NS}><name><given value="Ann"/>'
        '<given id="g2"><extension url="http://example.org/e"><valueString value="?"/>'
        '</extension></given><given value="Lou"/></name></Patient>'
    )
    assert patient["name"][0] == {
        "given": ["Ann", None, "Lou"],
        "_given": [
            None,
            {"id": "g2", "extension": [{"url": "http://example.org/e", "valueString": "?"}]},
            None,
        ],
    }


def test_an_array_without_any_extension_has_no_underscore_sibling() -> None:
    patient = read(f'<Patient {NS}><name><given value="A"/><given value="B"/></name></Patient>')
    assert patient["name"] == [{"given": ["A", "B"]}]


def test_choice_types_use_the_type_suffixed_name() -> None:
    obs = read(
        f'<Observation {NS}><status value="final"/><code><text value="w"/></code>'
        '<effectiveDateTime value="2024-01-02"/><valueString value="ok"/>'
        '<component><code><text value="c"/></code><valueBoolean value="false"/></component>'
        "</Observation>"
    )
    assert obs["effectiveDateTime"] == "2024-01-02"
    assert obs["valueString"] == "ok"
    assert obs["component"][0]["valueBoolean"] is False


def test_contained_and_bundle_resources_are_unwrapped() -> None:
    bundle = read(
        f'<Bundle {NS}><type value="transaction"/><entry><fullUrl value="urn:uuid:1"/>'
        '<resource><Patient><contained><Organization><id value="o"/>'
        '<name value="MSP"/></Organization></contained>'
        '<managingOrganization><reference value="#o"/></managingOrganization></Patient>'
        '</resource><request><method value="POST"/><url value="Patient"/></request></entry>'
        "</Bundle>"
    )
    assert bundle["entry"][0]["resource"] == {
        "resourceType": "Patient",
        "contained": [{"resourceType": "Organization", "id": "o", "name": "MSP"}],
        "managingOrganization": {"reference": "#o"},
    }


def test_parameters_carry_resources_and_parts() -> None:
    params = read(
        f'<Parameters {NS}><parameter><name value="resource"/><resource><Patient>'
        '<active value="true"/></Patient></resource></parameter>'
        '<parameter><name value="p"/><part><name value="q"/><valueInteger value="3"/></part>'
        "</parameter></Parameters>"
    )
    assert params["parameter"][0]["resource"] == {"resourceType": "Patient", "active": True}
    assert params["parameter"][1]["part"] == [{"name": "q", "valueInteger": 3}]


def test_nested_backbone_by_content_reference() -> None:
    q = read(
        f'<Questionnaire {NS}><status value="draft"/><item><linkId value="1"/>'
        '<type value="group"/><item><linkId value="1.1"/><type value="string"/></item></item>'
        "</Questionnaire>"
    )
    assert q["item"][0]["item"] == [{"linkId": "1.1", "type": "string"}]


def test_the_narrative_stays_xhtml_with_its_markup_and_entities() -> None:
    patient = read(
        f'<Patient {NS} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><text>'
        '<status value="generated"/>'
        f'<div xmlns="{XHTML}"><p class="x">L&#233;a &amp; <b>Tom</b> &lt;3</p></div>'
        "\n  </text></Patient>"
    )
    assert patient["text"]["div"] == (
        f'<div xmlns="{XHTML}"><p class="x">Léa &amp; <b>Tom</b> &lt;3</p></div>'
    )


def test_comments_processing_instructions_and_schema_location_are_ignored() -> None:
    patient = read(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!-- a note -->'
        f'<Patient {NS} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://hl7.org/fhir patient.xsd">'
        '<?keep me?><!-- inside --><active value="true"/></Patient>'
    )
    assert patient == {"resourceType": "Patient", "active": True}


def test_a_namespace_prefix_is_plain_xml() -> None:
    xml = '<f:Patient xmlns:f="http://hl7.org/fhir"><f:active value="false"/></f:Patient>'
    assert read(xml) == {"resourceType": "Patient", "active": False}


def test_whitespace_and_line_breaks_in_values_are_kept() -> None:
    patient = read(f'<Patient {NS}><name><text value="  a&#10;b&#9;c "/></name></Patient>')
    assert patient["name"][0]["text"] == "  a\nb\tc "
    # XML attribute-value normalisation: a literal tab or newline is a space.
    patient = read(f'<Patient {NS}><name><text value="a\tb\nc"/></name></Patient>')
    assert patient["name"][0]["text"] == "a b c"


REFUSED: list[tuple[str, str, type[FhirError], str, str | None]] = [
    # id, body, error, msg id, expression
    ("malformed", "<Patient", InvalidRequest, "MRTC-XML-001", None),
    ("not-xml", "{}", InvalidRequest, "MRTC-XML-001", None),
    (
        "no-namespace",
        "<Patient><active value='true'/></Patient>",
        InvalidResource,
        "MRTC-XML-003",
        "Patient",
    ),
    ("unknown-root", f"<Spaceship {NS}/>", InvalidResource, "MRTC-XML-003", "Spaceship"),
    ("data-type-root", f"<HumanName {NS}/>", InvalidResource, "MRTC-XML-003", "HumanName"),
    (
        "unknown-element",
        f'<Patient {NS}><name><nickname value="x"/></name></Patient>',
        InvalidResource,
        "MRTC-XML-004",
        "Patient.name[0].nickname",
    ),
    (
        "element-in-another-namespace",
        f'<Patient {NS} xmlns:o="urn:other"><o:active value="true"/></Patient>',
        InvalidResource,
        "MRTC-XML-004",
        "Patient.active",
    ),
    (
        "json-choice-base-name",
        f'<Observation {NS}><status value="final"/><code><text value="x"/></code>'
        '<value value="1"/></Observation>',
        InvalidResource,
        "MRTC-XML-004",
        "Observation.value",
    ),
    (
        "narrative-not-xhtml",
        f'<Patient {NS}><text><status value="generated"/><div><p>x</p></div></text></Patient>',
        InvalidResource,
        "MRTC-XML-004",
        "Patient.text.div",
    ),
    (
        "out-of-order",
        f'<Patient {NS}><gender value="male"/><active value="true"/></Patient>',
        InvalidResource,
        "MRTC-XML-005",
        "Patient.active",
    ),
    (
        "single-element-twice",
        f'<Patient {NS}><gender value="male"/><gender value="female"/></Patient>',
        InvalidResource,
        "MRTC-XML-006",
        "Patient.gender",
    ),
    (
        "two-choices",
        f'<Patient {NS}><deceasedBoolean value="true"/><deceasedDateTime value="2020"/></Patient>',
        InvalidResource,
        "MRTC-XML-006",
        "Patient.deceasedDateTime",
    ),
    (
        "boolean-yes",
        f'<Patient {NS}><active value="yes"/></Patient>',
        InvalidResource,
        "MRTC-XML-007",
        "Patient.active",
    ),
    (
        "boolean-capital",
        f'<Patient {NS}><active value="True"/></Patient>',
        InvalidResource,
        "MRTC-XML-007",
        "Patient.active",
    ),
    (
        "integer-with-decimals",
        f'<Patient {NS}><multipleBirthInteger value="2.0"/></Patient>',
        InvalidResource,
        "MRTC-XML-007",
        "Patient.multipleBirthInteger",
    ),
    (
        "decimal-comma",
        f'<Observation {NS}><status value="final"/><code><text value="w"/></code>'
        '<valueQuantity><value value="1,5"/></valueQuantity></Observation>',
        InvalidResource,
        "MRTC-XML-007",
        "Observation.valueQuantity.value",
    ),
    (
        "decimal-nan",
        f'<Observation {NS}><status value="final"/><code><text value="w"/></code>'
        '<valueQuantity><value value="NaN"/></valueQuantity></Observation>',
        InvalidResource,
        "MRTC-XML-007",
        "Observation.valueQuantity.value",
    ),
    (
        "empty-value",
        f'<Patient {NS}><gender value=""/></Patient>',
        InvalidResource,
        "MRTC-XML-007",
        "Patient.gender",
    ),
    (
        "unknown-attribute",
        f'<Patient {NS}><gender value="male" code="m"/></Patient>',
        InvalidResource,
        "MRTC-XML-008",
        "Patient.gender",
    ),
    (
        "url-on-a-non-extension",
        f'<Patient {NS}><name url="x"><family value="D"/></name></Patient>',
        InvalidResource,
        "MRTC-XML-008",
        "Patient.name[0]",
    ),
    (
        "text-in-a-primitive",
        f"<Patient {NS}><gender>male</gender></Patient>",
        InvalidResource,
        "MRTC-XML-009",
        "Patient.gender",
    ),
    (
        "text-between-elements",
        f'<Patient {NS}><active value="true"/>stray</Patient>',
        InvalidResource,
        "MRTC-XML-009",
        "Patient",
    ),
    (
        "empty-primitive",
        f"<Patient {NS}><gender/></Patient>",
        InvalidResource,
        "MRTC-XML-010",
        "Patient.gender",
    ),
    (
        "empty-complex",
        f"<Patient {NS}><name/></Patient>",
        InvalidResource,
        "MRTC-XML-010",
        "Patient.name[0]",
    ),
    (
        "two-resources-in-a-container",
        f"<Patient {NS}><contained><Organization><name value='a'/></Organization>"
        "<Organization><name value='b'/></Organization></contained></Patient>",
        InvalidResource,
        "MRTC-XML-011",
        "Patient.contained[0]",
    ),
    (
        "narrative-not-a-div",
        f'<Patient {NS}><text><status value="generated"/><p xmlns="{XHTML}">x</p></text></Patient>',
        InvalidResource,
        "MRTC-XML-004",
        "Patient.text.p",
    ),
    (
        "xhtml-div-not-a-narrative",
        f'<Patient {NS}><div xmlns="{XHTML}">x</div></Patient>',
        InvalidResource,
        "MRTC-XML-004",
        "Patient.div",
    ),
]


@pytest.mark.parametrize(
    ("body", "error", "msg_id", "expression"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_what_fhir_xml_does_not_allow_is_refused_with_its_path(
    body: str, error: type[FhirError], msg_id: str, expression: str | None
) -> None:
    with pytest.raises(error) as raised:
        xml_to_json(body.encode())
    assert raised.value.msg_id == msg_id
    assert raised.value.status == 400
    if expression is not None:
        assert raised.value.expression == (expression,)


@pytest.mark.parametrize(("depth", "msg_id"), [(127, "MRTC-XML-012"), (300, "MRTC-XML-001")])
def test_deep_nesting_is_refused_not_a_crash(depth: int, msg_id: str) -> None:
    group = '<item><linkId value="1"/><type value="group"/>'
    body = f'<Questionnaire {NS}><status value="draft"/>{group * depth}{"</item>" * depth}'
    with pytest.raises(FhirError) as raised:
        xml_to_json(f"{body}</Questionnaire>".encode())
    assert (raised.value.status, raised.value.msg_id) == (400, msg_id)
