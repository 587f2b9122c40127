"""FHIR_ENFORCE_PROFILES: which profiles a resource must satisfy beyond its claims."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhir_server import errors
from fhir_server.ig import ImplementationGuide
from fhir_server.profiles import ConformanceSource, ProfileValidator
from fhir_server.profiles.enforcement import EnforcementPolicy
from fhir_server.profiles.service import ProfileServices
from fhir_server.settings import ProfileSettings

from ._data import CHILD, PATIENT, WEIGHT


def test_off_by_default(validator: ProfileValidator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FHIR_ENFORCE_PROFILES", raising=False)
    policy = EnforcementPolicy.parse(ProfileSettings().enforce_profiles, validator)
    assert not policy.enabled
    assert policy.profiles_for({"resourceType": "Patient"}) == []


def test_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_ENFORCE_PROFILES", f"Patient={PATIENT}")
    monkeypatch.setenv("FHIR_UNKNOWN_PROFILE_SEVERITY", "error")
    settings = ProfileSettings()
    assert settings.enforce_profiles == f"Patient={PATIENT}"
    assert settings.unknown_profile_severity == "error"


def test_type_equals_url(validator: ProfileValidator, patient: dict[str, Any]) -> None:
    policy = EnforcementPolicy.parse(f"Patient={PATIENT}", validator)
    del patient["meta"]
    assert policy.profiles_for(patient) == [PATIENT]
    assert policy.profiles_for({"resourceType": "Observation"}) == []
    del patient["birthDate"]
    issues = validator.validate(patient, policy.profiles_for(patient))
    assert [i.expression for i in issues] == [("Patient.birthDate",)]


def test_claimed_profile_is_not_enforced_twice(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    policy = EnforcementPolicy.parse(f"Patient={PATIENT}", validator)
    assert policy.profiles_for(patient) == []


def test_all_ig_profiles_by_type(validator: ProfileValidator, weight: dict[str, Any]) -> None:
    policy = EnforcementPolicy.parse("mrtc", validator)
    # Patient has two profiles (test-patient and its child): chosen by the resource's code,
    # and neither fixes one, so both apply.
    assert sorted(policy.profiles_for({"resourceType": "Patient"})) == sorted([PATIENT, CHILD])
    del weight["meta"]
    assert policy.profiles_for(weight) == [WEIGHT]


def test_type_with_several_profiles_selects_by_code(
    validator: ProfileValidator, weight: dict[str, Any]
) -> None:
    policy = EnforcementPolicy.parse("Observation", validator)
    del weight["meta"]
    assert policy.profiles_for(weight) == [WEIGHT]
    weight["code"] = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    # only one Observation profile: it is enforced whatever the code
    assert policy.profiles_for(weight) == [WEIGHT]


@pytest.mark.parametrize(
    "spec", ["Patient=https://nope.example/x", "Encounter", f"Observation={PATIENT}"]
)
def test_bad_settings_fail_at_start_up_with_the_reason(
    validator: ProfileValidator, spec: str
) -> None:
    with pytest.raises(ValueError, match="FHIR_ENFORCE_PROFILES"):
        EnforcementPolicy.parse(spec, validator)


def test_services_check_write_raises_a_422_with_one_issue_per_violation(
    source: ConformanceSource, patient: dict[str, Any]
) -> None:
    validator = ProfileValidator(source)
    services = ProfileServices(validator, EnforcementPolicy.parse("", validator))
    assert services.check_write(patient) == []
    del patient["birthDate"]
    del patient["gender"]
    with pytest.raises(errors.ProfileViolation) as exc:
        services.check_write(patient)
    assert exc.value.status == 422
    assert [i.expression for i in exc.value.outcome_issues()] == [
        ("Patient.gender",),
        ("Patient.birthDate",),
    ]
    assert "Patient violates 2 profile rule(s)" in exc.value.message


def test_services_build_from_the_loaded_ig(monkeypatch: pytest.MonkeyPatch) -> None:
    ig = Path(__file__).resolve().parents[2] / "ig"
    if not (ig / "index.json").exists():
        pytest.skip("ig/ not generated")
    settings = ProfileSettings(enforce_profiles="mrtc")
    services = ProfileServices.build(ImplementationGuide.load(ig), settings)
    patient = {"resourceType": "Patient", "name": [{"family": "X"}]}
    assert services.policy.profiles_for(patient) == [
        "https://mrtc.example.org/fhir/StructureDefinition/mrtc-patient"
    ]
    issues = services.issues_for(patient)
    assert ("Patient.birthDate",) in [i.expression for i in issues]


def _code_profile(name: str, diff: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "url": f"https://test.example.org/fhir/StructureDefinition/{name}",
        "name": name,
        "kind": "resource",
        "type": "Observation",
        "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "differential": {"element": [{"id": "Observation", "path": "Observation"}, *diff]},
    }


def test_observation_profiles_are_selected_by_their_fixed_code() -> None:
    height = _code_profile(
        "h",
        [
            {
                "id": "Observation.code.coding",
                "path": "Observation.code.coding",
                "slicing": {"discriminator": [{"type": "value", "path": "code"}], "rules": "open"},
            },
            {
                "id": "Observation.code.coding:loinc",
                "path": "Observation.code.coding",
                "sliceName": "loinc",
                "min": 1,
            },
            {
                "id": "Observation.code.coding:loinc.system",
                "path": "Observation.code.coding.system",
                "fixedUri": "http://loinc.org",
            },
            {
                "id": "Observation.code.coding:loinc.code",
                "path": "Observation.code.coding.code",
                "fixedCode": "8302-2",
            },
        ],
    )
    weight = _code_profile(
        "w",
        [
            {
                "id": "Observation.code.coding",
                "path": "Observation.code.coding",
                "patternCoding": {"system": "http://loinc.org", "code": "29463-7"},
            },
        ],
    )
    anything = _code_profile("any", [{"id": "Observation.status", "path": "Observation.status"}])
    validator = ProfileValidator(ConformanceSource([height, weight, anything]))
    policy = EnforcementPolicy.parse("Observation", validator)

    def obs(code: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        }

    base = "https://test.example.org/fhir/StructureDefinition/"
    assert policy.profiles_for(obs("8302-2")) == [base + "h", base + "any"]
    assert policy.profiles_for(obs("29463-7")) == [base + "w", base + "any"]
    assert policy.profiles_for(obs("85354-9")) == [base + "any"]
