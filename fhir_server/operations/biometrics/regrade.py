"""A child's BMIs are graded again when what grades them changes: birth date or sex.

Registered for Patient (``effects``). The IOTF grade of a BMI depends on the
child's birth date and sex (``observations.py``); when a Patient is created or
either of them changes, the child's BMI Observations are normalised again in the
same transaction and, where the grade (or the plausibility tag) differs, stored
as a new version by the server. Two cases need it: a birth date corrected after
measures were graded, and a transaction bundle in which an EHR's BMI entry is
processed before the entry creating its Patient (a transaction's entries have
no defined order among themselves, so the BMI's own write could not see her).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fhir_server.interactions.context import Context
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.services import Services
from fhir_server.interactions.write import prepare, store
from fhir_server.operations.biometrics.codes import BMI, LOINC
from fhir_server.resources.hooks import BaseHooks, WriteEvent
from fhir_server.storage.repository import ReadScope

FACTS = ("birthDate", "gender")


def _changed(event: WriteEvent) -> bool:
    if event.resource is None:
        return False
    before = event.previous.resource if event.previous and not event.previous.deleted else None
    if before is None:
        return True
    return any(before.get(k) != event.resource.get(k) for k in FACTS)


def _judged(observation: dict[str, Any]) -> tuple[Any, Any]:
    return observation.get("interpretation"), (observation.get("meta") or {}).get("tag")


class RegradeHooks(BaseHooks):
    """Registered for Patient: see the module docstring. ``bind`` hands it the services."""

    def __init__(self) -> None:
        self._services: Services | None = None

    def bind(self, services: Services) -> None:
        self._services = services

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        if self._services is None or not _changed(event):
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
        query = (
            f"subject={quote(f'Patient/{event.id}', safe='')}"
            f"&code={quote(f'{LOINC}|{BMI}', safe='')}"
        )
        for stored in await find_matches(ctx, "Observation", query):
            if stored.resource is None:
                continue
            regraded = await prepare(ctx, "Observation", stored.resource)
            if _judged(regraded) != _judged(stored.resource):
                await store(ctx, "Observation", stored.id, regraded, previous=stored, method="PUT")
