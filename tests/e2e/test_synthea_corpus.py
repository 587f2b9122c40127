"""Bundles as a widely used generator writes them: the Synthea corpus in tests/data.

Issue #15: 12 bundles of synthetic children (1,000 resources, see
tests/data/synthea-covid19-children/README.md) must load whole as batches and
as transactions, with the references between entries linked, and a fixed
set of searches must return what the files say. Every expected figure below
is computed from the JSON files by this test, never by the server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

CORPUS = Path(__file__).resolve().parents[1] / "data" / "synthea-covid19-children"
SYNTHEA = "https://github.com/synthetichealth/synthea"


@dataclass
class Corpus:
    """The files, indexed by walking their JSON."""

    bundles: list[dict[str, Any]]
    by_full_url: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls) -> Corpus:
        # Shared resources first (lower-case file names), as a sender would send them.
        files = sorted(CORPUS.glob("*.json"), key=lambda p: (p.name[0].isupper(), p.name))
        corpus = cls([json.loads(p.read_text()) for p in files])
        for bundle in corpus.bundles:
            for entry in bundle["entry"]:
                corpus.by_full_url[entry["fullUrl"]] = entry["resource"]
        return corpus

    def resources(self, type_: str) -> Iterator[dict[str, Any]]:
        for bundle in self.bundles:
            for entry in bundle["entry"]:
                if entry["resource"]["resourceType"] == type_:
                    yield entry["resource"]

    def target(self, reference: dict[str, Any] | None) -> dict[str, Any] | None:
        return self.by_full_url.get((reference or {}).get("reference", ""))

    @property
    def patients(self) -> list[dict[str, Any]]:
        return list(self.resources("Patient"))


CORPUS_FILES = Corpus.read()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def coded(resource: dict[str, Any], element: str, system: str, code: str) -> bool:
    return any(
        c.get("system") == system and c.get("code") == code
        for c in resource.get(element, {}).get("coding", [])
    )


@dataclass
class Loaded:
    http: httpx.AsyncClient
    mode: str
    responses: list[httpx.Response]
    ids: dict[str, str]  # Synthea patient id -> id on this server

    async def search(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every entry of a search (one page of up to 1,000)."""
        r = await self.http.get(path, params={"_count": 1000, **params})
        assert r.status_code == 200, r.text
        bundle = r.json()
        assert "next" not in {link["relation"] for link in bundle.get("link", [])}
        return list(bundle.get("entry", []))

    async def matches(self, path: str, **params: Any) -> list[dict[str, Any]]:
        return [
            e["resource"]
            for e in await self.search(path, **params)
            if e.get("search", {}).get("mode", "match") == "match"
        ]


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["batch", "transaction"])
async def loaded(request: pytest.FixtureRequest, mongo_uri: str) -> AsyncIterator[Loaded]:
    mode = request.param
    async with AppClient(make_settings(mongo_uri)) as http:
        responses = []
        for bundle in CORPUS_FILES.bundles:
            responses.append(await http.post("/", json={**bundle, "type": mode}))
        ids = {}
        for p in CORPUS_FILES.patients:
            found = (
                await http.get("/Patient", params={"identifier": f"{SYNTHEA}|{p['id']}"})
            ).json()
            assert len(found.get("entry", [])) == 1, (mode, p["id"])
            ids[p["id"]] = found["entry"][0]["resource"]["id"]
        yield Loaded(http, mode, responses, ids)


async def test_every_bundle_loads_whole(loaded: Loaded) -> None:
    statuses = []
    for response in loaded.responses:
        assert response.status_code == 200, response.text[:2000]
        statuses += [e["response"]["status"] for e in response.json()["entry"]]
    assert len(statuses) == sum(len(b["entry"]) for b in CORPUS_FILES.bundles) == 1000
    assert set(statuses) == {"201 Created"}


async def test_stored_references_are_linked_and_resolve(loaded: Loaded) -> None:
    types = {e["resource"]["resourceType"] for b in CORPUS_FILES.bundles for e in b["entry"]}
    stored: dict[str, dict[str, Any]] = {}
    for type_ in sorted(types):
        for resource in await loaded.matches(f"/{type_}"):
            stored[f"{type_}/{resource['id']}"] = resource
    assert len(stored) == 1000
    literals = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str):
                literals.append(ref)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for resource in stored.values():
        walk(resource)
    assert not [r for r in literals if r.startswith("urn:")]
    local = [r for r in literals if not r.startswith("#")]
    assert len(local) > 2500
    assert [r for r in local if r not in stored] == []


async def test_searches_by_patient(loaded: Loaded) -> None:
    for p in CORPUS_FILES.patients:
        me = f"Patient/{loaded.ids[p['id']]}"
        for type_, element, param in (
            ("Encounter", "subject", "subject"),
            ("Immunization", "patient", "patient"),
            ("Observation", "subject", "subject"),
            ("ExplanationOfBenefit", "patient", "patient"),
        ):
            expected = sum(
                1 for r in CORPUS_FILES.resources(type_) if CORPUS_FILES.target(r[element]) is p
            )
            got = await loaded.matches(f"/{type_}", **{param: me})
            assert len(got) == expected, (type_, p["id"])


