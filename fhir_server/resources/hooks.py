"""Write-time behaviour per resource type, in three honest phases.

A type's behaviour on write is split by *when* it may safely happen:

* ``normalise`` runs before the transaction, on the resource about to be
  stored, for every create, update, patch and bundle entry: it may rewrite
  the resource (computing BMI, normalising identity traits) or refuse it.
  It must not have effects: the write may still fail.
* ``effects`` runs inside the write's transaction, after the version is
  recorded, with the same transaction scope: what it writes commits or rolls
  back with the write (an AuditEvent, a symmetric family link).
* ``after_commit`` runs only once the transaction has committed: changes to
  in-memory registries (a SearchParameter starts or stops serving),
  notifications. A write in an aborted transaction never reaches it.

Deletions go through ``effects`` and ``after_commit`` too, with
``WriteEvent.resource`` None, so a type can undo what its writes did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fhir_server.errors import Issue
from fhir_server.storage.repository import ReadScope, StoredResource

Resource = dict[str, Any]


@dataclass(frozen=True)
class Actor:
    """Who made a write, as the audit trail records it (opaque to the hooks that ignore it)."""

    principal: object | None = None
    request_id: str = ""
    source: str = ""  # the client's network address
    break_glass: frozenset[str] = frozenset()  # patients open to it only through break-glass


@dataclass(frozen=True)
class WriteEvent:
    """One recorded version: what was written, and what it replaced."""

    type: str
    id: str
    resource: Resource | None  # None: the resource was deleted
    previous: StoredResource | None
    method: str  # POST | PUT | PATCH | DELETE
    actor: Actor = Actor()

    @property
    def deleted(self) -> bool:
        return self.resource is None


class TypeHooks(Protocol):
    """The write-time behaviour of one resource type (every method is optional to act)."""

    async def normalise(self, resource: Resource) -> Resource: ...

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None: ...

    async def after_commit(self, event: WriteEvent) -> None: ...


class BaseHooks:
    """Does nothing in every phase; subclass and override the phases a type needs."""

    async def normalise(self, resource: Resource) -> Resource:
        return resource

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        return None

    async def after_commit(self, event: WriteEvent) -> None:
        return None


class ReadingHooks(Protocol):
    """Write-time rules that read stored data (the patient a measure is about).

    ``normalise_within`` runs after the type's ``normalise`` hooks, with the
    write's scope: inside a transaction bundle it sees what earlier entries
    wrote (a Patient created in the same bundle). Like ``normalise`` it may
    rewrite or refuse the resource and must not have effects. ``advice`` is
    asked on the normalised resource for the warnings of a write that is
    accepted as it is (an implausible measure); they reach the client as
    OperationOutcome issues (``Prefer: return=OperationOutcome``, or a bundle
    entry's ``response.outcome``).
    """

    async def normalise_within(self, resource: Resource, scope: ReadScope) -> Resource: ...

    async def advice(self, resource: Resource, scope: ReadScope) -> list[Issue]: ...


AfterCommit = Callable[[], Awaitable[None]]


class WriteHooks:
    """Hooks by resource type; ``"*"`` applies to every type, before the type's own."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[TypeHooks]] = {}
        self._reading: dict[str, list[ReadingHooks]] = {}

    def register(self, type_: str, hooks: TypeHooks) -> None:
        self._hooks.setdefault(type_, []).append(hooks)

    def register_reading(self, type_: str, hooks: ReadingHooks) -> None:
        self._reading.setdefault(type_, []).append(hooks)

    async def advice(self, type_: str, resource: Resource, scope: ReadScope) -> list[Issue]:
        """The warnings of the reading hooks of ``type_`` about the normalised ``resource``."""
        out: list[Issue] = []
        for hooks in self._reading.get(type_, ()):
            out.extend(await hooks.advice(resource, scope))
        return out

    def _for(self, type_: str) -> tuple[TypeHooks, ...]:
        return (*self._hooks.get("*", ()), *self._hooks.get(type_, ()))

    def registered(self, type_: str) -> bool:
        """Whether any hook may change a ``type_`` resource (then it is validated again)."""
        return bool(self._for(type_) or self._reading.get(type_))

    async def normalise(
        self, type_: str, resource: Resource, scope: ReadScope | None = None
    ) -> Resource:
        for hooks in self._for(type_):
            resource = await hooks.normalise(resource)
        for reading in self._reading.get(type_, ()):
            resource = await reading.normalise_within(resource, scope or ReadScope())
        return resource

    async def effects(self, event: WriteEvent, scope: ReadScope) -> None:
        for hooks in self._for(event.type):
            await hooks.effects(event, scope)

    def after_commit(self, event: WriteEvent) -> list[AfterCommit]:
        """The after-commit actions of ``event``, for the transaction to run once committed."""
        return [_bind(hooks, event) for hooks in self._for(event.type)]


def _bind(hooks: TypeHooks, event: WriteEvent) -> AfterCommit:
    async def action() -> None:
        await hooks.after_commit(event)

    return action
