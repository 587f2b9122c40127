"""Every index lookup of an identity search is served from an index, never a collection scan.

``$identity-search`` and ``$match`` read candidates only through
``resources.identity.candidates.lookups``; each lookup is compiled exactly as
storage compiles it and explained (the leading clause, see
``test_query_plans``), for the shapes a coordinator types: five traits,
placeholders, the ``%`` wildcard, compound names, no date.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from fhir_server.interactions.context import Context
from fhir_server.interactions.search import parse
from fhir_server.resources.identity.candidates import lookups
from fhir_server.resources.identity.matching import Query
from fhir_server.resources.identity.traits import Placeholders
from fhir_server.storage.query import compile_query
from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUERIES = {
    "five-traits": Query("DUPONT", "Léa", "2015-03-14", "female", "13055"),
    "compound-family": Query("D'Artagnan-Le Roux", "Léa", "2015-03-14", "female", "13055"),
    "placeholder-date": Query("DUPONT", "Léa", "1900-01-01", "female", "99999"),
    "wildcard-family": Query("Dup%nt", "Léa", None, "female", None),
    "given-only": Query("À DEMANDER", "Thérèse", "1900-01-01", None, None),
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(mongo_uri: str) -> AsyncIterator[AppClient]:
    server = AppClient(make_settings(mongo_uri))
    async with server:
        yield server


@pytest.mark.parametrize("name", list(QUERIES))
async def test_identity_lookups_use_an_index(app: AppClient, name: str) -> None:
    services = app.app.state.services
    storage: Any = app.app.state.storage
    ctx = Context.for_request(services, "http://test.example/fhir")
    found = lookups(QUERIES[name], Placeholders.from_ig(services.ig))
    assert found, "an identity search always has a lookup"
    for items in found:
        req = parse(ctx, "Patient", items, strict=True)
        q = await compile_query(storage.query_env(ctx.scope), "Patient", req.clauses, req.sort)
        leading = next(iter(q.filter.items()))
        explained = await storage.db["Patient"].find(dict([leading])).limit(201).explain()
        plan = str(explained["queryPlanner"]["winningPlan"])
        assert "IXSCAN" in plan and "COLLSCAN" not in plan, (items, plan)


def test_placeholders_are_never_searched_for() -> None:
    from pathlib import Path

    from fhir_server.ig import ImplementationGuide

    ig = ImplementationGuide.load(Path(__file__).resolve().parents[2] / "ig")
    searched = lookups(QUERIES["given-only"], Placeholders.from_ig(ig))
    assert searched == [[("birth-given-name", "therese")]]
    searched = lookups(QUERIES["placeholder-date"], Placeholders.from_ig(ig))
    assert searched == [[("birth-family-name", "dupont")]]


def test_a_wildcard_name_is_looked_up_only_without_a_birth_date() -> None:
    """'Dup%nt' is a prefix of three letters: thousands of records at 100,000 (bench)."""
    from pathlib import Path

    from fhir_server.ig import ImplementationGuide

    placeholders = Placeholders.from_ig(
        ImplementationGuide.load(Path(__file__).resolve().parents[2] / "ig")
    )
    with_date = lookups(Query("Dup%nt", "Léa", "2015-03-14", None, None), placeholders)
    assert with_date == [[("birthdate", "2015-03-14")]]  # 14 cannot be a month: no swap
    assert lookups(Query("Dup%nt", "Léa", None, None, None), placeholders) == [
        [("birth-family-name", "dup")]
    ]
    assert lookups(Query("D%", "Léa", None, None, None), placeholders) == [
        [("birth-given-name", "lea")]
    ]
