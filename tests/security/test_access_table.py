"""Who sees what, on every path a FHIR client can take (issue 9, items 3, 4 and 8).

Each principal of ``world.PRINCIPALS`` gets a token as users get one and asks
for every resource of the world through every read path: read, vread,
instance / type / system history, search by id, counts (``_summary=count``,
``_total=accurate``), ``_revinclude``, ``_has``, chains, batch and
transaction entries, ``$validate`` with an id. The expected answer is the
table ``world.VISIBLE`` — the booklet's rules written down once; a refused
read is a 404 (never a 403, which would confirm the resource exists).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import AppClient
from tests.security.world import EVERYTHING, PRINCIPALS, VISIBLE

pytestmark = pytest.mark.asyncio(loop_scope="session")
PATIENT_OF = {
    "Observation/lea-weight": "lea",
    "DocumentReference/lea-summary": "lea",
    "DocumentReference/lea-psy": "lea",
    "Observation/noah-weight": "noah",
    "DocumentReference/noah-apa-doc": "noah",
}
REVINCLUDE = {
    "Observation": "Observation:subject",
    "DocumentReference": "DocumentReference:subject",
}


def ids(bundle: dict[str, Any], mode: str | None = None) -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if "resource" in e
        and e["resource"]["resourceType"] != "OperationOutcome"
        and (mode is None or e.get("search", {}).get("mode") == mode)
    }


async def seen(c: httpx.AsyncClient, path: str, ref: str) -> bool:
    """Whether ``ref`` shows through ``path``; every refusal must be a clean 404 / absence."""
    type_, _, id_ = ref.partition("/")
    if path == "read":
        r = await c.get(f"/{ref}")
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200
    if path == "vread":
        r = await c.get(f"/{ref}/_history/1")
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200
    if path == "history-instance":
        r = await c.get(f"/{ref}/_history")
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200 and bool(r.json().get("entry"))
    if path == "history-type":
        r = await c.get(f"/{type_}/_history", params={"_count": "1000"})
        return ref in ids(r.json())
    if path == "history-system":
        r = await c.get("/_history", params={"_count": "1000"})
        return ref in ids(r.json())
    if path == "search":
        r = await c.get(f"/{type_}", params={"_id": id_})
        return ref in ids(r.json())
    if path == "search-post":
        r = await c.post(f"/{type_}/_search", data={"_id": id_})
        return ref in ids(r.json())
    if path == "summary-count":
        r = await c.get(f"/{type_}", params={"_id": id_, "_summary": "count"})
        return bool(r.json()["total"])
    if path == "total-accurate":
        r = await c.get(f"/{type_}", params={"_id": id_, "_total": "accurate"})
        return bool(r.json()["total"])
    if path == "system-search":
        r = await c.get("/", params={"_type": type_, "_count": "1000"})
        return ref in ids(r.json())
    if path == "batch":
        body = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": ref}}],
        }
        entry = (await c.post("/", json=body)).json()["entry"][0]
        assert entry["response"]["status"][:3] in ("200", "404"), entry
        return entry["response"]["status"].startswith("200")
    if path == "transaction":
        body = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "GET", "url": ref}}],
        }
        r = await c.post("/", json=body)
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200
    if path == "validate":
        r = await c.get(f"/{ref}/$validate")
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200
    raise AssertionError(path)


PATHS = (
    "read",
    "vread",
    "history-instance",
    "history-type",
    "history-system",
    "search",
    "search-post",
    "summary-count",
    "total-accurate",
    "system-search",
    "batch",
    "transaction",
    "validate",
)


@pytest.mark.parametrize("who", list(PRINCIPALS))
async def test_every_read_path_shows_exactly_the_table(world: AppClient, who: str) -> None:
    expected = VISIBLE[who]
    async with world.client_for(PRINCIPALS[who]) as c:
        wrong = [
            (path, ref, ref in expected)
            for ref in sorted(EVERYTHING)
            for path in PATHS
            if await seen(c, path, ref) != (ref in expected)
        ]
    assert wrong == [], f"{who}: (path, resource, expected) that disagree: {wrong}"


@pytest.mark.parametrize("who", list(PRINCIPALS))
async def test_links_between_resources_never_reveal_more(world: AppClient, who: str) -> None:
    """_revinclude, _include, _has and chains: a resource shows only when it and the
    resource it is reached through are both visible."""
    expected = VISIBLE[who]
    wrong = []
    async with world.client_for(PRINCIPALS[who]) as c:
        for ref, pid in PATIENT_OF.items():
            type_, _, id_ = ref.partition("/")
            both = ref in expected and f"Patient/{pid}" in expected
            r = await c.get("/Patient", params={"_id": pid, "_revinclude": REVINCLUDE[type_]})
            if (ref in ids(r.json(), "include")) != both:
                wrong.append(("revinclude", ref))
            r = await c.get(f"/{type_}", params={"_id": id_, "_include": f"{type_}:subject"})
            if (f"Patient/{pid}" in ids(r.json(), "include")) != both:
                wrong.append(("include", ref))
            r = await c.get("/Patient", params={f"_has:{type_}:subject:_id": id_})
            if (f"Patient/{pid}" in ids(r.json())) != both:
                wrong.append(("_has", ref))
            r = await c.get(f"/{type_}", params={"_id": id_, "subject._id": pid})
            if (ref in ids(r.json())) != both:
                wrong.append(("chain", ref))
    assert wrong == [], f"{who}: {wrong}"


async def test_conditional_interactions_never_reveal_a_forbidden_match(world: AppClient) -> None:
    async with world.client_for(PRINCIPALS["dietitian"]) as diet, world.client_for() as system:
        # the psychological assessment exists, but the dietitian's condition does not see it
        r = await diet.delete("/DocumentReference", params={"_id": "lea-psy"})
        assert r.status_code == 204
        assert (await system.get("/DocumentReference/lea-psy")).status_code == 200
        r = await diet.get("/DocumentReference", params={"_id": "lea-psy"})
        assert r.json().get("total", 0) == 0 and not ids(r.json())
        # a conditional update whose condition matches only a forbidden resource creates
        # nothing in a record it may not write to, and says no more than "forbidden"
        body = {
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": {"reference": "Patient/noah"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}],
        }
        r = await diet.put("/DocumentReference", params={"_id": "noah-apa-doc"}, json=body)
        assert r.status_code == 403
        r = await diet.put("/DocumentReference", params={"_id": "no-such-doc"}, json=body)
        assert r.status_code == 403


@pytest.mark.parametrize("who", list(PRINCIPALS))
async def test_the_restriction_as_a_predicate_shows_exactly_the_table(
    world_predicate: AppClient, who: str
) -> None:
    expected = VISIBLE[who]
    async with world_predicate.client_for(PRINCIPALS[who]) as c:
        wrong = [
            (path, ref, ref in expected)
            for ref in sorted(EVERYTHING)
            for path in PATHS
            if await seen(c, path, ref) != (ref in expected)
        ]
    assert wrong == [], f"{who}: (path, resource, expected) that disagree: {wrong}"
