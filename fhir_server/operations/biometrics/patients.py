"""The two facts of a child that biometric rules need: birth date and sex."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir_server.operations.biometrics.iotf import age_in_years, sex_of
from fhir_server.storage.repository import ReadScope, Repository


@dataclass(frozen=True)
class Child:
    reference: str
    birth_date: str | None
    sex: str | None  # M | F

    def age_at(self, when: Any) -> float | None:
        return age_in_years(self.birth_date, when)


class Patients:
    """Reads the patient a measure is about, as the server (the rule is the server's).

    The write's own caller was already allowed to write about this patient;
    the facts read here only shape what is stored, never what is returned.
    """

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def child(self, subject: Any, scope: ReadScope | None = None) -> Child | None:
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(ref, str):
            return None
        parts = ref.split("/")
        if len(parts) < 2 or parts[-2] != "Patient":
            return None
        stored = await self.repository.read(
            "Patient", parts[-1], (scope or ReadScope()).unrestricted()
        )
        if stored is None or stored.resource is None:
            return None
        patient = stored.resource
        birth = patient.get("birthDate")
        return Child(
            f"Patient/{parts[-1]}", birth if isinstance(birth, str) else None, sex_of(patient)
        )


def moment(value: str) -> datetime:
    """A FHIR date or dateTime as an aware instant (a bare date or year: its start, UTC)."""
    text = value if len(value) > 7 else f"{value}-01-01"[:10]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def effective_of(observation: dict[str, Any]) -> str | None:
    """When an Observation was measured: effectiveDateTime, or the start of its period."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        if isinstance(observation.get(key), str):
            return str(observation[key])
    start = (observation.get("effectivePeriod") or {}).get("start")
    return start if isinstance(start, str) else None
