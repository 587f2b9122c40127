"""The cheap part of base validation: core required bindings and invariants.

These run on every resource, with or without a profile claim, from the
reduced core snapshots in ``fhir_server/data/fhir-r4``.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.profiles import ConformanceSource, ProfileValidator, rules


@pytest.fixture(scope="module")
def core() -> ProfileValidator:
    return ProfileValidator(ConformanceSource())


def found(
    validator: ProfileValidator, resource: dict[str, Any]
) -> list[tuple[str, str | None, str]]:
    return [(i.severity, i.msg_id, i.expression[0]) for i in validator.validate(resource)]


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            {"resourceType": "Patient", "gender": "males"},
            ("error", rules.REQUIRED_BINDING, "Patient.gender"),
        ),
        (
            {"resourceType": "Patient", "name": [{"use": "nick"}]},
            ("error", rules.REQUIRED_BINDING, "Patient.name[0].use"),
        ),
        (
            {"resourceType": "Patient", "contact": [{"gender": "male"}]},
            ("error", "pat-1", "Patient.contact[0]"),
        ),
        (
            {"resourceType": "Patient", "telecom": [{"value": "0600"}]},
            ("error", "cpt-2", "Patient.telecom[0]"),
        ),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "component": [
                    {
                        "code": {"text": "y"},
                        "valuePeriod": {"start": "2026-02-01", "end": "2026-01-01"},
                    }
                ],
            },
            ("error", "per-1", "Observation.component[0].value.ofType(Period)"),
        ),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "valueQuantity": {"value": 1, "comparator": "<<"},
            },
            ("error", rules.REQUIRED_BINDING, "Observation.value.ofType(Quantity).comparator"),
        ),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "valueString": "a",
                "dataAbsentReason": {"text": "b"},
            },
            ("error", "obs-6", "Observation"),
        ),
        # contentReference: Questionnaire.item.item is Questionnaire.item again
        (
            {
                "resourceType": "Questionnaire",
                "status": "active",
                "item": [
                    {"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "weight"}]}
                ],
            },
            ("error", rules.REQUIRED_BINDING, "Questionnaire.item[0].item[0].type"),
        ),
        # resources inside resources
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "Patient", "gender": "x"}}],
            },
            ("error", rules.REQUIRED_BINDING, "Bundle.entry[0].resource.gender"),
        ),
        (
            {"resourceType": "Bundle", "type": "batches"},
            ("error", rules.REQUIRED_BINDING, "Bundle.type"),
        ),
    ],
    ids=[
        "code",
        "nested code",
        "resource invariant",
        "datatype invariant",
        "choice datatype",
        "choice binding",
        "root invariant",
        "content reference",
        "bundle entry",
        "bundle type",
    ],
)
def test_base_rule_is_checked_without_profile(
    core: ProfileValidator, resource: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    assert expected in found(core, resource)


def test_valid_base_resources_have_no_issue(core: ProfileValidator) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "Dupont", "given": ["Léa"]}],
        "gender": "female",
        "telecom": [{"system": "phone", "value": "0600"}],
        "contact": [{"name": {"family": "Dupont"}}],
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
    }
    assert found(core, patient) == []


def test_codes_of_external_systems_are_not_judged(core: ProfileValidator) -> None:
    # Attachment.contentType is bound (required) to BCP-13 mime types we do not enumerate.
    doc = {
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [{"attachment": {"contentType": "application/x-unknown-thing"}}],
    }
    assert found(core, doc) == []


def test_base_checks_can_be_switched_off() -> None:
    validator = ProfileValidator(ConformanceSource(), base_checks=False)
    assert validator.validate({"resourceType": "Patient", "gender": "males"}) == []


def test_resource_without_type_is_reported(core: ProfileValidator) -> None:
    (issue,) = core.validate({"id": "x"})
    assert issue.severity == "error" and issue.msg_id == rules.WRONG_TYPE


def test_contained_reference_to_a_sibling_resolves_through_the_container(
    core: ProfileValidator,
) -> None:
    # ref-1 uses %rootResource: inside a contained resource it is the container.
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "#p"},
        "performer": [{"reference": "#org"}],
        "contained": [
            {"resourceType": "Patient", "id": "p", "managingOrganization": {"reference": "#org"}},
            {"resourceType": "Organization", "id": "org", "name": "MSP"},
        ],
    }
    assert found(core, obs) == []
    obs["contained"][0]["managingOrganization"]["reference"] = "#nowhere"
    assert ("error", "ref-1", "Observation.contained[0].managingOrganization") in found(core, obs)


def test_unreferenced_contained_resource_breaks_dom_3(core: ProfileValidator) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "contained": [{"resourceType": "Organization", "id": "org", "name": "MSP"}],
    }
    assert found(core, obs) == [("error", "dom-3", "Observation")]


def test_codes_of_local_code_systems_must_exist(validator: ProfileValidator) -> None:
    steps = "https://test.example.org/fhir/CodeSystem/test-steps"
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [
                {"system": steps, "code": "msp", "display": "Initial MSP consultation"},
                {"system": steps, "code": "nope"},
                {"system": steps, "code": "psy", "display": "Autre chose"},
                {"system": "http://loinc.org", "code": "whatever", "display": "anything"},
            ]
        },
    }
    assert found(validator, obs) == [
        ("error", rules.UNKNOWN_CODE, "Observation.code.coding[1]"),
        ("warning", rules.WRONG_DISPLAY, "Observation.code.coding[2]"),
    ]
