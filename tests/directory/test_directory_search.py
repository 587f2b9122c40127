"""$directory-search on the local (mock ROR) directory (issue 11, items 1, 2 and 6).

Expectations are computed from the shipped data file with the standard
library, independently of the server's matcher: the booklet's "Raphaël" =
"RAPHAEL" = "raphael", "T%se" finds "Thérèse", people vs units.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")

DATA = Path(__file__).resolve().parents[2] / "fhir_server" / "data" / "directory" / "paca.json"
RESOURCES = [e["resource"] for e in json.loads(DATA.read_text())["entry"]]
BY_REF = {f"{r['resourceType']}/{r['id']}": r for r in RESOURCES}
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"


def plain(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).lower()


def roles_where(test: Any) -> set[str]:
    out = set()
    for r in RESOURCES:
        if r["resourceType"] != "PractitionerRole":
            continue
        practitioner = BY_REF[r["practitioner"]["reference"]]
        if test(r, practitioner, BY_REF[r["organization"]["reference"]]):
            out.add(r["id"])
    return out


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/$directory-search", params={"_count": 1000, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def matches(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"}


async def test_the_local_directory_has_at_least_300_entries_of_paca() -> None:
    people = [r for r in RESOURCES if r["resourceType"] == "Practitioner"]
    assert len(people) >= 300
    assert all(i["value"].startswith("8") for p in people for i in p["identifier"][:1])
    cities = {a["city"] for r in RESOURCES for a in r.get("address", [])}
    assert {"Marseille", "Nice", "Toulon", "Avignon", "Gap"} <= cities


@pytest.mark.parametrize("spelling", ["raphael", "Raphaël", "RAPHAEL", "raphaël", "RAPHAËL"])
async def test_case_accents_and_diaeresis_are_ignored(
    client: httpx.AsyncClient, spelling: str
) -> None:
    expected = roles_where(lambda r, p, o: plain(p["name"][0]["given"][0]) == "raphael")
    assert expected
    assert matches(await search(client, given=spelling)) == expected


async def test_percent_replaces_letters(client: httpx.AsyncClient) -> None:
    expected = roles_where(
        lambda r, p, o: re.match("t.*se", plain(p["name"][0]["given"][0])) is not None
    )
    found = matches(await search(client, given="T%se"))
    assert found == expected
    givens = {
        BY_REF[BY_REF[f"PractitionerRole/{i}"]["practitioner"]["reference"]]["name"][0]["given"][0]
        for i in found
    }
    assert "Thérèse" in givens
    # the '%' is the only special character: a regex in the input is literal text
    assert matches(await search(client, given="T.*")) == set()


async def test_family_city_structure_and_profession_combine(client: httpx.AsyncClient) -> None:
    expected = roles_where(
        lambda r, p, o: (
            o["address"][0]["city"] == "Marseille" and r["code"][0]["coding"][0]["code"] == "95"
        )
    )
    bundle = await search(client, city="marseille", profession=f"{G15}|95")
    assert matches(bundle) == expected
    assert bundle["total"] == len(expected)
    # each match comes with its Practitioner and Organization, its phone and its description
    included = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
        if e["search"]["mode"] == "include"
    }
    for e in bundle["entry"]:
        if e["search"]["mode"] != "match":
            continue
        role = e["resource"]
        assert role["practitioner"]["reference"] in included
        assert role["organization"]["reference"] in included
        assert any(t["system"] == "phone" for t in role["telecom"])
        assert e["fullUrl"].startswith("https://ror.mock.mrtc.example.org/fhir/PractitionerRole/")
    family = BY_REF[next(iter(sorted(f"PractitionerRole/{i}" for i in expected)))]
    name = BY_REF[family["practitioner"]["reference"]]["name"][0]["family"]
    narrowed = await search(client, family=name.upper(), city="MARSEILLE", profession="95")
    assert family["id"] in matches(narrowed)
    assert matches(narrowed) <= expected


async def test_structure_names_match_any_word(client: httpx.AsyncClient) -> None:
    expected = roles_where(lambda r, p, o: "cap sud" in plain(o["name"]))
    assert expected
    assert matches(await search(client, organization="cap sud")) == expected


async def test_units_not_establishments(client: httpx.AsyncClient) -> None:
    bundle = await search(client, kind="unit", city="Nice")
    found = matches(bundle)
    expected = {
        r["id"]
        for r in RESOURCES
        if r["resourceType"] == "Organization"
        and r.get("partOf")
        and r["address"][0]["city"] == "Nice"
    }
    assert found == expected
    assert all(e["resource"]["resourceType"] == "Organization" for e in bundle["entry"])
    # the establishment comes along as an include, never as a match
    assert any(e["search"]["mode"] == "include" for e in bundle["entry"])


async def test_count_limits_the_page_and_total_says_how_many(client: httpx.AsyncClient) -> None:
    r = await client.get("/$directory-search", params={"city": "Marseille", "_count": 3})
    body = r.json()
    assert len(matches(body)) == 3
    assert body["total"] > 3
    r = await client.post(
        "/$directory-search",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "given", "valueString": "Thérèse"}],
        },
    )
    assert r.status_code == 200 and matches(r.json())


@pytest.mark.parametrize(
    ("params", "msg_id"),
    [
        ({"kind": "robot"}, "MRTC-DIR-011"),
        ({"kind": "unit", "family": "Martin"}, "MRTC-DIR-011"),
        ({"family": "%a%b%c%d%e"}, "MRTC-DIR-012"),
        ({"family": ""}, "MRTC-DIR-010"),
        ({"nickname": "Bob"}, "MRTC-OP-001"),
        ({"_count": "many"}, "MRTC-OP-001"),
    ],
)
async def test_bad_input_is_a_400_naming_the_problem(
    client: httpx.AsyncClient, params: dict[str, str], msg_id: str
) -> None:
    r = await client.get("/$directory-search", params=params)
    assert r.status_code == 400, r.text
    issue = r.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == msg_id
