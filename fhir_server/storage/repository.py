"""The repository seam: everything the FHIR layers may ask of storage, typed.

Interactions and operations talk to storage only through ``Repository``:
read a current resource or a version, page through history, write a version
inside a transaction, run a search (page, includes, total), find the matches
of a conditional interaction, reindex, manage indexes. Each call carries a
``ReadScope``: the transaction it belongs to and the caller's access
``Restriction``, which storage applies inside every query it runs, before
paging, so no path (search, include, chain, ``_has``, count, history) can
return what the caller may not see. Nothing here names MongoDB; the one
implementation is ``storage.mongo.MongoRepository``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from fhir_server.search.paging import Cursor
from fhir_server.search.request import Clause, SearchRequest
from fhir_server.search.restriction import Restriction

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource as storage knows it."""

    type: str
    id: str
    version: int
    last_updated: datetime
    deleted: bool
    resource: dict[str, Any] | None
    method: str | None = None  # set on history entries: POST | PUT | PATCH | DELETE
    # what the server derived about it from other resources (``Repository.derive``), on
    # current versions read by a search; never part of the resource
    derived: dict[str, Any] | None = None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True)
class ReadScope:
    """Where a storage call runs: its transaction (if any) and what the caller may see.

    ``transaction`` is opaque above storage: it is handed out by
    ``Repository.transaction`` and handed back on every call made inside it.
    """

    transaction: Any = None
    restriction: Restriction | None = None

    def unrestricted(self) -> ReadScope:
        """The same transaction without the caller's restriction (server-internal reads)."""
        return replace(self, restriction=None)


@dataclass(frozen=True)
class Change:
    """One version to record: a new resource, a new version of one, or a deletion."""

    type: str
    id: str
    version: int
    previous: int | None  # the version it replaces; None for a new id
    last_updated: datetime
    resource: dict[str, Any] | None  # the JSON to serve; None records a deletion
    method: str  # POST | PUT | PATCH | DELETE
    condition_key: str | None = None  # canonical If-None-Exist condition (race-free create)


@dataclass(frozen=True)
class HistoryQuery:
    """A page of versions, newest first (http.html#history)."""

    type: str | None
    id: str | None
    since: datetime | None = None
    at_or_before: datetime | None = None
    cursor: Cursor | None = None
    count: int = 20


@dataclass
class Page:
    """A page of versions and the cursor of the next one (None at the end)."""

    items: list[StoredResource]
    next: Cursor | None = None


@dataclass
class SearchResult:
    """A page of matches, what ``_include``/``_revinclude`` added, and the paging cursors."""

    matches: list[StoredResource]
    included: list[StoredResource] = field(default_factory=list)
    next: Cursor | None = None
    previous: Cursor | None = None
    total: int | None = None  # counted only when asked (``_total=accurate``, ``_summary=count``)


class Repository(Protocol):
    """What the FHIR layers may ask of storage (see module docstring)."""

    async def read(self, type_: str, id_: str, scope: ReadScope) -> StoredResource | None:
        """The current version (deleted or not), or None if the id never existed."""
        ...

    async def read_version(
        self, type_: str, id_: str, version: int, scope: ReadScope
    ) -> StoredResource | None: ...

    async def read_many(
        self, type_: str, ids: Sequence[str], scope: ReadScope
    ) -> dict[str, StoredResource]:
        """The current versions (deleted or not) of those of ``ids`` that exist, as ``read``.

        One query for them all. Inside a transaction, what it found (and what it
        did not) is remembered: a later ``read`` of one of ``ids`` in the same
        transaction answers without a round trip (a bundle reads its targets
        first; decision 0041).
        """
        ...

    async def presence(self, type_: str, ids: Sequence[str], scope: ReadScope) -> dict[str, bool]:
        """id -> deleted flag for those of ``ids`` that exist (reference checks)."""
        ...

    async def history(self, query: HistoryQuery, scope: ReadScope) -> Page: ...

    async def write(self, change: Change, scope: ReadScope) -> StoredResource:
        """Record ``change`` inside ``scope``'s transaction (409 when it lost a race)."""
        ...

    async def write_many(self, changes: Sequence[Change], scope: ReadScope) -> list[StoredResource]:
        """Record several new resources (version 1 each) at once, inside ``scope``'s transaction.

        One round trip per collection instead of two per resource: for what the
        server writes in bulk (its audit trail), never for a version that
        replaces another.
        """
        ...

    async def derive(
        self,
        type_: str,
        id_: str,
        values: Mapping[str, Sequence[Any]],
        summary: Mapping[str, Any] | None,
        scope: ReadScope,
    ) -> bool:
        """Record what the server derived about a current resource from other resources.

        ``values`` are the raw FHIR values of the type's derived search
        parameters (``SearchParam.derived``; an empty list clears one), indexed
        like any search value; ``summary`` is JSON kept beside the resource and
        returned as ``StoredResource.derived`` by searches. Neither is part of
        the resource: no version, no history, no ``lastUpdated``. Both survive
        new versions of the resource and reindexing, so only this method changes
        them. False when the resource does not exist (or is deleted).
        """
        ...

    async def underived(self, type_: str, version: int, limit: int) -> list[str]:
        """Ids of current resources whose summary is missing or not of ``version`` (``drv.v``).

        What a server starting on data written before a summary existed, or by
        a loader that went around the write pipeline, has to derive.
        """
        ...

    async def append(self, changes: Sequence[Change]) -> list[StoredResource]:
        """Record new resources of append-only types (the audit trail) in one durable insert.

        No transaction and no history copy (decision 0038): each document is
        written atomically and journaled before this returns, and an
        append-only resource has exactly one version, its current document.
        """
        ...

    async def transaction(self, fn: Callable[[ReadScope], Awaitable[T]], scope: ReadScope) -> T:
        """Run ``fn`` in one transaction (re-run from the start when it loses a race)."""
        ...

    async def search(self, request: SearchRequest, scope: ReadScope) -> SearchResult: ...

    async def find(
        self, type_: str, clauses: Sequence[Clause], limit: int, scope: ReadScope, *, base_url: str
    ) -> list[StoredResource]:
        """Every current match of ``clauses`` up to ``limit`` (conditional interactions)."""
        ...

    async def reindex(self, types: Sequence[str] | None, *, stale_only: bool) -> int: ...

    async def ensure_indexes(self, types: Sequence[str] | None = None) -> int: ...

    async def ping(self) -> None: ...

    async def generations(self) -> dict[str, int]:
        """Every shared-state counter (``storage.generations``): one small read."""
        ...

    async def ensure_generations(self, names: Sequence[str]) -> None: ...

    async def bump_generation(self, name: str, scope: ReadScope) -> None:
        """Move counter ``name`` inside ``scope``'s transaction."""
        ...


def now() -> datetime:
    """Current instant truncated to storage's millisecond precision.

    Truncating before the value is written into ``meta.lastUpdated`` keeps the
    served JSON and the stored date identical after a round trip.
    """
    t = datetime.now(UTC)
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


def instant(dt: datetime) -> str:
    """FHIR ``instant`` text for a stored date (always UTC, milliseconds)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
