"""Consent to coordinated care (MRTC Consent profile): its rules, and "is there one?".

The booklet, « Création patient - Le consentement »: consent is mandatory
before care is coordinated; it is given by someone (``Consent.performer``:
the child, a parent, a guardian...) and collected by someone else, whose
quality is the IG's ``mrtc-consent-collector`` extension (patient,
professional, curator, legal guardian, trusted person, holder of parental
authority, other with a text); "il est obligatoire de renseigner une raison
de l'annulation du consentement".

On every write of a Consent:

* withdrawing it (``inactive``) or cancelling it (``entered-in-error``) needs
  the IG's revocation-reason extension (``MRTC-CNS-001``), and only those
  statuses carry one (``-002``);
* an MRTC consent (claiming the profile or carrying the collector extension)
  says who collected it (``-003``, with a text for "other", ``-004``) and when
  (``-005``);
* history is kept: a withdrawn or cancelled consent is never made active
  again — a new consent is a new Consent (``-006``) — and a Consent is never
  deleted, only withdrawn (``-007``); every version stays in its history.

``active_consent`` is the check other modules call (the pathway refuses to
attach without an active consent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir_server.errors import BusinessRuleViolation, Issue, MethodNotAllowed
from fhir_server.resources.hooks import BaseHooks, Resource, WriteEvent
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.values import date_range
from fhir_server.settings import SearchSettings
from fhir_server.storage.lookup import Lookup
from fhir_server.storage.repository import ReadScope, Repository, StoredResource

IG_BASE = "https://mrtc.example.org/fhir"
CONSENT_PROFILE = f"{IG_BASE}/StructureDefinition/mrtc-consent"
COLLECTOR = f"{IG_BASE}/StructureDefinition/mrtc-consent-collector"
REVOCATION_REASON = f"{IG_BASE}/StructureDefinition/mrtc-consent-revocation-reason"
COLLECTOR_SYSTEM = f"{IG_BASE}/CodeSystem/mrtc-consent-collector"
PATIENT_CONSENT = ("http://loinc.org", "59284-0")  # the MRTC profile's category
REVOKED = frozenset({"inactive", "entered-in-error"})
MAX_CONSENTS = 1000  # consents of one record read to answer active_consent


def _ext(resource: Resource, url: str) -> list[dict[str, Any]]:
    return [
        e for e in resource.get("extension") or [] if isinstance(e, dict) and e.get("url") == url
    ]


def _issue(msg_id: str, text: str, where: str) -> Issue:
    return Issue("error", "business-rule", text, (where,), msg_id)


def is_mrtc(resource: Resource) -> bool:
    profiles = (resource.get("meta") or {}).get("profile") or []
    return CONSENT_PROFILE in profiles or bool(_ext(resource, COLLECTOR))


def consent_issues(resource: Resource) -> list[Issue]:
    """Every consent rule ``resource`` breaks (see the module docstring)."""
    issues: list[Issue] = []
    status = resource.get("status")
    reasons = [
        e.get("valueString")
        for e in _ext(resource, REVOCATION_REASON)
        if isinstance(e.get("valueString"), str) and e["valueString"].strip()
    ]
    if status in REVOKED and not reasons:
        issues.append(
            _issue(
                "MRTC-CNS-001",
                f"A consent set to '{status}' needs the reason of its cancellation "
                f"(extension {REVOCATION_REASON}): « il est obligatoire de renseigner une "
                "raison de l'annulation du consentement »",
                "Consent.status",
            )
        )
    if status not in REVOKED and _ext(resource, REVOCATION_REASON):
        issues.append(
            _issue(
                "MRTC-CNS-002",
                f"Only a withdrawn (inactive) or cancelled (entered-in-error) consent carries a "
                f"revocation reason, not a '{status}' one",
                f"Consent.extension('{REVOCATION_REASON}')",
            )
        )
    if not is_mrtc(resource):
        return issues
    collectors = _ext(resource, COLLECTOR)
    role = None
    description = None
    for sub in (collectors[0].get("extension") or []) if collectors else []:
        if isinstance(sub, dict) and sub.get("url") == "role":
            role = (sub.get("valueCoding") or {}).get("code")
        if isinstance(sub, dict) and sub.get("url") == "description":
            description = sub.get("valueString")
    if role is None:
        issues.append(
            _issue(
                "MRTC-CNS-003",
                "A consent says who collected it: extension mrtc-consent-collector with a role "
                "(patient, professional, curator, legal-guardian, trusted-person, "
                "parental-authority, other)",
                "Consent.extension",
            )
        )
    elif role == "other" and not (isinstance(description, str) and description.strip()):
        issues.append(
            _issue(
                "MRTC-CNS-004",
                "A consent collected by 'other' (« une autre personne ») says who, in text "
                "(the collector's 'description')",
                f"Consent.extension('{COLLECTOR}')",
            )
        )
    if not resource.get("dateTime"):
        issues.append(
            _issue("MRTC-CNS-005", "A consent records when it was collected", "Consent.dateTime")
        )
    return issues


class ConsentRules(BaseHooks):
    """Registered for Consent (``resources.hooks.TypeHooks``); see the module docstring."""

    async def normalise(self, resource: Resource) -> Resource:
        issues = consent_issues(resource)
        if issues:
            raise BusinessRuleViolation(
                f"The consent breaks {len(issues)} rule(s); first: {issues[0].diagnostics}",
                issues=issues,
                msg_id=issues[0].msg_id or "MRTC-CNS-000",
            )
        return resource

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        previous = event.previous
        if previous is None or previous.deleted or previous.resource is None:
            return
        if event.resource is None:
            raise MethodNotAllowed(
                f"Consent/{event.id} is never deleted: withdraw it (status inactive) with the "
                "reason, so its history stays",
                msg_id="MRTC-CNS-007",
            )
        if (
            previous.resource.get("status") in REVOKED
            and event.resource.get("status") not in REVOKED
        ):
            raise BusinessRuleViolation(
                f"Consent/{event.id} was withdrawn or cancelled and stays so; record a new "
                "consent (a new Consent) to start again",
                expression=("Consent.status",),
                msg_id="MRTC-CNS-006",
            )


def _covers(period: Any, when: datetime) -> bool:
    if not isinstance(period, dict):
        return True
    start = date_range(period["start"]) if isinstance(period.get("start"), str) else None
    end = date_range(period["end"]) if isinstance(period.get("end"), str) else None
    if start is not None and start[0] > when:
        return False
    return not (end is not None and end[1] <= when)


def _is_patient_consent(resource: Resource) -> bool:
    if CONSENT_PROFILE in ((resource.get("meta") or {}).get("profile") or []):
        return True
    return any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == PATIENT_CONSENT
        for concept in resource.get("category") or []
        for c in (concept or {}).get("coding") or []
    )


async def active_consent(
    repository: Repository,
    registry: SearchParameterRegistry,
    settings: SearchSettings,
    patient_id: str,
    scope: ReadScope,
    *,
    at: datetime | None = None,
) -> StoredResource | None:
    """The patient's consent to coordinated care in force at ``at`` (now), or None.

    In force: status ``active``, a patient-consent (MRTC profile, or LOINC
    59284-0 category), collected no later than ``at``, and its
    ``provision.period`` (if any) covering ``at``. Read unrestricted, in
    ``scope``'s transaction: the answer must not depend on who asks. When
    several are in force, the most recently collected one.
    """
    when = at or datetime.now(UTC)
    query = [("patient", f"Patient/{patient_id}"), ("status", "active")]
    found = await Lookup(repository, registry, settings).find("Consent", query, scope, MAX_CONSENTS)
    best: tuple[datetime, StoredResource] | None = None
    for stored in found:
        consent = stored.resource or {}
        if consent.get("status") != "active" or not _is_patient_consent(consent):
            continue
        if not _covers((consent.get("provision") or {}).get("period"), when):
            continue
        collected = consent.get("dateTime")
        bounds = date_range(collected) if isinstance(collected, str) else None
        if bounds is not None and bounds[0] > when:
            continue
        key = bounds[0] if bounds is not None else datetime.min.replace(tzinfo=UTC)
        if best is None or key > best[0]:
            best = (key, stored)
    return best[1] if best else None
