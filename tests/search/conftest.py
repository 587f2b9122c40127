"""Search tests run on the server as ``fhir-server serve`` builds it, on a real database.

Each test module gets its own app (``create_app`` with the same settings and
database client options as ``serve``, own database) and a ``Context`` on its
services, so searches run through the same parsing, the same repository and
the same restriction seam as an HTTP request. ``store`` writes resources
through the write pipeline (validation, hooks, index extraction, a
transaction per resource), exactly like a PUT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio

from fhir_server.errors import FhirError
from fhir_server.interactions.context import Context
from fhir_server.interactions.delete import delete
from fhir_server.interactions.update import update
from fhir_server.interactions.write import stamp
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.storage.repository import Change, ReadScope
from tests.conftest import AppClient, make_settings

BASE = "http://test.example/fhir"


@pytest.fixture(scope="session")
def registry() -> SearchParameterRegistry:
    """The R4 base parameters, for tests of the registry itself (no server)."""
    return SearchParameterRegistry.load_default()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(mongo_uri: str) -> AsyncIterator[AppClient]:
    # Search data points at resources it never stores (``Group/p1`` beside ``Patient/p1``, to
    # tell reference types apart); a deployment can run so (FHIR_REFERENTIAL_INTEGRITY=false),
    # and search must answer the same either way.
    server = AppClient(make_settings(mongo_uri, referential_integrity=False))
    async with server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ctx(app: AppClient) -> Context:
    return Context.for_request(app.app.state.services, BASE)


async def store(ctx: Context, *resources: dict[str, Any], deleted: bool = False) -> list[str]:
    """Write resources as PUTs with their ids (then delete them if ``deleted``)."""
    ids = []
    for r in resources:
        type_, id_ = r["resourceType"], r["id"]
        try:
            await update(ctx, type_, id_, r)
        except FhirError as exc:  # say which test resource is not valid FHIR, and why
            raise AssertionError(f"{type_}/{id_}: {exc.outcome_issues()}") from exc
        if deleted:
            await delete(ctx, type_, id_)
        ids.append(id_)
    return ids


async def store_at(ctx: Context, resource: dict[str, Any], when: datetime) -> None:
    """Record a new version of ``resource`` as written at ``when`` (through the repository).

    For searches on ``_lastUpdated`` that need an exact stored instant.
    """
    repository = ctx.services.repository
    type_, id_ = resource["resourceType"], resource["id"]

    async def write(scope: ReadScope) -> None:
        previous = await repository.read(type_, id_, scope)
        version = previous.version + 1 if previous else 1
        await repository.write(
            Change(
                type_,
                id_,
                version,
                previous.version if previous else None,
                when,
                stamp(resource, id_, version, when),
                "PUT",
            ),
            scope,
        )

    await repository.transaction(write, ReadScope())


def ids_of(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]
