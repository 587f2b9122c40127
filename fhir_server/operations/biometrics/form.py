"""The biometric form on every write: « 65,5 » is 65.5, impossible is refused, BMI is the server's.

Registered for QuestionnaireResponse as reading hooks
(``resources.hooks.ReadingHooks``): a response to
``Questionnaire/mrtc-suivi-biometrique`` — created, updated, patched or in a
bundle, in progress (« Enregistrer ») or completed (« Clôturer ») — is checked
and rewritten by the SDC engine's answer rules before it is stored:

* a number typed as text (``valueString`` "65,5" or "65.5", the form's entryFormat
  « 65,5 ou 65.5 ») becomes ``valueDecimal`` 65.5;
* a value outside the item's ``minValue`` / ``maxValue`` (the physically possible
  range: a height typed in metres, a weight in grams) or not a number is a 422
  naming the item, and so is a BMI outside the possible range of its
  ObservationDefinition;
* the ``bmi`` answer is the Questionnaire's own calculation over the weight and
  height (rounded half up to 0.1): a client's BMI is replaced, and removed when
  the weight or the height is missing;
* a weight, height or BMI implausible for the child's age (at the measurement
  date) is kept, the response tagged ``implausible-for-age`` and a warning
  issue returned.

Other responses are left alone.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fhir_server.errors import Issue, ProfileViolation
from fhir_server.ig import ImplementationGuide, ImplementationGuideError
from fhir_server.operations import sdc
from fhir_server.operations.biometrics.assessment import implausible, set_flag
from fhir_server.operations.biometrics.codes import (
    LOINC,
    MEASURES,
    MSG_IMPOSSIBLE_BMI,
    QUESTIONNAIRE,
)
from fhir_server.operations.biometrics.patients import Patients
from fhir_server.operations.biometrics.plausibility import PlausibleRanges
from fhir_server.operations.sdc.questionnaire import (
    CALCULATED,
    EFFECTIVE_TARGET,
    extension,
    walk_questionnaire,
)
from fhir_server.resources.hooks import Resource
from fhir_server.storage.repository import ReadScope


def is_biometric_form(response: dict[str, Any]) -> bool:
    claimed = response.get("questionnaire")
    return isinstance(claimed, str) and claimed.partition("|")[0] == QUESTIONNAIRE


def _loinc(q_item: dict[str, Any]) -> str | None:
    for coding in q_item.get("code") or ():
        if coding.get("system") == LOINC and coding.get("code") in MEASURES:
            return str(coding["code"])
    return None


class FormHooks:
    """Registered for QuestionnaireResponse: see the module docstring."""

    def __init__(
        self, ig: ImplementationGuide, ranges: PlausibleRanges, patients: Patients
    ) -> None:
        questionnaire = ig.by_url().get(QUESTIONNAIRE)
        if questionnaire is None:
            raise ImplementationGuideError(f"the IG lacks {QUESTIONNAIRE}")
        self.questionnaire: dict[str, Any] = questionnaire
        self.ranges = ranges
        self.patients = patients
        self.calculated = [
            i for i in questionnaire.get("item") or () if extension(i, CALCULATED) is not None
        ]

    async def normalise_within(self, resource: Resource, scope: ReadScope) -> Resource:
        if not is_biometric_form(resource):
            return resource
        normalised, _answers, _notes = sdc.normalise(self.questionnaire, resource)
        for q_item in self.calculated:
            value = sdc.calculate(self.questionnaire, q_item, normalised)
            self._check_possible(q_item, value)
            _set_answer(normalised, q_item, value)
        issues = await self._issues(normalised, scope)
        return set_flag(normalised, bool(issues))

    def _check_possible(self, q_item: dict[str, Any], value: Decimal | None) -> None:
        code = _loinc(q_item)
        possible = self.ranges.possible(code) if code else None
        if value is None or possible is None:
            return
        low, high = possible
        if not (Decimal(str(low)) <= value <= Decimal(str(high))):
            raise ProfileViolation(
                f"Item '{q_item['linkId']}': the BMI computed from this weight and height is "
                f"{value} kg/m2, outside the possible range {low:g} to {high:g}; check the "
                "units (weight in kg, height in cm)",
                expression=("QuestionnaireResponse.item",),
                msg_id=MSG_IMPOSSIBLE_BMI,
            )

    async def _issues(self, response: dict[str, Any], scope: ReadScope) -> list[Issue]:
        """The warnings of the answers implausible for the child's age at the measure."""
        child = await self.patients.child(response.get("subject"), scope)
        if child is None:
            return []
        by_link = {i["linkId"]: i for i in walk_questionnaire(self.questionnaire.get("item") or [])}
        measured = response.get("authored")
        for item in response.get("item") or ():
            q_item = by_link.get(item.get("linkId"), {})
            if str(q_item.get("definition", "")).endswith(EFFECTIVE_TARGET):
                for answer in item.get("answer") or ():
                    measured = answer.get("valueDateTime") or answer.get("valueDate") or measured
        age = child.age_at(measured)
        issues: list[Issue] = []
        for i, item in enumerate(response.get("item") or ()):
            code = _loinc(by_link.get(item.get("linkId"), {}))
            for j, answer in enumerate(item.get("answer") or ()):
                value = answer.get("valueDecimal")
                if code is None or isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                where = f"QuestionnaireResponse.item[{i}].answer[{j}].valueDecimal"
                issue = implausible(self.ranges, code, float(value), age, where)
                if issue is not None:
                    issues.append(issue)
        return issues

    async def advice(self, resource: Resource, scope: ReadScope) -> list[Issue]:
        return await self._issues(resource, scope) if is_biometric_form(resource) else []


def _set_answer(response: dict[str, Any], q_item: dict[str, Any], value: Decimal | None) -> None:
    """The calculated item's answer set to ``value`` (or removed), wherever the client put it."""
    link_id = q_item["linkId"]
    items = [i for i in response.get("item") or () if i.get("linkId") != link_id]
    if value is not None:
        computed = {"linkId": link_id, "answer": [{"valueDecimal": float(value)}]}
        if q_item.get("text"):
            computed = {"linkId": link_id, "text": q_item["text"], **computed}
        items.append(computed)
    if items:
        response["item"] = items
    else:
        response.pop("item", None)
