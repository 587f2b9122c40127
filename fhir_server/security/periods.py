"""Whether a FHIR Period is in force: the one reading of participant, role and team dates.

An end date covers its whole day (``2026-03-02`` ends at midnight after it), a
start date begins at its first instant; a period without a bound is open on
that side.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir_server.search.values import date_range


def ended(period: Any, now: datetime) -> bool:
    """Whether a FHIR Period ended before ``now``."""
    if not isinstance(period, dict) or not isinstance(period.get("end"), str):
        return False
    bounds = date_range(period["end"])
    return bounds is not None and bounds[1] <= now


def not_started(period: Any, now: datetime) -> bool:
    """Whether a FHIR Period starts after ``now``."""
    if not isinstance(period, dict) or not isinstance(period.get("start"), str):
        return False
    bounds = date_range(period["start"])
    return bounds is not None and bounds[0] > now
