"""The MRTC access policy: the booklet's rules, decided in one place.

* **Authentication** (``authenticate``): a bearer JWT verified by
  ``tokens.TokenVerifier``, turned into a ``Principal`` from its standard
  claims (``principal``).
* **Scopes** (``authorize``): SMART v1/v2 scopes only ever narrow; a trusted
  system is limited by its scopes alone.
* **Visibility** (``restriction``): a person or structure sees the
  compartments of the patients it is habilitated on (``habilitation``), the
  Tasks assigned to it and the documents they link, and every resource
  outside any patient compartment. Within a record, a person sees documents
  by profession (``matrix``, read from the IG); a structure account sees
  every step and document; the coordinator and super-user roles add powers,
  not visibility. The result is search criteria storage applies to every
  query, before paging.
* **Writes** (``check_write``): a resource may be stored only inside records
  the caller may see, never moved into one it may not; documents only in
  categories its profession may use; pathway closing and reopening,
  document re-categorisation and "entered in error" only by those the
  booklet names (``questions``).

Refused reads are 404, refused writes 403 (docs/security.md, "403 or 404").
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fhir_server.errors import Forbidden, MethodNotAllowed, Unauthorized
from fhir_server.ig import ImplementationGuide
from fhir_server.search.reference import normalise
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.search.request import Clause, Target
from fhir_server.search.restriction import Restriction
from fhir_server.security import questions
from fhir_server.security.compartment import (
    ACCESS_CODE,
    NONE,
    PRIVATE_TYPES,
    PatientCompartment,
    patient_ids,
)
from fhir_server.security.habilitation import Habilitations, Visibility
from fhir_server.security.matrix import DocumentMatrix, document_categories
from fhir_server.security.policy import AccessRequest
from fhir_server.security.principal import Principal, PrincipalResolver
from fhir_server.security.scopes import Scopes
from fhir_server.security.tokens import TokenVerifier, bearer_token
from fhir_server.settings import Settings
from fhir_server.storage.repository import ReadScope, Repository, StoredResource

# Route-table interaction -> the SMART permission letter it needs.
PERMISSION = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search-type": "s",
    "search-system": "s",
    "history-type": "s",
    "history-system": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "conditional-update": "u",
    "conditional-patch": "u",
    "delete": "d",
    "conditional-delete": "d",
}
# $operation -> the permission letter it needs on its type; None: trusted systems only.
OPERATION_PERMISSION: dict[str, str | None] = {
    "validate": "r",
    "expand": "r",
    "validate-code": "r",
    "lookup": "r",
    "extract": "r",
    "break-glass": "r",
    "news-feed": "r",
    "dashboard": "s",
    "everything": "r",
    "reindex": None,
    # the pathway engine's operations change state: a read-only token may not run them
    "apply": "c",
    "complete-step": "u",
    "close": "u",
    "reopen": "u",
}
CHANGES = frozenset(
    {
        "create",
        "update",
        "patch",
        "delete",
        "conditional-update",
        "conditional-patch",
        "conditional-delete",
    }
)
# Records of the audit trail are the server's: never written, changed or deleted over REST.
IMMUTABLE_TYPES = frozenset({"AuditEvent"})
# Compartment types whose resources belonging to no patient stay private to the record's
# readers: an access trail names people, it is not public because it names no patient.
NO_PUBLIC = frozenset({"AuditEvent"})
# Types whose resources take the visibility of the resource their access key names
# (a Binary, of its securityContext: the DocumentReference it is the content of).
FOLLOWERS = frozenset({"Binary"})
_IMPOSSIBLE = ""  # an id no resource has
MAX_CACHED = 10_000  # identities and views kept at once
NO_KEY = "urn:mrtc-fhir:nothing"  # an access key no resource has


def _monotonic() -> float:
    return time.monotonic()


class CarePolicy:
    """See module docstring; built once by ``bootstrap`` and shared by every request."""

    def __init__(
        self,
        settings: Settings,
        repository: Repository,
        registry: SearchParameterRegistry,
        ig: ImplementationGuide,
        compartment: PatientCompartment,
        verifier: TokenVerifier | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.registry = registry
        self.compartment = compartment
        self.matrix = DocumentMatrix.from_ig(ig)
        self.verifier = verifier or TokenVerifier.from_settings(settings)
        self.resolver = PrincipalResolver(repository, registry, settings.search)
        self.habilitations = Habilitations(repository, registry, settings.search)
        self.generation = 0
        self._principals: dict[str, tuple[float, int, Principal]] = {}
        self._views: dict[str, tuple[float, int, Visibility]] = {}

    # -- caches -----------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget every resolved identity and view (a care circle, task or role changed)."""
        self.generation += 1
        self._principals.clear()
        self._views.clear()

    def _fresh(self, entry: tuple[float, int, Any] | None) -> bool:
        return entry is not None and entry[1] == self.generation and entry[0] > _monotonic()

    # -- who is asking ----------------------------------------------------------

    async def authenticate(self, authorization: str | None, base_url: str) -> Principal:
        claims = await self.verifier.verify(bearer_token(authorization))
        key = _identity_key(claims)
        cached = self._principals.get(key)
        if cached is not None and self._fresh(cached):
            found = cached[2]
        else:
            found = await self.resolver.resolve(claims, base_url)
            if len(self._principals) >= MAX_CACHED:
                self._principals.clear()  # bounded memory; the next requests resolve again
            self._principals[key] = (
                _monotonic() + self.settings.auth.cache_seconds,
                self.generation,
                found,
            )
        client = claims.get("azp") or claims.get("client_id")
        principal = replace(
            found,
            scopes=Scopes.parse(claims.get("scope") or claims.get("scp")),
            subject=str(claims.get("sub") or ""),
            client=str(client) if client else None,
            claims=claims,
        )
        if not principal.is_system and not principal.scopes.user:
            raise Forbidden("The token grants no user/ scope", msg_id="MRTC-AUTH-025")
        return principal

    # -- what it may attempt ----------------------------------------------------

    async def authorize(self, principal: object | None, request: AccessRequest) -> None:
        interaction = request.interaction
        if interaction == "capabilities":
            return  # the CapabilityStatement is public
        p = _principal(principal)
        if interaction == "bundle":
            return  # each entry is authorised on its own
        if request.type in IMMUTABLE_TYPES and interaction in CHANGES:
            raise MethodNotAllowed(
                f"{request.type} resources are written by the server only and never change",
                headers={"Allow": "GET"},
                msg_id="MRTC-SEC-001",
            )
        if interaction == "operation":
            name = request.operation or ""
            if name not in OPERATION_PERMISSION:
                permission: str | None = "r"
            else:
                permission = OPERATION_PERMISSION[name]
            if permission is None:
                if not p.is_system:
                    raise Forbidden(
                        f"${name} is reserved to trusted systems", msg_id="MRTC-SEC-002"
                    )
                permission = "u"
            if name == "break-glass" and not questions.may_break_glass(p):
                raise Forbidden("Trusted systems cannot break glass", msg_id="MRTC-SEC-003")
        else:
            permission = PERMISSION.get(interaction)
        if permission is None:
            return
        if not p.scopes.allows(p.context, request.type, permission):
            where = request.type or "every type"
            raise Forbidden(
                f"The token's scopes ({p.scopes.describe(p.context) or 'none'}) do not allow "
                f"'{permission}' on {where}",
                msg_id="MRTC-SEC-004",
            )

    # -- what it may see --------------------------------------------------------

    async def visibility(self, principal: Principal, scope: ReadScope | None = None) -> Visibility:
        """The records, tasks and documents ``principal`` may open (cached briefly)."""
        key = principal.cache_key()
        cached = self._views.get(key)
        now = datetime.now(UTC)
        if (
            cached is not None
            and self._fresh(cached)
            and (cached[2].valid_until is None or cached[2].valid_until > now)
        ):
            return cached[2]
        view = await self.habilitations.visibility(
            principal, self.settings.auth.break_glass_seconds, scope
        )
        if len(self._views) >= MAX_CACHED:
            self._views.clear()
        self._views[key] = (_monotonic() + self.settings.auth.cache_seconds, self.generation, view)
        return view

    async def restriction(self, principal: object | None) -> Restriction | None:
        if principal is None:
            return HIDE_EVERYTHING  # only /metadata runs without a principal
        p = _principal(principal)
        if p.is_system:
            return None
        return CareRestriction(self, p, await self.visibility(p))

    def document_exclusions(self, principal: Principal) -> list[str]:
        """The MRTC document categories ``principal`` may not see (none for structures)."""
        if principal.is_system or principal.is_structure:
            return []
        return self.matrix.forbidden_for(principal.professions)

    # -- what it may store --------------------------------------------------------

    def access_keys(self, type_: str, resource: Mapping[str, Any] | None) -> list[str]:
        """The ``mrtc-access`` keys a version of a resource would be indexed with."""
        if resource is None:
            return []
        param = self.registry.get(type_, ACCESS_CODE)
        if param is None:
            return []
        keys: list[str] = []
        for value in param.values(resource):
            if isinstance(value, str):
                keys += normalise(value)
            elif isinstance(value, dict) and isinstance(value.get("reference"), str):
                keys += normalise(value["reference"])
        return list(dict.fromkeys(keys))

    async def check_write(
        self,
        principal: object | None,
        scope: ReadScope,
        type_: str,
        id_: str,
        resource: dict[str, Any] | None,
        previous: StoredResource | None,
    ) -> None:
        if principal is None:
            return  # the server's own writes (the IG at start-up)
        p = _principal(principal)
        if p.is_system:
            return
        if type_ == "Patient":
            await self._check_patient(p, scope, id_, resource, previous)
            return
        if type_ in FOLLOWERS:
            await self._check_follower(p, scope, type_, id_, resource, previous)
            return
        if type_ not in self.compartment.types:
            return
        view = await self.visibility(p, scope)
        if previous is None and resource is not None:
            existing = await self.repository.read(type_, id_, scope.unrestricted())
            if existing is not None and not existing.deleted:
                raise Forbidden(f"You may not change {type_}/{id_}", msg_id="MRTC-SEC-010")
        if not self._may_hold(p, view, type_, self.access_keys(type_, resource)):
            raise Forbidden(
                f"This {type_} belongs to a patient record you are not habilitated on",
                msg_id="MRTC-SEC-011",
            )
        before = previous.resource if previous is not None else None
        if type_ == "DocumentReference":
            self._check_document(p, resource, before)
        elif type_ == "CarePlan":
            self._check_pathway(p, view, resource, before)

    async def _check_patient(
        self,
        p: Principal,
        scope: ReadScope,
        id_: str,
        resource: dict[str, Any] | None,
        previous: StoredResource | None,
    ) -> None:
        if previous is None and resource is not None:
            existing = await self.repository.read("Patient", id_, scope.unrestricted())
            if existing is None or existing.deleted:
                return  # a new record: its creator is habilitated on it (``hooks``)
        view = await self.visibility(p, scope)
        if id_ not in view.patients:
            raise Forbidden(
                f"You are not habilitated on the record Patient/{id_}", msg_id="MRTC-SEC-012"
            )

    async def _check_follower(
        self,
        p: Principal,
        scope: ReadScope,
        type_: str,
        id_: str,
        resource: dict[str, Any] | None,
        previous: StoredResource | None,
    ) -> None:
        """A Binary may point only to a resource the writer can see (or one not stored yet)."""
        if previous is None and resource is not None:
            existing = await self.repository.read(type_, id_, scope.unrestricted())
            if existing is not None and not existing.deleted:
                raise Forbidden(f"You may not change {type_}/{id_}", msg_id="MRTC-SEC-010")
        for key in self.access_keys(type_, resource):
            target, _, target_id = key.partition("/")
            if not target_id or target not in self.registry.types:
                continue
            stored = await self.repository.read(target, target_id, scope.unrestricted())
            if stored is None:
                continue  # its document is written next (e.g. later in the same bundle)
            if await self.repository.read(target, target_id, scope) is None:
                raise Forbidden(
                    f"This {type_}'s securityContext is a resource you may not see",
                    msg_id="MRTC-SEC-018",
                )

    def _may_hold(self, p: Principal, view: Visibility, type_: str, keys: Sequence[str]) -> bool:
        """Whether a version with these access keys stays within what ``p`` may see."""
        patients = patient_ids(keys)
        grants = set(p.member_refs())
        if type_ in PRIVATE_TYPES and keys and not patients and NONE not in keys:
            return bool(grants & set(keys))  # private to its author: only the author writes it
        if all(pid in view.patients for pid in patients):
            return bool(patients) or NONE in keys or type_ not in NO_PUBLIC
        if type_ == "Task":
            return bool(grants & set(keys))
        if type_ == "DocumentReference":
            linked = {f"Task/{t}" for t in view.tasks} | {
                f"DocumentReference/{d}" for d in view.documents
            }
            return bool(linked & set(keys))
        return False

    def _check_document(
        self, p: Principal, resource: Mapping[str, Any] | None, before: Mapping[str, Any] | None
    ) -> None:
        if resource is not None and not p.is_structure:
            categories = document_categories(resource)
            if not self.matrix.may_use(p.professions, categories):
                raise Forbidden(
                    "Your profession may not file documents in this category",
                    msg_id="MRTC-SEC-013",
                )
        if before is None or resource is None:
            return
        if document_categories(before) != document_categories(
            resource
        ) and not questions.may_recategorise_document(p):
            raise Forbidden(
                "Only a super-user may change a document's category", msg_id="MRTC-SEC-014"
            )
        if (
            resource.get("status") == "entered-in-error"
            and before.get("status") != "entered-in-error"
            and not questions.may_mark_entered_in_error(p)
        ):
            raise Forbidden(
                "Only a super-user may mark a misfiled document entered-in-error",
                msg_id="MRTC-SEC-015",
            )

    def _check_pathway(
        self,
        p: Principal,
        view: Visibility,
        resource: Mapping[str, Any] | None,
        before: Mapping[str, Any] | None,
    ) -> None:
        if before is None:
            return
        structures = questions.record_structures(view, before)
        was = before.get("status")
        now = resource.get("status") if resource is not None else None
        closing = resource is None or (now in questions.CLOSED and was not in questions.CLOSED)
        pausing = was != now and questions.PAUSED in (was, now)  # pause or resume: same people
        if (closing or pausing) and not questions.may_close_pathway(p, structures):
            raise Forbidden(
                "Only a coordinator or a structure account of the record's structure may "
                "close, pause, resume or delete a pathway",
                msg_id="MRTC-SEC-016",
            )
        reopening = was in questions.CLOSED and now is not None and now not in questions.CLOSED
        if reopening and not questions.may_reopen_pathway(p):
            raise Forbidden("Only a super-user may reopen a closed pathway", msg_id="MRTC-SEC-017")


