"""Which search parameters get a MongoDB index (FHIR_SEARCH_INDEXES), on a server as it runs."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.settings import SearchSettings
from tests.conftest import AppClient, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def indexed(app: AppClient, type_: str) -> set[str]:
    storage: Any = app.app.state.storage
    return set((await storage.db[type_].index_information()).keys())


async def test_default_indexes_the_common_parameters_and_the_ig(mongo_uri: str) -> None:
    app = AppClient(make_settings(mongo_uri, search=SearchSettings(indexes="default")))
    async with app:
        patient = await indexed(app, "Patient")
        assert {"idx.family.n", "idx.birthdate.lo", "idx.identifier.v+_id"} <= patient
        assert "idx.birth-place-code.v+_id" in patient  # an IG parameter identity search uses
        assert "idx.identity-status.v+_id" not in patient
        assert "idx.phonetic.n" not in patient and "idx.gender.v+_id" not in patient
        observation = await indexed(app, "Observation")
        assert {"idx.subject.v+_id", "idx.code.v+_id", "idx.date.lo"} <= observation
        assert "idx.method.v+_id" not in observation


async def test_setting_adds_parameters_or_indexes_all(mongo_uri: str) -> None:
    app = AppClient(
        make_settings(mongo_uri, search=SearchSettings(indexes="Patient.gender,*.active"))
    )
    async with app:
        assert {"idx.gender.v+_id", "idx.active.v+_id"} <= await indexed(app, "Patient")
    app = AppClient(make_settings(mongo_uri, search=SearchSettings(indexes="all")))
    async with app:
        assert len(await indexed(app, "Encounter")) > 25


async def test_environment_variable_is_the_setting(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIR_SEARCH_INDEXES", "Patient.gender")
    async with AppClient(make_settings(mongo_uri)) as _:
        pass
    assert make_settings(mongo_uri).search.indexes == "Patient.gender"
