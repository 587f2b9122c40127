"""The audit trail: an AuditEvent for every request that reads or changes patient data.

https://hl7.org/fhir/R4/auditevent.html. Each event says who (the principal,
and the client application acting for it), from where (source address),
what (the resources and the patients they belong to), the action (C R U D
E), the outcome (0 success, 4 refused or failed), the purpose (``BTG`` when
the record was open only through break-glass) and the request id.

A write's event is stored by ``AuditHooks.effects`` in the same transaction
as the write, so a committed change always has its trace and an aborted one
none. Reads, searches and refusals are recorded by ``dispatch`` once they
have been answered, each in its own transaction (or in the bundle's). The
events are written by the server only: the policy refuses every change to
an AuditEvent through the API. Reads of the trail itself (``AuditEvent``
searches, ``$news-feed``) are not audited, so looking at the feed does not
fill it.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from fhir_server.security.compartment import referenced_patients
from fhir_server.security.habilitation import AUDIT_SUBTYPE_SYSTEM
from fhir_server.security.principal import Principal
from fhir_server.storage.repository import (
    Change,
    ReadScope,
    Repository,
    StoredResource,
    instant,
    now,
)

EVENT_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
INTERACTION_SYSTEM = "http://hl7.org/fhir/restful-interaction"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
REQUEST_ID_SYSTEM = "urn:mrtc-fhir:request-id"
ACTIONS = {
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "create": "C",
    "update": "U",
    "patch": "U",
    "conditional-update": "U",
    "conditional-patch": "U",
    "delete": "D",
    "conditional-delete": "D",
}
SUBTYPES = {
    "conditional-update": "update",
    "conditional-patch": "patch",
    "conditional-delete": "delete",
    "search-type": "search-type",
    "search-system": "search-system",
    "history-type": "history-type",
    "history-system": "history-system",
}
WRITE_METHOD_SUBTYPE = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
NOT_AUDITED_TYPES = frozenset({"AuditEvent"})
MAX_PATIENT_ENTITIES = 200
T = TypeVar("T")
R = TypeVar("R")


def agents(principal: Principal | None, source: str) -> list[dict[str, Any]]:
    """Who acted (requestor) and, when known, the application acting for them."""
    if principal is None:
        return [
            {
                "type": _agent_type("custodian", "Custodian"),
                "who": {"display": "mrtc-fhir-server"},
                "requestor": False,
            }
        ]
    who: dict[str, Any] = (
        {"reference": principal.fhir_user}
        if principal.fhir_user
        else {"identifier": {"value": principal.subject or "system"}}
    )
    if principal.name:
        who["display"] = principal.name
    agent: dict[str, Any] = {
        "type": _agent_type("IRCP", "information recipient"),
        "who": who,
        "requestor": True,
    }
    if principal.subject:
        agent["altId"] = principal.subject
    if principal.name:
        agent["name"] = principal.name
    if source:
        agent["network"] = {"address": source, "type": "2"}
    out = [agent]
    for org in principal.organizations if principal.is_structure else ():
        out.append({"who": {"reference": f"Organization/{org}"}, "requestor": False})
    if principal.client:
        out.append(
            {
                "type": _agent_type("AUT", "author (originator)"),
                "who": {
                    "identifier": {
                        "system": "urn:ietf:params:oauth:client-id",
                        "value": principal.client,
                    }
                },
                "requestor": False,
            }
        )
    return out


def _agent_type(code: str, display: str) -> dict[str, Any]:
    system = (
        "http://dicom.nema.org/resources/ontology/DCM"
        if code == "custodian"
        else "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
    )
    if code == "custodian":
        code = "110150"
        display = "Application"
    return {"coding": [{"system": system, "code": code, "display": display}]}


def audit_event(
    *,
    principal: Principal | None,
    action: str,
    subtypes: Sequence[tuple[str, str]],
    outcome: str,
    what: Iterable[str] = (),
    patients: Iterable[str] = (),
    purpose_btg: bool = False,
    purpose_text: str | None = None,
    source: str = "",
    request_id: str = "",
    query: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """One AuditEvent (not yet stored)."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": dict(EVENT_TYPE),
        "subtype": [{"system": s, "code": c} for s, c in subtypes],
        "action": action,
        "recorded": instant(now()),
        "outcome": outcome,
    }
    if description:
        event["outcomeDesc"] = description
    if purpose_btg:
        purpose: dict[str, Any] = {
            "coding": [{"system": PURPOSE_SYSTEM, "code": "BTG", "display": "break the glass"}]
        }
        if purpose_text:
            purpose["text"] = purpose_text
        event["purposeOfEvent"] = [purpose]
    event["agent"] = agents(principal, source)
    event["source"] = {
        "observer": {"display": "mrtc-fhir-server"},
        "type": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server",
            }
        ],
    }
    entities: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ref in what:
        if ref not in seen:
            seen.add(ref)
            entities.append(
                {"what": {"reference": ref}, "type": _entity_type("2", "System Object")}
            )
    for pid in sorted(set(patients))[:MAX_PATIENT_ENTITIES]:
        ref = f"Patient/{pid}"
        if ref not in seen:
            seen.add(ref)
            entities.append(
                {
                    "what": {"reference": ref},
                    "type": _entity_type("1", "Person"),
                    "role": {
                        "system": "http://terminology.hl7.org/CodeSystem/object-role",
                        "code": "1",
                        "display": "Patient",
                    },
                }
            )
    if query is not None:
        entities.append(
            {
                "type": _entity_type("2", "System Object"),
                "query": base64.b64encode(query.encode()).decode("ascii"),
            }
        )
    if request_id:
        entities.append(
            {
                "what": {"identifier": {"system": REQUEST_ID_SYSTEM, "value": request_id}},
                "type": _entity_type("4", "Other"),
                "name": "X-Request-ID",
            }
        )
    if entities:
        event["entity"] = entities
    return event


