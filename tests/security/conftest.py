"""The security tests' server: the MRTC world loaded by a trusted system, short break-glass."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.conftest import AppClient, make_settings
from tests.security.world import transaction

BREAK_GLASS_SECONDS = 4


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    settings = make_settings(mongo_uri)
    settings.auth.break_glass_seconds = BREAK_GLASS_SECONDS
    server = AppClient(settings)
    async with server as system:
        r = await system.post("/", json=transaction())
        assert r.status_code == 200, r.text
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world_predicate(mongo_uri: str) -> AsyncIterator[AppClient]:
    """The same world, with every access restriction applied as a predicate on the
    candidates rather than as a database ``$in`` (what callers habilitated on more
    than ``FHIR_SEARCH_RESTRICTION_IN_LIMIT`` records get)."""
    settings = make_settings(mongo_uri)
    settings.auth.break_glass_seconds = BREAK_GLASS_SECONDS
    settings.search.restriction_in_limit = 1  # the smallest allowed
    server = AppClient(settings)
    async with server as system:
        r = await system.post("/", json=transaction())
        assert r.status_code == 200, r.text
        yield server
