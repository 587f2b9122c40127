"""Registry data, custom SearchParameters with reindex, _summary/_elements, index plans."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.errors import InvalidResource
from fhir_server.interactions.context import Context
from fhir_server.interactions.create import create
from fhir_server.interactions.search import search
from fhir_server.resource_types import SUPPORTED_TYPES
from fhir_server.search.registry import (
    SearchParameterRegistry,
    capability_search_params,
    narrow_expression,
)
from tests.search.conftest import ids_of, store

BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"


def test_registry_covers_every_supported_type(registry: SearchParameterRegistry) -> None:
    assert set(registry.types) == set(SUPPORTED_TYPES)
    for type_ in SUPPORTED_TYPES:
        params = registry.params_for(type_)
        assert "_id" in params and "_lastUpdated" in params, type_


def test_every_expression_compiles_and_runs(registry: SearchParameterRegistry) -> None:
    for type_ in registry.types:
        for code, p in registry.params_for(type_).items():
            if p.expression and p.type != "composite":  # composites may select the resource
                assert p.values({"resourceType": type_}) in ([], [False]), (type_, code)


def test_multi_type_expressions_are_narrowed() -> None:
    expr = "AllergyIntolerance.code | (Condition.code) | Observation.code"
    assert narrow_expression(expr, "Condition") == "(Condition.code)"
    assert narrow_expression("Resource.meta.tag", "Patient") == "Patient.meta.tag"
    assert narrow_expression(expr, "Patient") is None


def test_capability_lists_only_what_search_serves(registry: SearchParameterRegistry) -> None:
    listed = {p["name"]: p for p in capability_search_params(registry, "Patient")}
    assert listed["family"]["type"] == "string"
    assert listed["family"]["definition"] == "http://hl7.org/fhir/SearchParameter/individual-family"
    assert "_text" not in listed and "_content" not in listed
    assert "near" not in {p["name"] for p in capability_search_params(registry, "Location")}


def test_invalid_search_parameter_is_refused(registry: SearchParameterRegistry) -> None:
    with pytest.raises(InvalidResource):
        registry.add(
            {
                "resourceType": "SearchParameter",
                "url": "x",
                "code": "x",
                "base": ["Patient"],
                "type": "string",
                "expression": "Patient.name.where(",
            }
        )
    with pytest.raises(InvalidResource):
        registry.add(
            {"resourceType": "SearchParameter", "code": "x", "base": ["Patient"], "type": "string"}
        )


async def test_runtime_search_parameter_after_reindex(ctx: Context) -> None:
    await store(
        ctx,
        {
            "resourceType": "Patient",
            "id": "bp1",
            "extension": [{"url": BIRTH_PLACE, "valueAddress": {"city": "Montréal"}}],
        },
    )
    query = [("test-birth-place", "montreal")]
    await create(
        ctx,
        "SearchParameter",
        {
            "resourceType": "SearchParameter",
            "url": "http://mrtc.example/SearchParameter/test-bp",
            "name": "TestBirthPlace",
            "status": "active",
            "description": "Birth place, for a reindex test",
            "code": "test-birth-place",
            "base": ["Patient"],
            "type": "string",
            "expression": f"Patient.extension('{BIRTH_PLACE}').value",
        },
    )
    assert ids_of(await search(ctx, "Patient", query)) == []  # written before the parameter
    assert await ctx.services.repository.reindex(["Patient"], stale_only=False) >= 1
    assert ids_of(await search(ctx, "Patient", query)) == ["bp1"]


def _resource(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["entry"][0]["resource"]


async def test_summary_and_elements(ctx: Context) -> None:
    await store(
        ctx,
        {
            "resourceType": "Patient",
            "id": "s1",
            "gender": "female",
            "text": {"status": "generated", "div": "<div>x</div>"},
            "name": [{"family": "Summ"}],
            "maritalStatus": {"text": "single"},
            "photo": [{"contentType": "image/png"}],
        },
    )
    full = _resource(await search(ctx, "Patient", [("_id", "s1")]))
    assert "photo" in full and "text" in full
    summary = _resource(await search(ctx, "Patient", [("_id", "s1"), ("_summary", "true")]))
    assert "photo" not in summary and "maritalStatus" not in summary
    assert summary["name"] == [{"family": "Summ"}]
    assert any(t["code"] == "SUBSETTED" for t in summary["meta"]["tag"])
    data = _resource(await search(ctx, "Patient", [("_id", "s1"), ("_summary", "data")]))
    assert "text" not in data and "photo" in data
    text = _resource(await search(ctx, "Patient", [("_id", "s1"), ("_summary", "text")]))
    assert set(text) == {"resourceType", "id", "meta", "text"}
    elements = _resource(await search(ctx, "Patient", [("_id", "s1"), ("_elements", "gender")]))
    assert set(elements) == {"resourceType", "id", "meta", "gender"}
    count = await search(ctx, "Patient", [("_id", "s1"), ("_summary", "count")])
    assert count["total"] == 1 and "entry" not in count
    again = _resource(await search(ctx, "Patient", [("_id", "s1")]))
    assert "photo" in again and not any(
        t["code"] == "SUBSETTED" for t in again["meta"].get("tag", [])
    )
