"""Starting a biometric step creates its form, pre-filled: « reportées et synchronisées ».

Registered for Task (``effects``): when a Task of the biometric-form step
(``instantiatesCanonical`` = ``ActivityDefinition/mrtc-step-biometric-form``, or
its code ``mrtc-pathway-step#biometric-form``) is written ``in-progress`` and
was not in progress before — whichever path moved it (``$complete-step``'s
siblings, a PUT, a PATCH, a bundle) — the server creates, in the same
transaction, the step's QuestionnaireResponse: status ``in-progress``, the
Questionnaire of the Task's ``input:questionnaire``, the Task's patient, its
CarePlan in ``basedOn``, its owner as author, and the ``weight`` and ``height``
answers pre-filled with the child's latest weight and height Observations
(the measure of any earlier step, or of an EHR). The professional then saves
or closes it as any response.

The response names its step in ``identifier``
(``https://mrtc.example.org/fhir/sid/step-questionnaire-response|<Task id>``): R4
gives a QuestionnaireResponse no reference to a Task (``Task.output`` points the
other way, and the step lifecycle owns the Task), and the identifier makes the
hook idempotent — a step started again (paused, then resumed) keeps its one
response. It is written by the server through the write pipeline (validated,
normalised by the form hooks, audited), whoever started the step: the
caller's rules decided the Task write, this is its consequence. The hook
does not depend on how the Task lifecycle is enforced; it only reads the
status the write recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

from fhir_server.errors import ProfileViolation
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.services import Services
from fhir_server.interactions.write import new_id, prepare, store
from fhir_server.operations.biometrics.codes import (
    ACTIVITY,
    HEIGHT,
    LOINC,
    QUESTIONNAIRE,
    STEP_CODE,
    STEP_FORM_SYSTEM,
    STEP_SYSTEM,
    TASK_IO_SYSTEM,
    WEIGHT,
)
from fhir_server.operations.biometrics.observations import quantity_value
from fhir_server.operations.biometrics.patients import effective_of, moment
from fhir_server.operations.sdc.questionnaire import (
    MAX_DECIMALS,
    extension_value,
    walk_questionnaire,
)
from fhir_server.resources.hooks import BaseHooks, WriteEvent
from fhir_server.storage.repository import ReadScope, StoredResource, instant, now

log = logging.getLogger(__name__)
AUTHOR_TYPES = ("Practitioner", "PractitionerRole", "Organization")
UNITS = {WEIGHT: "kg", HEIGHT: "cm"}  # the form's units (questionnaire-unit)
NOT_A_MEASURE = ("entered-in-error", "cancelled")


def is_biometric_step(task: dict[str, Any]) -> bool:
    canonicals = [str(c).partition("|")[0] for c in task.get("instantiatesCanonical") or ()]
    if isinstance(task.get("instantiatesCanonical"), str):  # tolerate a single value
        canonicals = [str(task["instantiatesCanonical"]).partition("|")[0]]
    if ACTIVITY in canonicals:
        return True
    return any(
        c.get("system") == STEP_SYSTEM and c.get("code") == STEP_CODE
        for c in (task.get("code") or {}).get("coding") or ()
    )


def _questionnaire(task: dict[str, Any]) -> str:
    for entry in task.get("input") or ():
        codings = (entry.get("type") or {}).get("coding") or ()
        if any(
            c.get("system") == TASK_IO_SYSTEM and c.get("code") == "questionnaire" for c in codings
        ):
            value = entry.get("valueCanonical")
            if isinstance(value, str) and value.partition("|")[0] == QUESTIONNAIRE:
                return value
    return QUESTIONNAIRE


def _started(event: WriteEvent) -> bool:
    if event.resource is None or event.resource.get("status") != "in-progress":
        return False
    before = event.previous.resource if event.previous and not event.previous.deleted else None
    return not before or before.get("status") != "in-progress"


class StepHooks(BaseHooks):
    """Registered for Task: see the module docstring. ``bind`` hands it the services."""

    def __init__(self, questionnaire: dict[str, Any]) -> None:
        self._services: Services | None = None
        self._places: dict[str, int] = {}
        for item in walk_questionnaire(questionnaire.get("item") or []):
            places = extension_value(item, MAX_DECIMALS)
            for coding in item.get("code") or ():
                if coding.get("system") == LOINC and isinstance(places, int):
                    self._places[str(coding.get("code"))] = places

    def bind(self, services: Services) -> None:
        self._services = services

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        task = event.resource
        if (
            self._services is None
            or task is None
            or not _started(event)
            or not is_biometric_step(task)
        ):
            return
        patient = (task.get("for") or {}).get("reference")
        if not isinstance(patient, str) or not patient.startswith("Patient/"):
            return
        services = self._services
        ctx = Context(
            services,
            services.settings.base_url.rstrip("/"),
            scope.unrestricted(),
            None,
            event.actor.request_id,
            event.actor.source,
            after_commit=[],
        )
        marker = quote(f"{STEP_FORM_SYSTEM}|{event.id}", safe="")
        if await find_matches(ctx, "QuestionnaireResponse", f"identifier={marker}"):
            return
        items: list[dict[str, Any]] = []
        for link_id, code in (("weight", WEIGHT), ("height", HEIGHT)):
            value = await self._latest(ctx, patient, code)
            if value is not None:
                items.append({"linkId": link_id, "answer": [{"valueDecimal": value}]})
        response: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse",
            "identifier": {"system": STEP_FORM_SYSTEM, "value": event.id},
            "questionnaire": _questionnaire(task),
            "status": "in-progress",
            "subject": {"reference": patient},
            "authored": instant(now()),
        }
        plans = [
            r
            for r in task.get("basedOn") or ()
            if str(r.get("reference", "")).startswith("CarePlan/")
        ]
        if plans:
            response = {**response, "basedOn": plans}
        owner = task.get("owner") or {}
        if str(owner.get("reference", "")).split("/")[0] in AUTHOR_TYPES:
            response["author"] = {"reference": owner["reference"]}
        if items:
            response["item"] = items
        try:
            resource = await prepare(ctx, "QuestionnaireResponse", response)
        except ProfileViolation:  # a stored measure the form refuses: start from an empty form
            log.warning("biometric step %s: latest measures not pre-filled", event.id)
            response.pop("item", None)
            resource = await prepare(ctx, "QuestionnaireResponse", response)
        await store(ctx, "QuestionnaireResponse", new_id(), resource, previous=None, method="POST")

    async def _latest(self, ctx: Context, patient: str, code: str) -> float | None:
        """The value of the patient's latest measure of ``code`` (by effective date).

        Only measures in the form's unit (kg, cm) count; the value is rounded to the
        form's decimals (an EHR's 40.125 kg pre-fills 40.13), so the pre-filled form
        is one the form's own rules accept.
        """
        matches = await find_matches(
            ctx,
            "Observation",
            f"subject={quote(patient, safe='')}&code={quote(f'{LOINC}|{code}', safe='')}",
        )
        best: tuple[datetime, StoredResource] | None = None
        for stored in matches:
            obs = stored.resource or {}
            when = effective_of(obs)
            quantity = obs.get("valueQuantity") or {}
            unit = quantity.get("code") or quantity.get("unit")
            if (
                obs.get("status") in NOT_A_MEASURE
                or when is None
                or quantity_value(obs) is None
                or unit != UNITS[code]
            ):
                continue
            if best is None or moment(when) > best[0]:
                best = (moment(when), stored)
        value = quantity_value(best[1].resource or {}) if best else None
        places = self._places.get(code, 2)
        if value is None:
            return None
        return float(Decimal(str(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))
