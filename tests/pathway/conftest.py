"""The pathway tests' server: the pathway world loaded by a trusted system, one per module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.conftest import AppClient, make_settings
from tests.pathway.world import transaction


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    server = AppClient(make_settings(mongo_uri))
    async with server as system:
        r = await system.post("/", json=transaction())
        assert r.status_code == 200, r.text
        yield server