async def test_searches_by_code(loaded: Loaded) -> None:
    cases = [
        ("Observation", "code", "code", "http://loinc.org", "29463-7"),
        ("Observation", "code", "code", "http://loinc.org", "94531-1"),
        ("Immunization", "vaccineCode", "vaccine-code", "http://hl7.org/fhir/sid/cvx", "140"),
        ("Condition", "code", "code", "http://snomed.info/sct", "840539006"),
    ]
    for type_, element, param, system, code in cases:
        expected = sum(1 for r in CORPUS_FILES.resources(type_) if coded(r, element, system, code))
        assert expected > 0
        got = await loaded.matches(f"/{type_}", **{param: f"{system}|{code}"})
        assert len(got) == expected, (type_, code)


async def test_chained_searches(loaded: Loaded) -> None:
    family = CORPUS_FILES.patients[0]["name"][0]["family"]
    expected = sum(
        1
        for o in CORPUS_FILES.resources("Observation")
        if (CORPUS_FILES.target(o["subject"]) or {}).get("name", [{}])[0].get("family") == family
    )
    assert len(await loaded.matches("/Observation", **{"subject.family": family})) == expected
    young = sum(
        1
        for e in CORPUS_FILES.resources("Encounter")
        if (CORPUS_FILES.target(e["subject"]) or {}).get("birthDate", "") >= "2015-01-01"
    )
    got = await loaded.matches("/Encounter", **{"subject:Patient.birthdate": "ge2015-01-01"})
    assert len(got) == young > 0
    girls = sum(
        1
        for i in CORPUS_FILES.resources("Immunization")
        if (CORPUS_FILES.target(i["patient"]) or {}).get("gender") == "female"
    )
    assert len(await loaded.matches("/Immunization", **{"patient.gender": "female"})) == girls


async def test_has_searches(loaded: Loaded) -> None:
    for type_, element, param, criterion, system, code in (
        ("Condition", "code", "subject", "code", "http://snomed.info/sct", "840539006"),
        (
            "Immunization",
            "vaccineCode",
            "patient",
            "vaccine-code",
            "http://hl7.org/fhir/sid/cvx",
            "133",
        ),
    ):
        expected = {
            (CORPUS_FILES.target(r[param]) or {}).get("id")
            for r in CORPUS_FILES.resources(type_)
            if coded(r, element, system, code)
        }
        assert expected and None not in expected
        got = await loaded.matches(
            "/Patient", **{f"_has:{type_}:{param}:{criterion}": f"{system}|{code}"}
        )
        assert {loaded.ids[str(i)] for i in expected} == {p["id"] for p in got}


async def test_include_and_revinclude(loaded: Loaded) -> None:
    p = max(
        CORPUS_FILES.patients,
        key=lambda p: sum(
            1 for e in CORPUS_FILES.resources("Encounter") if CORPUS_FILES.target(e["subject"]) is p
        ),
    )
    encounters = [
        e for e in CORPUS_FILES.resources("Encounter") if CORPUS_FILES.target(e["subject"]) is p
    ]
    providers = {e["serviceProvider"]["reference"] for e in encounters}
    entries = await loaded.search(
        "/Encounter",
        subject=f"Patient/{loaded.ids[p['id']]}",
        _include="Encounter:service-provider",
    )
    modes = [e["search"]["mode"] for e in entries]
    assert modes.count("match") == len(encounters)
    assert modes.count("include") == len(providers)
    assert {e["resource"]["resourceType"] for e in entries if e["search"]["mode"] == "include"} == {
        "Organization"
    }
    rev = await loaded.search("/Patient", _id=loaded.ids[p["id"]], _revinclude="Encounter:subject")
    assert [e["search"]["mode"] for e in rev].count("include") == len(encounters)


async def test_date_ranges(loaded: Loaded) -> None:
    low, high = datetime(2020, 3, 1, tzinfo=UTC), datetime(2020, 3, 10, tzinfo=UTC)
    expected = sum(
        1
        for o in CORPUS_FILES.resources("Observation")
        if low <= instant(o["effectiveDateTime"]) < high
    )
    got = await loaded.matches("/Observation", date=["ge2020-03-01", "lt2020-03-10"])
    assert len(got) == expected > 0
    born = sum(
        1 for p in CORPUS_FILES.patients if date.fromisoformat(p["birthDate"]) >= date(2010, 1, 1)
    )
    assert len(await loaded.matches("/Patient", birthdate="ge2010")) == born
    assert len(await loaded.matches("/Patient", birthdate="ge2005")) == len(CORPUS_FILES.patients)
    since = datetime(2019, 1, 1, tzinfo=UTC)
    shots = sum(
        1
        for i in CORPUS_FILES.resources("Immunization")
        if instant(i["occurrenceDateTime"]) >= since
    )
    assert len(await loaded.matches("/Immunization", date="ge2019-01-01")) == shots


async def test_sort_by_date_descending(loaded: Loaded) -> None:
    for p in CORPUS_FILES.patients[:3]:
        expected = sorted(
            (
                instant(i["occurrenceDateTime"])
                for i in CORPUS_FILES.resources("Immunization")
                if CORPUS_FILES.target(i["patient"]) is p
            ),
            reverse=True,
        )
        got = await loaded.matches(
            "/Immunization", patient=f"Patient/{loaded.ids[p['id']]}", _sort="-date"
        )
        assert [instant(i["occurrenceDateTime"]) for i in got] == expected
