"""String, token, reference, date, _id and _lastUpdated searches against the real database."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest

from fhir_server.errors import InvalidRequest, UnsupportedParameter
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import find_matches, search
from tests.search.conftest import ids_of, store, store_at

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOINC = "http://loinc.org"
NIR = "urn:oid:1.2.250.1.213.1.4.8"


def patient(id_: str, family: str, given: str, birth: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": id_,
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth,
        **extra,
    }


@pytest.fixture(scope="module", autouse=True)
async def data(ctx: Context) -> None:
    await store(
        ctx,
        patient(
            "p1",
            "Dupont",
            unicodedata.normalize("NFD", "Thérèse"),
            "2010-05-03",
            gender="female",
            identifier=[
                {
                    "system": NIR,
                    "value": "123",
                    "type": {"coding": [{"system": "http://t", "code": "NI"}]},
                }
            ],
        ),
        patient("p2", "Dupond", "Raphaël", "2010-06", gender="male", identifier=[{"value": "456"}]),
        patient("p3", "Martin", "Zoé", "2011-01-01", gender="female"),
        patient("p4", "Du$ne", "Rex", "1990", gender="other"),
        {"resourceType": "Patient", "id": "p5", "name": [{"family": "Sans", "given": ["Date"]}]},
        {
            "resourceType": "Patient",
            "id": "p6",
            "name": [
                {"family": "Bernard", "given": ["Anne"]},
                {"family": "Durand", "given": ["Anne"]},
            ],
        },
    )
    await store(ctx, patient("gone", "Dupont", "Ghost", "2010-05-03"), deleted=True)
    await store(
        ctx,
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2020-01-02",
        },
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8302-2"}], "text": "Taille"},
            "subject": {"reference": f"{'http://test.example/fhir'}/Patient/p2"},
            "effectivePeriod": {"start": "2020-01-01", "end": "2020-03-01"},
        },
        {
            "resourceType": "Observation",
            "id": "o3",
            "status": "amended",
            "code": {"coding": [{"code": "29463-7"}]},
            "subject": {"reference": "Group/p1"},
            "effectiveDateTime": "2021",
        },
    )


async def ids(ctx: Context, type_: str, query: list[tuple[str, str]]) -> list[str]:
    return sorted(ids_of(await search(ctx, type_, query)))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("family", "dup")], ["p1", "p2"]),
        ([("family", "DUPONT")], ["p1"]),
        ([("given", "therese")], ["p1"]),  # NFD data, unaccented query
        ([("given", unicodedata.normalize("NFC", "Thé"))], ["p1"]),
        ([("given", "raphael")], ["p2"]),
        ([("family", "dup,mart")], ["p1", "p2", "p3"]),  # comma = OR
        ([("family", "dup"), ("given", "rap")], ["p2"]),  # repetition = AND
        ([("family:exact", "Dupont")], ["p1"]),
        ([("family:exact", "dupont")], []),
        ([("family:contains", "pon")], ["p1", "p2"]),
        ([("family:contains", "$n")], ["p4"]),
        ([("name", "durand")], ["p6"]),
        ([("family", "du$")], ["p4"]),  # metacharacters are data
        ([("family", ".*")], []),
        ([("family", '{"$ne": null}')], []),
        ([("family:wildcard", "T%se")], []),
        ([("given:wildcard", "T%se")], ["p1"]),
        ([("given:wildcard", "%ph%l")], ["p2"]),
        ([("given:wildcard", "z%")], ["p3"]),
        ([("family:missing", "true")], []),
        ([("birthdate:missing", "true")], ["p5", "p6"]),
        ([("birthdate:missing", "false")], ["p1", "p2", "p3", "p4"]),
    ],
)
async def test_string_search(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Patient", query) == expected


async def test_wildcard_is_linear_on_hostile_patterns(ctx: Context) -> None:
    with pytest.raises(InvalidRequest):
        await search(ctx, "Patient", [("given:wildcard", "a%a%a%a%a%a%a%b")])
    assert await ids(ctx, "Patient", [("given:wildcard", "a%a%a%b")]) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("gender", "female")], ["p1", "p3"]),
        ([("gender", "female,male")], ["p1", "p2", "p3"]),
        ([("gender:not", "female")], ["p2", "p4", "p5", "p6"]),
        ([("identifier", f"{NIR}|123")], ["p1"]),
        ([("identifier", "123")], ["p1"]),
        ([("identifier", "|456")], ["p2"]),
        ([("identifier", "|123")], []),
        ([("identifier", f"{NIR}|")], ["p1"]),
        ([("identifier:of-type", "http://t|NI|123")], ["p1"]),
        ([("identifier:of-type", "http://t|NI|456")], []),
        ([("identifier", '{"$gt": ""}')], []),
    ],
)
async def test_token_search(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Patient", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("code", f"{LOINC}|29463-7")], ["o1"]),
        ([("code", "29463-7")], ["o1", "o3"]),
        ([("code", "|29463-7")], ["o3"]),
        ([("code:text", "body")], ["o1"]),
        ([("code:text", "TAILLE")], ["o2"]),
        ([("status", "final"), ("code", "29463-7")], ["o1"]),
    ],
)
async def test_token_search_on_codeable_concepts(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Observation", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("subject", "Patient/p1")], ["o1"]),
        ([("subject", "p1")], ["o1", "o3"]),  # bare id: any target type
        ([("subject:Patient", "p1")], ["o1"]),
        ([("patient", "p1")], ["o1"]),  # single target type
        ([("subject", "http://test.example/fhir/Patient/p2")], ["o2"]),
        ([("subject", "Patient/p2")], ["o2"]),  # absolute reference in the data
        ([("subject", "Patient/p1/_history/4")], ["o1"]),
        ([("patient", "Patient/p1,Patient/p2")], ["o1", "o2"]),
        ([("subject:missing", "false")], ["o1", "o2", "o3"]),
    ],
)
async def test_reference_search(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Observation", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("birthdate", "2010")], ["p1", "p2"]),
        ([("birthdate", "2010-05")], ["p1"]),
        ([("birthdate", "2010-05-03")], ["p1"]),
        ([("birthdate", "eq2010-06-15")], []),  # stored "2010-06" is wider than the day
        ([("birthdate", "ne2010")], ["p3", "p4"]),
        ([("birthdate", "lt2010-05-03")], ["p4"]),
        ([("birthdate", "le2010-05-03")], ["p1", "p4"]),
        ([("birthdate", "gt2010-05-03")], ["p2", "p3"]),
        ([("birthdate", "ge2010-06-15")], ["p2", "p3"]),
        ([("birthdate", "sa2010-05-03")], ["p2", "p3"]),
        ([("birthdate", "eb2010-06-01")], ["p1", "p4"]),
        ([("birthdate", "ge2010"), ("birthdate", "lt2011")], ["p1", "p2"]),
        ([("birthdate", "2011-01-01")], ["p3"]),
        ([("birthdate", "eq2011-01-01")], ["p3"]),  # the day itself (a 500 on an aware client)
        ([("birthdate", "2011-01-01T21:00Z")], []),  # the day is wider than the minute
        ([("birthdate", "ge2011-01-01T21:30:00Z")], ["p3"]),
        ([("birthdate", "1990,2011")], ["p3", "p4"]),
        ([("birthdate", "ap1990-06-01")], ["p4"]),
    ],
)
async def test_date_search(ctx: Context, query: list[tuple[str, str]], expected: list[str]) -> None:
    assert await ids(ctx, "Patient", query) == expected


@pytest.mark.parametrize(
    ("value", "hit"),
    [
        # 2011-01-01T23:30+02:00 is 21:30 UTC on 2011-01-01
        ("2011-01-01", True),
        ("2011-01-01T21:00Z", False),
        ("2011-01-01T21:30Z", True),
        ("ge2011-01-01T21:30:00Z", True),
        ("lt2011-01-01T21:30:00Z", False),
        ("2011-01-01T23:30:00+02:00", True),
        ("2011-01-02", False),
    ],
)
async def test_date_time_with_an_offset_is_compared_in_utc(
    ctx: Context, value: str, hit: bool
) -> None:
    sent = {
        "resourceType": "Communication",
        "id": "c-tz",
        "status": "completed",
        "sent": "2011-01-01T23:30:00+02:00",
    }
    await store(ctx, sent)
    assert await ids(ctx, "Communication", [("sent", value)]) == (["c-tz"] if hit else [])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("date", "2020-01-02")], ["o1"]),
        ([("date", "2020-01")], ["o1"]),  # the period runs into March
        ([("date", "2020")], ["o1", "o2"]),
        ([("date", "gt2020-02-15")], ["o2", "o3"]),
        ([("date", "sa2020-01-01")], ["o1", "o3"]),
        ([("date", "lt2020-01-02")], ["o2"]),
    ],
)
async def test_date_search_on_periods(
    ctx: Context, query: list[tuple[str, str]], expected: list[str]
) -> None:
    assert await ids(ctx, "Observation", query) == expected


async def test_invalid_date_is_an_error(ctx: Context) -> None:
    with pytest.raises(InvalidRequest):
        await search(ctx, "Patient", [("birthdate", "2010-13")])


async def test_id_and_last_updated(ctx: Context) -> None:
    assert await ids(ctx, "Patient", [("_id", "p1,p3,gone")]) == ["p1", "p3"]
    assert await ids(ctx, "Patient", [("_id", '{"$ne":1}')]) == []
    assert len(await ids(ctx, "Patient", [("_lastUpdated", "gt2020-01-01")])) == 6
    assert await ids(ctx, "Patient", [("_lastUpdated", "lt2020-01-01")]) == []


async def test_deleted_resources_are_never_returned(ctx: Context) -> None:
    assert "gone" not in await ids(ctx, "Patient", [("family", "dupont")])
    assert "gone" not in await ids(ctx, "Patient", [])
    assert await find_matches(ctx, "Patient", "_id=gone") == []


async def test_find_matches_is_strict(ctx: Context) -> None:
    found = await find_matches(ctx, "Patient", f"identifier={NIR}|123&birthdate=2010")
    assert [r.id for r in found] == ["p1"]
    assert found[0].resource is not None and found[0].resource["id"] == "p1"
    with pytest.raises(UnsupportedParameter):
        await find_matches(ctx, "Patient", "identifier=123&nonsense=1")
    with pytest.raises(InvalidRequest):
        await find_matches(ctx, "Patient", "")


async def test_unknown_modifier_is_rejected(ctx: Context) -> None:
    with pytest.raises(UnsupportedParameter):
        await search(ctx, "Patient", [("gender:below", "x")])


@pytest.mark.parametrize(
    ("value", "hit"),
    [
        ("2024-03-01", True),
        ("2024-03-01T10:00:00Z", True),  # the second holds the instant
        ("2024-03-01T10:00:00.500Z", True),
        ("2024-03-01T10:00:00.501Z", False),
        ("gt2024-03-01T10:00:00Z", False),
        ("ge2024-03-01T10:00:00Z", True),
        ("lt2024-03-01T10:00:00.500Z", False),
        ("le2024-03-01T10:00:00.500Z", True),
        ("sa2024-03-01T10:00:00.499Z", True),
        ("eb2024-03-01T10:00:00.501Z", True),
        ("eb2024-03-01T10:00:00.500Z", False),
        ("ne2024-03-01", False),
        ("2024-03-01T11:00:00+01:00", True),
    ],
)
async def test_last_updated_reads_the_stored_instant(ctx: Context, value: str, hit: bool) -> None:
    basic = {"resourceType": "Basic", "id": "lu1", "code": {"text": "x"}}
    await store_at(ctx, basic, datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC))
    found = ids_of(await search(ctx, "Basic", [("_lastUpdated", value)]))
    assert found == (["lu1"] if hit else [])
