"""Fixtures: a validator over the small test IG in ``tests/profiles/fixtures``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhir_server.profiles import ConformanceSource, ProfileValidator

from ._data import BASE, VALID_PATIENT, VALID_WEIGHT, fixture_resources


@pytest.fixture(scope="session")
def source() -> ConformanceSource:
    return ConformanceSource(fixture_resources(), canonical_base=BASE)


@pytest.fixture(scope="session")
def validator(source: ConformanceSource) -> ProfileValidator:
    return ProfileValidator(source)


@pytest.fixture
def patient() -> dict[str, Any]:
    return copy.deepcopy(VALID_PATIENT)


@pytest.fixture
def weight() -> dict[str, Any]:
    return copy.deepcopy(VALID_WEIGHT)
