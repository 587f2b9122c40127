"""Working days of a pathway: the booklet's "jours ouvrés".

"Les jours ouvrés sont pré-remplis automatiquement. J'ai la possibilité de les
modifier": a pathway keeps the weekdays its steps may fall on (the CarePlan's
``mrtc-careplan-working-day`` extensions, Monday to Friday by default), and a
date that falls outside them, or on a French public holiday, moves forward to
the next working day. Holidays come from the maintained ``holidays`` package:
the eleven national days, plus Good Friday and 26 December in Alsace-Moselle
(départements 57, 67, 68: subdivisions "57" and "6AE"), chosen from the
structure's postal code (french-standards.md §7).
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_DAYS = ("mon", "tue", "wed", "thu", "fri")
# Département -> the holidays package's French subdivision with extra public holidays.
SUBDIVISIONS = {"57": "57", "67": "6AE", "68": "6AE"}


def subdivision_of(organization: Mapping[str, Any] | None) -> str | None:
    """The holiday subdivision of a structure, from its first address's postal code."""
    for address in (organization or {}).get("address") or []:
        code = str((address or {}).get("postalCode") or "").strip()
        if len(code) >= 2:
            return SUBDIVISIONS.get(code[:2])
    return None


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def add_duration(day: date, value: int, unit: str) -> date:
    """A PlanDefinition offset (UCUM ``d``, ``wk``, ``mo``, ``a``) added to ``day``."""
    if unit == "mo":
        return add_months(day, value)
    if unit == "a":
        return add_months(day, 12 * value)
    if unit == "wk":
        return day + timedelta(weeks=value)
    return day + timedelta(days=value)


@dataclass
class WorkingCalendar:
    """Which days a pathway's steps may be scheduled on."""

    days: tuple[str, ...] = DEFAULT_DAYS
    subdivision: str | None = None
    _holidays: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [d for d in self.days if d not in WEEKDAYS]
        if unknown or not self.days:
            raise ValueError(f"working days must be among {', '.join(WEEKDAYS)}")
        self._holidays = holidays.country_holidays("FR", subdiv=self.subdivision)

    @classmethod
    def of_careplan(
        cls, careplan: Mapping[str, Any], subdivision: str | None = None
    ) -> WorkingCalendar:
        days = tuple(
            str(e.get("valueCode"))
            for e in careplan.get("extension") or []
            if isinstance(e, dict) and e.get("url") == WORKING_DAY_URL
        )
        return cls(days or DEFAULT_DAYS, subdivision)

    def is_working_day(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.days and day not in self._holidays

    def holiday_name(self, day: date) -> str | None:
        name = self._holidays.get(day)
        return str(name) if name else None

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        for _ in range(370):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError("no working day within a year")

    def shift(self, day: date, working_days: int) -> date:
        """Move ``day`` by a signed number of working days (landing on a working day)."""
        step = 1 if working_days >= 0 else -1
        current = self.next_working_day(day)
        for _ in range(abs(working_days)):
            current += timedelta(days=step)
            while not self.is_working_day(current):
                current += timedelta(days=step)
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Signed count of working days from ``start`` to ``end`` (0 on the same day)."""
        if start == end:
            return 0
        low, high = (start, end) if start < end else (end, start)
        count = sum(
            1 for i in range(1, (high - low).days + 1) if self.is_working_day(low + timedelta(i))
        )
        return count if end > start else -count


WORKING_DAY_URL = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-careplan-working-day"


def working_day_extensions(days: Iterable[str]) -> list[dict[str, Any]]:
    return [{"url": WORKING_DAY_URL, "valueCode": d} for d in days]
