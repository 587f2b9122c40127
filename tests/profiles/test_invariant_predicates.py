"""Short-circuit invariant predicates give the whole expression's verdict."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.profiles.functions import compile_or_none, invariant_compiler, runner
from fhir_server.profiles.predicates import Predicate, compile_predicate, holds, mask

COMPILER = invariant_compiler()
COMPILE = compile_or_none(COMPILER)


def test_mask_hides_strings_and_nested_groups() -> None:
    text = "a.where(b = 'x or y') or (c and d) implies e"
    masked = mask(text)
    assert len(masked) == len(text)
    assert " or (" in masked and " implies " in masked
    assert "x or y" not in masked and "c and d" not in masked


def test_top_level_operators_are_split_by_precedence() -> None:
    pred = compile_predicate("a.exists() or b.exists() and c.exists() implies d.exists()", COMPILE)
    assert pred is not None and pred.kind == "implies"
    assert pred.parts[0].kind == "expr"
    pred = compile_predicate("(a.exists() or b.exists() and c.exists())", COMPILE)
    assert pred is not None and pred.kind == "or"
    assert [p.kind for p in pred.parts] == ["expr", "and"]
    pred = compile_predicate("a.exists() xor b.exists()", COMPILE)
    assert pred is not None and pred.kind == "expr"


def test_uncompilable_expression_gives_none() -> None:
    assert compile_predicate("a.where(", COMPILE) is None


@pytest.mark.parametrize(
    "expression",
    [
        "gender.exists() implies birthDate.exists()",
        "deceased.exists() implies active = false",
        "name.family.exists() or name.given.exists()",
        "name.exists() and gender = 'female' and birthDate.exists()",
        "(active = true) implies (gender = 'male' or gender = 'female')",
        "telecom.where(system = 'phone' or system = 'sms').exists() implies telecom.value.exists()",
        "active implies name.exists() implies gender.exists()",
        "birthDate",
    ],
)
@pytest.mark.parametrize(
    "patient",
    [
        {"resourceType": "Patient"},
        {"resourceType": "Patient", "active": True, "gender": "female"},
        {
            "resourceType": "Patient",
            "active": False,
            "name": [{"family": "X"}],
            "birthDate": "2015-01-01",
            "deceasedBoolean": True,
            "gender": "male",
            "telecom": [{"system": "phone"}],
        },
    ],
)
def test_verdict_equals_whole_expression(expression: str, patient: dict[str, Any]) -> None:
    whole = Predicate("expr", COMPILE(expression))
    split = compile_predicate(expression, COMPILE)
    assert split is not None
    run = runner(patient, "Patient", patient)
    assert split.holds(run) == whole.holds(runner(patient, "Patient", patient))


def test_holds_follows_the_hl7_conversion() -> None:
    assert holds([True]) and not holds([False]) and not holds([])
    assert holds(["x"])