def _entity_type(code: str, display: str) -> dict[str, Any]:
    return {
        "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
        "code": code,
        "display": display,
    }


def interaction_subtype(interaction: str, operation: str | None = None) -> list[tuple[str, str]]:
    if interaction == "operation":
        out = [(INTERACTION_SYSTEM, "operation")]
        if operation:
            out.append((AUDIT_SUBTYPE_SYSTEM, operation))
        return out
    return [(INTERACTION_SYSTEM, SUBTYPES.get(interaction, interaction))]


class GroupCommit(Generic[T, R]):
    """Items submitted while a write is in flight go together in the next one.

    ``submit`` waits until its item is written (or the write failed). Nothing
    waits for a timer: a lone item is written at once, and under load each
    write carries whatever arrived during the previous one (group commit).
    """

    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], max_items: int = 500):
        self._write = write
        self._max = max_items
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            try:
                written = await self._write([item for item, _ in batch])
            except Exception as exc:  # each waiting request answers with the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, written, strict=True):
                if not future.done():
                    future.set_result(result)


class AuditTrail:
    """Stores AuditEvents (see module docstring)."""

    def __init__(self, repository: Repository, patient_types: Iterable[str]) -> None:
        self.repository = repository
        self._group: GroupCommit[Change, StoredResource] = GroupCommit(self._write_group)
        # Types whose reads are reads of patient data: the compartment, Patient, Binary.
        self.patient_types = frozenset(patient_types) | {"Patient", "Binary"}

    def concerns(self, type_: str | None) -> bool:
        """Whether a read of ``type_`` (None: a system-level request) reads patient data."""
        return type_ is None or type_ in self.patient_types

    async def store(self, event: dict[str, Any], scope: ReadScope) -> StoredResource:
        """Write ``event`` in ``scope``'s transaction, or with the next group commit.

        Inside a transaction (a write, a bundle) the event commits or rolls back
        with it. Otherwise (a read, a search, a refusal) it joins the events of
        the requests answered at the same moment and they are written together,
        in one durable insert, before any of those requests is answered: every
        access is on disk before its answer leaves, and concurrent readers share
        one durable commit instead of paying one each.
        """
        id_ = str(uuid.uuid4())
        when = now()
        resource = {
            "resourceType": "AuditEvent",
            "id": id_,
            "meta": {"versionId": "1", "lastUpdated": instant(when)},
            **{k: v for k, v in event.items() if k != "resourceType"},
        }
        change = Change("AuditEvent", id_, 1, None, when, resource, "POST")
        if scope.transaction is not None:
            return await self.repository.write(change, scope.unrestricted())
        return await self._group.submit(change)

    async def _write_group(self, changes: list[Change]) -> list[StoredResource]:
        # One durable insert, no transaction, no history copy (decision 0038): an
        # event is immutable and stands alone, so a transaction would buy nothing.
        return await self.repository.append(changes)

    async def access(
        self,
        principal: object | None,
        *,
        interaction: str,
        type_: str | None,
        id_: str | None,
        operation: str | None,
        query: str,
        status: int,
        body: Any,
        btg_patients: frozenset[str],
        scope: ReadScope,
        source: str,
        request_id: str,
        error: str | None = None,
    ) -> None:
        """Record one answered request (a read, search, operation, or a refusal)."""
        if type_ in NOT_AUDITED_TYPES or operation == "news-feed":
            return
        patients = referenced_patients(body) if isinstance(body, dict | list) else set()
        if type_ == "Patient" and id_:
            patients.add(id_)
        elif status >= 400 and type_ and id_:
            # A refused access is recorded against the record it aimed at (never told to
            # the caller), so the record's readers see who tried.
            target = await self.repository.read(type_, id_, scope.unrestricted())
            if target is not None and target.resource is not None:
                patients |= referenced_patients(target.resource)
        what = [f"{type_}/{id_}"] if type_ and id_ else []
        outcome = "0" if status < 400 else ("4" if status < 500 else "8")
        event = audit_event(
            principal=principal if isinstance(principal, Principal) else None,
            action=ACTIONS.get(interaction, "E"),
            subtypes=interaction_subtype(interaction, operation),
            outcome=outcome,
            what=what,
            patients=patients,
            purpose_btg=bool(patients & btg_patients),
            source=source,
            request_id=request_id,
            query=query or None,
            description=error,
        )
        await self.store(event, scope)


