"""Answers checked against their items, and text numbers normalised ("65,5" -> 65.5).

The form tells people to type « 65,5 ou 65.5 »; a renderer may pass that text
through as ``valueString``. Every other answer that does not fit its item is
a 422 naming the item's linkId and FHIRPath location (see the package docstring).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fhir_server.errors import Issue, ProfileViolation
from fhir_server.operations.sdc.questionnaire import (
    ENTRY_FORMAT,
    MAX_DECIMALS,
    MAX_VALUE,
    MIN_VALUE,
    MSG_NORMALISED,
    MSG_NOT_NUMERIC,
    MSG_OUT_OF_RANGE,
    MSG_TOO_MANY_ANSWERS,
    MSG_TOO_PRECISE,
    MSG_UNKNOWN_ITEM,
    MSG_WRONG_TYPE,
    NUMBER_RE,
    NUMERIC_TYPES,
    Answer,
    deep_copy,
    error_issue,
    extension_value,
    walk_questionnaire,
    walk_response,
)


class _Bad(Exception):
    """One answer that breaks its item's rules; collected, then raised together."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.diagnostics)
        self.issue = issue


def _number(q_item: dict[str, Any], answer: dict[str, Any], loc: str) -> tuple[Decimal, bool]:
    """The answer's number and whether it was written without decimals; ``_Bad`` if none.

    ``valueString`` is accepted with a comma or a point because the form tells
    people to type « 65,5 ou 65.5 » and a renderer may pass the text through.
    """
    link_id = q_item["linkId"]
    raw: Any = None
    for key in ("valueDecimal", "valueInteger"):
        if key in answer:
            raw = answer[key]
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise _Bad(
                    error_issue(
                        "value",
                        MSG_NOT_NUMERIC,
                        f"Item '{link_id}': {key} must be a number, got {raw!r}",
                        f"{loc}.{key}",
                    )
                )
            text = repr(raw) if isinstance(raw, float) else str(raw)
            return Decimal(text), isinstance(raw, int)
    if "valueString" in answer:
        raw = answer["valueString"]
        entry_format = extension_value(q_item, ENTRY_FORMAT)
        hint = f" (« {entry_format} »)" if entry_format else ""
        match = NUMBER_RE.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise _Bad(
                error_issue(
                    "value",
                    MSG_NOT_NUMERIC,
                    f"Item '{link_id}' expects a number{hint}, got {raw!r}",
                    f"{loc}.valueString",
                )
            )
        whole, fraction = match.groups()
        return Decimal(f"{whole}.{fraction}" if fraction else whole), fraction is None
    given = next((k for k in answer if k.startswith("value")), "no value")
    raise _Bad(
        error_issue(
            "value",
            MSG_WRONG_TYPE,
            f"Item '{link_id}' is of type {q_item.get('type')}; its answer has {given}",
            loc,
        )
    )


def _check_range(q_item: dict[str, Any], value: Decimal, loc: str) -> None:
    link_id = q_item["linkId"]
    low, high = extension_value(q_item, MIN_VALUE), extension_value(q_item, MAX_VALUE)
    if (low is not None and value < Decimal(str(low))) or (
        high is not None and value > Decimal(str(high))
    ):
        raise _Bad(
            error_issue(
                "value",
                MSG_OUT_OF_RANGE,
                f"Item '{link_id}': {value} is outside the allowed range {low} to {high}",
                loc,
            )
        )
    places = extension_value(q_item, MAX_DECIMALS)
    exponent = value.as_tuple().exponent
    if places is not None and isinstance(exponent, int) and -exponent > int(places):
        raise _Bad(
            error_issue(
                "value",
                MSG_TOO_PRECISE,
                f"Item '{link_id}': {value} has more than {places} decimal place(s)",
                loc,
            )
        )


def json_number(value: Decimal, integral: bool) -> int | float:
    return int(value) if integral and value == value.to_integral_value() else float(value)


def normalise(
    questionnaire: dict[str, Any], response: dict[str, Any]
) -> tuple[dict[str, Any], list[Answer], list[Issue]]:
    """Check every answer against its item; rewrite ``"65,5"`` to ``valueDecimal: 65.5``.

    Returns a normalised copy of the response, its answers and the warnings;
    raises ``ProfileViolation`` (422) listing every answer that breaks its item.
    """
    by_link = {i["linkId"]: i for i in walk_questionnaire(questionnaire.get("item") or [])}
    copy = deep_copy(response)
    answers: list[Answer] = []
    warnings: list[Issue] = []
    bad: list[Issue] = []
    for item, loc in walk_response(copy.get("item") or [], "QuestionnaireResponse"):
        link_id = item.get("linkId")
        q_item = by_link.get(link_id) if isinstance(link_id, str) else None
        if q_item is None:
            warnings.append(
                Issue(
                    "warning",
                    "informational",
                    f"Item '{link_id}' is not in the Questionnaire; ignored",
                    (loc,),
                    MSG_UNKNOWN_ITEM,
                )
            )
            continue
        given = [a for a in item.get("answer") or () if isinstance(a, dict)]
        if len(given) > 1 and not q_item.get("repeats"):
            bad.append(
                error_issue(
                    "structure",
                    MSG_TOO_MANY_ANSWERS,
                    f"Item '{link_id}' does not repeat but has {len(given)} answers",
                    f"{loc}.answer",
                )
            )
            continue
        for j, answer in enumerate(given):
            try:
                answers.append(_normalise_answer(q_item, answer, f"{loc}.answer[{j}]", warnings))
            except _Bad as exc:
                bad.append(exc.issue)
    if bad:
        raise ProfileViolation(
            f"The QuestionnaireResponse breaks {len(bad)} rule(s) of its Questionnaire; "
            f"first: {bad[0].diagnostics}",
            issues=bad,
            msg_id=bad[0].msg_id or MSG_NOT_NUMERIC,
        )
    return copy, answers, warnings


def _normalise_answer(
    q_item: dict[str, Any], answer: dict[str, Any], loc: str, warnings: list[Issue]
) -> Answer:
    link_id, kind = q_item["linkId"], q_item.get("type")
    if kind in NUMERIC_TYPES:
        was_string = "valueString" in answer
        value, integral = _number(q_item, answer, loc)
        _check_range(q_item, value, loc)
        key = "valueInteger" if kind == "integer" else "valueDecimal"
        if kind == "integer" and not (integral or value == value.to_integral_value()):
            raise _Bad(
                error_issue("value", MSG_WRONG_TYPE, f"Item '{link_id}' expects an integer", loc)
            )
        for stale in [k for k in answer if k.startswith("value")]:
            del answer[stale]
        answer[key] = json_number(value, integral or kind == "integer")
        if was_string:
            warnings.append(
                Issue(
                    "information",
                    "informational",
                    f"Item '{link_id}': text answer normalised to {key} {answer[key]}",
                    (loc,),
                    MSG_NORMALISED,
                )
            )
        return Answer(link_id, q_item, value, key, loc, integral)
    if kind in ("date", "dateTime"):
        for key in ("valueDateTime", "valueDate"):
            if isinstance(answer.get(key), str):
                return Answer(link_id, q_item, answer[key], key, loc)
        raise _Bad(
            error_issue(
                "value",
                MSG_WRONG_TYPE,
                f"Item '{link_id}' is of type {kind}; its answer is not a date",
                loc,
            )
        )
    key = next((k for k in answer if k.startswith("value")), "")
    return Answer(link_id, q_item, answer.get(key), key, loc)
