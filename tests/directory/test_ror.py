"""The ROR client behind FHIR_DIRECTORY=ror, against respx (issue 11, items 1 and 6).

Only the third-party ROR is mocked, with answers shaped like the ROR's
(a searchset of PractitionerRole with its Practitioner and Organization
included, paged with ``next`` links; Keycloak's token answer). The server is
built as ``fhir-server serve`` builds it and asked over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import respx

from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

BASE = "https://ror.test/fhir"
TOKEN = "https://ror.test/auth/realms/ror/protocol/openid-connect/token"
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
REGION = "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM|93"


def role_bundle(page: int) -> dict[str, Any]:
    """A page of the ROR's PractitionerRole?_include=... answer (fictional people)."""
    family, given = [("Bérenger", "Raphaël"), ("Lefèvre", "Thérèse")][page]
    pid, rid, oid = f"ror-pr-{page}", f"ror-role-{page}", f"ror-org-{page}"
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": f"{BASE}/PractitionerRole?page={page}"}],
        "entry": [
            {
                "fullUrl": f"{BASE}/PractitionerRole/{rid}",
                "resource": {
                    "resourceType": "PractitionerRole",
                    "id": rid,
                    "practitioner": {"reference": f"Practitioner/{pid}"},
                    "organization": {"reference": f"Organization/{oid}"},
                    "healthcareService": [{"reference": "HealthcareService/hs-1"}],
                    "code": [{"coding": [{"system": G15, "code": "10"}]}],
                    "telecom": [{"system": "phone", "value": "04 91 00 00 0" + str(page)}],
                },
                "search": {"mode": "match"},
            },
            {
                "fullUrl": f"{BASE}/Practitioner/{pid}",
                "resource": {
                    "resourceType": "Practitioner",
                    "id": pid,
                    "identifier": [
                        {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": f"81000000000{page}"}
                    ],
                    "name": [{"family": family, "given": [given]}],
                },
                "search": {"mode": "include"},
            },
            {
                "fullUrl": f"{BASE}/Organization/{oid}",
                "resource": {
                    "resourceType": "Organization",
                    "id": oid,
                    "name": f"Pôle enfants {page}",
                    "address": [{"city": "Marseille"}],
                },
                "search": {"mode": "include"},
            },
        ],
    }
    if page == 0:
        bundle["link"].append({"relation": "next", "url": f"{BASE}/PractitionerRole?page=1"})
    return bundle


EMPTY = {"resourceType": "Bundle", "type": "searchset", "entry": []}


@pytest.fixture
def ror() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.post(TOKEN).mock(
            return_value=httpx.Response(
                200, json={"access_token": "tok-1", "expires_in": 300, "token_type": "Bearer"}
            )
        )
        yield router


def ok_pages(router: respx.MockRouter) -> respx.Route:
    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "0"))
        return httpx.Response(200, json=role_bundle(page))

    route = router.get(f"{BASE}/PractitionerRole").mock(side_effect=answer)
    router.get(f"{BASE}/Organization").mock(return_value=httpx.Response(200, json=EMPTY))
    return route


@pytest_asyncio.fixture(loop_scope="session")
async def server(mongo_uri: str) -> AsyncIterator[AppClient]:
    settings = make_settings(mongo_uri)
    d = settings.professional_directory
    d.kind = "ror"
    d.ror_base_url = BASE
    d.ror_token_url = TOKEN
    d.ror_client_id = "mrtc"
    d.ror_client_secret = "s3cret"
    d.ror_profile_code, d.ror_profile_system = "CU22", "1.2.250.1.213.1.6.1.66"
    d.ror_role_code, d.ror_role_system = "AUTOMATE", "1.2.250.1.213.1.1.4.6"
    d.ror_timeout_seconds = 0.5
    d.ror_retries = 2
    d.ror_backoff_seconds = 0.01
    d.ror_cache_seconds = 0
    app = AppClient(settings)
    async with app:
        yield app


async def search(app: AppClient, **params: str) -> httpx.Response:
    return await app.http.get("/$directory-search", params=params)  # type: ignore[union-attr]


async def test_search_sends_the_token_and_ror_headers_and_follows_pages(
    server: AppClient, ror: respx.MockRouter
) -> None:
    route = ok_pages(ror)
    r = await search(server, given="therese")
    assert r.status_code == 200, r.text
    matches = [e for e in r.json()["entry"] if e["search"]["mode"] == "match"]
    assert [m["resource"]["id"] for m in matches] == ["ror-role-1"]  # found on the second page
    assert matches[0]["fullUrl"] == f"{BASE}/PractitionerRole/ror-role-1"
    first = route.calls[0].request
    assert first.headers["Authorization"] == "Bearer tok-1"
    assert first.headers["Ror-Profil-Utilisateur-Code"] == "CU22"
    assert first.headers["Ror-Profil-Utilisateur-System"] == "1.2.250.1.213.1.6.1.66"
    assert first.headers["Ror-Role-Metier-Code"] == "AUTOMATE"
    assert first.headers["Ror-Role-Metier-System"] == "1.2.250.1.213.1.1.4.6"
    assert first.url.params.get_list("_include") == [
        "PractitionerRole:practitioner",
        "PractitionerRole:organization",
    ]
    assert first.url.params["_tag"] == REGION
    token_call = ror.calls[0].request
    assert b"grant_type=client_credentials" in token_call.content
    assert b"client_secret=s3cret" in token_call.content
    # the token is reused while valid
    assert (await search(server, family="BERENGER")).status_code == 200
    assert len([c for c in ror.calls if str(c.request.url) == TOKEN]) == 1


