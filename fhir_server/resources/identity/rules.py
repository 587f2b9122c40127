"""The identity-vigilance rules on every write of a Patient (MRTC Patient profile, RNIV).

What the booklet and the RNIV ask (« Comment rechercher ou créer le dossier
de l'enfant ? », « Cas particuliers »), checked before anything is stored:

* the five strict traits are present (``MRTC-IDN-001``); a placeholder of the
  IG's ``mrtc-identity-placeholder`` table stands for an unknown one and keeps
  the identity provisional (``-002``); without a status the server records
  « Identité provisoire »;
* validated and qualified identities rest on an accepted identity document —
  the IG's ``mrtc-identity-document-trusted`` ValueSet; a driving licence or a
  carte Vitale is recorded but never raises the status (``-003``);
* a doubtful or fictitious identity stays provisional (``-004``) and is never
  both (``-005``); « VIDE » traits only for a fictitious one (``-008``);
* once an identity document has been seen, every birth given name is a strict
  trait (``-006``), and that list starts with the first birth given name (``-007``);
* sex is one of the INS values (``-009``), the birth date a full past date
  (``-010``), the birth place a COG code (``-011``);
* e-mail and phone numbers are valid; phones are written E.164 (``-030/031``);
* then the whole MRTC Patient profile (its invariants and bindings) is checked,
  even when the resource does not claim it.

Inside the write's transaction (``effects``), where the previous version is
known: the strict traits of a validated or qualified identity do not change
without a new check of the document (``-020``); a record whose five strict
traits certainly match another record is refused unless marked homonym
(``-050``, 409, naming the existing record); family links are kept symmetric
(``family``).

Names are stored as typed; comparisons use ``names`` (case, accents,
hyphens, apostrophes, spaces). Which Patients the rules apply to is
``FHIR_IDENTITY_RULES`` (decision 0021).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from fhir_server.errors import BusinessRuleViolation, DuplicateRecord, Issue
from fhir_server.ig import ImplementationGuide
from fhir_server.resources.hooks import BaseHooks, Resource, WriteEvent
from fhir_server.resources.identity import names
from fhir_server.resources.identity.candidates import certain_matches, find_candidates
from fhir_server.resources.identity.contact import normalise_telecom
from fhir_server.resources.identity.family import FamilyLinks
from fhir_server.resources.identity.matching import Query
from fhir_server.resources.identity.traits import (
    DOUBTFUL,
    FICTITIOUS,
    PATIENT_PROFILE,
    PROVISIONAL,
    RELIABILITY,
    STATUS_SYSTEM,
    STRICT_TRAITS,
    Identity,
    Placeholders,
    birth_place_code,
    identity_of,
    reliability,
)
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.settings import SearchSettings
from fhir_server.storage.repository import ReadScope, Repository

TRUSTED_DOCUMENTS = "https://mrtc.example.org/fhir/ValueSet/mrtc-identity-document-trusted"
# The RNIV statuses that say "checked against a high-trust identity document".
DOCUMENT_STATUSES = frozenset({"VALI", "QUAL"})
INS_GENDERS = frozenset({"male", "female", "unknown"})
_COG = re.compile(r"^([0-9]{5}|2[AB][0-9]{3})$")
_FULL_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

ProfileCheck = Callable[[Resource], list[Issue]]


def trusted_documents(ig: ImplementationGuide) -> frozenset[tuple[str, str]]:
    """(system, code) of the identity documents that may raise the status (IG ValueSet)."""
    for vs in ig.of_type("ValueSet"):
        if vs.get("url") == TRUSTED_DOCUMENTS:
            return frozenset(
                (inc["system"], c["code"])
                for inc in (vs.get("compose") or {}).get("include") or []
                for c in inc.get("concept") or []
            )
    raise ValueError(f"the implementation guide has no ValueSet {TRUSTED_DOCUMENTS}")


def _issue(msg_id: str, text: str, *where: str) -> Issue:
    return Issue("error", "business-rule", text, tuple(where), msg_id)


class IdentityRules(BaseHooks):
    """Registered for Patient (``resources.hooks.TypeHooks``); see the module docstring."""

    def __init__(
        self,
        repository: Repository,
        registry: SearchParameterRegistry,
        search_settings: SearchSettings,
        ig: ImplementationGuide,
        *,
        every_patient: bool,
        profile_check: ProfileCheck,
    ) -> None:
        self.repository = repository
        self.registry = registry
        self.search_settings = search_settings
        self.placeholders = Placeholders.from_ig(ig)
        self.trusted = trusted_documents(ig)
        self.every_patient = every_patient
        self.profile_check = profile_check
        self.family = FamilyLinks(repository, ig)

    def applies(self, resource: Resource | None) -> bool:
        """Whether ``resource`` is an MRTC record (or every Patient is, by setting)."""
        if resource is None:
            return False
        if self.every_patient:
            return True
        profiles = (resource.get("meta") or {}).get("profile") or []
        if PATIENT_PROFILE in profiles:
            return True
        urls = {e.get("url") for e in resource.get("extension") or [] if isinstance(e, dict)}
        return RELIABILITY in urls or birth_place_code(resource) is not None

    # -- before the transaction ---------------------------------------------------------

    async def normalise(self, resource: Resource) -> Resource:
        if not self.applies(resource):
            return resource
        issues: list[Issue] = []
        resource = normalise_telecom(resource, issues)
        resource = with_default_status(resource)
        identity = identity_of(resource)
        issues += self.check(identity, resource)
        if not any(i.severity == "error" for i in issues):
            claimed = PATIENT_PROFILE in ((resource.get("meta") or {}).get("profile") or [])
            if not claimed:  # a claimed profile is checked by the write pipeline itself
                issues += [i for i in self.profile_check(resource) if i.severity == "error"]
        errors = [i for i in issues if i.severity == "error"]
        if errors:
            raise BusinessRuleViolation(
                f"The identity breaks {len(errors)} identity-vigilance rule(s); first: "
                f"{errors[0].diagnostics}",
                issues=errors,
                msg_id=errors[0].msg_id or "MRTC-IDN-000",
            )
        return resource

    def check(self, identity: Identity, resource: Resource) -> list[Issue]:
        """Every identity rule ``resource`` breaks (see the module docstring)."""
        issues: list[Issue] = []
        values = identity.strict()
        placeholders = [t for t, v in values.items() if self.placeholders.is_placeholder(t, v)]
        for code, label, where in STRICT_TRAITS:
            if values[code] is None:
                issues.append(
                    _issue(
                        "MRTC-IDN-001",
                        f"The strict identity trait '{label}' ({code}) is required; when it is "
                        "unknown, enter the booklet's placeholder (« À DEMANDER », 1900-01-01, "
                        "99999): the identity then stays provisional",
                        where,
                    )
                )
        status, attributes = identity.status, identity.attributes
        status_at = f"Patient.extension('{RELIABILITY}').extension('identityStatus').value.code"
        if placeholders and status != PROVISIONAL:
            issues.append(
                _issue(
                    "MRTC-IDN-002",
                    f"An identity with a placeholder ({', '.join(placeholders)}) stays "
                    f"provisional (PROV), not {status}",
                    status_at,
                )
            )
        if status in DOCUMENT_STATUSES:
            mode = identity.validation_mode
            if mode is None:
                issues.append(
                    _issue(
                        "MRTC-IDN-003",
                        f"Status {status} needs the identity document that was checked "
                        "(validationMode): identity card, passport, family record book, "
                        "birth-certificate extract or residence permit",
                        status_at,
                    )
                )
            elif mode not in self.trusted:
                issues.append(
                    _issue(
                        "MRTC-IDN-003",
                        f"Document {mode[1]} is recorded but never raises the identity to "
                        f"{status} (a driving licence or a carte Vitale is not an identity "
                        "document); accepted: identity card, passport, family record book, "
                        "birth-certificate extract, residence permit",
                        status_at,
                    )
                )
        if attributes & {DOUBTFUL, FICTITIOUS} and status != PROVISIONAL:
            issues.append(
                _issue(
                    "MRTC-IDN-004",
                    f"A doubtful (DOUT) or fictitious (FICT) identity stays provisional "
                    f"(PROV), not {status}",
                    status_at,
                )
            )
        if {DOUBTFUL, FICTITIOUS} <= attributes:
            issues.append(
                _issue(
                    "MRTC-IDN-005",
                    "An identity cannot be both doubtful (DOUT) and fictitious (FICT)",
                    f"Patient.extension('{RELIABILITY}').extension('comment')",
                )
            )
        if identity.validation_mode is not None and identity.birth_given_names is None:
            issues.append(
                _issue(
                    "MRTC-IDN-006",
                    "An identity document was seen: every birth given name is a strict trait "
                    "(the birth-list-given-name of the official name, e.g. 'Léa Marie Jeanne')",
                    "Patient.name.where(use = 'official')",
                )
            )
        if identity.birth_given_names and identity.given:
            listed, first = names.words(identity.birth_given_names), names.words(identity.given)
            if listed[: len(first)] != first:
                issues.append(
                    _issue(
                        "MRTC-IDN-007",
                        f"The birth given names '{identity.birth_given_names}' must start with "
                        f"the first birth given name '{identity.given}'",
                        "Patient.name.where(use = 'official')",
                    )
                )
        empty = self.placeholders.fictitious_only
        if FICTITIOUS not in attributes and any(
            v is not None and names.key(v) in empty for v in (identity.family, identity.given)
        ):
            issues.append(
                _issue(
                    "MRTC-IDN-008",
                    "Traits entered as « VIDE » are only allowed for a fictitious identity (FICT)",
                    "Patient.name.where(use = 'official')",
                )
            )
        if identity.gender is not None and identity.gender not in INS_GENDERS:
            issues.append(
                _issue(
                    "MRTC-IDN-009",
                    f"Sex '{identity.gender}' is not an INS value (male, female, unknown)",
                    "Patient.gender",
                )
            )
        birth_date = identity.birth_date
        if birth_date is not None and (
            not _FULL_DATE.match(birth_date) or birth_date > date.today().isoformat()
        ):
            issues.append(
                _issue(
                    "MRTC-IDN-010",
                    f"The birth date '{birth_date}' must be a full date (YYYY-MM-DD), "
                    "not in the future",
                    "Patient.birthDate",
                )
            )
        place = identity.birth_place
        if place is not None and not _COG.match(place):
            issues.append(
                _issue(
                    "MRTC-IDN-011",
                    f"The birth place code '{place}' is not a COG (INSEE) code: 5 digits, "
                    "2A/2B for Corsica, 99xxx for a country, 99999 when unknown",
                    STRICT_TRAITS[4][2],
                )
            )
        return issues

    # -- inside the transaction ---------------------------------------------------------

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        previous = (
            event.previous.resource if event.previous and not event.previous.deleted else None
        )
        await self.family.apply(event, previous, scope)
        if event.resource is None or not self.applies(event.resource):
            return
        identity = identity_of(event.resource)
        before = identity_of(previous) if previous is not None else None
        if before is not None:
            self.check_transition(before, identity)
        if before is not None and before.strict() == identity.strict():
            return  # the traits did not change: nothing new to compare
        await self.refuse_duplicate(event.id, identity, scope)

    def check_transition(self, before: Identity, after: Identity) -> None:
        """A validated or qualified identity keeps its traits unless the document is re-checked."""
        if before.status not in DOCUMENT_STATUSES or after.status not in DOCUMENT_STATUSES:
            return
        changed = [t for t, v in after.strict().items() if before.strict()[t] != v]
        if changed and after.validation_date == before.validation_date:
            raise BusinessRuleViolation(
                f"The strict traits ({', '.join(changed)}) of a {before.status} identity change "
                "only with a new check of the identity document (a new validationDate), or "
                "with the status set back to provisional (PROV)",
                expression=("Patient",),
                msg_id="MRTC-IDN-020",
            )

    async def refuse_duplicate(self, id_: str, identity: Identity, scope: ReadScope) -> None:
        """Create after search: a certain match of the five traits is the same child."""
        if identity.homonym:
            return  # the booklet's "identité homonyme": a different child, on purpose
        values = identity.strict()
        if any(v is None or self.placeholders.is_placeholder(t, v) for t, v in values.items()):
            return  # a provisional placeholder is never matching evidence
        found = await find_candidates(
            self.repository,
            self.registry,
            self.search_settings,
            Query.from_identity(identity),
            self.placeholders,
            scope.unrestricted(),
        )
        existing = certain_matches(found, exclude=id_)
        if existing:
            refs = ", ".join(f"Patient/{s.id}" for s in existing)
            raise DuplicateRecord(
                f"A record with the same five strict identity traits already exists: {refs}. "
                "Open it (or ask for access with $break-glass) instead of creating a "
                "duplicate; if this is a different child with the same traits, mark the "
                "identity as homonym (HOMA)",
                expression=("Patient",),
                msg_id="MRTC-IDN-050",
            )


def with_default_status(resource: Resource) -> Resource:
    """A record without an identity status is provisional (« Identité provisoire »)."""
    found = reliability(resource)
    if found is not None and any(
        isinstance(e, dict) and e.get("url") == "identityStatus"
        for e in found.get("extension") or []
    ):
        return resource
    status = {
        "url": "identityStatus",
        "valueCoding": {
            "system": STATUS_SYSTEM,
            "code": PROVISIONAL,
            "display": "Identité provisoire",
        },
    }
    out = dict(resource)
    extensions = [e for e in out.get("extension") or [] if e is not found]
    reliability_ext: dict[str, Any] = dict(found or {"url": RELIABILITY})
    reliability_ext["extension"] = [status, *(reliability_ext.get("extension") or [])]
    out["extension"] = [reliability_ext, *extensions]
    return out
