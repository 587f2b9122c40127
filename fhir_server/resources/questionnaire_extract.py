"""SDC observation-based extraction: a QuestionnaireResponse -> Observations.

https://hl7.org/fhir/uv/sdc/extraction.html#observation-based-extraction, as the
IG applies it to ``Questionnaire/mrtc-suivi-biometrique`` (docs/ig.md, "The form
"MRTC Suivi Biométrique" and its extraction"). Pure and HTTP-free: it takes the
Questionnaire and the response as FHIR JSON and returns the transaction Bundle
to submit plus warnings, or raises a typed error. Nothing is stored here; the
operation adapter is ``fhir_server/operations/extract.py``.

What each extracted Observation carries, and why:

- one Observation per answered item flagged ``sdc-questionnaire-observationExtract``
  (item level, or Questionnaire level for items with a ``code``), ``code`` =
  ``item.code``, ``meta.profile`` = the profile named by ``item.definition``,
  ``category`` from ``sdc-questionnaire-observation-extract-category``;
- ``valueQuantity`` in the ``questionnaire-unit`` (UCUM) of the item;
- ``subject`` / ``basedOn`` / ``performer`` copied from the response,
  ``effectiveDateTime`` = the answer of the item whose ``definition`` targets
  ``Observation.effective[x]`` (``measurement-date``), else ``authored``;
- ``derivedFrom`` = the response, and for a calculated item (the BMI) also the
  other Observations of the same extraction (weight and height);
- ``identifier`` = ``<sid>/questionnaire-extraction|<response id>#<linkId>``, and each
  entry is a conditional PUT on it, so re-extracting a re-saved response
  updates the same Observations instead of duplicating them.

Calculated items (``sdc-questionnaire-calculatedExpression``) are **recomputed**
with fhirpathpy from the Questionnaire's own expression and ``variable``s over
the normalised response, never trusted from the answer (the IG's derived-data
rule); a differing answer is reported as a warning. FHIRPath ``round()`` is
"traditional" (half up) but fhirpathpy rounds half to even, so ``round`` is
supplied here with ``ROUND_HALF_UP``: 20.25 kg at 100 cm gives 20.3, as a
paper calculation would.

Answers to decimal items given as ``valueString`` (``"65,5"`` or ``"65.5"``, the
form's entryFormat « 65,5 ou 65.5 ») are normalised to ``valueDecimal``: the
IG leaves this leniency to ``fhir_server/resources/``. Any other answer that
does not fit its item (a non-numeric string, a value outside ``minValue`` /
``maxValue``, too many decimals, several answers to a non-repeating item) is
an HTTP 422 ``ProfileViolation``: the response is well-formed FHIR (so not a
400) but breaks the rules of the Questionnaire it claims to answer, which FHIR
reports as 422 Unprocessable Entity. Each issue names the item's linkId and
its FHIRPath location.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import fhirpathpy
from fhirpathpy.models import models

from fhir_server.errors import Issue, ProfileViolation

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
CORE = "http://hl7.org/fhir/StructureDefinition/"
OBSERVATION_EXTRACT = SDC + "sdc-questionnaire-observationExtract"
EXTRACT_CATEGORY = SDC + "sdc-questionnaire-observation-extract-category"
CALCULATED = SDC + "sdc-questionnaire-calculatedExpression"
VARIABLE = CORE + "variable"
UNIT = CORE + "questionnaire-unit"
MIN_VALUE = CORE + "minValue"
MAX_VALUE = CORE + "maxValue"
MAX_DECIMALS = CORE + "maxDecimalPlaces"
ENTRY_FORMAT = CORE + "entryFormat"
EXTRACTION_SYSTEM = "https://mrtc.example.org/fhir/sid/questionnaire-extraction"
EFFECTIVE_TARGET = "#Observation.effective[x]"
# Deterministic fullUrls: the same response always yields the same Bundle.
_UUID_NAMESPACE = uuid.UUID("4d1f5b8e-9a57-4c55-9a5e-2f6a3c0e7b11")

MSG_NOT_A_RESPONSE = "MRTC-EXT-001"
MSG_OTHER_QUESTIONNAIRE = "MRTC-EXT-002"
MSG_NOTHING_TO_EXTRACT = "MRTC-EXT-003"
MSG_NO_ID = "MRTC-EXT-004"
MSG_NOT_NUMERIC = "MRTC-EXT-010"
MSG_OUT_OF_RANGE = "MRTC-EXT-011"
MSG_TOO_PRECISE = "MRTC-EXT-012"
MSG_WRONG_TYPE = "MRTC-EXT-013"
MSG_TOO_MANY_ANSWERS = "MRTC-EXT-014"
MSG_NO_SUBJECT = "MRTC-EXT-020"
MSG_NO_EFFECTIVE = "MRTC-EXT-021"
MSG_STATUS = "MRTC-EXT-022"
MSG_NOT_CALCULABLE = "MRTC-EXT-040"
MSG_CALCULATION_DIFFERS = "MRTC-EXT-041"
MSG_UNANSWERED = "MRTC-EXT-042"
MSG_UNKNOWN_ITEM = "MRTC-EXT-043"
MSG_NORMALISED = "MRTC-EXT-044"

# QuestionnaireResponse.status -> Observation.status. An entered-in-error response
# re-extracted marks the Observations it produced as entered-in-error (same
# conditional PUTs); a stopped one has no trustworthy measure to extract.
STATUS_MAP = {
    "completed": "final",
    "amended": "amended",
    "in-progress": "preliminary",
    "entered-in-error": "entered-in-error",
}
# Observation.performer accepts these; a Device author is not a performer.
PERFORMER_TYPES = ("Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson")
NUMBER_RE = re.compile(r"^\s*(\d+)(?:[.,](\d+))?\s*$")
NUMERIC_TYPES = ("decimal", "integer")
CALCULATION_TOLERANCE = Decimal("0.05")


@dataclass(frozen=True)
class Extraction:
    """The result of ``extract``: what to submit, and what the caller should know."""

    bundle: dict[str, Any]  # a transaction Bundle of conditional PUTs
    issues: list[Issue] = field(default_factory=list)  # warnings / information only
    response: dict[str, Any] = field(default_factory=dict)  # the normalised response


@dataclass
class _Answer:
    """One answered item of the response, normalised, with its location."""

    link_id: str
    q_item: dict[str, Any]
    value: Any  # Decimal for numeric items, else the FHIR value as given
    value_key: str  # the answer's valueXxx key after normalisation
    loc: str
    integral: bool = False  # the answer was written without decimals (keep "160", not 160.0)


# -- Questionnaire helpers -----------------------------------------------------------


def _ext(element: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in element.get("extension") or () if e.get("url") == url), None)


def _ext_value(element: dict[str, Any], url: str) -> Any:
    found = _ext(element, url)
    if found is None:
        return None
    return next((v for k, v in found.items() if k.startswith("value")), None)


def _walk_questionnaire(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items or ():
        yield item
        yield from _walk_questionnaire(item.get("item") or [])


def _walk_response(items: list[Any], loc: str) -> Iterator[tuple[dict[str, Any], str]]:
    for i, item in enumerate(items or ()):
        if not isinstance(item, dict):
            continue
        here = f"{loc}.item[{i}]"
        yield item, here
        yield from _walk_response(item.get("item") or [], here)
        for j, answer in enumerate(item.get("answer") or ()):
            if isinstance(answer, dict):
                yield from _walk_response(answer.get("item") or [], f"{here}.answer[{j}]")


def _canonical(url: str) -> tuple[str, str | None]:
    base, _, version = url.partition("|")
    return base, version or None


def answers_questionnaire(questionnaire: dict[str, Any], response: dict[str, Any]) -> bool:
    """Whether ``response.questionnaire`` names ``questionnaire`` (version checked if given)."""
    claimed = response.get("questionnaire")
    if not isinstance(claimed, str):
        return False
    url, version = _canonical(claimed)
    if url != questionnaire.get("url"):
        return False
    return version is None or version == questionnaire.get("version")


def _extracts(questionnaire: dict[str, Any], item: dict[str, Any]) -> bool:
    """SDC: an item-level flag wins; else the Questionnaire-level flag for coded items."""
    own = _ext_value(item, OBSERVATION_EXTRACT)
    if own is not None:
        return bool(own)
    return bool(_ext_value(questionnaire, OBSERVATION_EXTRACT)) and bool(item.get("code"))


# -- normalisation -----------------------------------------------------------------


def _error(code: str, msg_id: str, text: str, loc: str) -> Issue:
    return Issue("error", code, text, (loc,), msg_id)


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
                    _error(
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
        entry_format = _ext_value(q_item, ENTRY_FORMAT)
        hint = f" (« {entry_format} »)" if entry_format else ""
        match = NUMBER_RE.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise _Bad(
                _error(
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
        _error(
            "value",
            MSG_WRONG_TYPE,
            f"Item '{link_id}' is of type {q_item.get('type')}; its answer has {given}",
            loc,
        )
    )


def _check_range(q_item: dict[str, Any], value: Decimal, loc: str) -> None:
    link_id = q_item["linkId"]
    low, high = _ext_value(q_item, MIN_VALUE), _ext_value(q_item, MAX_VALUE)
    if (low is not None and value < Decimal(str(low))) or (
        high is not None and value > Decimal(str(high))
    ):
        raise _Bad(
            _error(
                "value",
                MSG_OUT_OF_RANGE,
                f"Item '{link_id}': {value} is outside the allowed range {low} to {high}",
                loc,
            )
        )
    places = _ext_value(q_item, MAX_DECIMALS)
    exponent = value.as_tuple().exponent
    if places is not None and isinstance(exponent, int) and -exponent > int(places):
        raise _Bad(
            _error(
                "value",
                MSG_TOO_PRECISE,
                f"Item '{link_id}': {value} has more than {places} decimal place(s)",
                loc,
            )
        )


def _json_number(value: Decimal, integral: bool) -> int | float:
    return int(value) if integral and value == value.to_integral_value() else float(value)


def normalise(
    questionnaire: dict[str, Any], response: dict[str, Any]
) -> tuple[dict[str, Any], list[_Answer], list[Issue]]:
    """Check every answer against its item; rewrite ``"65,5"`` to ``valueDecimal: 65.5``.

    Returns a normalised copy of the response, its answers and the warnings;
    raises ``ProfileViolation`` (422) listing every answer that breaks its item.
    """
    by_link = {i["linkId"]: i for i in _walk_questionnaire(questionnaire.get("item") or [])}
    copy = _deep_copy(response)
    answers: list[_Answer] = []
    warnings: list[Issue] = []
    bad: list[Issue] = []
    for item, loc in _walk_response(copy.get("item") or [], "QuestionnaireResponse"):
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
                _error(
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
) -> _Answer:
    link_id, kind = q_item["linkId"], q_item.get("type")
    if kind in NUMERIC_TYPES:
        was_string = "valueString" in answer
        value, integral = _number(q_item, answer, loc)
        _check_range(q_item, value, loc)
        key = "valueInteger" if kind == "integer" else "valueDecimal"
        if kind == "integer" and not (integral or value == value.to_integral_value()):
            raise _Bad(_error("value", MSG_WRONG_TYPE, f"Item '{link_id}' expects an integer", loc))
        for stale in [k for k in answer if k.startswith("value")]:
            del answer[stale]
        answer[key] = _json_number(value, integral or kind == "integer")
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
        return _Answer(link_id, q_item, value, key, loc, integral)
    if kind in ("date", "dateTime"):
        for key in ("valueDateTime", "valueDate"):
            if isinstance(answer.get(key), str):
                return _Answer(link_id, q_item, answer[key], key, loc)
        raise _Bad(
            _error(
                "value",
                MSG_WRONG_TYPE,
                f"Item '{link_id}' is of type {kind}; its answer is not a date",
                loc,
            )
        )
    key = next((k for k in answer if k.startswith("value")), "")
    return _Answer(link_id, q_item, answer.get(key), key, loc)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


# -- calculated items (FHIRPath) ---------------------------------------------------------


def _round_half_up(inputs: list[Any], precision: int = 0) -> list[Decimal]:
    """FHIRPath round(): traditional rounding, where fhirpathpy rounds half to even."""
    step = Decimal(1).scaleb(-int(precision))
    return [Decimal(str(x)).quantize(step, rounding=ROUND_HALF_UP) for x in inputs]


_OPTIONS = {
    "userInvocationTable": {"round": {"fn": _round_half_up, "arity": {0: [], 1: ["Integer"]}}}
}


@lru_cache(maxsize=256)
def _compiled(expression: str) -> Callable[..., list[Any]]:
    """Compile once per expression text (the Questionnaire is fixed for a deployment)."""
    return fhirpathpy.compile(expression, models["r4"], _OPTIONS)  # type: ignore[no-any-return]


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
    expr = _ext_value(q_item, CALCULATED)
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


def _reference_type(ref: Any) -> str | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    parts = ref["reference"].split("/")
    return parts[-2] if len(parts) >= 2 else None


def _unit(q_item: dict[str, Any]) -> dict[str, Any] | None:
    coding = _ext_value(q_item, UNIT)
    return coding if isinstance(coding, dict) else None


def _value(q_item: dict[str, Any], value: Any, integral: bool) -> tuple[str, Any]:
    """valueQuantity in the item's UCUM unit for numbers; other types as FHIR maps them."""
    kind = q_item.get("type")
    if kind in NUMERIC_TYPES:
        number = _json_number(value, integral)
        unit = _unit(q_item)
        if unit is None:
            return (
                ("valueInteger", number)
                if kind == "integer"
                else ("valueQuantity", {"value": number})
            )
        quantity = {
            "value": number,
            "unit": unit.get("display") or unit.get("code"),
            "system": unit.get("system"),
            "code": unit.get("code"),
        }
        return "valueQuantity", {k: v for k, v in quantity.items() if v is not None}
    if kind == "choice" or kind == "open-choice":
        if isinstance(value, dict):
            return "valueCodeableConcept", {"coding": [value]}
        return "valueString", value
    if kind in ("date", "dateTime"):
        return "valueDateTime", value
    if kind == "boolean":
        return "valueBoolean", value
    if kind == "quantity":
        return "valueQuantity", value
    return "valueString", value


