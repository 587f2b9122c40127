"""Number, quantity, uri, composite, common parameters, chains and _has."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.errors import InvalidRequest, TooCostly, UnsupportedParameter
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from tests.search.conftest import ids_of, store

pytestmark = pytest.mark.asyncio(loop_scope="session")
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"


def obs(id_: str, subject: str, code: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        **value,
    }


@pytest.fixture(scope="module", autouse=True)
async def data(ctx: Context) -> None:
    await store(
        ctx,
        {"resourceType": "Organization", "id": "mspA", "name": "Maison de santé Étoile"},
        {"resourceType": "Organization", "id": "mspB", "name": "Centre Lune"},
    )
    await store(
        ctx,
        {
            "resourceType": "Patient",
            "id": "p1",
            "name": [{"family": "Dupont"}],
            "managingOrganization": {"reference": "Organization/mspA"},
            "meta": {
                "tag": [{"system": "http://mrtc", "code": "pilot"}],
                "profile": ["http://mrtc.example/StructureDefinition/mrtc-patient"],
                "security": [{"system": "http://sec", "code": "R"}],
                "source": "http://ehr.example/1",
            },
        },
        {
            "resourceType": "Patient",
            "id": "p2",
            "name": [{"family": "Martin"}],
            "managingOrganization": {"reference": "Organization/mspB"},
        },
    )
    await store(
        ctx,
        obs(
            "w1",
            "Patient/p1",
            "29463-7",
            valueQuantity={"value": 70, "unit": "kg", "system": UCUM, "code": "kg"},
        ),
        obs(
            "w2",
            "Patient/p2",
            "29463-7",
            valueQuantity={"value": 70500, "unit": "g", "system": UCUM, "code": "g"},
        ),
        obs("w3", "Patient/p2", "29463-7", valueQuantity={"value": 154, "unit": "lb"}),
        obs(
            "h1",
            "Patient/p1",
            "8302-2",
            valueQuantity={"value": 120, "unit": "cm", "system": UCUM, "code": "cm"},
        ),
        obs(
            "bp",
            "Patient/p1",
            "85354-9",
            component=[
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                    "valueQuantity": {"value": 120, "system": UCUM, "code": "mm[Hg]"},
                },
                {
                    "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                    "valueQuantity": {"value": 80, "system": UCUM, "code": "mm[Hg]"},
                },
            ],
        ),
    )
    await store(
        ctx,
        {
            "resourceType": "RiskAssessment",
            "id": "ra1",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "prediction": [{"probabilityDecimal": 0.8}],
        },
        {
            "resourceType": "RiskAssessment",
            "id": "ra2",
            "status": "final",
            "subject": {"reference": "Patient/p2"},
            "prediction": [{"probabilityDecimal": 0.25}, {"probabilityDecimal": 100}],
        },
        {
            "resourceType": "PlanDefinition",
            "id": "pd1",
            "status": "active",
            "url": "http://mrtc.example/PlanDefinition/mrtc/v1",
        },
        {
            "resourceType": "PlanDefinition",
            "id": "pd2",
            "status": "active",
            "url": "http://mrtc.example/PlanDefinition/other",
        },
    )


async def ids(ctx: Context, type_: str, query: list[tuple[str, str]]) -> list[str]:
    return sorted(ids_of(await search(ctx, type_, query)))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("probability", "0.8")], ["ra1"]),
        ([("probability", "0.80")], ["ra1"]),
        ([("probability", "gt0.5")], ["ra1", "ra2"]),  # ra2 has 100
        ([("probability", "lt0.5")], ["ra2"]),
        ([("probability", "le0.25")], ["ra2"]),
        ([("probability", "ge0.8")], ["ra1", "ra2"]),
        ([("probability", "100")], ["ra2"]),
        ([("probability", "ne0.8")], ["ra2"]),
        ([("probability", "ap0.75")], ["ra1"]),
        ([("probability", "0.8,0.25")], ["ra1", "ra2"]),
        # ra2's values 0.25 and 100 each satisfy one bound of [0.5, 1.5), neither both
        ([("probability", "2")], []),
        ([("probability", "0.3")], ["ra2"]),  # [0.25, 0.35) includes 0.25
    ],
)
async def test_number_search(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "RiskAssessment", query) == expected


async def test_number_value_must_be_a_number(ctx: Context) -> None:
    with pytest.raises(InvalidRequest):
        await search(ctx, "RiskAssessment", [("probability", "gtabc")])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("value-quantity", f"70|{UCUM}|kg")], ["w1", "w3"]),  # [69.5, 70.5) kg holds 154 lb
        ([("value-quantity", f"70.0|{UCUM}|kg")], ["w1"]),
        ([("value-quantity", f"70000|{UCUM}|g")], ["w1"]),  # canonical comparison
        ([("value-quantity", f"70.5|{UCUM}|kg")], ["w2"]),
        ([("value-quantity", f"gt69|{UCUM}|kg")], ["w1", "w2", "w3"]),  # 154 lb = 69.85 kg
        ([("value-quantity", f"lt70.2|{UCUM}|kg")], ["w1", "w3"]),
        ([("value-quantity", "70.0||kg")], ["w1"]),
        ([("value-quantity", f"1.2|{UCUM}|m")], ["h1"]),
        ([("value-quantity", "120")], ["h1"]),  # no unit: the number as written
        ([("value-quantity", f"ge100|{UCUM}|g")], ["w1", "w2", "w3"]),
        ([("component-value-quantity", f"gt100|{UCUM}|mm[Hg]")], ["bp"]),
    ],
)
async def test_quantity_search(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Observation", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("component-code-value-quantity", f"{LOINC}|8480-6$gt100")], ["bp"]),
        ([("component-code-value-quantity", f"{LOINC}|8462-4$gt100")], []),  # same component
        ([("component-code-value-quantity", "8462-4$lt90")], ["bp"]),
        ([("code-value-quantity", f"29463-7$70.0|{UCUM}|kg")], ["w1"]),
        ([("code-value-quantity", f"8302-2$70|{UCUM}|kg")], []),
    ],
)
async def test_composite_search(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Observation", query) == expected


async def test_composite_needs_every_part(ctx: Context) -> None:
    with pytest.raises(InvalidRequest):
        await search(ctx, "Observation", [("component-code-value-quantity", "8480-6")])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("url", "http://mrtc.example/PlanDefinition/mrtc/v1")], ["pd1"]),
        ([("url", "http://mrtc.example/PlanDefinition/mrtc")], []),
        ([("url:below", "http://mrtc.example/PlanDefinition/")], ["pd1", "pd2"]),
        ([("url:below", "http://mrtc.example/PlanDefinition/mrtc")], ["pd1"]),
        ([("url:above", "http://mrtc.example/PlanDefinition/mrtc/v1/extra")], ["pd1"]),
    ],
)
async def test_uri_search(ctx: Context, query: list[tuple[str, str]], expected: list[str]) -> None:
    assert await ids(ctx, "PlanDefinition", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("_tag", "http://mrtc|pilot")], ["p1"]),
        ([("_tag:not", "pilot")], ["p2"]),
        ([("_profile", "http://mrtc.example/StructureDefinition/mrtc-patient")], ["p1"]),
        ([("_security", "http://sec|R")], ["p1"]),
        ([("_source", "http://ehr.example/1")], ["p1"]),
    ],
)
async def test_common_parameters(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Patient", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("subject.family", "dupont")], ["bp", "h1", "w1"]),
        ([("subject:Patient.family", "mart")], ["w2", "w3"]),
        ([("patient.organization.name", "maison de sante")], ["bp", "h1", "w1"]),
        ([("subject:Patient.organization.name", "centre l"), ("code", "29463-7")], ["w2", "w3"]),
        ([("subject.family", "nobody")], []),
        ([("subject._id", "p2")], ["w2", "w3"]),
    ],
)
async def test_chained_search(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Observation", query) == expected


@pytest.mark.parametrize(
    ("type_", "query", "expected"),
    [
        ("Patient", [("_has:Observation:subject:code", "8302-2")], ["p1"]),
        ("Patient", [("_has:Observation:patient:code", "29463-7")], ["p1", "p2"]),
        ("Patient", [("_has:Observation:patient:value-quantity", f"gt70.2|{UCUM}|kg")], ["p2"]),
        (
            "Organization",
            [("_has:Patient:organization:_has:Observation:patient:code", "8302-2")],
            ["mspA"],
        ),
        ("Patient", [("_has:Observation:subject:code", "none")], []),
    ],
)
async def test_reverse_chaining(
    ctx: Context, type_: str, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, type_, query) == expected


async def test_chain_fan_out_is_bounded(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctx.settings.search, "max_chain_ids", 1)
    with pytest.raises(TooCostly):
        await search(ctx, "Observation", [("subject.family", "d,m")])
    with pytest.raises(TooCostly):
        await search(ctx, "Patient", [("_has:Observation:subject:code", "29463-7")])


async def test_chain_on_a_non_reference_is_an_error(ctx: Context) -> None:
    with pytest.raises(InvalidRequest):
        await search(ctx, "Observation", [("code.family", "x")])


async def test_unsupported_parameters(ctx: Context) -> None:
    bundle = await search(ctx, "Patient", [("_text", "x")])
    assert any(e["search"]["mode"] == "outcome" for e in bundle["entry"])
    with pytest.raises(UnsupportedParameter):
        await search(ctx, "Patient", [("_content", "x")], strict=True)


async def test_reference_identifier_and_include_star(ctx: Context) -> None:
    await store(
        ctx,
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"identifier": {"system": "urn:ins", "value": "INS1"}},
            "serviceProvider": {"reference": "Organization/mspA"},
        },
    )
    assert await ids(ctx, "Encounter", [("subject:identifier", "urn:ins|INS1")]) == ["e1"]
    assert await ids(ctx, "Encounter", [("subject:identifier", "urn:ins|INS2")]) == []
    bundle = await search(ctx, "Encounter", [("_id", "e1"), ("_include", "Encounter:*")])
    assert ids_of(bundle, "include") == ["mspA"]
    with pytest.raises(UnsupportedParameter):
        await search(ctx, "Encounter", [("subject:below", "Patient/p1")])
