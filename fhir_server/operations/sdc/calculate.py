"""Calculated items, recomputed with FHIRPath from the Questionnaire's own expressions.

FHIRPath ``round()`` is "traditional" (half up) but fhirpathpy rounds half to
even, so ``round`` is supplied here with ``ROUND_HALF_UP``: 20.25 kg at 100 cm
gives a BMI of 20.3, as a paper calculation would.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from fhir_server.fhirpath import Compiler, Evaluator
from fhir_server.operations.sdc.questionnaire import CALCULATED, VARIABLE, extension_value


def _round_half_up(inputs: list[Any], precision: int = 0) -> list[Decimal]:
    """FHIRPath round(): traditional rounding, where fhirpathpy rounds half to even."""
    step = Decimal(1).scaleb(-int(precision))
    return [Decimal(str(x)).quantize(step, rounding=ROUND_HALF_UP) for x in inputs]


_FUNCTIONS = {"round": {"fn": _round_half_up, "arity": {0: [], 1: ["Integer"]}}}


_COMPILER = Compiler(_FUNCTIONS)


def _compiled(expression: str) -> Evaluator:
    """Compiled once per expression text (the Questionnaire is fixed for a deployment)."""
    return _COMPILER.compile(expression)


def _environment(questionnaire: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """%resource plus the Questionnaire-level ``variable``s, each seeing the previous ones."""
    env: dict[str, Any] = {"resource": response, "questionnaire": questionnaire}
    for ext in questionnaire.get("extension") or ():
        expr = ext.get("valueExpression") if ext.get("url") == VARIABLE else None
        if isinstance(expr, dict) and expr.get("language") == "text/fhirpath":
            env[expr["name"]] = _compiled(expr["expression"])(response, env)
    return env


def calculate(
    questionnaire: dict[str, Any], q_item: dict[str, Any], response: dict[str, Any]
) -> Decimal | None:
    """The value of a calculated item over the (normalised) response; None if empty."""
    expr = extension_value(q_item, CALCULATED)
    if not isinstance(expr, dict) or expr.get("language") != "text/fhirpath":
        return None
    env = _environment(questionnaire, response)
    result = _compiled(expr["expression"])(response, env)
    if len(result) != 1 or isinstance(result[0], bool):
        return None
    try:
        return Decimal(str(result[0]))
    except InvalidOperation:
        return None


# -- Observations ----------------------------------------------------------------------