def _entry(obs: dict[str, Any], response_id: str, link_id: str) -> dict[str, Any]:
    identifier = f"{response_id}#{link_id}"
    criteria = quote(f"{EXTRACTION_SYSTEM}|{identifier}", safe="")
    full_url = f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, identifier)}"
    return {
        "fullUrl": full_url,
        "resource": obs,
        "request": {"method": "PUT", "url": f"Observation?identifier={criteria}"},
    }


def extract(questionnaire: dict[str, Any], response: dict[str, Any]) -> Extraction:
    """Observation-based extraction of ``response`` (of ``questionnaire``).

    Raises ``ProfileViolation`` (422) when the response is not one of this
    Questionnaire, has no id, subject or date, is stopped, or has an answer
    that breaks its item; ``InvalidRequest`` is the adapter's business.
    """
    if not answers_questionnaire(questionnaire, response):
        raise ProfileViolation(
            f"The QuestionnaireResponse answers {response.get('questionnaire')!r}, not "
            f"{questionnaire.get('url')}",
            expression=("QuestionnaireResponse.questionnaire",),
            msg_id=MSG_OTHER_QUESTIONNAIRE,
        )
    response_id = response.get("id")
    if not isinstance(response_id, str) or not response_id:
        raise ProfileViolation(
            "The QuestionnaireResponse has no id: the extracted Observations name it in "
            "derivedFrom and in their identifier; store it first or give it its id",
            expression=("QuestionnaireResponse.id",),
            msg_id=MSG_NO_ID,
        )
    status = STATUS_MAP.get(str(response.get("status")))
    if status is None:
        raise ProfileViolation(
            f"A QuestionnaireResponse with status {response.get('status')!r} is not extracted "
            f"(expected one of {', '.join(STATUS_MAP)})",
            expression=("QuestionnaireResponse.status",),
            msg_id=MSG_STATUS,
        )
    subject = response.get("subject")
    if _reference_type(subject) != "Patient":
        raise ProfileViolation(
            "The QuestionnaireResponse needs a subject referring to a Patient: every "
            "extracted Observation has the patient as its subject",
            expression=("QuestionnaireResponse.subject",),
            msg_id=MSG_NO_SUBJECT,
        )
    normalised, answers, issues = normalise(questionnaire, response)
    effective = next(
        (
            a.value
            for a in answers
            if str(a.q_item.get("definition", "")).endswith(EFFECTIVE_TARGET)
        ),
        response.get("authored"),
    )
    if not isinstance(effective, str):
        raise ProfileViolation(
            "The QuestionnaireResponse gives no measurement date and no authored date",
            expression=("QuestionnaireResponse.authored",),
            msg_id=MSG_NO_EFFECTIVE,
        )

    def observation(q_item: dict[str, Any], value: Any, integral: bool) -> dict[str, Any]:
        category = _ext_value(q_item, EXTRACT_CATEGORY) or _ext_value(
            questionnaire, EXTRACT_CATEGORY
        )
        obs: dict[str, Any] = {"resourceType": "Observation"}
        definition = q_item.get("definition")
        if isinstance(definition, str) and "#" in definition:
            obs["meta"] = {"profile": [definition.split("#", 1)[0]]}
        obs["identifier"] = [
            {"system": EXTRACTION_SYSTEM, "value": f"{response_id}#{q_item['linkId']}"}
        ]
        if response.get("basedOn"):
            obs["basedOn"] = _deep_copy(response["basedOn"])
        obs["status"] = status
        if category:
            obs["category"] = [_deep_copy(category)]
        obs["code"] = {"coding": _deep_copy(q_item.get("code") or [])}
        obs["subject"] = _deep_copy(subject)
        obs["effectiveDateTime"] = effective
        author = response.get("author")
        if _reference_type(author) in PERFORMER_TYPES:
            obs["performer"] = [_deep_copy(author)]
        key, fhir_value = _value(q_item, value, integral)
        obs[key] = fhir_value
        obs["derivedFrom"] = [{"reference": f"QuestionnaireResponse/{response_id}"}]
        return obs

    entries: list[dict[str, Any]] = []
    calculated: list[dict[str, Any]] = []
    answered = {a.link_id: a for a in answers}
    for q_item in _walk_questionnaire(questionnaire.get("item") or []):
        if not _extracts(questionnaire, q_item):
            continue
        link_id = q_item["linkId"]
        if _ext(q_item, CALCULATED) is not None:
            calculated.append(q_item)
            continue
        answer = answered.get(link_id)
        if answer is None:
            issues.append(
                Issue(
                    "warning",
                    "incomplete",
                    f"Item '{link_id}' is not answered: no Observation for it",
                    ("QuestionnaireResponse.item",),
                    MSG_UNANSWERED,
                )
            )
            continue
        entries.append(
            _entry(observation(q_item, answer.value, answer.integral), response_id, link_id)
        )

    measured = [e["fullUrl"] for e in entries]
    for q_item in calculated:
        link_id = q_item["linkId"]
        value = calculate(questionnaire, q_item, normalised)
        if value is None:
            issues.append(
                Issue(
                    "warning",
                    "incomplete",
                    f"Item '{link_id}' cannot be calculated from this response "
                    "(weight and height are both needed): no Observation for it",
                    ("QuestionnaireResponse.item",),
                    MSG_NOT_CALCULABLE,
                )
            )
            continue
        given = answered.get(link_id)
        if (
            given is not None
            and isinstance(given.value, Decimal)
            and abs(given.value - value) > CALCULATION_TOLERANCE
        ):
            issues.append(
                Issue(
                    "warning",
                    "business-rule",
                    f"Item '{link_id}': the response says {given.value}, the value "
                    f"calculated from the other answers is {value}; {value} is extracted",
                    (given.loc,),
                    MSG_CALCULATION_DIFFERS,
                )
            )
        obs = observation(q_item, value, False)
        obs["derivedFrom"] += [{"reference": url} for url in measured]
        entries.append(_entry(obs, response_id, link_id))

    if not entries:
        issues.append(
            Issue(
                "warning",
                "incomplete",
                "Nothing to extract: no answered item is flagged for Observation extraction",
                ("QuestionnaireResponse",),
                MSG_NOTHING_TO_EXTRACT,
            )
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction"}
    if entries:  # FHIR JSON has no empty arrays: an empty transaction has no "entry"
        bundle["entry"] = entries
    return Extraction(bundle, issues, normalised)
