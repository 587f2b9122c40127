"""The pathway's data, read from the IG: the plan, the working-day calendar, the follow-up cap.

Pure functions over the packaged IG (no server): they would fail if the IG's
PlanDefinition lost a fixed step, a delay or the cap, or if the calendar
stopped skipping a holiday.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhir_server.ig import ImplementationGuide
from fhir_server.pathway.calendar import WorkingCalendar, add_months, subdivision_of
from fhir_server.pathway.plan import PathwayPlan
from fhir_server.pathway.progress import may_trigger, progress

IG = ImplementationGuide.load(Path(__file__).parents[2] / "ig")
PLAN = PathwayPlan.from_ig(IG)
SECTION = "https://mrtc.example.org/fhir/StructureDefinition/mrtc-task-section"
STATUS = "https://mrtc.example.org/fhir/CodeSystem/mrtc-task-business-status"


def task(section: str, step: str, status: str = "to-do") -> dict[str, Any]:
    return {
        "extension": [{"url": SECTION, "valueCoding": {"code": section}}],
        "code": {"coding": [{"code": step}]},
        "businessStatus": {"coding": [{"system": STATUS, "code": status}]},
    }


def test_fixed_sections_are_the_booklets_etapes_figees() -> None:
    assert [s.action_id for s in PLAN.sections if s.fixed] == [
        "initial-msp",
        "initial-dietitian",
        "final-dietitian",
        "mrtc-end",
    ]


def test_each_section_goes_to_the_member_of_its_profession() -> None:
    roles = {s.action_id: PLAN.care_circle_role(s) for s in PLAN.sections}
    assert roles["initial-msp"] == roles["mrtc-end"] == "mrtc-physician"  # not the child's GP
    assert roles["dietitian-followup"] == "dietitian"
    assert roles["apa-assessment"] == "apa-educator"


def test_psychologist_final_report_is_psychological() -> None:
    step = PLAN.step("final-psychologist", "transmit-report")
    assert step is not None and step.report_categories == ("final-psychological-assessment",)
    concept = next(
        c
        for c in IG.by_url()["https://mrtc.example.org/fhir/CodeSystem/mrtc-document-category"][
            "concept"
        ]
        if c["code"] == "final-psychological-assessment"
    )
    psychological = next(p for p in concept["property"] if p["code"] == "psychological")
    assert psychological["valueBoolean"] is True


def test_follow_ups_stop_at_the_programme_cap() -> None:
    followup = PLAN.section("dietitian-followup")
    assert followup is not None and followup.repeat_count == 6 and followup.repeat_max == 18
    sessions = [task("dietitian-followup", "dietitian-followup") for _ in range(17)]
    assert may_trigger(PLAN, followup, sessions) is None
    sessions.append(task("dietitian-followup", "dietitian-followup"))
    assert "cap of 18" in (may_trigger(PLAN, followup, sessions) or "")
    # a cancelled session does not count
    sessions[-1] = task("dietitian-followup", "dietitian-followup", "cancelled")
    assert may_trigger(PLAN, followup, sessions) is None


def test_progress_counts_closed_steps_over_steps_not_cancelled() -> None:
    tasks = [
        task("initial-msp", "biometric-form", "done"),
        task("initial-msp", "transmit-report", "validated"),
        task("initial-dietitian", "biometric-form", "to-do"),
        task("initial-dietitian", "transmit-report", "cancelled"),
    ]
    assert [p.label for p in progress(PLAN, tasks)] == [
        "RDV INITIAL MSP 2/2",
        "RDV BILAN INITIAL DIÉTÉTICIEN 0/1",
    ]


@pytest.mark.parametrize(
    ("subdivision", "day", "expected"),
    [
        (None, date(2026, 5, 14), date(2026, 5, 15)),  # Ascension
        (None, date(2026, 7, 14), date(2026, 7, 15)),  # Bastille Day
        (None, date(2026, 12, 25), date(2026, 12, 28)),  # Christmas (Friday) -> Monday
        ("6AE", date(2026, 12, 25), date(2026, 12, 28)),  # 26 Dec is a Saturday anyway
        (None, date(2027, 3, 26), date(2027, 3, 26)),  # Good Friday: a working day in PACA
        ("57", date(2027, 3, 26), date(2027, 3, 30)),  # but not in Moselle (Monday is Easter)
        ("6AE", date(2027, 12, 24), date(2027, 12, 24)),
        ("6AE", date(2027, 12, 25), date(2027, 12, 27)),
    ],
)
def test_next_working_day(subdivision: str | None, day: date, expected: date) -> None:
    assert WorkingCalendar(subdivision=subdivision).next_working_day(day) == expected


def test_working_day_arithmetic() -> None:
    calendar = WorkingCalendar()
    assert calendar.shift(date(2026, 5, 13), 1) == date(2026, 5, 15)  # over Ascension
    assert calendar.shift(date(2026, 5, 15), -1) == date(2026, 5, 13)
    assert calendar.working_days_between(date(2026, 5, 13), date(2026, 5, 18)) == 2
    assert calendar.working_days_between(date(2026, 5, 18), date(2026, 5, 13)) == -2
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert subdivision_of({"address": [{"postalCode": "67000"}]}) == "6AE"
    assert subdivision_of({"address": [{"postalCode": "13001"}]}) is None
    with pytest.raises(ValueError):
        WorkingCalendar(days=("lundi",))
