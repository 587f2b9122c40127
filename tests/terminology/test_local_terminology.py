"""Local terminology: expansion semantics, $validate-code and $lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_server import errors
from fhir_server.profiles import ConformanceSource
from fhir_server.terminology import TerminologyService

FIXTURES = Path(__file__).parent.parent / "profiles" / "fixtures"
B = "https://test.example.org/fhir"
STEPS = f"{B}/CodeSystem/test-steps"


@pytest.fixture(scope="module")
def tx() -> TerminologyService:
    resources = [orjson.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))]
    return ConformanceSource(resources).terminology


def codes(vs: dict[str, Any]) -> list[str]:
    return [c["code"] for c in vs["expansion"].get("contains", [])]


def params(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in p["parameter"]:
        value = next((v for k, v in item.items() if k.startswith("value")), item.get("part"))
        out.setdefault(item["name"], []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def test_whole_code_system_include_keeps_the_hierarchy_order(tx: TerminologyService) -> None:
    vs = tx.expand(f"{B}/ValueSet/test-steps-all")
    assert codes(vs) == ["initial", "msp", "diet", "diet-bio", "followup", "psy", "closure"]
    assert vs["expansion"]["total"] == 7
    initial = vs["expansion"]["contains"][0]
    assert initial["abstract"] is True  # notSelectable
    assert initial["system"] == STEPS and initial["display"] == "Bilan initial"


def test_is_a_filter_includes_the_concept_and_its_descendants(tx: TerminologyService) -> None:
    assert codes(tx.expand(f"{B}/ValueSet/test-steps-initial")) == [
        "initial",
        "msp",
        "diet",
        "diet-bio",
    ]


def test_descendent_of_filter_with_an_exclude(tx: TerminologyService) -> None:
    assert codes(tx.expand(f"{B}/ValueSet/test-steps-below-initial")) == ["msp", "diet"]


def test_value_set_import_and_concept_lists_of_other_systems(tx: TerminologyService) -> None:
    vs = tx.expand(f"{B}/ValueSet/test-mixed")
    assert [(c["system"], c["code"]) for c in vs["expansion"]["contains"]] == [
        (STEPS, "msp"),
        (STEPS, "diet"),
        ("http://loinc.org", "29463-7"),
        ("http://hl7.org/fhir/administrative-gender", "female"),
    ]
    # display comes from the core code system when the include does not give one
    assert vs["expansion"]["contains"][3]["display"] == "Female"


def test_core_value_set_expands_from_the_copied_core_code_system(tx: TerminologyService) -> None:
    vs = tx.expand("http://hl7.org/fhir/ValueSet/administrative-gender")
    assert codes(vs) == ["male", "female", "other", "unknown"]


def test_text_filter_ignores_case_and_accents_and_pages(tx: TerminologyService) -> None:
    vs = tx.expand(f"{B}/ValueSet/test-steps-all", text_filter="DIETETIQUE")
    assert codes(vs) == ["diet"]
    page = tx.expand(f"{B}/ValueSet/test-steps-all", count=2, offset=2)
    assert codes(page) == ["diet", "diet-bio"]
    assert page["expansion"]["total"] == 7 and page["expansion"]["offset"] == 2


def test_expansion_over_an_external_code_system_is_refused(tx: TerminologyService) -> None:
    with pytest.raises(errors.NotImplementedInteraction) as exc:
        tx.expand(f"{B}/ValueSet/test-open")
    assert "http://loinc.org" in exc.value.message
    # ... but membership is "unknown", not "no", for the validator
    assert tx.member(f"{B}/ValueSet/test-open", "http://loinc.org", "8302-2") is None
    assert tx.member(f"{B}/ValueSet/test-open", "http://snomed.info/sct", "1") is False


def test_unknown_value_set_is_not_found(tx: TerminologyService) -> None:
    with pytest.raises(errors.ResourceNotFound):
        tx.expand(f"{B}/ValueSet/nope")


def test_validate_code_in_and_out(tx: TerminologyService) -> None:
    ok = params(tx.validate_code(f"{B}/ValueSet/test-steps-initial", code="msp", system=STEPS))
    assert ok == {"result": True, "display": "Consultation initiale MSP"}
    out = params(tx.validate_code(f"{B}/ValueSet/test-steps-initial", code="psy", system=STEPS))
    assert out["result"] is False and "not in ValueSet" in out["message"]
    unknown = params(tx.validate_code(f"{B}/ValueSet/test-steps-all", code="zz", system=STEPS))
    assert unknown["result"] is False and "Unknown code 'zz'" in unknown["message"]


def test_validate_code_checks_display_against_designations(tx: TerminologyService) -> None:
    vs = f"{B}/ValueSet/test-steps-all"
    assert (
        params(tx.validate_code(vs, code="msp", system=STEPS, display="Initial MSP consultation"))[
            "result"
        ]
        is True
    )
    wrong = params(tx.validate_code(vs, code="msp", system=STEPS, display="Autre chose"))
    assert wrong["result"] is False and "display" in wrong["message"]


def test_validate_codeable_concept_needs_one_matching_coding(tx: TerminologyService) -> None:
    cc = {"coding": [{"system": "urn:other", "code": "x"}, {"system": STEPS, "code": "diet"}]}
    assert (
        params(tx.validate_code(f"{B}/ValueSet/test-steps-initial", codeable_concept=cc))["result"]
        is True
    )


def test_lookup_returns_display_designations_and_hierarchy(tx: TerminologyService) -> None:
    out = tx.lookup(STEPS, "diet")
    p = params(out)
    assert p["name"] == "TestSteps" and p["display"] == "Bilan diététique"
    props = {
        tuple(
            (part["name"], next(v for k, v in part.items() if k.startswith("value")))
            for part in item["part"]
        )
        for item in out["parameter"]
        if item["name"] == "property"
    }
    assert (("code", "parent"), ("value", "initial")) in props
    assert (("code", "child"), ("value", "diet-bio")) in props
    assert (("code", "kind"), ("value", "bilan")) in props
    only_parent = tx.lookup(STEPS, "diet", properties=["parent"])
    assert [i for i in only_parent["parameter"] if i["name"] == "property"] == [
        {
            "name": "property",
            "part": [
                {"name": "code", "valueCode": "parent"},
                {"name": "value", "valueCode": "initial"},
            ],
        }
    ]
    msp = tx.lookup(STEPS, "msp")
    designation = next(i for i in msp["parameter"] if i["name"] == "designation")
    assert {"name": "value", "valueString": "Initial MSP consultation"} in designation["part"]


def test_lookup_of_unknown_system_or_code_is_not_found(tx: TerminologyService) -> None:
    with pytest.raises(errors.ResourceNotFound):
        tx.lookup("urn:nope", "x")
    with pytest.raises(errors.ResourceNotFound):
        tx.lookup(STEPS, "nope")


def test_self_importing_value_set_does_not_loop() -> None:
    vs = {
        "resourceType": "ValueSet",
        "url": "urn:vs:a",
        "compose": {"include": [{"valueSet": ["urn:vs:a"]}]},
    }
    tx = TerminologyService([vs])
    assert tx.expansion("urn:vs:a").entries == {}
