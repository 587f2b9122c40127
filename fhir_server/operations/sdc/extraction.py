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

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fhir_server.errors import Issue, ProfileViolation
from fhir_server.operations.sdc.answers import json_number, normalise
from fhir_server.operations.sdc.calculate import calculate
from fhir_server.operations.sdc.questionnaire import (
    _UUID_NAMESPACE,
    CALCULATED,
    CALCULATION_TOLERANCE,
    EFFECTIVE_TARGET,
    EXTRACT_CATEGORY,
    EXTRACTION_SYSTEM,
    MSG_CALCULATION_DIFFERS,
    MSG_NO_EFFECTIVE,
    MSG_NO_ID,
    MSG_NO_SUBJECT,
    MSG_NOT_CALCULABLE,
    MSG_NOTHING_TO_EXTRACT,
    MSG_OTHER_QUESTIONNAIRE,
    MSG_STATUS,
    MSG_UNANSWERED,
    NUMERIC_TYPES,
    PERFORMER_TYPES,
    STATUS_MAP,
    UNIT,
    Extraction,
    answers_questionnaire,
    deep_copy,
    extension,
    extension_value,
    extracts,
    walk_questionnaire,
)


def _reference_type(ref: Any) -> str | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    parts = ref["reference"].split("/")
    return parts[-2] if len(parts) >= 2 else None


def _unit(q_item: dict[str, Any]) -> dict[str, Any] | None:
    coding = extension_value(q_item, UNIT)
    return coding if isinstance(coding, dict) else None


def _value(q_item: dict[str, Any], value: Any, integral: bool) -> tuple[str, Any]:
    """valueQuantity in the item's UCUM unit for numbers; other types as FHIR maps them."""
    kind = q_item.get("type")
    if kind in NUMERIC_TYPES:
        number = json_number(value, integral)
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
        category = extension_value(q_item, EXTRACT_CATEGORY) or extension_value(
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
            obs["basedOn"] = deep_copy(response["basedOn"])
        obs["status"] = status
        if category:
            obs["category"] = [deep_copy(category)]
        obs["code"] = {"coding": deep_copy(q_item.get("code") or [])}
        obs["subject"] = deep_copy(subject)
        obs["effectiveDateTime"] = effective
        author = response.get("author")
        if _reference_type(author) in PERFORMER_TYPES:
            obs["performer"] = [deep_copy(author)]
        key, fhir_value = _value(q_item, value, integral)
        obs[key] = fhir_value
        obs["derivedFrom"] = [{"reference": f"QuestionnaireResponse/{response_id}"}]
        return obs

    entries: list[dict[str, Any]] = []
    calculated: list[dict[str, Any]] = []
    answered = {a.link_id: a for a in answers}
    for q_item in walk_questionnaire(questionnaire.get("item") or []):
        if not extracts(questionnaire, q_item):
            continue
        link_id = q_item["linkId"]
        if extension(q_item, CALCULATED) is not None:
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