class AuditHooks:
    """A write hook (``resources.hooks.TypeHooks``, registered for ``*``): one event per write.

    Runs in the write's ``effects`` phase, with the write's transaction, so
    the event commits or rolls back with the change it describes.
    """

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    async def normalise(self, resource: dict[str, Any]) -> dict[str, Any]:
        return resource

    async def effects(self, event: Any, scope: ReadScope) -> None:
        if event.type in NOT_AUDITED_TYPES:
            return
        actor = event.actor
        principal = getattr(actor, "principal", None)
        principal = principal if isinstance(principal, Principal) else None
        body = (
            event.resource
            if event.resource is not None
            else (event.previous.resource if event.previous is not None else None)
        )
        patients = referenced_patients(body) if body is not None else set()
        if event.type == "Patient":
            patients.add(event.id)
        btg: frozenset[str] = getattr(actor, "break_glass", frozenset())
        action = {"POST": "C", "DELETE": "D"}.get(event.method, "U")
        if event.method == "PUT" and event.previous is None:
            action = "C"
        audit = audit_event(
            principal=principal,
            action=action,
            subtypes=[(INTERACTION_SYSTEM, WRITE_METHOD_SUBTYPE.get(event.method, "update"))],
            outcome="0",
            what=[f"{event.type}/{event.id}"],
            patients=patients,
            purpose_btg=bool(patients & btg),
            source=getattr(actor, "source", ""),
            request_id=getattr(actor, "request_id", ""),
        )
        await self.trail.store(audit, scope)

    async def after_commit(self, event: Any) -> None:
        return None
