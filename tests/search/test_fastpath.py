"""The JSON-walking fast path gives exactly what the FHIRPath engine gives."""

from __future__ import annotations

import json
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
        "Observation.value",  # a choice: valueQuantity, valueString, ...
        "Patient.deceased",
        "Patient.name | Patient.deceased",  # a union with a branch the walker cannot take
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