async def test_a_token_about_to_expire_is_renewed(server: AppClient, ror: respx.MockRouter) -> None:
    ok_pages(ror)
    ror.post(TOKEN).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "short", "expires_in": 20}),
            httpx.Response(200, json={"access_token": "tok-2", "expires_in": 300}),
        ]
    )
    assert (await search(server, given="raphael")).status_code == 200
    assert (await search(server, given="raphael")).status_code == 200
    tokens = [c for c in ror.calls if str(c.request.url) == TOKEN]
    assert len(tokens) == 2  # 20 s left is inside the 30 s margin: renewed before use
    last = [c for c in ror.calls if "PractitionerRole" in str(c.request.url)][-1]
    assert last.request.headers["Authorization"] == "Bearer tok-2"


async def test_5xx_is_retried_then_succeeds(server: AppClient, ror: respx.MockRouter) -> None:
    answers = iter([httpx.Response(503), httpx.Response(502)])

    def flaky(request: httpx.Request) -> httpx.Response:
        nxt = next(answers, None)
        if nxt is not None:
            return nxt
        return httpx.Response(200, json=role_bundle(int(request.url.params.get("page", "0"))))

    route = ror.get(f"{BASE}/PractitionerRole").mock(side_effect=flaky)
    ror.get(f"{BASE}/Organization").mock(return_value=httpx.Response(200, json=EMPTY))
    r = await search(server, given="raphael")
    assert r.status_code == 200, r.text
    assert route.call_count == 4  # two failures, then the two pages


async def test_a_directory_that_keeps_failing_is_a_502(
    server: AppClient, ror: respx.MockRouter
) -> None:
    route = ror.get(f"{BASE}/PractitionerRole").mock(return_value=httpx.Response(500))
    r = await search(server, given="raphael")
    assert r.status_code == 502
    issue = r.json()["issue"][0]
    assert issue["code"] == "transient"
    assert issue["details"]["coding"][0]["code"] == "MRTC-DIR-001"
    assert route.call_count == 3  # first try + FHIR_ROR_RETRIES


async def test_a_4xx_is_a_502_at_once_without_retry(
    server: AppClient, ror: respx.MockRouter
) -> None:
    route = ror.get(f"{BASE}/PractitionerRole").mock(return_value=httpx.Response(403))
    r = await search(server, given="raphael")
    assert r.status_code == 502
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "MRTC-DIR-003"
    assert route.call_count == 1


async def test_a_slow_directory_is_a_504(server: AppClient, ror: respx.MockRouter) -> None:
    route = ror.get(f"{BASE}/PractitionerRole").mock(side_effect=httpx.ReadTimeout("slow"))
    r = await search(server, given="raphael")
    assert r.status_code == 504
    issue = r.json()["issue"][0]
    assert issue["code"] == "timeout"
    assert issue["details"]["coding"][0]["code"] == "MRTC-DIR-002"
    assert route.call_count == 3


async def test_a_refused_token_and_garbage_answers_are_502(
    server: AppClient, ror: respx.MockRouter
) -> None:
    ror.post(TOKEN).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    r = await search(server, given="raphael")
    assert r.status_code == 502
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "MRTC-DIR-006"
    ror.post(TOKEN).mock(
        return_value=httpx.Response(200, json={"access_token": "t", "expires_in": 300})
    )
    ror.get(f"{BASE}/PractitionerRole").mock(return_value=httpx.Response(200, text="<html>"))
    r = await search(server, given="raphael")
    assert r.status_code == 502
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == "MRTC-DIR-004"


async def test_answers_are_cached_for_the_ttl(mongo_uri: str, ror: respx.MockRouter) -> None:
    settings = make_settings(mongo_uri)
    d = settings.professional_directory
    d.kind, d.ror_base_url, d.ror_token_url = "ror", BASE, TOKEN
    d.ror_cache_seconds = 60
    route = ok_pages(ror)
    async with AppClient(settings) as http:
        assert (
            await http.get("/$directory-search", params={"given": "raphael"})
        ).status_code == 200
        calls = route.call_count
        assert (
            await http.get("/$directory-search", params={"given": "therese"})
        ).status_code == 200
        assert route.call_count == calls


async def test_adding_a_ror_professional_copies_it_without_dangling_references(
    server: AppClient, ror: respx.MockRouter
) -> None:
    ok_pages(ror)
    r = await server.http.put(  # type: ignore[union-attr]
        "/Patient/p1",
        json={"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "2016-01-01"},
    )
    team = {
        "resourceType": "CareTeam",
        "id": "c1",
        "status": "active",
        "category": [
            {
                "coding": [
                    {
                        "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category",
                        "code": "care-circle",
                    }
                ]
            }
        ],
        "subject": {"reference": "Patient/p1"},
    }
    assert (await server.http.put("/CareTeam/c1", json=team)).status_code == 201  # type: ignore[union-attr]
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "role",
                "valueCoding": {
                    "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role",
                    "code": "mrtc-physician",
                },
            },
            {"name": "directoryEntry", "valueString": "PractitionerRole/ror-role-0"},
        ],
    }
    r = await server.http.post("/CareTeam/c1/$add-member", json=body)  # type: ignore[union-attr]
    assert r.status_code == 200, r.text
    ref = r.json()["participant"][0]["member"]["reference"]
    role = (await server.http.get(f"/{ref}")).json()  # type: ignore[union-attr]
    assert "healthcareService" not in role  # not copied: nothing dangles
    assert role["identifier"][-1] == {"system": f"{BASE}/PractitionerRole", "value": "ror-role-0"}
