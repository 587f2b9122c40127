"""What one open transaction holds back, and the current versions it already knows.

A transaction bundle of 200 entries used to cost about five database round trips
per entry (read the current version, insert it, insert its history entry and its
audit event, read the patient a measure is about): a thousand round trips for
one commit, each paying the driver's and the embedded database's per-command
cost. Within one transaction none of those has to be sent at once:

* the writes (a new current document, the ``{_id, vid}``-guarded update of an
  existing one, history entries, audit events) are *held* and sent as one
  ordered ``bulk_write`` per collection when the transaction next reads the
  database or commits (``MongoRepository._flush``), so a read always sees every
  earlier write of its transaction and the commit sends everything first;
* the current versions the transaction has read or written are *known*: a
  later unrestricted ``read`` of the same id answers from here, without a round
  trip and without flushing. ``read_many`` fills it for a whole bundle with one
  ``$in`` query per type. This is exact, not a cache that can go stale: inside a
  transaction the database answers from the transaction's snapshot plus its own
  writes, and every write of the transaction to a resource goes through
  ``MongoRepository.write``, which records the version it wrote here.

Errors move with the writes: an id already taken, a lost version race or a
taken conditional-create key surfaces at the flush, still inside the
transaction, which then aborts as a whole (decision 0041).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import InsertOne, UpdateOne

from fhir_server.storage.repository import StoredResource

Key = tuple[str, str]  # (type, id)


@dataclass
class Held:
    """The writes held for one collection, in order, and the resource each one is for."""

    ops: list[InsertOne[Any] | UpdateOne] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # "Patient/1", to name a failed write
    updates: int = 0  # how many of ``ops`` are version-guarded updates (each must match)


@dataclass
class UnitOfWork:
    """Per open transaction: held writes by collection, known current versions by key."""

    held: dict[str, Held] = field(default_factory=dict)
    known: dict[Key, StoredResource | None] = field(default_factory=dict)

    def insert(self, collection: str, doc: dict[str, Any], name: str) -> None:
        h = self.held.setdefault(collection, Held())
        h.ops.append(InsertOne(doc))
        h.names.append(name)

    def update(
        self, collection: str, flt: dict[str, Any], update: dict[str, Any], name: str
    ) -> None:
        h = self.held.setdefault(collection, Held())
        h.ops.append(UpdateOne(flt, update))
        h.names.append(name)
        h.updates += 1

    def take(self) -> list[tuple[str, Held]]:
        """Everything held, emptied: the caller sends it."""
        out = list(self.held.items())
        self.held.clear()
        return out
