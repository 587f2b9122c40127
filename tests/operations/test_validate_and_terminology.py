"""``$validate``, ``$expand``, ``$validate-code``, ``$lookup`` as plain functions (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server import errors
from fhir_server.errors import Issue
from fhir_server.operations.expand import expand_operation
from fhir_server.operations.lookup import lookup_operation
from fhir_server.operations.validate import validate_operation
from fhir_server.operations.validate_code import validate_code_operation
from fhir_server.profiles import ProfileValidator
from tests.profiles._data import BASE, PATIENT

STEPS = f"{BASE}/CodeSystem/test-steps"


def test_validate_of_a_valid_resource_says_so(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    assert validate_operation(validator, "Patient", patient) == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": "No issues detected during validation",
            }
        ],
    }


def test_validate_parameters_body_with_profile_and_mode(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    del patient["meta"]
    del patient["birthDate"]
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": patient},
            {"name": "mode", "valueCode": "create"},
            {"name": "profile", "valueUri": PATIENT},
        ],
    }
    outcome = validate_operation(validator, "Patient", body)
    (issue,) = outcome["issue"]
    assert issue["severity"] == "error"
    assert issue["expression"] == ["Patient.birthDate"]
    assert issue["details"]["coding"][0]["code"] == "MRTC-PRF-003"


def test_validate_profile_from_the_query(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    del patient["meta"]
    patient["active"] = False
    outcome = validate_operation(validator, "Patient", patient, query={"profile": [PATIENT]})
    assert [i["expression"] for i in outcome["issue"]] == [["Patient.active"]]


def test_validate_update_mode_needs_an_id_matching_the_url(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    outcome = validate_operation(validator, "Patient", patient, mode="update", resource_id="p2")
    assert [i["expression"] for i in outcome["issue"]] == [["Patient.id"]]
    del patient["id"]
    outcome = validate_operation(validator, "Patient", patient, mode="update")
    assert [i["expression"] for i in outcome["issue"]] == [["Patient.id"]]


def test_validate_prepends_the_structural_issues(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    def structural(resource: dict[str, Any]) -> list[Issue]:
        return [Issue("error", "structure", "bad", ("Patient.foo",), "MRTC-0001")]

    outcome = validate_operation(validator, "Patient", patient, structural=structural)
    assert outcome["issue"][0]["expression"] == ["Patient.foo"]


@pytest.mark.parametrize(
    ("body", "kwargs", "error"),
    [
        (None, {}, errors.InvalidRequest),
        ({"resourceType": "Observation", "status": "final"}, {}, errors.InvalidRequest),
        ({"resourceType": "Patient"}, {"mode": "merge"}, errors.InvalidRequest),
        ({"resourceType": "Patient"}, {"query": {"foo": ["1"]}}, errors.UnsupportedParameter),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "bogus", "valueString": "x"}]},
            {},
            errors.UnsupportedParameter,
        ),
    ],
    ids=["no resource", "wrong type", "bad mode", "unknown query param", "unknown body param"],
)
def test_validate_rejects_bad_requests(
    validator: ProfileValidator, body: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        validate_operation(validator, "Patient", body, **kwargs)


def test_validate_delete_mode_has_nothing_to_check(validator: ProfileValidator) -> None:
    outcome = validate_operation(validator, "Patient", None, mode="delete")
    assert outcome["issue"][0]["severity"] == "information"


def test_expand_by_url_with_paging(validator: ProfileValidator) -> None:
    vs = expand_operation(
        validator.terminology,
        {"url": [f"{BASE}/ValueSet/test-steps-all"], "count": ["1"], "offset": ["1"]},
    )
    assert vs["expansion"]["total"] == 7
    assert [c["code"] for c in vs["expansion"]["contains"]] == ["msp"]


def test_expand_of_an_instance_or_a_posted_value_set(validator: ProfileValidator) -> None:
    inline = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": STEPS, "concept": [{"code": "psy"}]}]},
    }
    vs = expand_operation(
        validator.terminology,
        None,
        {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": inline}]},
    )
    assert [c["code"] for c in vs["expansion"]["contains"]] == ["psy"]
    vs = expand_operation(validator.terminology, {"filter": ["psy"]}, value_set=inline)
    assert vs["expansion"]["total"] == 1


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({}, errors.InvalidRequest),
        ({"url": [f"{BASE}/ValueSet/test-steps-all"], "count": ["x"]}, errors.InvalidRequest),
        ({"url": [f"{BASE}/ValueSet/test-steps-all"], "offset": ["-1"]}, errors.InvalidRequest),
        ({"url": ["urn:nope"]}, errors.ResourceNotFound),
        ({"url": [f"{BASE}/ValueSet/test-open"]}, errors.NotImplementedInteraction),
    ],
    ids=["no value set", "bad count", "negative offset", "unknown", "external system"],
)
def test_expand_errors(
    validator: ProfileValidator, query: dict[str, list[str]], error: type[Exception]
) -> None:
    with pytest.raises(error):
        expand_operation(validator.terminology, query)


def test_validate_code_from_query_and_body(validator: ProfileValidator) -> None:
    url = f"{BASE}/ValueSet/test-steps-initial"
    out = validate_code_operation(
        validator.terminology, {"url": [url], "system": [STEPS], "code": ["diet"]}
    )
    assert out["parameter"][0] == {"name": "result", "valueBoolean": True}
    out = validate_code_operation(
        validator.terminology,
        {"url": [url]},
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "coding", "valueCoding": {"system": STEPS, "code": "closure"}}],
        },
    )
    assert out["parameter"][0] == {"name": "result", "valueBoolean": False}
    with pytest.raises(errors.InvalidRequest):
        validate_code_operation(validator.terminology, {"url": [url]})


def test_lookup_from_query_and_coding(validator: ProfileValidator) -> None:
    out = lookup_operation(validator.terminology, {"system": [STEPS], "code": ["psy"]})
    assert {"name": "display", "valueString": "Suivi psychologue"} in out["parameter"]
    out = lookup_operation(
        validator.terminology,
        None,
        {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "coding",
                    "valueCoding": {
                        "system": "http://hl7.org/fhir/administrative-gender",
                        "code": "male",
                    },
                }
            ],
        },
    )
    assert {"name": "display", "valueString": "Male"} in out["parameter"]
    with pytest.raises(errors.InvalidRequest):
        lookup_operation(validator.terminology, {"code": ["x"]})
