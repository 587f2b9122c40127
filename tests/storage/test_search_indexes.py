"""Which search parameters get a MongoDB index (FHIR_SEARCH_INDEXES)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.settings import get_search_settings
from fhir_server.storage.search_query import ensure_search_indexes

pytestmark = pytest.mark.asyncio(loop_scope="session")

IG = Path(__file__).resolve().parents[2] / "ig"


def ig_parameter(name: str) -> dict[str, Any]:
    return json.loads((IG / f"SearchParameter-{name}.json").read_text())


@pytest_asyncio.fixture(loop_scope="session")
async def db(mongo_uri: str) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    name = f"ix_{uuid.uuid4().hex[:10]}"
    yield client[name]
    await client.drop_database(name)
    await client.close()


async def indexed(db: Any, type_: str) -> set[str]:
    return set((await db[type_].index_information()).keys())


async def test_default_indexes_the_common_parameters_and_the_ig(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIR_SEARCH_INDEXES", "default")
    get_search_settings.cache_clear()
    registry = SearchParameterRegistry.load_default()
    registry.add(ig_parameter("Patient-birth-place-code"))
    registry.add(ig_parameter("Patient-identity-status"))
    await ensure_search_indexes(db, registry, ["Patient", "Observation"])
    patient = await indexed(db, "Patient")
    assert {"idx.family.n", "idx.birthdate.lo", "idx.identifier.v+_id"} <= patient
    assert "idx.birth-place-code.v+_id" in patient  # an IG parameter the identity search uses
    assert "idx.identity-status.v+_id" not in patient
    assert "idx.phonetic.n" not in patient and "idx.gender.v+_id" not in patient
    observation = await indexed(db, "Observation")
    assert {"idx.subject.v+_id", "idx.code.v+_id", "idx.date.lo"} <= observation
    assert "idx.method.v+_id" not in observation


async def test_setting_adds_parameters_or_indexes_all(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = SearchParameterRegistry.load_default()
    monkeypatch.setenv("FHIR_SEARCH_INDEXES", "Patient.gender,*.active")
    get_search_settings.cache_clear()
    await ensure_search_indexes(db, registry, ["Patient"])
    assert {"idx.gender.v+_id", "idx.active.v+_id"} <= await indexed(db, "Patient")
    monkeypatch.setenv("FHIR_SEARCH_INDEXES", "all")
    get_search_settings.cache_clear()
    await ensure_search_indexes(db, registry, ["Encounter"])
    assert len(await indexed(db, "Encounter")) > 25
    get_search_settings.cache_clear()
