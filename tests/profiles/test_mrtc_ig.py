"""The MRTC implementation guide in ``ig/`` through the validator.

Every example must validate against the profile it claims with no error; for
every profile, invalid variants of its example cover each kind of constraint
and must be reported at the right FHIRPath location with the right rule id
(``MRTC-PRF-*``) or invariant key (``mrtc-*``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_server.profiles import ConformanceSource, ProfileValidator, rules

IG = Path(__file__).resolve().parents[2] / "ig"
SD = "https://mrtc.example.org/fhir/StructureDefinition/"
CS = "https://mrtc.example.org/fhir/CodeSystem/"

pytestmark = pytest.mark.skipif(not (IG / "index.json").exists(), reason="ig/ not generated")


def _index() -> list[dict[str, Any]]:
    if not (IG / "index.json").exists():
        return []
    return list(orjson.loads((IG / "index.json").read_bytes())["files"])


EXAMPLES = [f["file"] for f in _index() if f.get("example")]


@pytest.fixture(scope="module")
def ig_validator() -> ProfileValidator:
    return ProfileValidator(ConformanceSource.from_ig(IG))


def load(name: str) -> dict[str, Any]:
    return copy.deepcopy(orjson.loads((IG / name).read_bytes()))


def test_every_ig_profile_compiles_without_warning(ig_validator: ProfileValidator) -> None:
    assert ig_validator.warnings == []
    profiles = [
        f["url"]
        for f in _index()
        if f.get("resourceType") == "StructureDefinition" and f.get("derivation") == "constraint"
    ]
    assert profiles
    assert all(ig_validator.profile(url) is not None for url in profiles)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_validates_without_error(ig_validator: ProfileValidator, name: str) -> None:
    resource = load(name)
    problems = [
        (i.severity, i.msg_id, i.expression, i.diagnostics)
        for i in ig_validator.validate(resource)
        if i.severity in ("error", "fatal")
    ]
    assert problems == []


def test_every_profile_has_an_example() -> None:
    claimed = {p for f in _index() if f.get("example") for p in f.get("profiles") or []}
    profiles = {
        f["url"]
        for f in _index()
        if f.get("resourceType") == "StructureDefinition"
        and f.get("kind") == "resource"
        and f.get("derivation") == "constraint"
    }
    assert profiles <= claimed


# -- invalid variants --------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def ext_index(node: dict[str, Any], url: str) -> int:
    return next(i for i, e in enumerate(node.get("extension", [])) if e["url"] == url)


def drop_ext(url: str, path: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: r) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        node = path(r)
        node["extension"] = [e for e in node["extension"] if e["url"] != url]

    return mutate


def setter(fn: Callable[[dict[str, Any]], None]) -> Mutation:
    return fn


def _patient_reliability(r: dict[str, Any]) -> dict[str, Any]:
    return r["extension"][ext_index(r, SD + "mrtc-identity-reliability")]


def _patient_birthplace(r: dict[str, Any]) -> dict[str, Any]:
    return r["extension"][
        ext_index(r, "http://hl7.org/fhir/StructureDefinition/patient-birthPlace")
    ]


def _set_status(code: str) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        sub = _patient_reliability(r)["extension"]
        sub[next(i for i, e in enumerate(sub) if e["url"] == "identityStatus")]["valueCoding"][
            "code"
        ] = code

    return mutate


def _pop(key: str) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        r.pop(key)

    return mutate


def _put(key: str, value: Any) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        r[key] = value

    return mutate


def _retype(node: dict[str, Any], old: str, new: str, value: Any) -> None:
    """Replace one choice-type key by another (valueQuantity -> valueString)."""
    node.pop(old)
    node[new] = value


def _multiple_birth_boolean(r: dict[str, Any]) -> None:
    r.pop("multipleBirthInteger", None)
    r["multipleBirthBoolean"] = True


def _birthplace_string(r: dict[str, Any]) -> None:
    place = _patient_birthplace(r)
    place.pop("valueAddress")
    place["valueString"] = "Marseille"


def _placeholder_family_while_qualified(r: dict[str, Any]) -> None:
    r["name"][0]["family"] = "A DEMANDER"


Case = tuple[str, str, Mutation, tuple[str, str, str]]

CASES: list[Case] = [
    # Patient: the five strict traits and their supports
    (
        "patient no birth date",
        "Patient-example-lea.json",
        _pop("birthDate"),
        ("error", rules.MIN_CARDINALITY, "Patient.birthDate"),
    ),
    (
        "patient no sex",
        "Patient-example-lea.json",
        _pop("gender"),
        ("error", rules.MIN_CARDINALITY, "Patient.gender"),
    ),
    (
        "patient sex outside INS values",
        "Patient-example-lea.json",
        _put("gender", "other"),
        ("error", rules.REQUIRED_BINDING, "Patient.gender"),
    ),
    (
        "patient no birth family name",
        "Patient-example-lea.json",
        lambda r: r["name"][0].pop("family"),
        ("error", rules.MIN_CARDINALITY, "Patient.name[0].family"),
    ),
    (
        "patient two first birth given names",
        "Patient-example-lea.json",
        lambda r: r["name"][0].__setitem__("given", ["Léa", "Marie"]),
        ("error", rules.MAX_CARDINALITY, "Patient.name[0].given[1]"),
    ),
    (
        "patient no official name",
        "Patient-example-lea.json",
        lambda r: r.__setitem__("name", r["name"][1:]),
        ("error", rules.MIN_CARDINALITY, "Patient.name"),
    ),
    (
        "patient no birth place",
        "Patient-example-lea.json",
        drop_ext("http://hl7.org/fhir/StructureDefinition/patient-birthPlace"),
        ("error", rules.MIN_CARDINALITY, "Patient.extension"),
    ),
    (
        "patient birth place without INSEE code",
        "Patient-example-lea.json",
        lambda r: _patient_birthplace(r)["valueAddress"].pop("extension"),
        ("error", rules.MIN_CARDINALITY, "Patient.extension[1].value.ofType(Address).extension"),
    ),
    (
        "patient birth place not an address",
        "Patient-example-lea.json",
        _birthplace_string,
        ("error", rules.TYPE_NOT_ALLOWED, "Patient.extension[1].value.ofType(string)"),
    ),
    (
        "patient twin rank not an integer",
        "Patient-example-lea.json",
        _multiple_birth_boolean,
        ("error", rules.TYPE_NOT_ALLOWED, "Patient.multipleBirth.ofType(boolean)"),
    ),
    (
        "patient INS-NIR with another system",
        "Patient-example-lea.json",
        lambda r: r["identifier"][0].__setitem__("system", "urn:oid:1.2.3"),
        ("error", rules.FIXED_VALUE, "Patient.identifier[0].system"),
    ),
    (
        "patient no identity reliability",
        "Patient-example-lea.json",
        drop_ext(SD + "mrtc-identity-reliability"),
        ("error", rules.MIN_CARDINALITY, "Patient.extension"),
    ),
    (
        "patient identity status unknown",
        "Patient-example-lea.json",
        _set_status("XXX"),
        ("error", rules.REQUIRED_BINDING, "Patient.extension[0].extension[0].value.ofType(Coding)"),
    ),
    (
        "patient identity reliability without status",
        "Patient-example-lea.json",
        lambda r: _patient_reliability(r).__setitem__(
            "extension", _patient_reliability(r)["extension"][1:]
        ),
        ("error", rules.MIN_CARDINALITY, "Patient.extension[0].extension"),
    ),
    (
        "patient born in the future",
        "Patient-example-lea.json",
        _put("birthDate", "2999-01-01"),
        ("error", "mrtc-pat-11", "Patient"),
    ),
    (
        "patient placeholder keeps the identity provisional",
        "Patient-example-lea.json",
        _placeholder_family_while_qualified,
        ("error", "mrtc-pat-2", "Patient"),
    ),
    (
        "patient malformed NIR",
        "Patient-example-lea.json",
        lambda r: r["identifier"][0].__setitem__("value", "12AB"),
        ("warning", "mrtc-pat-12", "Patient"),
    ),
    # Consent
    (
        "consent no collector",
        "Consent-example-lea.json",
        drop_ext(SD + "mrtc-consent-collector"),
        ("error", rules.MIN_CARDINALITY, "Consent.extension"),
    ),
    (
        "consent collector role unknown",
        "Consent-example-lea.json",
        lambda r: r["extension"][0]["extension"][0]["valueCoding"].__setitem__("code", "nobody"),
        ("error", rules.REQUIRED_BINDING, "Consent.extension[0].extension[0].value.ofType(Coding)"),
    ),
    (
        "consent collector party of the wrong type",
        "Consent-example-lea.json",
        lambda r: r["extension"][0]["extension"][1]["valueReference"].__setitem__(
            "reference", "Group/g1"
        ),
        (
            "error",
            rules.TARGET_NOT_ALLOWED,
            "Consent.extension[0].extension[1].value.ofType(Reference)",
        ),
    ),
    (
        "consent wrong scope",
        "Consent-example-lea.json",
        _put(
            "scope",
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "research",
                    }
                ]
            },
        ),
        ("error", rules.PATTERN_VALUE, "Consent.scope"),
    ),
    (
        "consent no date",
        "Consent-example-lea.json",
        _pop("dateTime"),
        ("error", rules.MIN_CARDINALITY, "Consent.dateTime"),
    ),
    (
        "consent for a group",
        "Consent-example-lea.json",
        _put("patient", {"reference": "Group/g"}),
        ("error", rules.TARGET_NOT_ALLOWED, "Consent.patient"),
    ),
    (
        "consent withdrawn without reason",
        "Consent-example-lea.json",
        _put("status", "inactive"),
        ("error", "mrtc-cons-1", "Consent"),
    ),
    # CareTeam
    (
        "care team without patient",
        "CareTeam-example-lea.json",
        _pop("subject"),
        ("error", rules.MIN_CARDINALITY, "CareTeam.subject"),
    ),
    (
        "care team wrong category",
        "CareTeam-example-lea.json",
        _put(
            "category",
            [
                {
                    "coding": [
                        {"system": CS + "mrtc-coordination-category", "code": "favourites-group"}
                    ]
                }
            ],
        ),
        ("error", rules.PATTERN_VALUE, "CareTeam.category[0]"),
    ),
    (
        "care team member is a patient",
        "CareTeam-example-lea.json",
        lambda r: r["participant"][1]["member"].__setitem__("reference", "Patient/x"),
        ("error", rules.TARGET_NOT_ALLOWED, "CareTeam.participant[1].member"),
    ),
    (
        "care team role outside the roles",
        "CareTeam-example-lea.json",
        lambda r: r["participant"][1].__setitem__(
            "role", [{"coding": [{"system": "urn:other", "code": "x"}]}]
        ),
        ("warning", rules.EXTENSIBLE_BINDING, "CareTeam.participant[1].role[0]"),
    ),
    (
        "care team two auto-habilitated structures",
        "CareTeam-example-lea.json",
        lambda r: r["participant"][2].__setitem__(
            "extension", [{"url": SD + "mrtc-careteam-auto-habilitation", "valueBoolean": True}]
        ),
        ("error", "mrtc-ct-1", "CareTeam"),
    ),
    (
        "care team auto-habilitation not a boolean",
        "CareTeam-example-lea.json",
        lambda r: _retype(r["participant"][0]["extension"][0], "valueBoolean", "valueCode", "yes"),
        (
            "error",
            rules.TYPE_NOT_ALLOWED,
            "CareTeam.participant[0].extension[0].value.ofType(code)",
        ),
    ),
    # CarePlan
    (
        "care plan status outside the pathway states",
        "CarePlan-example-lea.json",
        _put("status", "draft"),
        ("error", rules.REQUIRED_BINDING, "CarePlan.status"),
    ),
    (
        "care plan intent",
        "CarePlan-example-lea.json",
        _put("intent", "proposal"),
        ("error", rules.FIXED_VALUE, "CarePlan.intent"),
    ),
    (
        "care plan of another plan definition",
        "CarePlan-example-lea.json",
        _put("instantiatesCanonical", ["https://example.org/PlanDefinition/other"]),
        ("error", "mrtc-cp-1", "CarePlan"),
    ),
    (
        "care plan closed without end",
        "CarePlan-example-lea.json",
        _put("status", "completed"),
        ("error", "mrtc-cp-2", "CarePlan"),
    ),
    (
        "care plan not an MRTC pathway",
        "CarePlan-example-lea.json",
        _put("category", [{"text": "autre"}]),
        ("error", rules.MIN_CARDINALITY, "CarePlan.category"),
    ),
    (
        "care plan authored by a person",
        "CarePlan-example-lea.json",
        _put("author", {"reference": "Practitioner/p"}),
        ("error", rules.TARGET_NOT_ALLOWED, "CarePlan.author"),
    ),
    (
        "care plan two care teams",
        "CarePlan-example-lea.json",
        _put("careTeam", [{"reference": "CareTeam/a"}, {"reference": "CareTeam/b"}]),
        ("error", rules.MAX_CARDINALITY, "CarePlan.careTeam[1]"),
    ),
    (
        "care plan working day unknown",
        "CarePlan-example-lea.json",
        lambda r: r["extension"][0].__setitem__("valueCode", "someday"),
        ("error", rules.REQUIRED_BINDING, "CarePlan.extension[0].value.ofType(code)"),
    ),
    # Task
    (
        "task without section",
        "Task-example-lea-initial-msp-biometric.json",
        drop_ext(SD + "mrtc-task-section"),
        ("error", rules.MIN_CARDINALITY, "Task.extension"),
    ),
    (
        "task section unknown",
        "Task-example-lea-initial-msp-biometric.json",
        lambda r: r["extension"][0]["valueCoding"].__setitem__("code", "nowhere"),
        ("error", rules.REQUIRED_BINDING, "Task.extension[0].value.ofType(Coding)"),
    ),
    (
        "task step unknown",
        "Task-example-lea-initial-msp-biometric.json",
        lambda r: r["code"]["coding"][0].__setitem__("code", "nothing"),
        ("error", rules.REQUIRED_BINDING, "Task.code"),
    ),
    (
        "task intent",
        "Task-example-lea-initial-msp-biometric.json",
        _put("intent", "plan"),
        ("error", rules.FIXED_VALUE, "Task.intent"),
    ),
    (
        "task not honoured but completed",
        "Task-example-lea-initial-msp-biometric.json",
        lambda r: r["businessStatus"]["coding"][0].__setitem__("code", "not-honoured"),
        ("error", "mrtc-task-2", "Task"),
    ),
    (
        "task based on a patient",
        "Task-example-lea-initial-msp-biometric.json",
        _put("basedOn", [{"reference": "Patient/x"}]),
        ("error", rules.TARGET_NOT_ALLOWED, "Task.basedOn[0]"),
    ),
    (
        "task questionnaire input not a canonical",
        "Task-example-lea-initial-msp-biometric.json",
        lambda r: _retype(r["input"][0], "valueCanonical", "valueString", "formulaire"),
        ("error", rules.TYPE_NOT_ALLOWED, "Task.input[0].value.ofType(string)"),
    ),
    (
        "task response output pointing elsewhere",
        "Task-example-lea-initial-msp-biometric.json",
        lambda r: r["output"][0]["valueReference"].__setitem__("reference", "Observation/o"),
        ("error", rules.TARGET_NOT_ALLOWED, "Task.output[0].value.ofType(Reference)"),
    ),
    (
        "task for nobody",
        "Task-example-lea-initial-msp-biometric.json",
        _pop("for"),
        ("error", rules.MIN_CARDINALITY, "Task.for"),
    ),
    # Observations
    (
        "weight in grams",
        "Observation-example-weight-lea.json",
        lambda r: r["valueQuantity"].__setitem__("code", "g"),
        ("error", rules.FIXED_VALUE, "Observation.value.ofType(Quantity).code"),
    ),
    (
        "weight impossible",
        "Observation-example-weight-lea.json",
        lambda r: r["valueQuantity"].__setitem__("value", 400),
        ("error", "mrtc-obs-wt-1", "Observation"),
    ),
    (
        "weight implausible for a child",
        "Observation-example-weight-lea.json",
        lambda r: r["valueQuantity"].__setitem__("value", 200),
        ("warning", "mrtc-obs-wt-2", "Observation"),
    ),
    (
        "weight as text",
        "Observation-example-weight-lea.json",
        lambda r: _retype(r, "valueQuantity", "valueString", "65,5 kg"),
        ("error", rules.TYPE_NOT_ALLOWED, "Observation.value.ofType(string)"),
    ),
    (
        "weight without vital-signs category",
        "Observation-example-weight-lea.json",
        _put("category", [{"text": "x"}]),
        ("error", rules.MIN_CARDINALITY, "Observation.category"),
    ),
    (
        "weight coded as height",
        "Observation-example-weight-lea.json",
        _put("code", {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}),
        ("error", rules.PATTERN_VALUE, "Observation.code"),
    ),
    (
        "weight without date",
        "Observation-example-weight-lea.json",
        lambda r: [r.pop(k) for k in list(r) if k.startswith("effective")],
        ("error", rules.MIN_CARDINALITY, "Observation.effective"),
    ),
    (
        "weight of a group",
        "Observation-example-weight-lea.json",
        _put("subject", {"reference": "Group/g"}),
        ("error", rules.TARGET_NOT_ALLOWED, "Observation.subject"),
    ),
    (
        "height in metres",
        "Observation-example-height-lea.json",
        lambda r: r["valueQuantity"].__setitem__("code", "m"),
        ("error", rules.FIXED_VALUE, "Observation.value.ofType(Quantity).code"),
    ),
    (
        "height impossible",
        "Observation-example-height-lea.json",
        lambda r: r["valueQuantity"].__setitem__("value", 400),
        ("error", "mrtc-obs-ht-1", "Observation"),
    ),
    (
        "height without unit",
        "Observation-example-height-lea.json",
        lambda r: r["valueQuantity"].pop("unit"),
        ("error", rules.MIN_CARDINALITY, "Observation.value.ofType(Quantity).unit"),
    ),
    (
        "bmi impossible",
        "Observation-example-bmi-lea.json",
        lambda r: r["valueQuantity"].__setitem__("value", 150),
        ("error", "mrtc-obs-bmi-1", "Observation"),
    ),
    (
        "bmi wrong unit system",
        "Observation-example-bmi-lea.json",
        lambda r: r["valueQuantity"].__setitem__("system", "urn:units"),
        ("error", rules.FIXED_VALUE, "Observation.value.ofType(Quantity).system"),
    ),
    (
        "bmi derived from a patient",
        "Observation-example-bmi-lea.json",
        _put("derivedFrom", [{"reference": "Patient/x"}]),
        ("error", rules.TARGET_NOT_ALLOWED, "Observation.derivedFrom[0]"),
    ),
    # DocumentReference
    (
        "document without an MRTC category",
        "DocumentReference-example-bilan-msp-lea.json",
        lambda r: r.__setitem__("category", r["category"][1:]),
        ("error", rules.MIN_CARDINALITY, "DocumentReference.category"),
    ),
    (
        "document category unknown",
        "DocumentReference-example-bilan-msp-lea.json",
        lambda r: r["category"][0]["coding"][0].__setitem__("code", "nothing"),
        ("error", rules.REQUIRED_BINDING, "DocumentReference.category[0]"),
    ),
    (
        "document without title",
        "DocumentReference-example-bilan-msp-lea.json",
        lambda r: r["content"][0]["attachment"].pop("title"),
        ("error", rules.MIN_CARDINALITY, "DocumentReference.content[0].attachment.title"),
    ),
    (
        "document two contents",
        "DocumentReference-example-bilan-msp-lea.json",
        lambda r: r["content"].append(copy.deepcopy(r["content"][0])),
        ("error", rules.MAX_CARDINALITY, "DocumentReference.content[1]"),
    ),
    (
        "document without appointment date",
        "DocumentReference-example-bilan-msp-lea.json",
        lambda r: r["context"]["period"].pop("start"),
        ("error", rules.MIN_CARDINALITY, "DocumentReference.context.period.start"),
    ),
    (
        "document of a group",
        "DocumentReference-example-bilan-msp-lea.json",
        _put("subject", {"reference": "Group/g"}),
        ("error", rules.TARGET_NOT_ALLOWED, "DocumentReference.subject"),
    ),
    # Group (favourites)
    (
        "group without visibility",
        "Group-example-favourites-msp.json",
        drop_ext(SD + "mrtc-group-visibility"),
        ("error", rules.MIN_CARDINALITY, "Group.extension"),
    ),
    (
        "group visibility unknown",
        "Group-example-favourites-msp.json",
        lambda r: r["extension"][0].__setitem__("valueCode", "secret"),
        ("error", rules.REQUIRED_BINDING, "Group.extension[0].value.ofType(code)"),
    ),
    (
        "group of devices",
        "Group-example-favourites-msp.json",
        _put("type", "device"),
        ("error", rules.FIXED_VALUE, "Group.type"),
    ),
    (
        "group not actual",
        "Group-example-favourites-msp.json",
        _put("actual", False),
        ("error", rules.FIXED_VALUE, "Group.actual"),
    ),
    (
        "group member twice",
        "Group-example-favourites-msp.json",
        lambda r: r["member"].append(copy.deepcopy(r["member"][0])),
        ("error", "mrtc-grp-1", "Group"),
    ),
    (
        "group without manager",
        "Group-example-favourites-msp.json",
        _pop("managingEntity"),
        ("error", rules.MIN_CARDINALITY, "Group.managingEntity"),
    ),
    (
        "group of patients",
        "Group-example-favourites-msp.json",
        lambda r: r["member"][0]["entity"].__setitem__("reference", "Patient/p"),
        ("error", rules.TARGET_NOT_ALLOWED, "Group.member[0].entity"),
    ),
]


@pytest.mark.parametrize(
    ("name", "mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_variant_is_reported(
    ig_validator: ProfileValidator,
    name: str,
    mutate: Mutation,
    expected: tuple[str, str, str],
) -> None:
    resource = load(name)
    mutate(resource)
    found = [(i.severity, i.msg_id, i.expression) for i in ig_validator.validate(resource)]
    severity, msg_id, location = expected
    assert (severity, msg_id, (location,)) in found, found


def test_child_without_birth_date_names_the_trait_path(ig_validator: ProfileValidator) -> None:
    patient = load("Patient-example-lea.json")
    del patient["birthDate"]
    errors = [i for i in ig_validator.validate(patient) if i.severity == "error"]
    cardinality = [i for i in errors if i.msg_id == rules.MIN_CARDINALITY]
    assert [i.expression for i in cardinality] == [("Patient.birthDate",)]
    assert "Patient.birthDate" in cardinality[0].diagnostics
    assert SD + "mrtc-patient" in cardinality[0].diagnostics


ALL_FILES = [f["file"] for f in _index()]


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_ig_resource_passes_the_base_checks(
    ig_validator: ProfileValidator, name: str
) -> None:
    problems = [
        (i.msg_id, i.expression, i.diagnostics)
        for i in ig_validator.validate(load(name))
        if i.severity in ("error", "fatal")
    ]
    assert problems == []


def _urls(kind: str) -> list[str]:
    return [f["url"] for f in _index() if f.get("resourceType") == kind and f.get("url")]


@pytest.mark.parametrize("url", _urls("ValueSet"))
def test_every_ig_value_set_expands_locally(ig_validator: ProfileValidator, url: str) -> None:
    vs = ig_validator.terminology.expand(url)
    assert vs["expansion"]["total"] > 0
    assert ig_validator.terminology.expansion(url).problems == []


@pytest.mark.parametrize("url", _urls("CodeSystem"))
def test_every_ig_concept_can_be_looked_up(ig_validator: ProfileValidator, url: str) -> None:
    cs = ig_validator.terminology.code_system(url)
    assert cs is not None and cs.concepts
    for code in cs.concepts:
        out = ig_validator.terminology.lookup(url, code)
        assert out["parameter"][0]["name"] == "name"
