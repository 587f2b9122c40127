"""Normalisation shared by indexing and querying."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fhir_server.search.values import (
    canonical_quantity,
    date_range,
    implicit_range,
    norm_string,
)


def test_nfc_and_nfd_forms_normalise_identically() -> None:
    nfc = unicodedata.normalize("NFC", "Thérèse")
    nfd = unicodedata.normalize("NFD", "Thérèse")
    assert nfc != nfd
    assert norm_string(nfc) == norm_string(nfd) == "therese"


def test_case_accents_and_spaces_are_folded() -> None:
    assert norm_string("  RAPHAËL   Ñoño ") == "raphael nono"
    assert norm_string("Straße") == "strasse"


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2010", datetime(2010, 1, 1, tzinfo=UTC), datetime(2011, 1, 1, tzinfo=UTC)),
        ("2010-12", datetime(2010, 12, 1, tzinfo=UTC), datetime(2011, 1, 1, tzinfo=UTC)),
        ("2010-02-28", datetime(2010, 2, 28, tzinfo=UTC), datetime(2010, 3, 1, tzinfo=UTC)),
        (
            "2010-02-28T23:30",
            datetime(2010, 2, 28, 23, 30, tzinfo=UTC),
            datetime(2010, 2, 28, 23, 31, tzinfo=UTC),
        ),
        (
            "2010-01-01T01:00:00+02:00",
            datetime(2009, 12, 31, 23, tzinfo=UTC),
            datetime(2009, 12, 31, 23, 0, 1, tzinfo=UTC),
        ),
        (
            "2010-01-01T00:00:00Z",
            datetime(2010, 1, 1, tzinfo=UTC),
            datetime(2010, 1, 1, 0, 0, 1, tzinfo=UTC),
        ),
        (
            "2010-01-01T00:00:00.5-05:00",
            datetime(2010, 1, 1, 5, 0, 0, 500000, tzinfo=UTC),
            datetime(2010, 1, 1, 5, 0, 0, 501000, tzinfo=UTC),
        ),
    ],
)
def test_dates_are_half_open_utc_ranges(text: str, low: datetime, high: datetime) -> None:
    assert date_range(text) == (low, high)


@pytest.mark.parametrize("bad", ["2010-13", "20100", "2010-02-30", "tomorrow", "2010-1-1", ""])
def test_invalid_dates_are_rejected(bad: str) -> None:
    assert date_range(bad) is None


def test_number_precision_sets_the_implicit_range() -> None:
    assert implicit_range(Decimal("100")) == (Decimal("99.5"), Decimal("100.5"))
    assert implicit_range(Decimal("100.00")) == (Decimal("99.995"), Decimal("100.005"))
    assert implicit_range(Decimal("1e2")) == (Decimal("50"), Decimal("150"))


def test_quantities_convert_to_canonical_ucum() -> None:
    ucum = "http://unitsofmeasure.org"
    assert canonical_quantity(Decimal(70), ucum, "kg") == (Decimal(70000), ucum, "g")
    assert canonical_quantity(Decimal(70000), ucum, "g") == (Decimal(70000), ucum, "g")
    assert canonical_quantity(Decimal(10), None, "lb")[2] == "g"
    assert canonical_quantity(Decimal(120), ucum, "cm") == (Decimal("1.20"), ucum, "m")
    assert canonical_quantity(Decimal(20), ucum, "kg/m2") == (Decimal(20000), ucum, "g/m2")
    assert canonical_quantity(Decimal(5), "http://other", "kg") == (
        Decimal(5),
        "http://other",
        "kg",
    )
