"""The pathway tests' server: the pathway world loaded by a trusted system, one per module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.conftest import AppClient, loaded_app
from tests.pathway.world import transaction


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(mongo_uri: str) -> AsyncIterator[AppClient]:
    async with loaded_app(mongo_uri, transaction()) as server:
        yield server
