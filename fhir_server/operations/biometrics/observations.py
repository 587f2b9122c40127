"""Weight, height and BMI Observations: one series, and the BMI's grade for age.

Registered for Observation as reading hooks (``resources.hooks.ReadingHooks``),
so it runs on every create, update, patch and bundle entry, whoever writes:
the Observations of the biometric form's extraction and those an EHR pushes in
a transaction (conditional create on their identifier) are treated alike:

* an Observation is one of the series by its LOINC code (29463-7 / 8302-2 /
  39156-5): found by the same searches (``subject`` + ``code``) and drawn on
  the chart whoever wrote it. One that claims the IG's profile of its measure
  (``mrtc-body-weight``, ``-body-height``, ``-bmi``, as the extraction's do) is
  validated against it (kg, cm, kg/m2, the physically possible ranges: 422
  otherwise); the profile is not forced on a plain FHIR client's Observation
  (``FHIR_ENFORCE_PROFILES`` does that, decision 0005's rule);
* a value in the measure's unit outside its physically possible range (the
  ``absolute`` interval of its ObservationDefinition) is refused (422), whatever
  the profiles claimed;
* a BMI gets, in ``interpretation``, its IOTF grade for the child's age at the
  measure and sex (CodeSystem ``mrtc-bmi-for-age``, French display) with the
  matching HL7 ObservationInterpretation code (L, N, H) — recomputed on every
  write, a client's own grade replaced;
* a value implausible for the child's age is kept, tagged
  ``mrtc-biometric-flag#implausible-for-age`` and reported as a warning issue.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import Issue, ProfileViolation
from fhir_server.operations.biometrics.assessment import implausible, set_flag
from fhir_server.operations.biometrics.codes import (
    BMI,
    FRENCH_NAMES,
    GRADE_SYSTEM,
    INTERPRETATION_SYSTEM,
    LOINC,
    MEASURES,
    MSG_IMPOSSIBLE,
    MSG_NO_AGE,
)
from fhir_server.operations.biometrics.iotf import FRENCH_SEX, IotfReference
from fhir_server.operations.biometrics.patients import Child, Patients, effective_of
from fhir_server.operations.biometrics.plausibility import PlausibleRanges
from fhir_server.resources.hooks import Resource
from fhir_server.storage.repository import ReadScope

OURS = (GRADE_SYSTEM, INTERPRETATION_SYSTEM)


def measure_code(observation: dict[str, Any]) -> str | None:
    """The LOINC code of a biometric measure this server knows, if the Observation is one."""
    for coding in (observation.get("code") or {}).get("coding") or ():
        if coding.get("system") == LOINC and coding.get("code") in MEASURES:
            return str(coding["code"])
    return None


def quantity_value(observation: dict[str, Any]) -> float | None:
    value = (observation.get("valueQuantity") or {}).get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class ObservationHooks:
    """Registered for Observation: see the module docstring."""

    def __init__(self, iotf: IotfReference, ranges: PlausibleRanges, patients: Patients) -> None:
        self.iotf = iotf
        self.ranges = ranges
        self.patients = patients

    async def _facts(
        self, observation: dict[str, Any], scope: ReadScope
    ) -> tuple[Child | None, float | None]:
        child = await self.patients.child(observation.get("subject"), scope)
        age = child.age_at(effective_of(observation)) if child else None
        return child, age

    async def normalise_within(self, resource: Resource, scope: ReadScope) -> Resource:
        code = measure_code(resource)
        if code is None:
            return resource
        out = dict(resource)
        value = quantity_value(out)
        self._check_possible(code, out)
        child, age = await self._facts(out, scope)
        if code == BMI:
            out = self._interpret(out, value, child, age)
        flagged = value is not None and implausible(self.ranges, code, value, age, "") is not None
        return set_flag(out, flagged)

    def _check_possible(self, code: str, observation: dict[str, Any]) -> None:
        """422 for a value no child (no human) can have, when it is in the measure's unit."""
        value, possible = quantity_value(observation), self.ranges.possible(code)
        quantity = observation.get("valueQuantity") or {}
        unit = quantity.get("code") or quantity.get("unit")
        if value is None or possible is None or unit != self.ranges.unit(code):
            return
        low, high = possible
        if not low <= value <= high:
            raise ProfileViolation(
                f"{FRENCH_NAMES[code]} {value:g} {unit} is physically impossible (possible: "
                f"{low:g} to {high:g} {unit}); check the value and its unit",
                expression=("Observation.valueQuantity.value",),
                msg_id=MSG_IMPOSSIBLE,
            )

    def _interpret(
        self,
        observation: dict[str, Any],
        value: float | None,
        child: Child | None,
        age: float | None,
    ) -> dict[str, Any]:
        kept = [
            i
            for i in observation.get("interpretation") or ()
            if not any(c.get("system") in OURS for c in i.get("coding") or ())
        ]
        out = dict(observation)
        judged = (
            self.iotf.classify(value, age, child.sex)
            if value is not None and age is not None and child and child.sex
            else None
        )
        if judged is not None:
            grade = judged.grade
            kept.insert(
                0,
                {
                    "coding": [
                        {"system": GRADE_SYSTEM, "code": grade.code, "display": grade.display},
                        {
                            "system": INTERPRETATION_SYSTEM,
                            "code": grade.interpretation,
                            "display": grade.interpretation_display,
                        },
                    ],
                    "text": f"{grade.display} (IOTF, {FRENCH_SEX[judged.sex]} de "
                    f"{judged.age_years:.1f} ans)".replace(".", ","),
                },
            )
        if kept:
            out["interpretation"] = kept
        else:
            out.pop("interpretation", None)
        return out

    async def advice(self, resource: Resource, scope: ReadScope) -> list[Issue]:
        code = measure_code(resource)
        if code is None:
            return []
        value = quantity_value(resource)
        child, age = await self._facts(resource, scope)
        issues: list[Issue] = []
        if value is not None:
            issue = implausible(self.ranges, code, value, age, "Observation.valueQuantity.value")
            if issue is not None:
                issues.append(issue)
        if code == BMI:
            grade_issue = self._no_grade(value, child, age)
            if grade_issue is not None:
                issues.append(grade_issue)
        return issues

    def _no_grade(
        self, value: float | None, child: Child | None, age: float | None
    ) -> Issue | None:
        """Why a BMI gets no IOTF grade, or None when it gets one (or has no value)."""
        if value is None:
            return None
        if age is None or child is None or child.sex is None:
            return Issue(
                "warning",
                "incomplete",
                "No IOTF grade for this BMI: the subject's birth date and sex (male or "
                "female) are needed",
                ("Observation.subject",),
                MSG_NO_AGE,
            )
        if self.iotf.classify(value, age, child.sex) is None:
            return Issue(
                "warning",
                "incomplete",
                f"No IOTF grade for this BMI: age {age:.1f} years is outside the IOTF "
                "table (2 to 18 years)",
                ("Observation.effective",),
                MSG_NO_AGE,
            )
        return None
