"""The JSON-walking fast path gives exactly what the FHIRPath engine gives."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fhir_server.search.fastpath import compile_simple
from fhir_server.search.registry import SearchParameterRegistry, compile_expression

ROOT = Path(__file__).resolve().parents[2]


def corpus() -> list[dict[str, Any]]:
    resources = [json.loads(p.read_text()) for p in sorted((ROOT / "ig").glob("*-*.json"))]
    resources += [
        {
            "resourceType": "Patient",
            "id": "p",
            "name": [
                {"use": "official", "family": "Dupont", "given": ["Léa", "Marie"]},
                {"use": "usual", "family": "Martin", "_family": {"extension": []}},
            ],
            "telecom": [{"system": "email", "value": "a@b.fr"}, {"system": "phone"}],
            "address": [{"city": "Lille", "line": ["1 rue X", None]}],
            "birthDate": "2015-03-04",
            "deceasedBoolean": False,
            "multipleBirthInteger": 2,
            "link": [{"other": {"reference": "Patient/q"}, "type": "seealso"}],
            "contact": [{"name": {"family": "Mère"}, "relationship": [{"text": "mère"}]}],
        },
        {
            "resourceType": "Observation",
            "id": "o",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": "Patient/p"},
            "effectiveDateTime": "2026-01-02",
            "valueQuantity": {"value": 30, "unit": "kg", "code": "kg"},
            "component": [{"code": {"text": "x"}, "valueString": "y"}],
        },
        {  # one of each choice type the walker takes (``Observation.value as T``)
            "resourceType": "Observation",
            "id": "choices",
            "status": "final",
            "code": {"text": "x"},
            "valueCodeableConcept": {"coding": [{"system": "s", "code": "c"}], "text": "t"},
            "component": [
                {"code": {"text": "a"}, "valueCodeableConcept": {"text": "u"}},
                {"code": {"text": "b"}, "valueDateTime": "2024-05-06T07:08:09+02:00"},
                {"code": {"text": "c"}, "valuePeriod": {"start": "2024-01-01"}},
                {"code": {"text": "d"}, "valueQuantity": {"value": 1.5, "unit": "kg"}},
                {"code": {"text": "e"}, "valueRange": {"low": {"value": 0.25}}},
            ],
        },
        {
            "resourceType": "Observation",
            "id": "qty",
            "valueQuantity": {
                "value": 19.6,
                "code": "kg/m2",
                "extension": [{"url": "u", "valueDecimal": 1e-7}],
                "_code": {"extension": [{"url": "v", "valueString": "x"}]},
            },
        },
        {"resourceType": "Observation", "id": "rt", "valueRatio": {"numerator": {"value": 0.5}}},
        {"resourceType": "Observation", "id": "bo", "valueBoolean": False},
        {"resourceType": "Observation", "id": "ti", "valueTime": "10:00:00"},
        {"resourceType": "Observation", "id": "dt", "valueDateTime": "2024-05-06"},
        {"resourceType": "Observation", "id": "pe", "valuePeriod": {"end": "2024-05-06T10:00Z"}},
        {"resourceType": "Observation", "id": "st", "valueString": "texte libre"},
        {"resourceType": "Patient", "id": "dd", "deceasedDateTime": "2020-02-02"},
    ]
    return resources


@pytest.fixture(scope="module")
def registry() -> SearchParameterRegistry:
    registry = SearchParameterRegistry.load_default()
    for path in sorted((ROOT / "ig").glob("SearchParameter-*.json")):
        registry.add(json.loads(path.read_text()))
    return registry


def test_fast_path_agrees_with_the_engine(registry: SearchParameterRegistry) -> None:
    resources = corpus()
    fast = 0
    for type_ in registry.types:
        for param in registry.params_for(type_).values():
            if not param.expression:
                continue
            walker = compile_simple(param.expression)
            if walker is None:
                continue
            fast += 1
            engine = compile_expression(param.expression)
            for resource in resources:
                assert walker(resource) == engine(resource), (type_, param.code, resource["id"])
    assert fast > 300  # most base parameters are plain paths


@pytest.mark.parametrize(
    "expression",
    [
        "Observation.value",  # a choice with a type the walker leaves to the engine (Integer)
        "Patient.multipleBirth",  # boolean or integer: integers stay with the engine
        "Patient.name | Patient.multipleBirth",  # a union with a branch the walker cannot take
        "Patient.name.where(use = 'official').family",
        "Patient.birthDate.extension",  # below a primitive
        "Patient.unknownElement",
    ],
)
def test_what_stays_with_the_engine(expression: str) -> None:
    assert compile_simple(expression) is None


def test_unions_and_reference_types_are_walked_like_the_engine() -> None:
    audit = {
        "resourceType": "AuditEvent",
        "agent": [{"who": {"reference": "Practitioner/d"}}, {"who": {"reference": "Patient/p"}}],
        "entity": [
            {"what": {"reference": "Patient/p"}},
            {"what": {"reference": "Observation/o/_history/2"}},
            {"what": {"identifier": {"value": "x"}}},
        ],
    }
    expression = (
        "AuditEvent.agent.who.where(resolve() is Patient) | "
        "AuditEvent.entity.what.where(resolve() is Patient)"
    )
    walker = compile_simple(expression)
    assert walker is not None
    assert walker(audit) == compile_expression(expression)(audit) == [{"reference": "Patient/p"}]
    typed = compile_simple("AuditEvent.entity.what.where(resolve() is Observation)")
    assert typed is not None and typed(audit) == [{"reference": "Observation/o/_history/2"}]


def test_one_type_of_a_choice_is_walked_unless_the_engine_converts_it() -> None:
    """``X.value as CodeableConcept`` reads ``valueCodeableConcept``; ``as uri`` stays put."""
    walker = compile_simple("(Observation.value as CodeableConcept)")
    assert walker is not None
    obs = {"resourceType": "Observation", "valueCodeableConcept": {"text": "t"}}
    assert walker(obs) == [{"text": "t"}]
    quantity = compile_simple("(Observation.value as Quantity)")
    assert quantity is not None  # its value as the engine gives it: a Decimal
    assert quantity({"resourceType": "Observation", "valueQuantity": {"value": 19.6}}) == [
        {"value": Decimal("19.6")}
    ]
    assert compile_simple("(ConceptMap.source as uri)") is None  # canonical is a uri too


def test_composite_walkers_give_what_the_engine_gives(registry: SearchParameterRegistry) -> None:
    """Per item, per component: the walker's values are the engine's, for every composite."""
    resources = corpus()
    walked = 0
    for type_ in registry.types:
        for param in registry.params_for(type_).values():
            if param.type != "composite" or param.composite_walker is None:
                continue
            walked += 1
            for resource in resources:
                fast = [[w(item) for w in ws] for item, ws in param.composite_walker(resource)]
                engine = [
                    [evaluate(node) for evaluate in param.component_evaluators]
                    for node in param.nodes(resource)
                ]
                assert fast == engine, (type_, param.code, resource["id"])
    assert walked >= 10  # Observation's code-value-* and combo-code-value-* among them
    observation = registry.get("Observation", "code-value-quantity")
    assert observation is not None and observation.composite_walker is not None


def test_a_path_ending_on_a_choice_reads_whichever_type_is_there() -> None:
    walker = compile_simple("Observation.effective")
    assert walker is not None
    engine = compile_expression("Observation.effective")
    for obs in (
        {"resourceType": "Observation", "effectiveDateTime": "2024-05-06"},
        {"resourceType": "Observation", "effectivePeriod": {"start": "2024-05-06"}},
        {"resourceType": "Observation", "effectiveInstant": "2024-05-06T10:00:00Z"},
        {
            "resourceType": "Observation",
            "effectiveTiming": {"repeat": {"duration": 1.5, "durationUnit": "h"}},
        },
        {"resourceType": "Observation"},
    ):
        assert walker(obs) == engine(obs)