class _HideEverything:
    """What a caller without a principal may see: nothing (fail closed)."""

    def clauses_for(self, type_: str, given: Sequence[Clause] = ()) -> Sequence[Clause] | None:
        return [Clause("_id", [_IMPOSSIBLE], Target(type_, "_id"))]

    def follows(self, type_: str) -> str | None:
        return None


HIDE_EVERYTHING = _HideEverything()


class CareRestriction:
    """The MRTC rule as search criteria per type (``search.restriction.Restriction``)."""

    def __init__(self, policy: CarePolicy, principal: Principal, view: Visibility) -> None:
        self.policy = policy
        self.principal = principal
        self.view = view
        self._by_type: dict[str, list[Clause] | None] = {}

    @property
    def break_glass(self) -> frozenset[str]:
        """The patients open to the principal only through a break-glass grant."""
        return frozenset(self.view.grants) - self.view.circle

    def follows(self, type_: str) -> str | None:
        """A Binary is visible exactly when the resource its securityContext names is."""
        return ACCESS_CODE if type_ in FOLLOWERS else None

    def clauses_for(self, type_: str, given: Sequence[Clause] = ()) -> Sequence[Clause] | None:
        if type_ not in self._by_type:
            self._by_type[type_] = self._build(type_)
        built = self._by_type[type_]
        if built and given and self._implied(type_, given):
            return [c for c in built if c.target.code != ACCESS_CODE] or None
        return built

    def _implied(self, type_: str, given: Sequence[Clause]) -> bool:
        """Whether a criterion of the query already keeps it inside visible records.

        ``Observation?subject=Patient/1``, with patient 1 visible, only finds
        resources of that record: the access key adds nothing but cost. Only a
        plain compartment parameter naming visible patients as ``Patient/id``
        counts; anything else keeps the restriction.
        """
        params = self.policy.compartment.params.get(type_, ())
        patients = self.view.patients
        for clause in given:
            target = clause.target
            if target.code not in params or target.modifier is not None or target.next:
                continue
            ids = [v.partition("/")[2] for v in clause.values if v.startswith("Patient/")]
            if len(ids) == len(clause.values) and all(i in patients for i in ids):
                return True
        return False

    def _build(self, type_: str) -> list[Clause] | None:
        registry = self.policy.registry
        view = self.view
        patients = sorted(view.patients)
        if type_ == "Patient":
            return [Clause("_id", patients or [_IMPOSSIBLE], Target("Patient", "_id"))]
        if type_ not in self.policy.compartment.types:
            return None
        param = registry.get(type_, ACCESS_CODE)
        if param is None:
            return None
        keys = [f"Patient/{pid}" for pid in patients]
        if type_ not in NO_PUBLIC:
            keys.append(NONE)
        if type_ == "Task" or type_ in PRIVATE_TYPES:
            keys += self.principal.member_refs()
        if type_ == "Group":  # a structure's private favourites serve all its people's records
            keys += [f"Organization/{o}" for o in self.principal.organizations]
        if type_ == "DocumentReference":
            keys += [f"Task/{t}" for t in view.tasks]
            keys += [f"DocumentReference/{d}" for d in view.documents]
        clauses = [Clause(ACCESS_CODE, keys or [NO_KEY], Target(type_, ACCESS_CODE, None, param))]
        if type_ == "DocumentReference":
            excluded = self.policy.document_exclusions(self.principal)
            category = registry.get(type_, "category")
            if excluded and category is not None:
                clauses.append(
                    Clause("category:not", excluded, Target(type_, "category", "not", category))
                )
        return clauses


def _principal(principal: object | None) -> Principal:
    if not isinstance(principal, Principal):
        raise Unauthorized(
            "This request needs an Authorization: Bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="fhir"'},
            msg_id="MRTC-AUTH-001",
        )
    return principal


def _identity_key(claims: Mapping[str, Any]) -> str:
    """What identifies the user behind a token, for the resolved-identity cache."""
    for name in ("fhirUser", "SubjectNameID", "rpps"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return f"{name}|{value}"
    return f"sub|{claims.get('sub')}|{claims.get('scope') or claims.get('scp')}"
