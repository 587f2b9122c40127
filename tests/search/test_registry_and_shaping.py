"""Registry data, custom SearchParameters with reindex, _summary/_elements, index plans."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.errors import InvalidResource
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import reindex, search
from fhir_server.resources.types import SUPPORTED_TYPES
from fhir_server.search.registry import (
    SearchParameterRegistry,
    capability_search_params,
    narrow_expression,
)
from fhir_server.search.request import parse_search
from fhir_server.storage import search_query
from tests.search.conftest import ids_of, indexes, store

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
    registry = SearchParameterRegistry.load_default()
    local = Context(db=ctx.db, settings=ctx.settings, base_url=ctx.base_url, search_params=registry)
    await store(
        local,
        {
            "resourceType": "Patient",
            "id": "bp1",
            "extension": [{"url": BIRTH_PLACE, "valueAddress": {"city": "Montréal"}}],
        },
    )
    changed = registry.add(
        {
            "resourceType": "SearchParameter",
            "url": "http://mrtc.example/SearchParameter/bp",
            "code": "birth-place",
            "base": ["Patient"],
            "type": "string",
            "expression": f"Patient.extension('{BIRTH_PLACE}').value",
        }
    )
    assert changed == ["Patient"]
    assert ids_of(await search(local, "Patient", [("birth-place", "montreal")])) == []
    assert await reindex(local, "Patient") >= 1
    assert ids_of(await search(local, "Patient", [("birth-place", "montreal")])) == ["bp1"]


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


async def _plan(ctx: Context, type_: str, query: list[tuple[str, str]]) -> str:
    """The plan of the compiled filter's leading clause.

    SecantusDB serves a multi-clause filter from the index of its first
    indexed clause and filters the rest (storage.py ``_try_index_id_keys``),
    but its ``explain`` does not model that fallback and reports COLLSCAN for
    any multi-field filter; so the leading clause, which is the one executed
    through the index, is what gets explained. On MongoDB the whole filter
    can be explained.
    """
    req = parse_search(ctx.search_params, type_, query)
    q = await search_query.compile_query(ctx, type_, req.clauses, req.sort)
    leading = next(iter(q.filter.items()))
    explained = await ctx.db[type_].find(dict([leading])).sort(q.sort).limit(21).explain()
    return str(explained["queryPlanner"]["winningPlan"])


@pytest.mark.parametrize(
    ("type_", "query", "index"),
    [
        ("Patient", [("family", "dup"), ("birthdate", "2010-05-03")], "idx.birthdate.lo"),
        ("Patient", [("family", "dup"), ("birthdate", "2010")], "idx.family.n"),
        (
            "Observation",
            [("subject", "Patient/p1"), ("code", "http://loinc.org|29463-7"), ("_sort", "-date")],
            "idx.subject.v",
        ),
        ("Observation", [("code", "29463-7"), ("date", "ge2020")], "idx.code.v"),
        ("Patient", [("identifier", "urn:x|1")], "idx.identifier.v"),
    ],
)
async def test_common_searches_use_an_index(
    ctx: Context, type_: str, query: list[tuple[str, str]], index: str
) -> None:
    await indexes(ctx, "Patient", "Observation")
    plan = await _plan(ctx, type_, query)
    assert "IXSCAN" in plan and index in plan, plan
