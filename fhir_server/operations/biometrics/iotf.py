"""BMI for age against the IOTF cut-offs, read from the implementation guide.

The cut-offs are the IG's ``Library/mrtc-iotf-cutoffs`` (the CSV of Cole 2000
and 2007, half-yearly from 2 to 18 years, by sex), the grades its CodeSystem
``mrtc-bmi-for-age``: each grade names the cut-off column it starts at and
the one it stops at, and its HL7 ObservationInterpretation code. Nothing of
the classification is written here but the arithmetic, so a revised table
or a new grade is an IG release (decision 0034).

Between two tabulated ages the cut-off is interpolated linearly between the
nearest ages that have a value: the papers tabulate half-years, and the CSV
leaves IOTF-17 empty at the half-years 7.5 to 17.5 (not found), so there the
whole-year neighbours are used. Outside 2-18 years there is no grade.
"""

from __future__ import annotations

import base64
import csv
import io
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_server.ig import ImplementationGuide, ImplementationGuideError
from fhir_server.operations.biometrics.codes import (
    CUTOFFS_LIBRARY,
    GRADE_SYSTEM,
    INTERPRETATION_DISPLAY,
)

SEXES = {"male": "M", "female": "F"}
FRENCH_SEX = {"M": "garçon", "F": "fille"}


@dataclass(frozen=True)
class Grade:
    """One concept of ``mrtc-bmi-for-age``, with the cut-off columns that bound it."""

    code: str
    display: str
    lower: str | None  # BMI >= this column's cut-off
    upper: str | None  # BMI < this column's cut-off
    interpretation: str  # v3-ObservationInterpretation: L | N | H

    @property
    def interpretation_display(self) -> str:
        return INTERPRETATION_DISPLAY.get(self.interpretation, self.interpretation)


@dataclass(frozen=True)
class Classification:
    grade: Grade
    age_years: float
    sex: str  # M | F
    cutoffs: dict[str, float]


def _property(concept: dict[str, Any], code: str) -> str | None:
    for prop in concept.get("property") or ():
        if prop.get("code") == code:
            value = prop.get("valueCode")
            return value if isinstance(value, str) else None
    return None


class IotfReference:
    """The IOTF cut-off curves by sex and the grades that the IG derives from them."""

    def __init__(
        self, curves: dict[tuple[str, str], list[tuple[float, float]]], grades: list[Grade]
    ):
        self._curves = curves
        self.grades = grades

    @classmethod
    def from_ig(cls, ig: ImplementationGuide) -> IotfReference:
        """Read the cut-offs and grades; a guide without them cannot serve (start refused)."""
        by_url = ig.by_url()
        library, grades_cs = by_url.get(CUTOFFS_LIBRARY), by_url.get(GRADE_SYSTEM)
        if library is None or grades_cs is None:
            raise ImplementationGuideError(
                f"the IG lacks {CUTOFFS_LIBRARY} or {GRADE_SYSTEM}: BMI for age cannot be judged"
            )
        data = next(
            (
                c.get("data")
                for c in library.get("content") or ()
                if c.get("contentType") == "text/csv"
            ),
            None,
        )
        if not isinstance(data, str):
            raise ImplementationGuideError(f"{CUTOFFS_LIBRARY} has no text/csv content")
        curves: dict[tuple[str, str], list[tuple[float, float]]] = {}
        text = base64.b64decode(data).decode("utf-8")
        for row in csv.DictReader(io.StringIO(text)):
            age, sex = float(row["age_years"]), row["sex"].strip()
            for column, value in row.items():
                if column in ("age_years", "sex") or not value or not value.strip():
                    continue
                curves.setdefault((sex, column), []).append((age, float(value)))
        for points in curves.values():
            points.sort()
        grades = [
            Grade(
                c["code"],
                c.get("display", c["code"]),
                _property(c, "lowerCutoff"),
                _property(c, "upperCutoff"),
                _property(c, "interpretation") or "N",
            )
            for c in grades_cs.get("concept") or ()
        ]
        for grade in grades:
            for column in (grade.lower, grade.upper):
                if column is not None and not any(k[1] == column for k in curves):
                    raise ImplementationGuideError(
                        f"{GRADE_SYSTEM}#{grade.code} names cut-off {column!r}, which "
                        f"{CUTOFFS_LIBRARY} does not hold"
                    )
        return cls(curves, grades)

    def curve(self, sex: str, column: str) -> list[tuple[float, float]]:
        """The tabulated points (age in years, BMI) of one cut-off curve."""
        return list(self._curves.get((sex, column), ()))

    def cutoff(self, sex: str, column: str, age_years: float) -> float | None:
        """The cut-off at ``age_years``, interpolated linearly; None outside the table."""
        points = self._curves.get((sex, column))
        if not points or age_years < points[0][0] or age_years > points[-1][0]:
            return None
        ages = [a for a, _ in points]
        i = bisect_left(ages, age_years)
        if ages[i] == age_years:
            return points[i][1]
        (a0, v0), (a1, v1) = points[i - 1], points[i]
        return v0 + (v1 - v0) * (age_years - a0) / (a1 - a0)

    def classify(self, bmi: float, age_years: float, sex: str) -> Classification | None:
        """The grade of ``bmi`` for the age and sex (M/F); None when the table cannot say."""
        cutoffs: dict[str, float] = {}
        for grade in self.grades:
            bounds: list[float | None] = []
            for column in (grade.lower, grade.upper):
                if column is None:
                    bounds.append(None)
                    continue
                value = self.cutoff(sex, column, age_years)
                if value is None:
                    return None
                cutoffs[column] = value
                bounds.append(value)
            low, high = bounds
            if (low is None or bmi >= low) and (high is None or bmi < high):
                return Classification(grade, age_years, sex, cutoffs)
        return None


def age_in_years(birth_date: Any, when: Any) -> float | None:
    """Age at ``when`` (a FHIR date or dateTime) of a child born on ``birth_date``.

    A partial birth date (``2018`` or ``2018-05``) is taken at the middle of
    its year or month; None when either date is missing or unreadable.
    """
    born, at = _date(birth_date, partial=True), _date(when, partial=False)
    if born is None or at is None or at < born:
        return None
    return (at - born).days / 365.25


def _date(value: Any, *, partial: bool) -> date | None:
    if not isinstance(value, str) or len(value) < 4:
        return None
    text = value[:10]
    try:
        if len(text) == 4 and partial:
            return date(int(text), 7, 1)
        if len(text) == 7 and partial:
            return date(int(text[:4]), int(text[5:7]), 15)
        return date.fromisoformat(text)
    except ValueError:
        return None


def sex_of(patient: dict[str, Any] | None) -> str | None:
    """``M`` / ``F`` from ``Patient.gender``; None for other, unknown or absent."""
    return SEXES.get(str((patient or {}).get("gender")))
