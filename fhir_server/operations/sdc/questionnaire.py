"""What an SDC Questionnaire says: extension URLs, message ids, items and their walk.

Shared by the answer checks, the calculations and the extraction of the SDC
engine (``fhir_server.operations.sdc``); nothing here evaluates anything.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fhir_server.errors import Issue

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
class Answer:
    """One answered item of the response, normalised, with its location."""

    link_id: str
    q_item: dict[str, Any]
    value: Any  # Decimal for numeric items, else the FHIR value as given
    value_key: str  # the answer's valueXxx key after normalisation
    loc: str
    integral: bool = False  # the answer was written without decimals (keep "160", not 160.0)


# -- Questionnaire helpers -----------------------------------------------------------


def extension(element: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in element.get("extension") or () if e.get("url") == url), None)


def extension_value(element: dict[str, Any], url: str) -> Any:
    found = extension(element, url)
    if found is None:
        return None
    return next((v for k, v in found.items() if k.startswith("value")), None)


def walk_questionnaire(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items or ():
        yield item
        yield from walk_questionnaire(item.get("item") or [])


def walk_response(items: list[Any], loc: str) -> Iterator[tuple[dict[str, Any], str]]:
    for i, item in enumerate(items or ()):
        if not isinstance(item, dict):
            continue
        here = f"{loc}.item[{i}]"
        yield item, here
        yield from walk_response(item.get("item") or [], here)
        for j, answer in enumerate(item.get("answer") or ()):
            if isinstance(answer, dict):
                yield from walk_response(answer.get("item") or [], f"{here}.answer[{j}]")


def canonical(url: str) -> tuple[str, str | None]:
    base, _, version = url.partition("|")
    return base, version or None


def answers_questionnaire(questionnaire: dict[str, Any], response: dict[str, Any]) -> bool:
    """Whether ``response.questionnaire`` names ``questionnaire`` (version checked if given)."""
    claimed = response.get("questionnaire")
    if not isinstance(claimed, str):
        return False
    url, version = canonical(claimed)
    if url != questionnaire.get("url"):
        return False
    return version is None or version == questionnaire.get("version")


def extracts(questionnaire: dict[str, Any], item: dict[str, Any]) -> bool:
    """SDC: an item-level flag wins; else the Questionnaire-level flag for coded items."""
    own = extension_value(item, OBSERVATION_EXTRACT)
    if own is not None:
        return bool(own)
    return bool(extension_value(questionnaire, OBSERVATION_EXTRACT)) and bool(item.get("code"))


# -- normalisation -----------------------------------------------------------------


def error_issue(code: str, msg_id: str, text: str, loc: str) -> Issue:
    return Issue("error", code, text, (loc,), msg_id)


def deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value
