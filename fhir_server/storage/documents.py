"""The one place where stored MongoDB documents and FHIR resources meet.

Layout of a document in the per-type collection (named after the type, e.g.
``Patient``) that holds the current version of each resource::

    {
      "_id":  "<logical id>",            # FHIR ids are strings, never ObjectIds
      "vid":  3,                         # version number (meta.versionId)
      "lu":   datetime (UTC, ms),        # meta.lastUpdated
      "del":  false,                     # logical delete marker
      "res":  {...},                     # the JSON served, meta included; None when deleted
      "idx":  {...},                     # extracted, normalised search values (search.indexing)
      "idxv": 1,                         # index version stamp, so a reindex finds stale docs
      "ck":   "<condition key>"          # only on a resource made by a conditional create
    }

Every version also goes into the ``_history`` collection::

    {"_id": "Patient/123/3", "t": "Patient", "id": "123", "vid": 3, "lu": ...,
     "del": false, "res": {...}, "m": "PUT"}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CURRENT_FIELDS = {"_id": 1, "vid": 1, "lu": 1, "del": 1, "res": 1}
HISTORY_COLLECTION = "_history"


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

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


def now() -> datetime:
    """Current instant truncated to BSON's millisecond precision.

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


def from_current(type_: str, doc: dict[str, Any]) -> StoredResource:
    return StoredResource(
        type=type_,
        id=doc["_id"],
        version=doc["vid"],
        last_updated=_aware(doc["lu"]),
        deleted=bool(doc.get("del")),
        resource=doc.get("res"),
    )


def from_history(doc: dict[str, Any]) -> StoredResource:
    return StoredResource(
        type=doc["t"],
        id=doc["id"],
        version=doc["vid"],
        last_updated=_aware(doc["lu"]),
        deleted=bool(doc.get("del")),
        resource=doc.get("res"),
        method=doc.get("m"),
    )


def _aware(dt: datetime) -> datetime:
    """Stored dates as ``datetime.UTC`` (BSON's own UTC tzinfo upsets ``email.utils``)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
