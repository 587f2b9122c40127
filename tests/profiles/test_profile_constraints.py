"""Each kind of profile constraint, on the small test IG in ``fixtures/``.

Every case mutates a valid instance and asserts the exact issue: severity,
message id (rule id or invariant key) and FHIRPath location.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from fhir_server.errors import Issue
from fhir_server.profiles import ProfileValidator, rules

from ._data import BASE, CHILD, NICKNAME, PATIENT, RELIABILITY, WEIGHT, fixture_resources

Mutation = Callable[[dict[str, Any]], None]


def errors_of(issues: list[Issue]) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(i.severity, i.msg_id, i.expression) for i in issues if i.severity != "information"]


def test_valid_instances_have_no_issue(
    validator: ProfileValidator, patient: dict[str, Any], weight: dict[str, Any]
) -> None:
    assert validator.validate(patient) == []
    assert validator.validate(weight) == []


def _del(path: str) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = r
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        del node[int(last) if last.isdigit() else last]

    return mutate


def _set(path: str, value: Any) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = r
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _append(path: str, value: Any) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        node: Any = r
        for p in path.split("."):
            node = node[int(p)] if p.isdigit() else node[p]
        node.append(value)

    return mutate


PATIENT_CASES: list[tuple[str, Mutation, tuple[str, str, str]]] = [
    # cardinality
    (
        "missing birth date",
        _del("birthDate"),
        ("error", rules.MIN_CARDINALITY, "Patient.birthDate"),
    ),
    (
        "too many telecoms",
        _set("telecom", [{"system": "phone", "value": str(i)} for i in range(3)]),
        ("error", rules.MAX_CARDINALITY, "Patient.telecom[2]"),
    ),
    (
        "prohibited element",
        _set("managingOrganization", {"reference": "Organization/o"}),
        ("error", rules.MAX_CARDINALITY, "Patient.managingOrganization"),
    ),
    (
        "missing family in the official name slice",
        _del("name.0.family"),
        ("error", rules.MIN_CARDINALITY, "Patient.name[0].family"),
    ),
    # fixed / pattern
    ("fixed boolean", _set("active", False), ("error", rules.FIXED_VALUE, "Patient.active")),
    (
        "pattern codeable concept",
        _set("identifier.1.type", {"text": "local"}),
        ("error", rules.PATTERN_VALUE, "Patient.identifier[1].type"),
    ),
    # bindings
    (
        "required binding",
        _set("gender", "other"),
        ("error", rules.REQUIRED_BINDING, "Patient.gender"),
    ),
    (
        "extensible binding",
        _set("maritalStatus", {"coding": [{"system": "urn:x", "code": "M"}]}),
        ("warning", rules.EXTENSIBLE_BINDING, "Patient.maritalStatus"),
    ),
    # types
    (
        "choice type not allowed",
        _set("deceasedDateTime", "2020-01-01"),
        ("error", rules.TYPE_NOT_ALLOWED, "Patient.deceased.ofType(dateTime)"),
    ),
    (
        "reference target not allowed",
        _set("generalPractitioner", [{"reference": "Organization/o1"}]),
        ("error", rules.TARGET_NOT_ALLOWED, "Patient.generalPractitioner[0]"),
    ),
    # identifier slicing by system (value discriminator)
    (
        "identifier slice missing",
        _del("identifier.1"),
        ("error", rules.MIN_CARDINALITY, "Patient.identifier"),
    ),
    (
        "identifier slice too many",
        _append(
            "identifier", {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "223456789012345"}
        ),
        ("error", rules.MAX_CARDINALITY, "Patient.identifier[2]"),
    ),
    (
        "constraint inside a slice",
        _set("identifier.0.value", "12"),
        ("error", "test-nir-1", "Patient.identifier[0].value"),
    ),
    # name slicing by use, closed
    (
        "closed slicing",
        _append("name", {"use": "maiden", "family": "X"}),
        ("error", rules.CLOSED_SLICING, "Patient.name[2]"),
    ),
    # extension slicing by url + the extension's own definition
    (
        "required extension missing",
        _del("extension.0"),
        ("error", rules.MIN_CARDINALITY, "Patient.extension"),
    ),
    (
        "complex extension: sub-extension missing",
        _del("extension.0.extension.0"),
        ("error", rules.MIN_CARDINALITY, "Patient.extension[0].extension"),
    ),
    (
        "complex extension: required binding of a sub-extension",
        _set("extension.0.extension.0.valueCode", "QUAL"),
        ("error", rules.REQUIRED_BINDING, "Patient.extension[0].extension[0].value.ofType(code)"),
    ),
    (
        "complex extension: value type",
        _set("extension.0.extension.1", {"url": "date", "valueString": "hier"}),
        ("error", rules.TYPE_NOT_ALLOWED, "Patient.extension[0].extension[1].value.ofType(string)"),
    ),
    (
        "complex extension: unknown sub-extension (closed)",
        _append("extension.0.extension", {"url": "other", "valueString": "x"}),
        ("error", rules.CLOSED_SLICING, "Patient.extension[0].extension[2]"),
    ),
    (
        "complex extension: value forbidden",
        _set("extension.0.valueString", "x"),
        ("error", rules.MAX_CARDINALITY, "Patient.extension[0].value.ofType(string)"),
    ),
    (
        "core extension value type",
        _set(
            "extension.1",
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueString": "Nice",
            },
        ),
        ("error", rules.TYPE_NOT_ALLOWED, "Patient.extension[1].value.ofType(string)"),
    ),
    (
        "nested extension on a slice",
        _set("name.1.extension.0.valueInteger", 3),
        ("error", rules.TYPE_NOT_ALLOWED, "Patient.name[1].extension[0].value.ofType(integer)"),
    ),
    # invariants
    (
        "invariant error",
        _set("name", [{"use": "official", "given": ["A"]}]),
        ("error", "test-pat-1", "Patient"),
    ),
    ("invariant warning", _set("deceasedBoolean", True), ("warning", "test-pat-2", "Patient")),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in PATIENT_CASES], ids=[c[0] for c in PATIENT_CASES]
)
def test_patient_constraint_violation_is_reported(
    validator: ProfileValidator,
    patient: dict[str, Any],
    mutate: Mutation,
    expected: tuple[str, str, str],
) -> None:
    mutate(patient)
    found = errors_of(validator.validate(patient))
    severity, msg_id, location = expected
    assert (severity, msg_id, (location,)) in found, found


WEIGHT_CASES: list[tuple[str, Mutation, tuple[str, str, str]]] = [
    (
        "category slice by pattern missing",
        _set("category", [{"text": "other"}]),
        ("error", rules.MIN_CARDINALITY, "Observation.category"),
    ),
    (
        "code pattern",
        _set("code", {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}),
        ("error", rules.PATTERN_VALUE, "Observation.code"),
    ),
    (
        "coding slice by system and code",
        _set("code.coding.0.system", "http://snomed.info/sct"),
        ("error", rules.MIN_CARDINALITY, "Observation.code.coding"),
    ),
    (
        "value type",
        _set("valueString", "65 kg"),
        ("error", rules.TYPE_NOT_ALLOWED, "Observation.value.ofType(string)"),
    ),
    ("missing value", _del("valueQuantity"), ("error", rules.MIN_CARDINALITY, "Observation.value")),
    (
        "fixed unit",
        _set("valueQuantity.code", "g"),
        ("error", rules.FIXED_VALUE, "Observation.value.ofType(Quantity).code"),
    ),
    (
        "plausible value",
        _set("valueQuantity.value", 400),
        ("error", "test-wt-1", "Observation.value.ofType(Quantity)"),
    ),
    (
        "target profile's type",
        _set("subject", {"reference": "Group/g1"}),
        ("error", rules.TARGET_NOT_ALLOWED, "Observation.subject"),
    ),
    (
        "required binding to a core code system",
        _set("status", "preliminary"),
        ("error", rules.REQUIRED_BINDING, "Observation.status"),
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in WEIGHT_CASES], ids=[c[0] for c in WEIGHT_CASES]
)
def test_observation_constraint_violation_is_reported(
    validator: ProfileValidator,
    weight: dict[str, Any],
    mutate: Mutation,
    expected: tuple[str, str, str],
) -> None:
    mutate(weight)
    found = errors_of(validator.validate(weight))
    severity, msg_id, location = expected
    assert (severity, msg_id, (location,)) in found, found


def test_primitive_with_only_an_extension_counts_as_present(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    del patient["birthDate"]
    patient["_birthDate"] = {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": "unknown",
            }
        ]
    }
    assert validator.validate(patient) == []


def test_contained_reference_target_is_resolved(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    patient["contained"] = [{"resourceType": "Organization", "id": "org", "name": "MSP"}]
    patient["generalPractitioner"] = [{"reference": "#org"}]
    found = errors_of(validator.validate(patient))
    assert ("error", rules.TARGET_NOT_ALLOWED, ("Patient.generalPractitioner[0]",)) in found


def test_bundle_internal_reference_is_left_to_bundle_processing(
    validator: ProfileValidator, weight: dict[str, Any]
) -> None:
    weight["subject"] = {"reference": "urn:uuid:6f1c2b0e-8f43-4d55-9a5e-111111111111"}
    assert validator.validate(weight) == []


def test_base_profile_chain_is_validated_too(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    patient["meta"]["profile"] = [CHILD]
    assert validator.validate(patient) == []
    patient["birthDate"] = "1990-01-01"
    del patient["telecom"]
    patient["active"] = False
    found = errors_of(validator.validate(patient))
    assert ("error", "test-child-1", ("Patient.birthDate",)) in found
    # the base profile's fixed value still applies through the derived profile
    assert ("error", rules.FIXED_VALUE, ("Patient.active",)) in found


def test_profile_passed_explicitly_applies_without_a_claim(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    del patient["meta"]
    del patient["birthDate"]
    assert validator.validate(patient) == []
    found = errors_of(validator.validate(patient, [PATIENT]))
    assert ("error", rules.MIN_CARDINALITY, ("Patient.birthDate",)) in found


def test_unknown_foreign_profile_is_a_warning(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    patient["meta"]["profile"].append(
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"
    )
    assert errors_of(validator.validate(patient)) == [
        ("warning", rules.UNKNOWN_PROFILE, ("Patient.meta.profile",))
    ]


def test_unknown_profile_under_our_canonical_base_is_an_error(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    patient["meta"]["profile"] = [f"{BASE}/StructureDefinition/test-patient-typo"]
    assert errors_of(validator.validate(patient)) == [
        ("error", rules.UNKNOWN_PROFILE, ("Patient.meta.profile",))
    ]


def test_unknown_profile_asked_for_explicitly_is_an_error(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    found = errors_of(validator.validate(patient, ["http://example.org/StructureDefinition/x"]))
    assert found == [("error", rules.UNKNOWN_PROFILE, ("Patient",))]


def test_profile_of_another_type_is_an_error(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    patient["meta"]["profile"] = [WEIGHT]
    assert errors_of(validator.validate(patient)) == [("error", rules.WRONG_TYPE, ("Patient",))]


def test_extension_profile_is_not_a_resource_profile(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    patient["meta"]["profile"] = [RELIABILITY]
    assert ("error", rules.WRONG_TYPE, ("Patient",)) in errors_of(validator.validate(patient))


def test_issue_names_the_profile_and_the_element(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    del patient["birthDate"]
    (issue,) = validator.validate(patient)
    assert issue.code == "required"
    assert PATIENT in issue.diagnostics
    assert "Patient.birthDate" in issue.diagnostics


def test_known_extension_is_checked_without_any_profile_claim(
    validator: ProfileValidator,
) -> None:
    patient = {
        "resourceType": "Patient",
        "extension": [{"url": RELIABILITY, "extension": [{"url": "status", "valueCode": "XX"}]}],
        "name": [{"family": "A", "extension": [{"url": NICKNAME, "valueInteger": 1}]}],
    }
    found = errors_of(validator.validate(patient))
    assert found == [
        (
            "error",
            rules.REQUIRED_BINDING,
            ("Patient.extension[0].extension[0].value.ofType(code)",),
        ),
        ("error", rules.TYPE_NOT_ALLOWED, ("Patient.name[0].extension[0].value.ofType(integer)",)),
    ]


def test_sliced_extension_problem_is_reported_once(
    validator: ProfileValidator, patient: dict[str, Any]
) -> None:
    patient["extension"][0]["extension"][0]["valueCode"] = "QUAL"
    found = errors_of(validator.validate(patient))
    assert (
        found.count(
            (
                "error",
                rules.REQUIRED_BINDING,
                ("Patient.extension[0].extension[0].value.ofType(code)",),
            )
        )
        == 1
    )


def test_bundle_entries_are_checked_against_their_claims(
    validator: ProfileValidator, patient: dict[str, Any], weight: dict[str, Any]
) -> None:
    del patient["birthDate"]
    weight["valueQuantity"]["code"] = "g"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient}, {"resource": weight}],
    }
    found = errors_of(validator.validate(bundle))
    assert found == [
        ("error", rules.MIN_CARDINALITY, ("Bundle.entry[0].resource.birthDate",)),
        ("error", rules.FIXED_VALUE, ("Bundle.entry[1].resource.value.ofType(Quantity).code",)),
    ]


def test_contained_resource_claims_are_checked(
    validator: ProfileValidator, weight: dict[str, Any], patient: dict[str, Any]
) -> None:
    patient["id"] = "pat"
    del patient["gender"]
    weight["contained"] = [patient]
    weight["subject"] = {"reference": "#pat"}
    found = errors_of(validator.validate(weight))
    assert found == [
        # the weight profile wants its subject to be an MRTC-like test patient...
        ("error", rules.TARGET_PROFILE, ("Observation.subject",)),
        # ... and the contained patient's own claim is checked where it stands
        ("error", rules.MIN_CARDINALITY, ("Observation.contained[0].gender",)),
    ]


def _ordered_validator(rules_: str, ordered: bool) -> ProfileValidator:
    sd = {
        "resourceType": "StructureDefinition",
        "url": f"{BASE}/StructureDefinition/test-ordered",
        "name": "TestOrdered",
        "kind": "resource",
        "type": "Patient",
        "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {
            "element": [
                {"id": "Patient", "path": "Patient"},
                {
                    "id": "Patient.name",
                    "path": "Patient.name",
                    "slicing": {
                        "discriminator": [{"type": "value", "path": "use"}],
                        "rules": rules_,
                        "ordered": ordered,
                    },
                },
                {"id": "Patient.name:a", "path": "Patient.name", "sliceName": "a"},
                {"id": "Patient.name:a.use", "path": "Patient.name.use", "fixedCode": "official"},
                {"id": "Patient.name:b", "path": "Patient.name", "sliceName": "b"},
                {"id": "Patient.name:b.use", "path": "Patient.name.use", "fixedCode": "usual"},
            ]
        },
    }
    return ProfileValidator.from_resources([sd])


@pytest.mark.parametrize(
    ("slicing_rules", "ordered", "uses", "expected"),
    [
        ("open", True, ["official", "usual"], []),
        ("open", True, ["usual", "official"], ["Patient.name[1]"]),
        ("open", False, ["usual", "official"], []),
        ("openAtEnd", False, ["official", "maiden", "usual"], ["Patient.name[2]"]),
        ("openAtEnd", False, ["official", "usual", "maiden"], []),
    ],
)
def test_slice_order(
    slicing_rules: str, ordered: bool, uses: list[str], expected: list[str]
) -> None:
    validator = _ordered_validator(slicing_rules, ordered)
    patient = {"resourceType": "Patient", "name": [{"use": u, "family": "X"} for u in uses]}
    issues = validator.validate(patient, [f"{BASE}/StructureDefinition/test-ordered"])
    assert [i.expression[0] for i in issues if i.msg_id == rules.SLICE_ORDER] == expected


def test_extension_used_outside_its_context_is_reported(validator: ProfileValidator) -> None:
    # test-nickname may only be used on a HumanName
    patient = {"resourceType": "Patient", "extension": [{"url": NICKNAME, "valueString": "x"}]}
    assert errors_of(validator.validate(patient)) == [
        ("error", rules.EXTENSION_CONTEXT, ("Patient.extension[0]",))
    ]


def test_extension_inside_an_extension_value_is_checked(validator: ProfileValidator) -> None:
    patient = {
        "resourceType": "Patient",
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueAddress": {"use": "homely", "city": "Nice"},
            }
        ],
    }
    assert errors_of(validator.validate(patient)) == [
        ("error", rules.REQUIRED_BINDING, ("Patient.extension[0].value.ofType(Address).use",))
    ]


@pytest.mark.parametrize(
    "mutate",
    [
        _set("meta", {"profile": True}),
        _set("name", "Dupont"),
        _set("name", [None, 3, {"use": ["official"]}]),
        _set("identifier", [{"system": ["urn:x"], "type": {"coding": "x"}}]),
        _set("extension", [{"url": 3}, "x", {"url": RELIABILITY, "extension": {"a": 1}}]),
        _set("gender", {"coding": [{"system": 1, "code": "male"}]}),
        _set("generalPractitioner", [{"reference": 3}]),
        _set("deceasedBoolean", [True]),
    ],
)
def test_malformed_json_gives_issues_not_exceptions(
    validator: ProfileValidator, patient: dict[str, Any], mutate: Mutation
) -> None:
    # The structural parse normally rejects these first; the validator must still not crash.
    mutate(patient)
    assert isinstance(validator.validate(patient), list)


def test_profile_discriminator_matches_items_conforming_to_the_slice_profile() -> None:
    url = f"{BASE}/StructureDefinition/test-by-profile"
    sd = {
        "resourceType": "StructureDefinition",
        "url": url,
        "name": "TestByProfile",
        "kind": "resource",
        "type": "Patient",
        "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {
            "element": [
                {"id": "Patient", "path": "Patient"},
                {
                    "id": "Patient.name.extension",
                    "path": "Patient.name.extension",
                    "slicing": {
                        "discriminator": [{"type": "profile", "path": "$this"}],
                        "rules": "closed",
                    },
                },
                {
                    "id": "Patient.name.extension:nick",
                    "path": "Patient.name.extension",
                    "sliceName": "nick",
                    "min": 1,
                    "type": [{"code": "Extension", "profile": [NICKNAME]}],
                },
            ]
        },
    }
    fixtures = [r for r in fixture_resources() if r.get("url") == NICKNAME]
    validator = ProfileValidator.from_resources([sd, *fixtures])
    good = {
        "resourceType": "Patient",
        "name": [{"family": "X", "extension": [{"url": NICKNAME, "valueString": "Rafa"}]}],
    }
    assert validator.validate(good, [url]) == []
    bad = copy.deepcopy(good)
    bad["name"][0]["extension"][0] = {"url": NICKNAME, "valueInteger": 1}
    found = errors_of(validator.validate(bad, [url]))
    assert ("error", rules.CLOSED_SLICING, ("Patient.name[0].extension[0]",)) in found
    assert ("error", rules.MIN_CARDINALITY, ("Patient.name[0].extension",)) in found


def test_contained_target_must_meet_the_target_profile(
    validator: ProfileValidator, weight: dict[str, Any], patient: dict[str, Any]
) -> None:
    patient["id"] = "pat"
    del patient["meta"]  # no claim: only the weight profile's targetProfile requires it
    weight["contained"] = [patient]
    weight["subject"] = {"reference": "#pat"}
    assert errors_of(validator.validate(weight)) == []
    del patient["birthDate"]
    assert errors_of(validator.validate(weight)) == [
        ("error", rules.TARGET_PROFILE, ("Observation.subject",))
    ]


def test_test_ig_compiles_without_warning(validator: ProfileValidator) -> None:
    assert validator.warnings == []


def test_dangling_references_in_a_profile_are_reported_at_load() -> None:
    sd = {
        "resourceType": "StructureDefinition",
        "url": f"{BASE}/StructureDefinition/test-dangling",
        "name": "TestDangling",
        "kind": "resource",
        "type": "Patient",
        "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {
            "element": [
                {"id": "Patient", "path": "Patient"},
                {
                    "id": "Patient.gender",
                    "path": "Patient.gender",
                    "binding": {"strength": "required", "valueSet": f"{BASE}/ValueSet/typo"},
                },
                {
                    "id": "Patient.extension:x",
                    "path": "Patient.extension",
                    "sliceName": "x",
                    "type": [
                        {"code": "Extension", "profile": [f"{BASE}/StructureDefinition/nope"]}
                    ],
                },
                {
                    "id": "Patient.link.other",
                    "path": "Patient.link.other",
                    "type": [
                        {"code": "Reference", "targetProfile": [f"{BASE}/StructureDefinition/gone"]}
                    ],
                },
            ]
        },
    }
    validator = ProfileValidator.from_resources([sd])
    assert sorted(w.rsplit(" ", 1)[-1] for w in validator.warnings) == [
        f"{BASE}/StructureDefinition/gone",
        f"{BASE}/StructureDefinition/nope",
        f"{BASE}/ValueSet/typo",
    ]
