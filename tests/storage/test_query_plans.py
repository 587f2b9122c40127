"""The common searches compile to filters the database serves from an index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from fhir_server.interactions.context import Context
from fhir_server.interactions.search import parse
from fhir_server.storage.query import compile_query
from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(mongo_uri: str) -> AsyncIterator[AppClient]:
    server = AppClient(make_settings(mongo_uri))
    async with server:
        yield server


async def _plan(app: AppClient, type_: str, query: list[tuple[str, str]]) -> str:
    """The plan of the compiled filter's leading clause.

    SecantusDB serves a multi-clause filter from the index of its first
    indexed clause and filters the rest, but its ``explain`` does not model
    that fallback and reports COLLSCAN for any multi-field filter; so the
    leading clause, which is the one executed through the index, is what gets
    explained. On MongoDB the whole filter can be explained.
    """
    storage: Any = app.app.state.storage
    ctx = Context.for_request(app.app.state.services, "http://test.example/fhir")
    req = parse(ctx, type_, query, strict=True)
    q = await compile_query(storage.query_env(ctx.scope), type_, req.clauses, req.sort)
    leading = next(iter(q.filter.items()))
    explained = await storage.db[type_].find(dict([leading])).sort(q.sort).limit(21).explain()
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
    app: AppClient, type_: str, query: list[tuple[str, str]], index: str
) -> None:
    plan = await _plan(app, type_, query)
    assert "IXSCAN" in plan and index in plan, plan
